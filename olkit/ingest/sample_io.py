"""Write the embedded sample datanet to files: what ``olkit sample`` does.

The submissions file holds only what a real contributor would send; the ground truth
(``label``, ``archetype``, ``split`` ...) goes to ``labels.parquet``, keyed by the ``submission_id``
the store will compute, so labels join onto the store without leaking into what filters see.
"""

from __future__ import annotations

from pathlib import Path

from olkit.kit import atomic_file
from olkit.schema import SUBMISSION_SCHEMA

#: Columns of the sample stream written to the submissions file; the rest is ground truth.
_SUBMISSION_COLUMNS = tuple(c for c in SUBMISSION_SCHEMA if c not in ("submission_id", "content_hash", "meta",
                                                                       "ingested_at", "ingest_run", "source"))


def write_sample(out: str | Path, *, contributors: int = 200, seed: int = 0, fmt: str = "jsonl") -> dict:
    """Write the sample stream to ``out``: submissions file + ``labels.parquet``; return paths and counts.

    Example
    -------
    >>> import tempfile
    >>> info = write_sample(tempfile.mkdtemp(), contributors=10, seed=1)
    >>> sorted(info)
    ['contributors', 'labels', 'rows', 'seed', 'submissions']
    """
    from olkit.data.sample import sample_stream
    from olkit.ingest.core import read

    frame = sample_stream(n_contributors=contributors, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    subs = frame.select([c for c in _SUBMISSION_COLUMNS if c in frame.columns])
    ids = read(subs, progress=False)["submission_id"]
    truth_cols = [c for c in frame.columns if c not in subs.columns]
    labels = frame.select("contributor_id", "source_id", *truth_cols).with_columns(ids.alias("submission_id"))
    labels = labels.rename({"source": "origin"}) if "source" in labels.columns else labels
    sub_path = out / f"submissions.{fmt}"
    with atomic_file(sub_path) as tmp:
        subs.write_ndjson(tmp) if fmt == "jsonl" else subs.write_parquet(tmp)
    labels_path = out / "labels.parquet"
    with atomic_file(labels_path) as tmp:
        labels.write_parquet(tmp)
    return {"submissions": str(sub_path), "labels": str(labels_path), "rows": frame.height,
            "contributors": frame["contributor_id"].n_unique(), "seed": seed}
