"""The filter pipeline: score every item once, decide many times.

:class:`Pipeline` composes filters in layers (format -> heuristics -> dedup -> models).  Running it

1. puts the batch in a deterministic order (``created_at`` then ``submission_id``),
2. scores **every** item with **every** filter (so that any threshold can later be relaxed), per-row
   filters locally or distributed with Ray Data over Parquet shards, cross-row filters (dedup) on
   the driver over the whole batch,
3. decides in layer order: each filter's decision comes from the cached scores and the policy;
   an item is accepted only if every enabled filter passes it, and *every* reason is recorded.

The result (:class:`PipelineResult`) keeps the score table, so :meth:`PipelineResult.redecide`
re-applies a different :class:`~olkit.filters.config.FilterPolicy` (or full Policy) without
re-scoring -- a few milliseconds for 10k items, which is what the threshold-tuning widget needs.

Example
-------
>>> import polars as pl
>>> from olkit.filters import Pipeline
>>> frame = pl.DataFrame({
...     "submission_id": ["a", "b"], "contributor_id": ["c1", "c2"],
...     "instruction": ["What is the capital of France?"] * 2,
...     "response": ["The capital of France is Paris, on the Seine.", "CLICK HERE buy now!!! http://x.io"],
... })
>>> result = Pipeline.default().run(frame, progress=False)
>>> result.decisions.select("submission_id", "accepted").rows()
[('a', True), ('b', False)]
>>> from olkit.policy import Policy
>>> relaxed = result.redecide(Policy().updated(**{"filters.spam.enabled": False}))  # no re-scoring
>>> relaxed.decisions["accepted"].to_list()
[True, True]
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from olkit.errors import InputError
from olkit.filters.base import (  # noqa: F401  (re-exported: the names lived here before)
    CONTENT_COLUMNS,
    LAYERS,
    META_COLUMNS,
    Filter,
    full_text,
    is_cross_row,
    main_text,
    prepare_batch,
    rule_decisions,
    with_content_columns,
)
from olkit.filters.config import FilterPolicy, scoring_values
from olkit.filters.engines import score_local, score_ray
from olkit.kit import atomic_file

if TYPE_CHECKING:
    from olkit.policy import Policy


def _as_filter_policy(policy: Policy | FilterPolicy | None) -> tuple[FilterPolicy, Policy | None]:
    # a full Policy is recognised by its filters section, not imported: olkit.policy imports the
    # filters' section, so importing it back here would close a cycle
    if policy is None:
        return FilterPolicy(), None
    if isinstance(policy, FilterPolicy):
        return policy, None
    if isinstance(getattr(policy, "filters", None), FilterPolicy) and hasattr(policy, "version_hash"):
        return policy.filters, policy
    raise TypeError(f"policy must be a Policy or FilterPolicy, got {type(policy).__name__}")


def _policy_hash(fp: FilterPolicy, full: Policy | None) -> str:
    """The full policy's hash when it holds these filter settings, else the filter section's own."""
    if full is not None and full.filters == fp:
        return full.version_hash
    return fp.version_hash


@dataclass
class PipelineResult:
    """Cached scores, decisions under one policy, and per-filter stats.

    Attributes
    ----------
    scores:
        ``submission_id`` + one column per raw signal (``<filter>.<signal>``), in batch order.
    decisions:
        ``submission_id, contributor_id, source_id, accepted, reasons`` (list of reason codes of every
        enabled filter that rejected the item), ``<filter>.passed`` / ``<filter>.score`` per filter,
        and ``first_reason`` (the reason of the earliest layer that rejected it).
    stats:
        One row per filter: ``filter, layer, seen`` (items that reached it, i.e. not rejected by an
        earlier filter), ``rejected`` (of those seen), ``rejected_total`` (regardless of order),
        ``score_seconds, decide_seconds``.
    """

    filters: list[Filter]
    policy: FilterPolicy
    meta: pl.DataFrame
    scores: pl.DataFrame
    score_seconds: dict[str, float]
    full_policy: Policy | None = None
    decisions: pl.DataFrame = field(default_factory=pl.DataFrame)
    stats: pl.DataFrame = field(default_factory=pl.DataFrame)
    engine: str = "local"
    run_id: str | None = None

    # ------------------------------------------------------------------------------------------
    @property
    def policy_hash(self) -> str:
        """Version hash of the policy these decisions were made with."""
        return _policy_hash(self.policy, self.full_policy)

    def redecide(self, policy: Policy | FilterPolicy) -> PipelineResult:
        """Decisions under another policy from the cached scores (no re-scoring).

        Raises :class:`~olkit.errors.InputError` when ``policy`` changes a scoring-time field
        (e.g. ``dedup.num_perm``): the cached scores were not computed with it, so its decisions
        (and its policy hash) would describe a run that never happened.
        """
        fp, full = _as_filter_policy(policy)
        out = PipelineResult(filters=self.filters, policy=fp, meta=self.meta, scores=self.scores,
                             score_seconds=self.score_seconds, full_policy=full, engine=self.engine)
        out._decide()
        return out

    @property
    def scored_with(self) -> dict[str, object]:
        """The scoring-time values the cached scores were computed with (from the filters)."""
        out: dict[str, object] = {}
        for f in self.filters:
            out.update(f.scoring_params())
        return out

    def _check_scoring(self, fp: FilterPolicy) -> None:
        wanted = scoring_values(fp)
        for key, value in self.scored_with.items():
            if key in wanted and wanted[key] != value:
                raise InputError(f"the policy sets scoring-time field {key}={wanted[key]!r} but the scores were "
                                 f"computed with {value!r}: score again with this policy instead of re-deciding",
                                 field=key)

    def _decide(self) -> None:
        fp = self.policy
        self._check_scoring(fp)
        frames: list[pl.DataFrame] = []
        decide_seconds: dict[str, float] = {}
        names = []
        for f in self.filters:
            t0 = time.perf_counter()
            d = f.decide(self.scores, fp)
            enabled = fp.is_enabled(f.name)
            if "reason_codes" not in d.columns:
                d = d.with_columns(
                    pl.when(pl.col("reason_code").is_null()).then(pl.lit([], dtype=pl.List(pl.String)))
                    .otherwise(pl.concat_list(pl.col("reason_code"))).alias("reason_codes"))
            passed = pl.col("passed").fill_null(True)
            if not enabled:
                passed = pl.lit(True)
            d = d.select(
                passed.alias(f"{f.name}.passed"),
                pl.col("score").cast(pl.Float64).alias(f"{f.name}.score"),
                pl.when(passed).then(pl.lit([], dtype=pl.List(pl.String)))
                .otherwise(pl.col("reason_codes").cast(pl.List(pl.String))).alias(f"__r_{f.name}"),
            )
            if d.height != self.scores.height:
                raise RuntimeError(f"filter {f.name!r} decided {d.height} rows for {self.scores.height} items")
            frames.append(d)
            names.append(f.name)
            decide_seconds[f.name] = time.perf_counter() - t0
        wide = pl.concat([self.meta.select(pl.col("submission_id")), *frames], how="horizontal") \
            if frames else self.meta.select("submission_id")
        reason_cols = [f"__r_{n}" for n in names]
        if reason_cols:
            wide = wide.with_columns(pl.concat_list(reason_cols).alias("reasons"))
        else:
            wide = wide.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("reasons"))
        wide = wide.with_columns(
            (pl.col("reasons").list.len() == 0).alias("accepted"),
            pl.col("reasons").list.first().alias("first_reason"),
        )
        # stats: seen = not rejected by an earlier filter (in layer order)
        passed_cols = [f"{n}.passed" for n in names]
        stat_exprs = []
        for i, n in enumerate(names):
            seen = pl.all_horizontal(passed_cols[:i]) if i else pl.col("submission_id").is_not_null()
            stat_exprs += [
                seen.sum().alias(f"{n}|seen"),
                (seen & ~pl.col(passed_cols[i])).sum().alias(f"{n}|rejected"),
                (~pl.col(passed_cols[i])).sum().alias(f"{n}|rejected_total"),
            ]
        agg = wide.select(stat_exprs).row(0, named=True) if stat_exprs else {}
        self.stats = pl.DataFrame(
            {
                "filter": names,
                "layer": [f.layer for f in self.filters],
                "enabled": [fp.is_enabled(n) for n in names],
                "seen": [int(agg[f"{n}|seen"]) for n in names],
                "rejected": [int(agg[f"{n}|rejected"]) for n in names],
                "rejected_total": [int(agg[f"{n}|rejected_total"]) for n in names],
                "score_seconds": [float(self.score_seconds.get(n, 0.0)) for n in names],
                "decide_seconds": [decide_seconds[n] for n in names],
            },
            schema={"filter": pl.String, "layer": pl.String, "enabled": pl.Boolean, "seen": pl.Int64,
                    "rejected": pl.Int64, "rejected_total": pl.Int64, "score_seconds": pl.Float64,
                    "decide_seconds": pl.Float64},
        )
        keep_meta = [c for c in self.meta.columns if c != "submission_id"]
        self.decisions = pl.concat(
            [self.meta.select("submission_id", *keep_meta),
             wide.select("accepted", "reasons", "first_reason",
                         *[c for n in names for c in (f"{n}.passed", f"{n}.score")])],
            how="horizontal",
        )

    # ------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts for reports and the CLI."""
        d = self.decisions
        by_reason = (d.select(pl.col("reasons").explode().drop_nulls()).group_by("reasons").len()
                     .sort(["len", "reasons"], descending=[True, False]))
        return {
            "items": d.height,
            "accepted": int(d["accepted"].sum()),
            "rejected": int((~d["accepted"]).sum()),
            "accept_rate": float(d["accepted"].mean()) if d.height else 0.0,
            "policy_hash": self.policy_hash,
            "engine": self.engine,
            "reasons": dict(zip(by_reason["reasons"].to_list(), by_reason["len"].to_list(), strict=True)),
            "score_seconds": round(sum(self.score_seconds.values()), 3),
        }

    def decision_table(self) -> pl.DataFrame:
        """Rows in the store's ``decisions`` layout (``scores`` as JSON ``{filter: score}``)."""
        names = [f.name for f in self.filters]
        score_struct = pl.struct([pl.col(f"{n}.score").alias(n) for n in names]) if names else pl.lit(None)
        return self.decisions.select(
            "submission_id", "accepted", pl.col("reasons").cast(pl.List(pl.String)),
            score_struct.struct.json_encode().alias("scores") if names else pl.lit("{}").alias("scores"),
            pl.lit(self.policy_hash).alias("policy_hash"),
        )

    def to_parquet(self, path: str | Path) -> Path:
        """Write decisions (ids, accepted, reasons, per-filter scores) atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = ["submission_id", "source_id", "contributor_id", "accepted", "reasons", "first_reason"]
        extra = [c for c in self.decisions.columns if c not in cols and c.endswith((".score", ".passed"))]
        out = self.decisions.select([c for c in cols if c in self.decisions.columns] + extra).with_columns(
            pl.lit(self.policy_hash).alias("policy_hash"))
        with atomic_file(path) as tmp:
            out.write_parquet(tmp)
        return path

    def write_to_store(self, store: Any, run_id: str | None = None) -> str:
        """Append the decisions to the store's ledger (rejected items stay in ``submissions``)."""
        full = self.full_policy if self.full_policy is not None else self.policy  # the section alone
        run_id = run_id or self.run_id or f"filter-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        store.add_decisions(self.decision_table(), run_id, full)
        self.run_id = run_id
        return run_id


