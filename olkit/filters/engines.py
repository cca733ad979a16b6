"""Executors that score a prepared batch with a list of filters.

* :func:`score_local` -- every filter in this process, one after the other;
* :func:`score_ray` -- per-row filters in Ray Data tasks over Parquet shards of the batch (local
  Ray, or a cluster when ``RAY_ADDRESS`` is set); dedup scaled out over the same shards in Ray tasks
  (:func:`olkit.filters.ray_dedup.dedup_ray`: shuffled band buckets, pairs verified in tasks, the
  driver holds only the links); other cross-row filters on the driver.

Both return ``(scores, seconds)``: ``submission_id`` plus every filter's ``<name>.<signal>``
columns in batch order, and the scoring time per filter.  :class:`olkit.filters.Pipeline` picks
one by name (:data:`ENGINES`).

Example
-------
>>> import polars as pl
>>> from olkit.filters.base import prepare_batch
>>> from olkit.filters.engines import score_local
>>> from olkit.filters.format import FormatFilter
>>> batch = prepare_batch(pl.DataFrame({"submission_id": ["a"], "instruction": ["Say hi."],
...                                     "response": ["Hello there, how are you?"]}))
>>> scores, seconds = score_local([FormatFilter()], batch)
>>> scores.height, list(seconds)
(1, ['format'])
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from tqdm.auto import tqdm

from olkit.filters.base import CONTENT_COLUMNS, META_COLUMNS, Filter, is_cross_row, prepare_batch
from olkit.filters.dedup import DedupFilter
from olkit.filters.ray_dedup import dedup_ray, ensure_ray


def score_local(filters: Sequence[Filter], batch: pl.DataFrame, *, progress: bool = False) -> tuple[pl.DataFrame, dict[str, float]]:
    """Every filter over the whole batch in this process: ``(scores, seconds per filter)``."""
    seconds: dict[str, float] = {}
    parts = [batch.select("submission_id")]
    for f in tqdm(filters, desc="scoring", disable=not progress, leave=False):
        t0 = time.perf_counter()
        parts.append(checked_scores(f, batch))
        seconds[f.name] = time.perf_counter() - t0
    return pl.concat(parts, how="horizontal"), seconds

def score_ray(filters: Sequence[Filter], batch: pl.DataFrame, *, progress: bool = False,
              n_shards: int | None = None) -> tuple[pl.DataFrame, dict[str, float]]:
    """Per-row filters in Ray Data tasks over Parquet shards, dedup in Ray tasks over the same shards
    (:func:`~olkit.filters.ray_dedup.dedup_ray`), other cross-row filters on the driver over the
    whole batch; the same scores as :func:`score_local`."""
    row_filters = [f for f in filters if not is_cross_row(f)]
    cross_filters = [f for f in filters if is_cross_row(f)]
    seconds: dict[str, float] = {}
    ensure_ray()
    import logging

    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cols = [c for c in batch.columns if c in (*META_COLUMNS, *CONTENT_COLUMNS)]
    n_shards = n_shards or max(2, min(16, batch.height // 2000 + 1))
    row_scores = batch.select("submission_id")
    with tempfile.TemporaryDirectory(prefix="olkit-ray-") as tmp:
        with_idx = batch.select(cols).with_row_index("__row")
        step = max(1, -(-batch.height // n_shards))
        for i in range(0, max(batch.height, 1), step):
            with_idx.slice(i, step).write_parquet(Path(tmp) / f"shard-{i // step:05d}.parquet")
        if row_filters:
            t0 = time.perf_counter()
            ds = ray.data.read_parquet(tmp)
            scored = ds.map_batches(_score_shard, fn_kwargs={"filters": row_filters}, batch_format="pyarrow",
                                    batch_size=None)
            tables = [pl.from_arrow(t) for t in ray.get(scored.to_arrow_refs())]
            got = pl.concat([t for t in tables if t.height], how="vertical_relaxed") if tables else None
            if got is None or got.height != batch.height:
                raise RuntimeError("ray scoring returned a different number of rows than the batch")
            got = got.sort("__row")
            elapsed = time.perf_counter() - t0
            timing = got.select(pl.col("^__sec_.*$").first()).row(0, named=True) if got.height else {}
            total = sum(timing.values()) or 1.0
            for f in row_filters:
                seconds[f.name] = elapsed * timing.get(f"__sec_{f.name}", 0.0) / total
            row_scores = got.drop("__row", "^__sec_.*$")
        parts = {f.name: row_scores.select(pl.col(f"^{_re(f.name)}\\..*$")) for f in row_filters}
        shards = sorted(Path(tmp).glob("shard-*.parquet"))
        for f in tqdm(cross_filters, desc="global scoring", disable=not progress, leave=False):
            t0 = time.perf_counter()
            if type(f) is DedupFilter:  # scaled out: positions are the batch's row index
                scores = dedup_ray(shards, f.params, order_column="__row").scores(batch["submission_id"])
                parts[f.name] = scores.drop("submission_id")
            else:
                parts[f.name] = checked_scores(f, batch)
            seconds[f.name] = time.perf_counter() - t0
    return pl.concat([batch.select("submission_id")] + [parts[f.name] for f in filters],
                     how="horizontal"), seconds


def _re(name: str) -> str:
    import re

    return re.escape(name)


def checked_scores(f: Filter, batch: pl.DataFrame) -> pl.DataFrame:
    s = f.score(batch)
    if s.height != batch.height or "submission_id" not in s.columns:
        raise RuntimeError(f"filter {f.name!r}: score() must return one row per item with submission_id")
    if not s["submission_id"].equals(batch["submission_id"]):
        s = batch.select("submission_id").join(s, on="submission_id", how="left", maintain_order="left")
    bad = [c for c in s.columns if c != "submission_id" and not c.startswith(f"{f.name}.")]
    if bad:
        raise RuntimeError(f"filter {f.name!r}: score columns must be named '{f.name}.<signal>', got {bad}")
    return s.drop("submission_id")


def _score_shard(table: Any, filters: list[Filter]) -> Any:
    """Ray Data task: per-row filter scores of one Parquet shard (keeps the shard's ``__row`` index)."""
    batch = pl.from_arrow(table)
    if not isinstance(batch, pl.DataFrame):  # pragma: no cover
        batch = batch.to_frame()
    batch = prepare_batch(batch)
    parts = [batch.select("__row", "submission_id")] if "__row" in batch.columns else [batch.select("submission_id")]
    secs = {}
    for f in filters:
        t0 = time.perf_counter()
        parts.append(checked_scores(f, batch))
        secs[f"__sec_{f.name}"] = time.perf_counter() - t0
    out = pl.concat(parts, how="horizontal").with_columns([pl.lit(v).alias(k) for k, v in secs.items()])
    return out.to_arrow()


#: Engine name -> executor.
ENGINES: dict[str, Callable[..., tuple[pl.DataFrame, dict[str, float]]]] = {"local": score_local, "ray": score_ray}
