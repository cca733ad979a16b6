"""Dedup scaled out over Ray: no process holds every text, the driver holds only links.

:class:`~olkit.filters.dedup.DedupFilter` scores a batch in one process.  :func:`dedup_ray` gives
the same scores over a corpus stored as Parquet shards, in Ray tasks (local Ray, or a cluster when
``RAY_ADDRESS`` is set), with the local filter's own functions for every per-item step (exact
keys, shingles, MinHash, band keys, bucket linking, exact-Jaccard verification, choice of the best
earlier candidate), so decisions are the same by construction and checked to be (tests):

1. **order** -- "first by time wins" needs each item's position in batch order (``created_at``
   then ``submission_id``, nulls last).  A sample sort: shard tasks send ``(created_at,
   submission_id)`` to range partitions cut at sampled splitters, partition tasks sort and number
   them, and the positions go back to their shards (skipped when the shards carry the position,
   ``order_column``);
2. **signatures** -- one task per shard reads its texts, computes exact-content keys and MinHash
   band keys and hash-partitions them: bucket entries by bucket, exact keys by key;
3. **buckets** -- one task per partition links each bucket's members (the local
   :func:`~olkit.filters.dedup.pairs_from_packed`) and finds the first item of each exact key;
   the driver gets the candidate pairs and exact links (integers, as many as there are duplicates
   and candidates, not items);
4. **verify** -- shard tasks send the shingles of the items in candidate pairs to the partition
   of each pair (by its later item); partition tasks compute exact Jaccard similarities and each
   item's best earlier candidate; shard tasks also return the ``submission_id`` of linked items.

:class:`RayDedupResult` holds the links (items with an exact duplicate or a candidate), the
verified pairs and :meth:`RayDedupResult.clusters` (representatives resolved from the links only);
:meth:`RayDedupResult.scores` expands them into the filter's full score columns for a list of
submission ids.  The pipeline's Ray engine (``Pipeline.run(..., engine="ray")``, ``olkit filter
--engine ray``) uses it for the dedup filter.

Example
-------
::

    import ray
    from olkit.filters.ray_dedup import dedup_ray, ensure_ray
    ensure_ray()                                  # or ray.init(address=...)
    res = dedup_ray(sorted(Path("corpus").glob("*.parquet")))
    res.links                                     # submission_id, dedup.exact_of, dedup.near_of, ...
    res.clusters(0.6)                             # submission_id, cluster (linked items only)
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from olkit.filters.config import DedupPolicy
from olkit.filters.dedup import (
    DedupFilter,
    best_links,
    bucket_entries,
    dedup_texts,
    exact_keys,
    pairs_from_packed,
    unique_pairs,
)

#: The score columns of :class:`~olkit.filters.dedup.DedupFilter`.
SCORE_COLUMNS = ("dedup.exact_of", "dedup.near_of", "dedup.near_sim", "dedup.near_response_sim",
                 "dedup.near_instruction_sim")
_NULL_TIME = np.iinfo(np.int64).max


#: Task results above this size go to the object store, not the caller's memory (Ray's default
#: is 100 KiB): the shuffle's many small partitions would otherwise pile up in the driver.
INLINE_LIMIT = 1024


def ensure_ray(num_cpus: int | None = None, object_store_memory: int | None = None) -> None:
    """Start a local Ray (``num_cpus`` default: up to 2) unless one is running or ``RAY_ADDRESS``
    names a cluster (then connect to it).

    A local Ray is started with ``max_direct_call_object_size`` = :data:`INLINE_LIMIT`: Ray keeps
    task results under that size in the memory of the process that submitted the task, so with
    its default (100 KiB) the small shuffle partitions of :func:`dedup_ray` (shards x partitions
    of them) collect in the driver (measured: driver peak 261 MiB instead of 238-242 MiB at 1M
    documents, ``benchmarks/dedup_ray_bench.py``).  On a cluster, set ``RAY_max_direct_call_object_size``
    the same way when starting it.
    """
    import ray

    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False, configure_logging=False)
        return
    ray.init(num_cpus=num_cpus or min(2, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False,
             configure_logging=False, object_store_memory=object_store_memory,
             _system_config={"max_direct_call_object_size": INLINE_LIMIT})


# ------------------------------------------------------------------------------------------------
# task bodies (plain functions; wrapped with ray.remote in dedup_ray)


def _read(path: str, columns: Sequence[str]) -> pl.DataFrame:
    have = pl.read_parquet_schema(path)
    frame = pl.read_parquet(path, columns=[c for c in columns if c in have])
    casts = [pl.col(c).cast(pl.String) for c in ("submission_id", "instruction", "response", "text")
             if c in frame.columns and frame.schema[c] != pl.String]
    return frame.with_columns(casts) if casts else frame


def _order_frame(path: str) -> pl.DataFrame:
    """``t, sid, row``: the batch-order key of every row (``created_at`` as an integer, nulls last)."""
    frame = _read(path, ["submission_id", "created_at"])
    t = (frame["created_at"].cast(pl.Int64) if "created_at" in frame.columns
         else pl.Series([None] * frame.height, dtype=pl.Int64))
    return pl.DataFrame({"t": t.fill_null(_NULL_TIME), "sid": frame["submission_id"]}).with_row_index("row")


def _order_sample(path: str, per_shard: int) -> pl.DataFrame:
    keys = _order_frame(path).sort("t", "sid").select("t", "sid")
    if keys.height <= per_shard:
        return keys
    return keys.gather(np.linspace(0, keys.height - 1, per_shard).astype(np.int64))


def _only(fn: Any, *args: Any) -> Any:
    """A one-output task: the single element of ``fn``'s tuple."""
    return fn(*args)[0]


