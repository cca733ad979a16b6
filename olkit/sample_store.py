"""One scored sample store for the tour's notebooks: built (or reused) once, read by each notebook.

The tour's filtering and training notebooks all start from the embedded sample datanet.  Instead
of each building, ingesting and scoring its own copy, :func:`scored_sample` builds it once under a
folder keyed by the sample parameters and the policy hash: the labelled stream
(``stream.parquet``), a DuckDB ledger with the ingested submissions and the pipeline's decisions
(``datanet.duckdb``), the decisions with their per-filter scores (``decisions.parquet``) and
``sample.json`` (parameters, counts, seconds).  A second call with the same parameters reuses it.
The tour passes the folder to each notebook as its ``sample_store`` parameter; a notebook run on
its own (parameter ``None``) builds its own as before.

Notebooks that write (decisions of another policy, tuned exports) work on a copy of the ledger
(:meth:`ScoredSample.copy_store`); re-filtering with another policy does no model work because the
model scores are in the disk score cache (:mod:`olkit.filters.score_cache`).

>>> s = scored_sample("/tmp/olkit-samples", n_contributors=60, models=True)   # doctest: +SKIP
>>> s.stream().height, s.decisions()["accepted"].mean()                         # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from olkit.errors import InputError
from olkit.kit import atomic_dir

#: Bump when what the folder holds changes (part of the folder key).
SAMPLE_VERSION = 1
_META = "sample.json"


@dataclass(frozen=True)
class ScoredSample:
    """A built sample folder: ``stream.parquet``, ``datanet.duckdb``, ``decisions.parquet``, ``sample.json``."""

    folder: Path

    @classmethod
    def open(cls, folder: str | Path) -> ScoredSample:
        """The sample in ``folder``; :class:`InputError` if it is not a finished sample folder."""
        folder = Path(folder)
        if not (folder / _META).is_file():
            raise InputError("not a scored sample folder (no sample.json; build one with scored_sample)",
                             file=str(folder))
        return cls(folder)

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads((self.folder / _META).read_text())

    @property
    def store_path(self) -> Path:
        return self.folder / "datanet.duckdb"

    def stream(self) -> pl.DataFrame:
        """The labelled stream (``sample_stream`` columns plus ``submission_id``)."""
        return pl.read_parquet(self.folder / "stream.parquet")

    def decisions(self) -> pl.DataFrame:
        """The scored decisions (``submission_id, accepted, reasons, <filter>.score ...``)."""
        return pl.read_parquet(self.folder / "decisions.parquet")

    def copy_store(self, dest: str | Path) -> Path:
        """A private copy of the ledger at ``dest`` (notebooks append their own decisions to it)."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.store_path, dest)
        return dest

    def __repr__(self) -> str:
        m = self.meta
        return (f"ScoredSample({m['items']} items of {m['n_contributors']} contributors, seed {m['seed']}, "
                f"models={m['models']}, policy {m['policy_hash']}, scored in {m['seconds']:.1f} s; {self.folder})")


def sample_key(n_contributors: int, seed: int, models: bool, policy_hash: str) -> str:
    """The folder name for these parameters."""
    from olkit.filters.score_cache import settings_key

    return f"sample-{n_contributors}c-s{seed}-{'m' if models else 'h'}-" + settings_key(
        n_contributors, seed, bool(models), policy_hash, SAMPLE_VERSION)


def scored_sample(root: str | Path, *, n_contributors: int = 60, seed: int = 0, models: bool = True,
                  policy: Any = None, progress: bool = True) -> ScoredSample:
    """Build (or reuse) the scored sample under ``root``; return it.

    ``policy``: a :class:`olkit.policy.Policy` (default: the default policy); its hash is part of
    the key.  ``models``: include the model filters.  The folder appears atomically (built in a
    temporary folder, then renamed), so a half-built sample is never reused.
    """
    from olkit.policy import Policy

    policy = policy or Policy()
    root = Path(root)
    folder = root / sample_key(n_contributors, seed, models, policy.version_hash)
    if (folder / _META).is_file():
        return ScoredSample(folder)
    from olkit.data import sample_stream
    from olkit.filters import Pipeline
    from olkit.ingest import ingest
    from olkit.store import Store
    from olkit.train.data import with_submission_ids

    start = time.perf_counter()
    try:
        with atomic_dir(folder) as tmp:  # a half-built sample never appears under its key
            stream = with_submission_ids(sample_stream(n_contributors=n_contributors, seed=seed))
            stream.write_parquet(tmp / "stream.parquet")
            with Store(tmp / "datanet.duckdb") as store:
                ingest(stream.drop("submission_id"), store, progress=False)
                result = Pipeline.default(policy=policy, models=models).run(store, progress=progress)
            result.decisions.write_parquet(tmp / "decisions.parquet")
            meta = {"n_contributors": n_contributors, "seed": seed, "models": bool(models),
                    "policy_hash": policy.version_hash, "policy_name": policy.name, "items": stream.height,
                    "accepted": int(result.decisions["accepted"].sum()), "version": SAMPLE_VERSION,
                    "seconds": round(time.perf_counter() - start, 2)}
            (tmp / _META).write_text(json.dumps(meta, indent=1))
    except FileExistsError:  # another process finished the same sample first: use theirs
        pass
    return ScoredSample(folder)