class Pipeline:
    """Filters composed in layers; see the module docstring.

    Parameters
    ----------
    filters:
        Filter instances (any order; they run in :data:`~olkit.filters.base.LAYERS` order, stable
        within a layer).  ``None``: the registry's defaults for ``kind``.
    policy:
        A :class:`~olkit.policy.Policy` or :class:`~olkit.filters.config.FilterPolicy`
        (default: ``FilterPolicy()``; without a full Policy, decisions carry the filter
        section's own ``version_hash``).
    """

    def __init__(self, filters: Sequence[Filter] | None = None,
                 policy: Policy | FilterPolicy | None = None, *, kind: str = "instruction") -> None:
        if filters is None:
            from olkit.filters.registry import default_filters

            filters = default_filters(kind, policy=policy)
        names = [f.name for f in filters]
        if len(set(names)) != len(names):
            raise ValueError(f"filter names must be unique, got {names}")
        for f in filters:
            if f.layer not in LAYERS:
                raise ValueError(f"filter {f.name!r} has unknown layer {f.layer!r}; layers: {LAYERS}")
        self.filters: list[Filter] = sorted(filters, key=lambda f: LAYERS.index(f.layer))
        self.policy, self.full_policy = _as_filter_policy(policy)

    @classmethod
    def default(cls, kind: str = "instruction", policy: Policy | FilterPolicy | None = None,
                *, models: bool = False) -> Pipeline:
        """The registry's default filters for ``kind`` (``instruction`` or ``document``)."""
        from olkit.filters.registry import default_filters

        return cls(default_filters(kind, models=models, policy=policy), policy)

    def __repr__(self) -> str:
        return f"Pipeline([{', '.join(f.name for f in self.filters)}], policy={_policy_hash(self.policy, self.full_policy)})"

    # ------------------------------------------------------------------------------------------
    def run(self, data: pl.DataFrame | Any, *, engine: str = "local", policy: Policy | FilterPolicy | None = None,
            write: bool = True, run_id: str | None = None, progress: bool = True,
            n_shards: int | None = None) -> PipelineResult:
        """Score and decide.

        ``data``: a polars frame of submissions, or an :class:`olkit.store.Store` (its submissions are
        read and, with ``write=True``, the decisions are appended to it with the policy hash).
        ``engine``: ``"local"`` or ``"ray"`` (Ray Data over Parquet shards; identical decisions).
        """
        if engine not in ("local", "ray"):
            raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
        store = None
        if isinstance(data, pl.DataFrame):
            frame, source = data, "<frame>"
        elif hasattr(data, "submissions") and hasattr(data, "add_decisions"):
            store, frame, source = data, data.submissions(), str(getattr(data, "path", "<store>"))
        else:
            raise TypeError(f"run() takes a polars DataFrame or a Store, got {type(data).__name__}")
        fp, full = _as_filter_policy(policy) if policy is not None else (self.policy, self.full_policy)
        batch = prepare_batch(frame, source=source)
        meta = batch.select([c for c in META_COLUMNS if c in batch.columns])
        if engine == "ray" and batch.height > 0:
            scores, seconds = self._score_ray(batch, progress=progress, n_shards=n_shards)
        else:
            scores, seconds = self._score_local(batch, progress=progress)
        result = PipelineResult(filters=self.filters, policy=fp, meta=meta, scores=scores,
                                score_seconds=seconds, full_policy=full, engine=engine, run_id=run_id)
        result._decide()
        if store is not None and write:
            result.write_to_store(store, run_id)
        return result

    # ------------------------------------------------------------------------------------------
    def _score_local(self, batch: pl.DataFrame, *, progress: bool) -> tuple[pl.DataFrame, dict[str, float]]:
        return score_local(self.filters, batch, progress=progress)

    def _score_ray(self, batch: pl.DataFrame, *, progress: bool,
                   n_shards: int | None) -> tuple[pl.DataFrame, dict[str, float]]:
        return score_ray(self.filters, batch, progress=progress, n_shards=n_shards)


