"""Formatting controls: required fields, length bounds, encoding, markup and boilerplate.

All signals are polars string expressions over the whole batch (no Python loop over rows).

Example
-------
>>> import polars as pl
>>> from olkit.filters.config import FilterPolicy
>>> from olkit.filters.format import FormatFilter
>>> batch = pl.DataFrame({"submission_id": ["a", "b"], "instruction": ["Say hi.", "Say hi."],
...                       "response": ["Hello there, nice to meet you!", ""], "text": [None, None]})
>>> f = FormatFilter()
>>> f.decide(f.score(batch), FilterPolicy())["reason_code"].to_list()
[None, 'format.missing_field']
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from olkit.filters.base import Filter, full_text, main_text, rule_decisions, with_content_columns
from olkit.filters.config import FilterPolicy

#: U+FFFD, C0 controls except tab/newline/CR, DEL/C1 controls, and typical UTF-8-read-as-cp1252 mojibake.
BAD_CHARS = r"[\x{FFFD}\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]|Ã[\x{80}-\x{BF}©¨¢¤±³¼]|â€[™œ\x{9D}“”˜¦]"
#: HTML/XML tags and character entities (outside fenced code blocks).
MARKUP = r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]{0,500})?/?>|<!--.{0,2000}?-->|&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});"
CODE_FENCE = r"(?s)```.*?(?:```|$)"
#: Web boilerplate and filler that has no place in a training item.
BOILERPLATE = (
    r"(?i)\blorem ipsum\b|\ball rights reserved\b|\bcookie (?:policy|settings|preferences)\b"
    r"|\b(?:enable|turn on) javascript\b|\bjavascript is (?:disabled|required)\b|\bprivacy policy\b"
    r"|\bterms (?:of|and) (?:use|service|conditions)\b|\bskip to (?:main )?content\b"
    r"|\bclick to expand\b|\bpowered by wordpress\b|\bcopyright ©|©\s?\d{4}"
    r"|\bsubscribe to (?:our|my) newsletter\b|\bplaceholder text\b|\btodo: ?fill\b"
)


def _nonblank(col: str) -> pl.Expr:
    return pl.col(col).fill_null("").str.strip_chars().str.len_chars() > 0


class FormatFilter(Filter):
    """Required fields, length bounds (words/chars), bad characters, markup ratio, boilerplate."""

    name: ClassVar[str] = "format"
    layer: ClassVar[str] = "format"

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = with_content_columns(batch)
        main, full = main_text(), full_text()
        is_doc = pl.col("text").is_not_null()
        has_required = pl.when(is_doc).then(_nonblank("text")).otherwise(
            _nonblank("instruction") & _nonblank("response"))
        no_code = full.str.replace_all(CODE_FENCE, "")
        return batch.select(
            "submission_id",
            has_required.alias("format.has_required"),
            is_doc.alias("format.is_document"),
            main.str.count_matches(r"\S+").cast(pl.Int64).alias("format.words"),
            main.str.strip_chars().str.len_chars().cast(pl.Int64).alias("format.chars"),
            pl.col("instruction").fill_null("").str.strip_chars().str.len_chars().cast(pl.Int64)
            .alias("format.instruction_chars"),
            (full.str.count_matches(BAD_CHARS) / full.str.len_chars().clip(lower_bound=1)).cast(pl.Float64)
            .alias("format.bad_char_ratio"),
            ((no_code.str.len_chars() - no_code.str.replace_all(MARKUP, "").str.len_chars())
             / no_code.str.len_chars().clip(lower_bound=1)).cast(pl.Float64).alias("format.markup_ratio"),
            full.str.count_matches(BOILERPLATE).cast(pl.Int64).alias("format.boilerplate_hits"),
        )

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.format
        c = pl.col
        rules = [
            ("format.missing_field", ~c("format.has_required")),
            ("format.too_short", c("format.has_required")
             & ((c("format.words") < p.min_words) | (c("format.chars") < p.min_chars))),
            ("format.too_long", (c("format.words") > p.max_words) | (c("format.chars") > p.max_chars)),
            ("format.instruction_too_short", ~c("format.is_document") & c("format.has_required")
             & (c("format.instruction_chars") < p.min_instruction_chars)),
            ("format.encoding", c("format.bad_char_ratio") > p.max_bad_char_ratio),
            ("format.markup", c("format.markup_ratio") > p.max_markup_ratio),
            ("format.boilerplate", c("format.boilerplate_hits") > p.max_boilerplate_hits),
        ]
        return rule_decisions(scores, rules, c("format.words"), enabled=p.enabled)
