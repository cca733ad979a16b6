"""Heuristic quality rules in the style of Gopher, C4 and FineWeb, vectorised over a batch.

Row-level statistics (mean word length, symbol-to-word ratio, bullet/ellipsis lines, alphabetic
words, stop words, terminal punctuation, short lines) are polars string expressions.  Repetition
statistics (duplicate lines/paragraphs, top n-gram and duplicated n-gram character fractions) are
computed on the *flattened* batch: every word of every item becomes one element of a numpy array
(64-bit word hashes, lengths, item index); n-gram hashes are rolled over the flat array, duplicates
within an item are found with one hash-based ``is_first_distinct`` per n, and covered characters are
summed per item with ``bincount``.  Character runs ("!!!!!!", "soooooo") are found on the raw UTF-8
buffer of the Arrow string column.  No Python loop runs over items.

Deviations from the published rules, for short instruction/response items (documented, configurable):

* word-statistics rules apply only to items with at least ``min_words_for_stats`` words;
* a "top n-gram" must occur at least twice (a 10-word answer has no repeated bigram, but its only
  bigram would otherwise cover 20% of it);
* the Gopher stop-word list is extended with a dozen very frequent English function words;
* C4/FineWeb line rules apply only to items with at least ``min_lines_for_line_rules`` lines;
* Gopher's n-gram repetition rules apply to texts of at least ``min_words_for_ngram_rules`` (50)
  words; shorter texts are checked with the distinct-word ratio instead;
* C4's terminal-punctuation rule is applied to the end of the text (a truncated answer), at
  paragraph level: a last paragraph without terminal punctuation marks the text truncated only when
  paragraphs that do end properly hold less than ``min_punctuated_word_frac`` of its words (C4 would
  drop such a label-like closing line — "This package contains the shared libraries" — and keep the
  rest; an answer cut mid-sentence has no finished paragraph before the cut).

``HeuristicsFilter(HeuristicsPolicy(preset="datatrove"))`` (or a policy with ``heuristics.preset:
datatrove``) scores and decides instead exactly as HF datatrove's four filters do with their default
arguments (:mod:`olkit.filters.datatrove_compat`), for like-for-like comparisons and migrations.

Example
-------
>>> import polars as pl
>>> from olkit.filters.config import FilterPolicy
>>> from olkit.filters.heuristics import HeuristicsFilter
>>> batch = pl.DataFrame({"submission_id": ["ok", "rep"], "text": [
...     "The sum of two numbers is computed with the plus operator, and it returns an integer.",
...     "buy now buy now buy now buy now buy now buy now buy now buy now"]})
>>> f = HeuristicsFilter()
>>> f.decide(f.score(batch), FilterPolicy())["passed"].to_list()
[True, False]
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl
import pyarrow as pa

from olkit.filters import datatrove_compat
from olkit.filters.base import Filter, main_text, rule_decisions, with_content_columns
from olkit.filters.config import FilterPolicy, HeuristicsPolicy, scoring_values
from olkit.filters.ngrams import DUP_NGRAMS, TOP_NGRAMS, first_seen, repeat_coverage, rolling_ngrams

#: Gopher's stop words plus frequent English function words (presence of >= 2 distinct ones).
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with",  # Gopher
              "is", "a", "an", "in", "it", "for", "on", "are", "this", "as", "or", "if", "by", "you",
              "was", "not", "can", "from", "at", "which", "will", "when")
WORD_RE = r"[\p{L}\p{N}_]+(?:['’][\p{L}]+)?"
#: A complete text ends in terminal punctuation, a closing bracket/quote/backtick, or a URL.
TERMINAL_END = r"(?:[.!?:;\"'”’»)\]}>`*]|\b[a-z][a-z0-9+.-]*://\S+|\bwww\.\S+)$"
#: Bytes that may legitimately repeat (whitespace, rules and underlines in text and code).
_RUN_EXEMPT = np.frombuffer(b" \t\n\r-=_*#~.0", dtype=np.uint8)


def _stop_word_count(text: pl.Expr) -> pl.Expr:
    lowered = text.str.to_lowercase()
    return pl.sum_horizontal([lowered.str.contains(rf"\b{w}\b").cast(pl.Int32) for w in STOP_WORDS])


def _flatten_words(texts: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item index, 64-bit word hash, word length) of every word of every text, in order."""
    flat = (
        pl.DataFrame({"t": texts}).with_row_index("d")
        .select("d", pl.col("t").str.to_lowercase().str.extract_all(WORD_RE).alias("w"))
        .explode("w").drop_nulls("w")
        .select(pl.col("d").cast(pl.Int64), pl.col("w").hash(seed=7).alias("h"),
                pl.col("w").str.len_chars().cast(pl.Int64).alias("n"))
    )
    return flat["d"].to_numpy(), flat["h"].to_numpy(), flat["n"].to_numpy()


