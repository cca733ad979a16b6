"""The shipped real-text corpora behind the sample datanet and the external eval set.

All files live in ``data/`` (see ``data/DATA_CARD.md``) and are produced by
``data/scripts/extract_corpora.py`` and ``data/scripts/generate_synthetic.py``; loading them
never touches the installed standard library, so the stream is the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.paths import data_dir

STDLIB_QA = "stdlib_qa.parquet"
EXTERNAL_QA = "external_qa.parquet"
MULTILINGUAL = "multilingual.parquet"
SYNTHETIC = "synthetic_answers.jsonl"

#: Share of questions held out (assigned by a hash of the question id, not by the seed).
HELDOUT_FRACTION = 0.25

#: Instruction phrasings for a stdlib docstring, by kind of object.  ``{name}`` is the dotted
#: name, ``{short}`` the last component, ``{owner}`` the class or module it belongs to.
INSTRUCTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "function": (
        "What does `{name}` do?",
        "Explain what the `{name}` function does.",
        "How does `{short}` from the `{owner}` module work?",
        "What is `{name}` used for in Python?",
        "Describe the behaviour of `{name}`.",
    ),
    "class": (
        "Explain the `{name}` class.",
        "What is `{name}`?",
        "What is the `{short}` class in `{owner}` for?",
        "Describe `{name}` and when you would use it.",
        "What does an instance of `{name}` represent?",
    ),
    "method": (
        "What does the `{short}` method of `{owner}` do?",
        "Explain `{name}`.",
        "How does `{owner}.{short}` behave?",
        "What is the purpose of `{name}`?",
        "Describe what calling `{short}` on a `{owner}` object does.",
    ),
}

#: Phrasings for the external set (language reference sections and Debian packages).  Written
#: independently of the templates above.
EXTERNAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "language-reference": (
        "According to the Python language reference, how does {name} work?",
        "Summarise the Python reference section on {name}.",
        "Can you walk me through {name} in Python?",
        "I am learning Python. What should I know about {name}?",
    ),
    "debian-package": (
        "What is the Debian package {name} ({synopsis}) for?",
        "I found {name} installed on my Debian system. What does it provide?",
        "Give a short description of the {name} package.",
        "Why would I install {name}?",
    ),
}


def _path(name: str) -> Path:
    path = data_dir() / name
    if not path.exists():
        raise InputError(
            "shipped data file is missing; regenerate it with data/scripts/extract_corpora.py "
            "or data/scripts/generate_synthetic.py", file=str(path))
    return path


def hash_unit(keys: pl.Series, salt: str) -> np.ndarray:
    """A stable pseudo-uniform number in [0, 1) per key (independent of seeds and versions)."""
    digests = [hashlib.blake2b((salt + key).encode("utf-8"), digest_size=8).digest()
               for key in keys.to_list()]
    return np.frombuffer(b"".join(digests), dtype=">u8").astype(np.float64) / 2.0**64


def split_of(question_ids: pl.Series, heldout_fraction: float = HELDOUT_FRACTION) -> pl.Series:
    """``"heldout"`` or ``"train"`` per question id, by a stable hash (same on every machine)."""
    unit = hash_unit(question_ids, "olkit-split:")
    return pl.Series("split", np.where(unit < heldout_fraction, "heldout", "train"))


def _with_names(frame: pl.DataFrame) -> pl.DataFrame:
    name = pl.col("name").str.strip_prefix("builtins.")
    return frame.with_columns(
        name.alias("name"),
        name.str.split(".").list.last().alias("short"),
        pl.when(pl.col("kind") == "method")
        .then(name.str.split(".").list.slice(-2, 1).list.first())
        .otherwise(pl.col("module")).alias("owner"),
    )


@cache
def stdlib_qa() -> pl.DataFrame:
    """Question/answer pairs from stdlib docstrings, with ``split`` and name parts."""
    frame = _with_names(pl.read_parquet(_path(STDLIB_QA)))
    return frame.with_columns(split_of(frame["question_id"]))


@cache
def external_qa() -> pl.DataFrame:
    """Pairs from the Python language reference and Debian package descriptions."""
    return pl.read_parquet(_path(EXTERNAL_QA))


@cache
def multilingual(group: str) -> pl.DataFrame:
    """Real translated sentences (``lang``, ``domain``, ``text``) of one ``group``."""
    frame = pl.read_parquet(_path(MULTILINGUAL))
    return frame.filter(pl.col("group") == group)


@cache
def synthetic_answers(batch: str) -> pl.DataFrame:
    """SmolLM2 answers shipped in ``data/synthetic_answers.jsonl`` for one ``batch``."""
    path = _path(SYNTHETIC)
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise InputError(f"invalid JSON: {err.msg}", file=str(path), row=lineno) from None
    frame = pl.DataFrame(rows)
    return frame.filter(pl.col("batch") == batch)


def render_instructions(frame: pl.DataFrame, template_idx: np.ndarray,
                        templates: dict[str, tuple[str, ...]] = INSTRUCTION_TEMPLATES) -> list[str]:
    """Format one instruction per row of ``frame`` with the template number ``template_idx``."""
    out = []
    for row, t in zip(frame.iter_rows(named=True), template_idx.tolist(), strict=True):
        options = templates[row["kind"]]
        out.append(options[t % len(options)].format(**row))
    return out
