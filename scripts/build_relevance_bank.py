"""Build the shipped relevance reference bank and its human calibration (``data/models/relevance_bank.json``).

Bank: up to ``per_source`` real (instruction, response) pairs with distinct instructions from each
of the six human genres of :func:`olkit.data.synthetic_eval.human_texts` (Python FAQ, Python docs,
stdlib docstrings, Debian package descriptions, upstream READMEs/NEWS, fortunes) and from the
sample datanet's ``train`` split (genuine answers).  Calibration: the contrast scores of the same
human pairs, each genre scored with the bank minus that genre (leave-source-out), so the policy's
``relevance.target_fpr`` is a rate on genres the bank did not contain.

Usage: ``PYTHONPATH=. .venv/bin/python scripts/build_relevance_bank.py [n_per_source] [seed]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl

from olkit.filters.relevance import DEFAULT_BANK_FILE, build_bank
from olkit.filters.synthetic import default_model_path

#: The statistic the selection rule of ``benchmarks/filter_sources_bench.py`` chose on its tuning half
#: (FPR-calibrated raw cosine; every contrastive variant is reported there).
STATISTIC = "cosine"
PER_SOURCE = 100


def human_pairs(n_per_source: int = 300, seed: int = 0, n_contributors: int = 200) -> pl.DataFrame:
    """The six human genres plus the sample datanet's genuine train-split pairs (source ``sample_qa``)."""
    from olkit.data import sample_stream
    from olkit.data.synthetic_eval import human_texts

    human = human_texts(n_per_source=n_per_source, seed=seed).select("source", "instruction", "response")
    sample = (sample_stream(n_contributors=n_contributors, seed=seed)
              .filter((pl.col("split") == "train") & (pl.col("label") == "genuine"))
              .unique("instruction", keep="first", maintain_order=True)
              .head(n_per_source).select(pl.lit("sample_qa").alias("source"), "instruction", "response"))
    return pl.concat([human, sample])


def build_default(n_per_source: int = 300, seed: int = 0, out: str | Path | None = None) -> dict[str, Any]:
    pairs = human_pairs(n_per_source, seed)
    bank = build_bank(pairs, per_source=PER_SOURCE, statistic=STATISTIC, seed=seed)
    bank.metadata.update(n_per_source=n_per_source, built_by="scripts/build_relevance_bank.py")
    bank.save(out or default_model_path(DEFAULT_BANK_FILE))
    return bank.metadata


if __name__ == "__main__":
    print(json.dumps(build_default(*[int(a) for a in sys.argv[1:3]]), indent=1))
