"""Instruction–response relevance: does the response match ITS instruction better than other ones?

Engagement farmers paste the same canned answer under every question, or answer a different
question than the one asked.  A fixed cutoff on the MiniLM cosine of instruction and response
punishes honest genres whose pairs are loose by nature: a fortune under "Tell me something about
wisdom." or a changelog entry under "What does the NEWS of man-db say?" has a low cosine although
it answers a broad prompt.  So the threshold is a rate, not a score: the bank file
(:class:`RelevanceBank`, ``data/models/relevance_bank.json``) ships with the scores of human pairs of
several genres, each computed with a bank that did not contain that genre
(:class:`olkit.filters.fpr.HumanFprCalibration`), and an item is rejected when at most
``relevance.target_fpr`` of every genre's human pairs score as low as it does.

The score itself is one of :data:`STATISTICS` (:func:`contrast_scores`), named in the bank file:
the raw cosine, or a *contrastive* one -- how far the response's own instruction stands out among a
reference bank of real instructions and answers of several genres (a loose prompt still beats
unrelated prompts; a canned answer does not), optionally adjusted for how specific the instruction
is.  The shipped bank uses the raw cosine: the selection rule of
``benchmarks/filter_sources_bench.py`` (fixed before measuring, applied on a tuning half) chose it;
every statistic is reported there.

Scores: ``relevance.cosine`` (the raw cosine, for inspection), ``relevance.contrast`` and
``relevance.human_fpr``; reason ``relevance.off_topic``.  The embeddings come from the shared
:class:`olkit.filters.embeddings.EmbeddingCache`, so the quality filter reuses them.  The bank is
rebuilt with ``scripts/build_relevance_bank.py``.

Example
-------
>>> import polars as pl
>>> from olkit.filters.relevance import RelevanceFilter
>>> from olkit.filters.config import FilterPolicy
>>> batch = pl.DataFrame({"submission_id": ["a", "b"],
...     "instruction": ["How do I sort a list in Python?", "How do I sort a list in Python?"],
...     "response": ["Call sorted(xs) or xs.sort().", "Paris is the capital of France."]})
>>> f = RelevanceFilter()
>>> scores = f.score(batch)
>>> scores["relevance.human_fpr"].to_list()[0] > 0.5 > scores["relevance.human_fpr"].to_list()[1]
True
>>> f.decide(scores, FilterPolicy.model_validate({"relevance": {"target_fpr": 0.1}}))["passed"].to_list()
[True, False]

At the default ``target_fpr`` (2%) the second pair passes: 3-8% of the shipped calibration's
fortunes (under category prompts like "Tell me something about science.") have a cosine as low
(``benchmarks/filter_sources_bench.py`` reports the trade-off).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl

from olkit.errors import InputError
from olkit.filters.base import rule_decisions
from olkit.filters.config import FilterPolicy
from olkit.filters.embeddings import MAX_CHARS, EmbeddingCache, EmbeddingFilter, cosine_rows
from olkit.filters.fpr import HumanFprCalibration
from olkit.kit import write_text_atomic

DEFAULT_BANK_FILE = "relevance_bank.json"
BANK_KIND = "olkit.relevance_bank"

#: Contrastive statistics :func:`contrast_scores` computes (higher = more on-topic).  ``zinstr``:
#: z-score of cos(instruction, response) among cos(bank instruction, response);  ``zresp``: among
#: cos(instruction, bank response);  ``ztwo``: their sum;  ``rank``: share of bank instructions
#: the response matches less well than its own;  ``cosine``: the raw cosine (the old statistic).
#: ``<base>_spec``: the base statistic minus what human pairs with an instruction this *specific*
#: score on it (a linear fit on the calibration pairs, :func:`specificity`): a precise question needs
#: a close answer, a broad prompt ("Tell me something about wisdom.") does not.
Statistic = Literal["zinstr", "zresp", "ztwo", "rank", "cosine", "zinstr_spec", "ztwo_spec"]
STATISTICS: tuple[str, ...] = ("zinstr", "zresp", "ztwo", "rank", "cosine", "zinstr_spec", "ztwo_spec")


def specificity(instr: np.ndarray, bank_resp: np.ndarray) -> np.ndarray:
    """How far the bank answer closest to each instruction stands out from the other bank answers
    (z-score of the max cosine): high for a precise question the bank can answer, low for a broad prompt."""
    b = (np.asarray(instr, dtype=np.float32) @ np.asarray(bank_resp, dtype=np.float32).T).astype(np.float64)
    return (b.max(axis=1) - b.mean(axis=1)) / (b.std(axis=1) + 1e-6)


def contrast_scores(instr: np.ndarray, resp: np.ndarray, bank_instr: np.ndarray, bank_resp: np.ndarray,
                    statistic: Statistic = "ztwo", spec_coef: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """How much better each response matches its own instruction than the bank's (higher = on-topic).

    ``instr``/``resp``: unit-norm row embeddings of the items; ``bank_instr``/``bank_resp``: of the
    reference bank.  Rows whose instruction or response embedding is all zero (missing text) get NaN.
    ``spec_coef``: ``(a, b)`` of a ``*_spec`` statistic (base - a - b * specificity).

    >>> import numpy as np
    >>> e = np.eye(4, dtype=np.float32)
    >>> contrast_scores(e[:1], e[:1], e[1:], e[1:], "rank").tolist()   # beats every bank instruction
    [1.0]
    """
    if statistic not in STATISTICS:
        raise InputError(f"unknown relevance statistic {statistic!r}; known: {list(STATISTICS)}", field="statistic")
    instr = np.asarray(instr, dtype=np.float32)
    resp = np.asarray(resp, dtype=np.float32)
    if statistic.endswith("_spec"):
        base = contrast_scores(instr, resp, bank_instr, bank_resp, statistic.removesuffix("_spec"))
        return base - spec_coef[0] - spec_coef[1] * specificity(instr, bank_resp)
    cos = cosine_rows(instr, resp)
    if statistic == "cosine":
        out = cos
    elif statistic == "rank":
        out = 1.0 - (resp @ np.asarray(bank_instr, dtype=np.float32).T >= cos[:, None].astype(np.float32)).mean(axis=1)
    else:
        out = np.zeros(len(cos))
        if statistic in ("zinstr", "ztwo"):
            a = (resp @ np.asarray(bank_instr, dtype=np.float32).T).astype(np.float64)
            out += (cos - a.mean(axis=1)) / (a.std(axis=1) + 1e-6)
        if statistic in ("zresp", "ztwo"):
            b = (instr @ np.asarray(bank_resp, dtype=np.float32).T).astype(np.float64)
            out += (cos - b.mean(axis=1)) / (b.std(axis=1) + 1e-6)
    out = np.asarray(out, dtype=np.float64)
    out[~(instr.any(axis=1) & resp.any(axis=1))] = np.nan
    return out


class RelevanceBank:
    """Reference pairs of several genres, the statistic, and the human calibration of that statistic.

    Parameters
    ----------
    instructions, responses:
        The bank's real (instruction, response) pairs (texts; embedded on first use with the
        filter's :class:`~olkit.filters.embeddings.EmbeddingCache`, so a bank is a small JSON file).
    sources:
        Genre of each bank pair (``None``: all ``"bank"``).
    statistic:
        Which :func:`contrast_scores` statistic the calibration was computed with.
    spec_coef:
        ``(a, b)`` of a ``*_spec`` statistic, fitted on the calibration pairs by :func:`build_bank`.
    calibration:
        :class:`~olkit.filters.fpr.HumanFprCalibration` (``flag="low"``) of human pairs of several
        genres, each scored with a bank that did not contain its genre.
    """

    def __init__(self, instructions: Sequence[str], responses: Sequence[str], *, sources: Sequence[str] | None = None,
                 statistic: Statistic = "ztwo", calibration: HumanFprCalibration | None = None,
                 spec_coef: Sequence[float] = (0.0, 0.0), metadata: Mapping[str, Any] | None = None) -> None:
        if len(instructions) != len(responses) or not len(instructions):
            raise InputError(f"a relevance bank needs as many instructions as responses (>0), got "
                             f"{len(instructions)} and {len(responses)}", field="bank")
        if statistic not in STATISTICS:
            raise InputError(f"unknown relevance statistic {statistic!r}; known: {list(STATISTICS)}", field="statistic")
        self.instructions = [str(t) for t in instructions]
        self.responses = [str(t) for t in responses]
        self.sources = np.asarray(["bank"] * len(self.instructions) if sources is None else [str(s) for s in sources])
        self.statistic = statistic
        self.calibration = calibration
        self.spec_coef = (float(spec_coef[0]), float(spec_coef[1]))
        self.metadata = dict(metadata or {})
        self._emb: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.instructions)

    def embeddings(self, embedder: EmbeddingCache) -> tuple[np.ndarray, np.ndarray]:
        """Bank instruction and response embeddings (cached per embedder)."""
        key = id(embedder)
        if key not in self._emb:
            both = embedder.embed(self.instructions + self.responses)
            self._emb[key] = (both[: len(self)], both[len(self):])
        return self._emb[key]

    def contrast(self, instr: np.ndarray, resp: np.ndarray, embedder: EmbeddingCache) -> np.ndarray:
        """The bank's statistic for item embeddings (the raw cosine never embeds the bank)."""
        if self.statistic == "cosine":
            empty = np.zeros((0, instr.shape[1]), dtype=np.float32)
            return contrast_scores(instr, resp, empty, empty, "cosine")
        return contrast_scores(instr, resp, *self.embeddings(embedder), self.statistic, self.spec_coef)

    def human_fpr(self, contrast: np.ndarray) -> np.ndarray:
        if self.calibration is None:
            raise InputError("this relevance bank has no human calibration: rebuild it with "
                             "scripts/build_relevance_bank.py", field="calibration")
        return self.calibration.human_fpr(contrast)

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": BANK_KIND, "statistic": self.statistic, "spec_coef": list(self.spec_coef),
                               "metadata": self.metadata,
                               "pairs": [{"source": s, "instruction": i, "response": r} for s, i, r in
                                         zip(self.sources.tolist(), self.instructions, self.responses, strict=True)]}
        if self.calibration is not None:
            out["human_calibration"] = self.calibration.to_dict()
        return out

    def save(self, path: str | Path) -> Path:
        return write_text_atomic(Path(path), json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RelevanceBank:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(f"cannot read relevance bank: {err}", file=str(path)) from None
        if not isinstance(data, dict) or data.get("kind") != BANK_KIND:
            raise InputError(f"not a relevance bank (kind != {BANK_KIND!r})", file=str(path), field="kind")
        try:
            pairs = data["pairs"]
            cal = data.get("human_calibration")
            return cls([p["instruction"] for p in pairs], [p["response"] for p in pairs],
                       sources=[p.get("source", "bank") for p in pairs], statistic=data.get("statistic", "ztwo"),
                       calibration=None if cal is None else HumanFprCalibration.from_dict(cal, source=str(path)),
                       spec_coef=data.get("spec_coef", (0.0, 0.0)),
                       metadata=data.get("metadata"))
        except (KeyError, TypeError) as err:
            raise InputError(f"bad relevance bank: {err!r}", file=str(path), field="pairs") from None


@cache
def default_bank() -> RelevanceBank:
    """The shipped reference bank and calibration (``data/models/relevance_bank.json``)."""
    from olkit.filters.synthetic import default_model_path

    return RelevanceBank.load(default_model_path(DEFAULT_BANK_FILE))


def calibrate_bank(bank: RelevanceBank, human_instr: np.ndarray, human_resp: np.ndarray, human_sources: Sequence[str],
                   embedder: EmbeddingCache) -> HumanFprCalibration:
    """Leave-source-out calibration: each human source's pairs scored with the bank minus that source.

    ``human_instr``/``human_resp``: embeddings of the human calibration pairs; ``human_sources``:
    their genre.  Bank rows whose ``source`` equals a genre are left out when that genre is scored.
    For a ``*_spec`` statistic the specificity fit ``bank.spec_coef`` is refitted here (least squares
    of the base statistic on :func:`specificity` over all calibration pairs).
    """
    src = np.asarray([str(s) for s in human_sources])
    bi, br = bank.embeddings(embedder)
    spec_stat = bank.statistic.endswith("_spec")
    base_stat = bank.statistic.removesuffix("_spec")
    scores, specs = {}, {}
    for name in sorted(set(src.tolist())):
        inside = src == name
        keep = bank.sources != name
        if not keep.any():
            raise InputError(f"the relevance bank holds only source {name!r}: nothing left to contrast with",
                             field="bank")
        scores[name] = contrast_scores(human_instr[inside], human_resp[inside], bi[keep], br[keep], base_stat)
        specs[name] = specificity(human_instr[inside], br[keep])
    if spec_stat:
        x = np.concatenate(list(specs.values()))
        y = np.concatenate(list(scores.values()))
        ok = np.isfinite(x) & np.isfinite(y)
        a, b = np.linalg.lstsq(np.c_[np.ones(int(ok.sum())), x[ok]], y[ok], rcond=None)[0]
        bank.spec_coef = (float(a), float(b))
        scores = {k: v - a - b * specs[k] for k, v in scores.items()}
    return HumanFprCalibration(scores, flag="low")


def build_bank(pairs: pl.DataFrame, calibration_pairs: pl.DataFrame | None = None, *, per_source: int = 100,
               statistic: Statistic = "ztwo", seed: int = 0, max_chars: int = MAX_CHARS,
               embedder: EmbeddingCache | None = None) -> RelevanceBank:
    """A :class:`RelevanceBank` from real pairs of several genres, calibrated leave-source-out.

    ``pairs``: ``source``, ``instruction``, ``response``; up to ``per_source`` pairs with distinct
    instructions are drawn per source (``seed``), responses cut to ``max_chars`` characters (default: the
    embedding's own cut, so a bank pair embeds exactly like the item it came from).
    ``calibration_pairs`` (default: ``pairs``): human pairs whose scores set the false-positive
    rate, each source scored with the bank minus that source (:func:`calibrate_bank`).

    >>> import polars as pl
    >>> from olkit.filters.relevance import build_bank
    >>> pairs = pl.DataFrame({"source": ["a", "a", "b", "b"],
    ...     "instruction": ["Sort a list?", "Read a file?", "What is a cat?", "What is rain?"],
    ...     "response": ["Use sorted().", "Use open().", "A small feline.", "Water falling from clouds."]})
    >>> bank = build_bank(pairs, per_source=2)
    >>> len(bank), sorted(bank.calibration.sources)
    (4, ['a', 'b'])
    """
    from olkit.filters.embeddings import default_embedder

    missing = {"source", "instruction", "response"} - set(pairs.columns)
    if missing:
        raise InputError(f"bank pairs need columns {sorted(missing)}", field=sorted(missing)[0])
    embedder = embedder if embedder is not None else default_embedder()
    clean = (pairs.select(pl.col("source").cast(pl.String), pl.col("instruction").cast(pl.String),
                          pl.col("response").cast(pl.String).str.slice(0, max_chars))
             .filter((pl.col("instruction").str.strip_chars() != "") & (pl.col("response").str.strip_chars() != ""))
             .unique("instruction", keep="first", maintain_order=True))
    parts = []
    for i, name in enumerate(sorted(clean["source"].unique().to_list())):
        part = clean.filter(pl.col("source") == name)
        parts.append(part.sample(min(per_source, part.height), seed=seed + i, shuffle=True))
    chosen = pl.concat(parts)
    bank = RelevanceBank(chosen["instruction"].to_list(), chosen["response"].to_list(),
                         sources=chosen["source"].to_list(), statistic=statistic,
                         metadata={"per_source": per_source, "seed": seed, "max_chars": max_chars,
                                   "bank_sources": {k: int(v) for k, v in chosen["source"].value_counts().rows()}})
    cal = pairs if calibration_pairs is None else calibration_pairs
    if len(set(cal["source"].to_list())) < 2 and len(set(bank.sources.tolist())) < 2:
        raise InputError("calibrating a relevance bank leave-source-out needs pairs of at least two sources",
                         field="source")
    hi, hr = embedder.embed_pairs(cal)
    bank.calibration = calibrate_bank(bank, hi, hr, cal["source"].to_list(), embedder)
    bank.metadata["calibration"] = "leave-source-out"
    bank.metadata["calibration_sources"] = {k: int(len(v)) for k, v in bank.calibration.scores.items()}
    return bank


class RelevanceFilter(EmbeddingFilter):
    """Reject responses that do not match their instruction better than a bank of other instructions.

    Scores: ``relevance.cosine`` (raw cosine, in [-1, 1]), ``relevance.contrast`` (the bank's
    statistic, higher = on-topic) and ``relevance.human_fpr`` (the share of the worst calibration
    genre's human pairs that score as low); all null when the item has no instruction or no
    response (documents), which then pass.  Decision: reject with ``relevance.off_topic`` when
    ``relevance.human_fpr <= policy.relevance.target_fpr``.

    Parameters
    ----------
    bank:
        A :class:`RelevanceBank` or the path of one (default: the shipped bank).
    embedder:
        The shared embedding cache.
    """

    name: ClassVar[str] = "relevance"
    layer: ClassVar[str] = "models"
    reason_code: ClassVar[str] = "relevance.off_topic"
    score_column: ClassVar[str] = "relevance.contrast"

    def __init__(self, bank: RelevanceBank | str | Path | None = None, embedder: EmbeddingCache | None = None) -> None:
        super().__init__(embedder)
        if isinstance(bank, str | Path):
            bank = RelevanceBank.load(bank)
        self._bank = bank

    @property
    def bank(self) -> RelevanceBank:
        if self._bank is None:
            self._bank = default_bank()
        return self._bank

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        ids = batch.get_column("submission_id")
        if batch.height:
            instr, resp = self.embedder.embed_pairs(batch)
            contrast = self.score_embedded(batch, instr, resp)
            cos = cosine_rows(instr, resp)
            cos[~np.isfinite(contrast)] = np.nan
            fpr = self.bank.human_fpr(contrast)
        else:
            contrast = cos = fpr = np.zeros(0)
        return pl.DataFrame({"submission_id": ids,
                             "relevance.cosine": pl.Series(cos, dtype=pl.Float64).fill_nan(None),
                             "relevance.contrast": pl.Series(contrast, dtype=pl.Float64).fill_nan(None),
                             "relevance.human_fpr": pl.Series(fpr, dtype=pl.Float64).fill_nan(None)})

    def score_embedded(self, batch: pl.DataFrame, instr: np.ndarray, resp: np.ndarray) -> np.ndarray:
        return self.bank.contrast(instr, resp, self.embedder)

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.relevance
        fpr = pl.col("relevance.human_fpr")
        return rule_decisions(scores, [(self.reason_code, fpr <= p.target_fpr)], pl.col("relevance.contrast"),
                              enabled=p.enabled)