def _range_part(frame: pl.DataFrame, splitters: pl.DataFrame) -> pl.Series:
    """Index of the range partition of each ``(t, sid)``: the number of splitters at or below it."""
    if splitters.height == 0:
        return pl.Series(np.zeros(frame.height, np.int64))
    above = [((pl.col("t") > t) | ((pl.col("t") == t) & (pl.col("sid") >= s))).cast(pl.Int64)
             for t, s in splitters.iter_rows()]
    return frame.select(pl.sum_horizontal(above).alias("p"))["p"]


def _order_split(path: str, shard: int, splitters: pl.DataFrame, n_parts: int) -> tuple[pl.DataFrame, ...]:
    frame = _order_frame(path).with_columns(shard=pl.lit(shard, pl.Int64))
    part = _range_part(frame, splitters)
    return tuple(frame.filter(part == k) for k in range(n_parts))


def _order_count(*parts: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    frame = pl.concat(parts, how="vertical").sort("t", "sid")
    return frame.select("shard", "row"), frame.height


def _order_number(frame: pl.DataFrame, offset: int, n_shards: int) -> tuple[pl.DataFrame, ...]:
    numbered = frame.with_columns(pos=pl.int_range(pl.len(), dtype=pl.Int64) + offset)
    return tuple(numbered.filter(pl.col("shard") == s).select("row", "pos") for s in range(n_shards))


def _positions(path: str, order_column: str | None, parts: Sequence[pl.DataFrame]) -> np.ndarray:
    if order_column is not None:
        return _read(path, [order_column])[order_column].cast(pl.Int64).to_numpy()
    got = pl.concat(parts, how="vertical").sort("row")
    return got["pos"].to_numpy()


def _signatures(path: str, order_column: str | None, params: DedupPolicy, n_parts: int,
                *order_parts: pl.DataFrame) -> tuple[Any, ...]:
    """Shard task: positions, then bucket entries and exact keys hash-partitioned ``n_parts`` ways.

    Returns ``n_parts`` bucket-entry arrays, ``n_parts`` exact-key frames and the positions."""
    f = DedupFilter(params)
    frame = _read(path, ["instruction", "response", "text"])
    pos = _positions(path, order_column, order_parts)
    if len(pos) != frame.height:
        raise RuntimeError(f"{path}: {len(pos)} positions for {frame.height} rows")
    content, _ = dedup_texts(frame)
    keys, active = f.content_signatures(content)
    entries = bucket_entries(keys[active], pos[active])
    part = (entries >> np.uint64(32)) % np.uint64(n_parts)
    bucket_parts = [entries[part == k] for k in range(n_parts)]
    exact = exact_keys(frame).with_columns(pos=pl.Series(pos, dtype=pl.Int64)).filter(~pl.col("empty"))
    epart = (exact["h1"] % n_parts).to_numpy()
    exact_parts = [exact.filter(pl.Series(epart == k)).select("h1", "h2", "pos") for k in range(n_parts)]
    return (*bucket_parts, *exact_parts, pos)


def _buckets(n_shards: int, *parts: Any) -> tuple[np.ndarray, pl.DataFrame]:
    """Partition task: candidate pairs of its buckets and exact links ``pos, of`` of its keys."""
    entries = np.concatenate(parts[:n_shards]) if n_shards else np.zeros(0, np.uint64)
    pairs = pairs_from_packed(entries)
    exact = pl.concat(parts[n_shards:], how="vertical")
    links = (exact.sort("pos").with_columns(of=pl.col("pos").first().over("h1", "h2"))
             .filter(pl.col("of") != pl.col("pos")).select("pos", "of"))
    return pairs, links


def _shingle_rows(path: str, pos: np.ndarray, wanted: np.ndarray, wanted_part: np.ndarray,
                  n_parts: int) -> tuple[pl.DataFrame, ...]:
    """Shard task: ``submission_id`` and texts of the wanted items, to the partitions that want them."""
    keep = np.isin(pos, wanted)
    frame = _read(path, ["submission_id", "instruction", "response", "text"])
    sub = frame.filter(pl.Series(keep)).with_columns(pos=pl.Series(pos[keep], dtype=pl.Int64))
    need = pl.DataFrame({"pos": wanted, "part": wanted_part}, schema={"pos": pl.Int64, "part": pl.Int64})
    rows = sub.join(need, on="pos", how="inner")
    cols = [c for c in ("pos", "submission_id", "instruction", "response", "text") if c in rows.columns]
    return tuple(rows.filter(pl.col("part") == k).select(cols) for k in range(n_parts))


def _verify(params: DedupPolicy, pairs: np.ndarray, exact: pl.DataFrame, out: str | None, part: int,
            *texts: pl.DataFrame) -> tuple[Any, Any]:
    """Partition task: exact Jaccard of its pairs, each later item's best earlier candidate, and
    the links of its items (score columns, by ``submission_id``) and verified pairs; written to
    ``out`` (``links-*.parquet``, ``pairs-*.parquet``) when given."""
    f = DedupFilter(params)
    frame = pl.concat(texts, how="diagonal_relaxed").unique("pos", keep="first")
    content, instr = dedup_texts(frame)
    r, q = f.verify(content, instr, frame["pos"].to_numpy(), pairs)
    best = best_links(pairs, r, q)
    sid = frame.select(pl.col("pos").alias("key"), "submission_id")

    def named(df: pl.DataFrame, col: str, alias: str) -> pl.DataFrame:
        return df.join(sid.rename({"key": col, "submission_id": alias}), on=col, how="left")

    exact_sid = named(named(exact, "pos", "submission_id"), "of", "dedup.exact_of").select(
        "submission_id", "dedup.exact_of")
    near = named(named(best, "i", "submission_id"), "j", "dedup.near_of").select(
        "submission_id", "dedup.near_of", pl.col("s").alias("dedup.near_sim"),
        pl.col("r").alias("dedup.near_response_sim"), pl.col("q").alias("dedup.near_instruction_sim"))
    links = exact_sid.join(near, on="submission_id", how="full", coalesce=True).select("submission_id",
                                                                                        *SCORE_COLUMNS)
    verified = pl.DataFrame({"l": pairs[:, 0], "e": pairs[:, 1], "response_sim": r, "instruction_sim": q},
                            schema={"l": pl.Int64, "e": pl.Int64, "response_sim": pl.Float64,
                                    "instruction_sim": pl.Float64})
    pair_frame = named(named(verified, "l", "later"), "e", "earlier").select(
        "later", "earlier", "response_sim", "instruction_sim",
        pl.min_horizontal("response_sim", "instruction_sim").alias("sim"))
    if out is None:
        return links, pair_frame
    links.write_parquet(Path(out) / f"links-{part:05d}.parquet")  # a retried task overwrites its own file
    pair_frame.write_parquet(Path(out) / f"pairs-{part:05d}.parquet")
    return links.height, pair_frame.height


# ------------------------------------------------------------------------------------------------


@dataclass
class RayDedupResult:
    """What :func:`dedup_ray` found; every frame is as long as the duplicates/candidates, not the corpus.

    ``links``: ``submission_id`` plus the score columns of
    :class:`~olkit.filters.dedup.DedupFilter` for items with an exact duplicate earlier or a
    candidate pair (every other item scores null/0.0).  ``pairs``: verified candidate pairs
    ``later, earlier`` (submission ids) with ``response_sim, instruction_sim, sim``.  Both stay in
    the Ray object store (or the ``out`` folder) until first read; read them before
    ``ray.shutdown()`` unless written to ``out``.
    """

    n_items: int
    n_linked: int
    n_pairs: int
    seconds: dict[str, float] = field(default_factory=dict)
    out: Path | None = None
    _parts: list[Any] = field(default_factory=list, repr=False)
    _frames: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)

    def _load(self, which: int) -> pl.DataFrame:
        name = ("links", "pairs")[which]
        if name not in self._frames:
            if self.out is not None:
                files = sorted(self.out.glob(f"{name}-*.parquet"))
                frames = [pl.read_parquet(f) for f in files]
            else:
                import ray

                frames = ray.get([part[which] for part in self._parts])
            self._frames[name] = pl.concat(frames, how="vertical").sort(("submission_id", "later")[which])
        return self._frames[name]

    @property
    def links(self) -> pl.DataFrame:
        return self._load(0)

    @property
    def pairs(self) -> pl.DataFrame:
        return self._load(1)

    def scores(self, submission_ids: pl.Series) -> pl.DataFrame:
        """The filter's score frame for these items (in this order): links joined, defaults elsewhere."""
        out = submission_ids.to_frame("submission_id").join(self.links, on="submission_id", how="left",
                                                            maintain_order="left")
        return out.with_columns(pl.col("dedup.near_sim", "dedup.near_response_sim",
                                       "dedup.near_instruction_sim").fill_null(0.0)).select(
            "submission_id", *SCORE_COLUMNS)

    def clusters(self, threshold: float) -> pl.DataFrame:
        """``submission_id, cluster`` of linked items (``cluster``: the earliest item of the
        duplicate chain, as :func:`~olkit.filters.dedup.near_clusters`); unlisted items are their
        own cluster.  Resolved from the links alone."""
        from olkit.filters.dedup import near_clusters

        links = self.links
        parents = links.select(pl.coalesce("dedup.exact_of", pl.when(pl.col("dedup.near_sim") >= threshold)
                                           .then(pl.col("dedup.near_of"))).alias("p"))["p"].drop_nulls()
        roots = pl.DataFrame({"submission_id": parents.unique()}).join(links.select("submission_id"),
                                                                        on="submission_id", how="anti")
        frame = pl.concat([roots.with_columns(*[pl.lit(None, dtype=pl.String).alias(c) for c in SCORE_COLUMNS[:2]],
                                              *[pl.lit(0.0).alias(c) for c in SCORE_COLUMNS[2:]]),
                           links.select("submission_id", *SCORE_COLUMNS)], how="vertical")
        return near_clusters(frame, threshold).join(roots, on="submission_id", how="anti")