def _ngram_stats(doc: np.ndarray, h: np.ndarray, wl: np.ndarray, n_items: int) -> dict[str, np.ndarray]:
    """Top n-gram and duplicated n-gram character fractions per item."""
    out: dict[str, np.ndarray] = {}
    total = np.bincount(doc, weights=wl, minlength=n_items).astype(np.float64)
    denom = np.maximum(total, 1.0)
    # top n-grams are measured with their separating spaces, so the denominator includes them too
    denom_spaced = np.maximum(total + np.maximum(np.bincount(doc, minlength=n_items) - 1, 0), 1.0)
    big_n = len(h)
    csum = np.concatenate([[0], np.cumsum(wl)])
    for n, rolled, valid in rolling_ngrams(doc, h, max(DUP_NGRAMS)):
        if rolled is None:
            if n in TOP_NGRAMS:
                out[f"top_{n}gram_frac"] = np.zeros(n_items)
            if n in DUP_NGRAMS:
                out[f"dup_{n}gram_frac"] = np.zeros(n_items)
            continue
        starts = np.arange(len(rolled))
        if n in TOP_NGRAMS:
            chars = csum[starts + n] - csum[starts] + (n - 1)
            frame = pl.DataFrame({"d": doc[:len(rolled)][valid], "k": rolled[valid], "c": chars[valid]})
            top = (frame.group_by("d", "k").agg(pl.len().alias("cnt"), pl.col("c").first())
                   .filter(pl.col("cnt") >= 2)
                   .group_by("d").agg((pl.col("cnt") * pl.col("c")).max().alias("top")))
            arr = np.zeros(n_items)
            arr[top["d"].to_numpy()] = top["top"].to_numpy()
            out[f"top_{n}gram_frac"] = np.minimum(arr / denom_spaced, 1.0)
        if n in DUP_NGRAMS:
            first = first_seen(doc[:len(rolled)][valid], rolled[valid])
            covered = repeat_coverage(starts[valid][~first], n, big_n)
            out[f"dup_{n}gram_frac"] = np.bincount(doc, weights=wl * covered, minlength=n_items) / denom
    return out


def _segment_dups(texts: pl.Series, *, paragraphs: bool) -> pl.DataFrame:
    """Per item: number of non-empty lines (or paragraphs), duplicates among them, duplicate chars."""
    t = pl.col("t").fill_null("")
    if paragraphs:
        t = t.str.replace_all(r"\n[^\S\n]*\n\s*", "\x00")
        parts = t.str.split("\x00")
    else:
        parts = t.str.split("\n")
    seg = (pl.DataFrame({"t": texts}).with_row_index("d").select("d", parts.alias("s"))
           .explode("s").with_columns(pl.col("s").str.strip_chars())
           .filter(pl.col("s").str.len_chars() > 0))
    seg = seg.with_columns(pl.struct("d", pl.col("s").hash(seed=11)).is_first_distinct().alias("first"))
    agg = seg.group_by("d").agg(
        pl.len().alias("n"), (~pl.col("first")).sum().alias("dup"),
        pl.when(~pl.col("first")).then(pl.col("s").str.len_chars()).otherwise(0).sum().alias("dup_chars"))
    return pl.DataFrame({"d": np.arange(len(texts), dtype=np.uint32)}).join(
        agg.with_columns(pl.col("d").cast(pl.UInt32)), on="d", how="left").fill_null(0).sort("d")


def _char_run_ratio(texts: pl.Series) -> np.ndarray:
    """Fraction of UTF-8 bytes inside runs of >= 4 identical bytes (whitespace/rules exempt)."""
    arr = pa.array(texts.fill_null("").cast(pl.String).to_arrow()).cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    start, end = int(offsets[0]), int(offsets[-1])
    data = data[start:end]
    offsets = offsets - start
    nbytes = np.diff(offsets)
    if data.size < 4:
        return np.zeros(len(texts))
    eq = np.zeros(data.size, dtype=bool)
    eq[1:] = data[1:] == data[:-1]
    eq[offsets[:-1][offsets[:-1] < data.size]] = False  # never across item boundaries
    eq &= ~np.isin(data, _RUN_EXEMPT)
    run_end = np.zeros(data.size, dtype=bool)
    run_end[3:] = eq[3:] & eq[2:-1] & eq[1:-2]  # byte i closes a run of >= 4 equal bytes
    covered = run_end.copy()
    for k in (1, 2, 3):
        covered[:-k] |= run_end[k:]
    cs = np.concatenate([[0], np.cumsum(covered)])
    return (cs[offsets[1:]] - cs[offsets[:-1]]) / np.maximum(nbytes, 1)