def evaluate_rejections(decisions: pl.DataFrame, labels: pl.DataFrame | None = None,
                        reason_map: dict[str, Sequence[str]] | None = None) -> pl.DataFrame:
    """Per ground-truth label: rejection rate and F1 of *rejecting that label* (quick check).

    For each label ``L`` != ``genuine``: positives are items labelled ``L``; predicted positives are
    items rejected with a reason in ``reason_map[L]`` (default: any reason).  ``false_rejection`` is
    the rejection rate of ``genuine`` items.  The full evaluation lives in ``olkit.filters.evaluate``.
    """
    d = decisions if labels is None else decisions.join(labels.select("submission_id", "label"),
                                                        on="submission_id", how="left")
    if "label" not in d.columns:
        raise InputError("no 'label' column to evaluate against", field="label")
    rows = []
    for lab in sorted(set(d["label"].drop_nulls().to_list())):
        truth = pl.col("label") == lab
        codes = (reason_map or {}).get(lab)
        if codes:
            pred = pl.col("reasons").list.eval(pl.element().is_in(list(codes))).list.any()
        else:
            pred = ~pl.col("accepted")
        r = d.select(
            (truth & pred).sum().alias("tp"), (~truth & pred).sum().alias("fp"),
            (truth & ~pred).sum().alias("fn"), truth.sum().alias("n"),
            (truth & ~pl.col("accepted")).sum().alias("rejected"),
        ).row(0, named=True)
        prec = r["tp"] / (r["tp"] + r["fp"]) if r["tp"] + r["fp"] else 0.0
        rec = r["tp"] / (r["tp"] + r["fn"]) if r["tp"] + r["fn"] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        rows.append({"label": lab, "n": r["n"], "rejection_rate": r["rejected"] / r["n"] if r["n"] else 0.0,
                     "precision": prec, "recall": rec, "f1": f1})
    return pl.DataFrame(rows)


def dumps_stats(result: PipelineResult) -> str:
    """Stats as a JSON string (for logs)."""
    return json.dumps(result.stats.to_dicts(), default=str)