def dedup_ray(shards: Sequence[str | Path], params: DedupPolicy | None = None, *, n_partitions: int | None = None,
              order_column: str | None = None, out: str | Path | None = None,
              sample_per_shard: int = 256) -> RayDedupResult:
    """Exact and near duplicates of a corpus in Parquet ``shards``, in Ray tasks (see the module doc).

    Shards hold ``submission_id``, content (``text`` or ``instruction``/``response``) and
    optionally ``created_at``; ``submission_id`` must be unique across shards.  On a cluster the
    shard paths (and ``out``) must be readable (writable) from every node: a shared file system.  ``order_column``:
    a column with each row's position in batch order (skips the sample sort).  Ray must be
    initialised (:func:`ensure_ray`).  Same scores as ``DedupFilter(params).score`` on the
    concatenated, :func:`~olkit.filters.base.prepare_batch`-ordered shards.

    ``n_partitions`` (default: one per 250k items, 2 to 64) sets how many ways each shuffle
    splits; a shuffle makes shards x partitions objects, and Ray's driver keeps a little memory
    per object, so it grows with the data, not with the shard count.  ``out``: a folder where the
    partition tasks write the links and pairs (``links-*.parquet``, ``pairs-*.parquet``); without
    it they stay in the object store and the driver reads them when the result's ``links`` /
    ``pairs`` are first used (which it does here, to count them).
    """
    import ray

    params = params or DedupPolicy()
    paths = [str(p) for p in shards]
    n_shards = len(paths)
    if n_shards == 0:
        raise ValueError("dedup_ray needs at least one shard")
    n_rows = int(pl.scan_parquet(paths).select(pl.len()).collect().item())  # Parquet footers only
    k = n_partitions or max(2, min(64, -(-n_rows // 250_000)))
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()

    remotes: dict[tuple[Any, int], Any] = {}

    def call(fn: Any, returns: int, *args: Any) -> list[Any]:
        """Run ``fn`` (returning a ``returns``-tuple) as a task: one object ref per element."""
        if (fn, returns) not in remotes:
            remotes[fn, returns] = (ray.remote(_only).options(max_retries=1) if returns == 1 else
                                    ray.remote(fn).options(num_returns=returns, max_retries=1))
        if returns == 1:
            return [remotes[fn, returns].remote(fn, *args)]
        return list(remotes[fn, returns].remote(*args))

    # 1. order
    order_by_shard: list[list[Any]] = [[] for _ in paths]
    if order_column is None:
        sample = ray.remote(_order_sample)
        samples = ray.get([sample.remote(p, sample_per_shard) for p in paths])
        pool = pl.concat(samples, how="vertical").sort("t", "sid")
        cut = np.linspace(0, pool.height, k + 1).astype(np.int64)[1:-1]
        splitters = pool.gather(cut).unique(maintain_order=True) if pool.height else pool
        n_range = splitters.height + 1
        split = [call(_order_split, n_range, p, s, splitters, n_range) for s, p in enumerate(paths)]
        counted = [call(_order_count, 2, *[split[s][r] for s in range(n_shards)]) for r in range(n_range)]
        counts = ray.get([c[1] for c in counted])
        offsets = np.r_[0, np.cumsum(counts)[:-1]]
        del split
        for r in range(n_range):
            for s, ref in enumerate(call(_order_number, n_shards, counted[r][0], int(offsets[r]), n_shards)):
                order_by_shard[s].append(ref)
        del counted
        n_items = int(sum(counts))
    else:
        n_items = n_rows
    seconds["order"] = time.perf_counter() - t0

    # 2. signatures
    t1 = time.perf_counter()
    sig = [call(_signatures, 2 * k + 1, p, order_column, params, k, *order_by_shard[s])
           for s, p in enumerate(paths)]
    del order_by_shard
    pos_refs = [x[2 * k] for x in sig]

    # 3. buckets
    done = [call(_buckets, 2, n_shards, *[x[j] for x in sig], *[x[k + j] for x in sig]) for j in range(k)]
    del sig
    got = ray.get([d for pair in done for d in pair])
    del done
    pairs = unique_pairs(np.concatenate([got[2 * j] for j in range(k)]))
    exact = pl.concat([got[2 * j + 1] for j in range(k)], how="vertical")
    del got
    seconds["signatures_buckets"] = time.perf_counter() - t1

    # 4. verify (pairs by their later item; exact links by the duplicate)
    t2 = time.perf_counter()
    part_of_pair = pairs[:, 0] % k
    e_pos, e_of = exact["pos"].to_numpy(), exact["of"].to_numpy()
    e_part = e_pos % k
    wanted = unique_pairs(np.concatenate([np.stack([pairs[:, 0], part_of_pair], 1),
                                          np.stack([pairs[:, 1], part_of_pair], 1),
                                          np.stack([e_pos, e_part], 1), np.stack([e_of, e_part], 1)]))
    wanted_ref, part_ref = ray.put(wanted[:, 0]), ray.put(wanted[:, 1])
    del wanted
    rows = [call(_shingle_rows, k, p, pos_refs[s], wanted_ref, part_ref, k) for s, p in enumerate(paths)]
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in [*out_dir.glob("links-*.parquet"), *out_dir.glob("pairs-*.parquet")]:
            old.unlink()
    parts = [call(_verify, 2, params, ray.put(pairs[part_of_pair == j]), exact.filter(pl.Series(e_part == j)),
                  None if out_dir is None else str(out_dir), j, *[x[j] for x in rows]) for j in range(k)]
    del rows, pos_refs
    if out_dir is not None:
        counts = ray.get([c for part in parts for c in part])
        n_linked, n_pairs = sum(counts[0::2]), sum(counts[1::2])
        parts = []
    else:
        ray.wait([c for part in parts for c in part], num_returns=2 * k, fetch_local=False)
        n_linked = n_pairs = -1
    seconds["verify"] = time.perf_counter() - t2
    seconds["total"] = time.perf_counter() - t0
    res = RayDedupResult(n_items=n_items, n_linked=n_linked, n_pairs=n_pairs, seconds=seconds, out=out_dir,
                         _parts=parts)
    if out_dir is None:
        res.n_linked, res.n_pairs = res.links.height, res.pairs.height
    return res