def _punctuated_word_fraction(text: pl.Expr) -> pl.Expr:
    """Share of a text's words that sit in paragraphs ending in terminal punctuation (C4's line rule
    at paragraph level): 1.0 for finished prose, 0.0 for a single paragraph cut mid-sentence."""
    paras = text.str.split("\n\n")
    n_words = pl.element().str.count_matches(r"\S+")
    total = paras.list.eval(n_words).list.sum()
    punctuated = paras.list.eval(
        pl.when(pl.element().str.strip_chars().str.contains(TERMINAL_END)).then(n_words).otherwise(0)).list.sum()
    return (punctuated / total.clip(lower_bound=1)).cast(pl.Float64)


class HeuristicsFilter(Filter):
    """Gopher quality + Gopher repetition + C4/FineWeb line rules on the main content."""

    name: ClassVar[str] = "heuristics"
    layer: ClassVar[str] = "heuristics"

    #: Items scored per slice (bounds the memory of the flattened word arrays).
    chunk_size: ClassVar[int] = 20_000

    def __init__(self, params: HeuristicsPolicy | None = None) -> None:
        #: scoring-time settings (the ``preset``); thresholds come from the policy at decision time
        self.params = params or HeuristicsPolicy()

    def scoring_params(self) -> dict[str, object]:
        return scoring_values(FilterPolicy(heuristics=self.params), "heuristics")

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = with_content_columns(batch)
        if batch.height > self.chunk_size:
            return pl.concat([self._score(batch.slice(i, self.chunk_size))
                              for i in range(0, batch.height, self.chunk_size)], how="vertical")
        return self._score(batch)

    def _score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self.params.preset == "datatrove":
            texts = batch.select(main_text().alias("t"))["t"]
            stats = datatrove_compat.score_frame(texts)
            return batch.select("submission_id").with_columns(
                [pl.Series(f"heuristics.dt_{k}", np.asarray(v, dtype=np.float64)) for k, v in stats.items()])
        text = main_text()
        n_tok = text.str.count_matches(r"\S+").cast(pl.Int64)
        n_lines = text.str.count_matches(r"(?m)^[^\n]*\S[^\n]*$").cast(pl.Int64)
        per_line = n_lines.clip(lower_bound=1)
        words = text.str.count_matches(WORD_RE)
        rows = batch.select(
            "submission_id",
            words.cast(pl.Int64).alias("heuristics.words"),
            (text.str.count_matches(r"[\p{L}\p{N}_]") / words.clip(lower_bound=1)).alias(
                "heuristics.mean_word_length"),
            ((text.str.count_matches("#") + text.str.count_matches(r"\.\.\.|…"))
             / n_tok.clip(lower_bound=1)).alias("heuristics.symbol_word_ratio"),
            n_lines.alias("heuristics.lines"),
            (text.str.count_matches(r"(?m)^[^\S\n]*[•\-\*–·‣▪●]") / per_line).alias("heuristics.bullet_lines_ratio"),
            (text.str.count_matches(r"(?m)(?:\.\.\.|…)[^\S\n]*$") / per_line).alias("heuristics.ellipsis_lines_ratio"),
            (text.str.count_matches(r"\S*\p{L}\S*") / n_tok.clip(lower_bound=1)).alias("heuristics.alpha_words_ratio"),
            _stop_word_count(text).cast(pl.Int64).alias("heuristics.stop_words"),
            (text.str.count_matches(r"(?m)[.!?:;\"'”’»)\]`][^\S\n]*$") / per_line).alias(
                "heuristics.terminal_punct_lines_ratio"),
            (text.str.count_matches(r"(?m)^[^\S\n]*\S[^\n]{0,29}$") / per_line).alias("heuristics.short_lines_ratio"),
            text.str.contains(r"[{}]").alias("heuristics.curly_braces"),
            text.str.strip_chars().str.contains(TERMINAL_END).alias("heuristics.ends_terminal"),
            text.str.strip_chars().str.contains(r"(?:\.\.\.|…)$").alias("heuristics.ends_ellipsis"),
            _punctuated_word_fraction(text).alias("heuristics.punctuated_word_frac"),
        )
        texts = batch.select(text.alias("t"))["t"]
        total_chars = np.maximum(batch.select(text.str.len_chars())[:, 0].to_numpy().astype(np.float64), 1.0)
        lines = _segment_dups(texts, paragraphs=False)
        paras = _segment_dups(texts, paragraphs=True)
        doc, h, wl = _flatten_words(texts)
        grams = _ngram_stats(doc, h, wl, len(texts))
        uniq = (pl.DataFrame({"d": doc, "h": h}).group_by("d").agg(pl.col("h").n_unique().alias("u"), pl.len().alias("n")))
        unique_ratio = np.ones(len(texts))
        unique_ratio[uniq["d"].to_numpy()] = uniq["u"].to_numpy() / np.maximum(uniq["n"].to_numpy(), 1)
        extra = {
            "heuristics.dup_line_frac": lines["dup"].to_numpy() / np.maximum(lines["n"].to_numpy(), 1),
            "heuristics.dup_para_frac": paras["dup"].to_numpy() / np.maximum(paras["n"].to_numpy(), 1),
            "heuristics.dup_line_char_frac": lines["dup_chars"].to_numpy() / total_chars,
            "heuristics.dup_para_char_frac": paras["dup_chars"].to_numpy() / total_chars,
            **{f"heuristics.{k}": v for k, v in grams.items()},
            "heuristics.char_run_ratio": _char_run_ratio(texts),
            "heuristics.unique_word_ratio": unique_ratio,
        }
        return rows.with_columns([pl.Series(k, np.asarray(v, dtype=np.float64)) for k, v in extra.items()])

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.heuristics
        if p.preset == "datatrove":
            score = pl.col("heuristics.dt_dup_gline_chars") / pl.col("heuristics.dt_chars").clip(lower_bound=1)
            return rule_decisions(scores, datatrove_compat.rules(p), score, enabled=p.enabled)
        c = pl.col
        stats = c("heuristics.words") >= p.min_words_for_stats
        long_text = c("heuristics.words") >= p.min_words_for_ngram_rules
        lines = c("heuristics.lines") >= p.min_lines_for_line_rules
        rules = [
            ("heuristics.mean_word_length", stats & ((c("heuristics.mean_word_length") < p.min_mean_word_length)
                                                     | (c("heuristics.mean_word_length") > p.max_mean_word_length))),
            ("heuristics.symbol_ratio", stats & (c("heuristics.symbol_word_ratio") > p.max_symbol_word_ratio)),
            ("heuristics.bullet_lines", lines & (c("heuristics.bullet_lines_ratio") > p.max_bullet_lines_ratio)),
            ("heuristics.ellipsis_lines", lines & (c("heuristics.ellipsis_lines_ratio") > p.max_ellipsis_lines_ratio)),
            ("heuristics.alpha_ratio", stats & (c("heuristics.alpha_words_ratio") < p.min_alpha_words_ratio)),
            ("heuristics.stop_words", stats & (c("heuristics.stop_words") < p.min_stop_words)),
            ("heuristics.dup_lines", (c("heuristics.dup_line_frac") > p.max_dup_line_frac)
             | (c("heuristics.dup_line_char_frac") > p.max_dup_line_char_frac)),
            ("heuristics.dup_paragraphs", (c("heuristics.dup_para_frac") > p.max_dup_para_frac)
             | (c("heuristics.dup_para_char_frac") > p.max_dup_para_char_frac)),
            ("heuristics.top_ngram", long_text & ((c("heuristics.top_2gram_frac") > p.max_top_2gram_frac)
                                                  | (c("heuristics.top_3gram_frac") > p.max_top_3gram_frac)
                                                  | (c("heuristics.top_4gram_frac") > p.max_top_4gram_frac))),
            ("heuristics.dup_ngram", long_text & pl.any_horizontal(
                [c(f"heuristics.dup_{n}gram_frac") > getattr(p, f"max_dup_{n}gram_frac") for n in DUP_NGRAMS])),
            ("heuristics.repetition", ~long_text & (c("heuristics.words") >= 3)
             & (c("heuristics.unique_word_ratio") < p.min_unique_word_ratio)),
            ("heuristics.truncated", pl.lit(p.require_terminal_punctuation) & (c("heuristics.words") > 0)
             & ((~c("heuristics.ends_terminal")
                 & (c("heuristics.punctuated_word_frac") < p.min_punctuated_word_frac))
                | c("heuristics.ends_ellipsis"))),
            ("heuristics.char_runs", c("heuristics.char_run_ratio") > p.max_char_run_ratio),
            ("heuristics.terminal_punct", lines & (c("heuristics.terminal_punct_lines_ratio")
                                                   < p.min_terminal_punct_lines_ratio)),
            ("heuristics.short_lines", lines & (c("heuristics.short_lines_ratio") > p.max_short_lines_ratio)),
            ("heuristics.curly_braces", pl.lit(p.reject_curly_braces) & c("heuristics.curly_braces")),
        ]
        # headline score: the worst repetition signal (0 = no repetition)
        score = pl.max_horizontal("heuristics.dup_line_char_frac", "heuristics.top_2gram_frac",
                                  "heuristics.dup_5gram_frac", "heuristics.char_run_ratio")
        return rule_decisions(scores, rules, score, enabled=p.enabled)
