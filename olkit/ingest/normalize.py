"""Idempotent Unicode normalisation of contributed text, as one vectorised polars expression.

What it does, in order (so that applying it twice changes nothing):

1. line endings: ``\\r\\n``, ``\\r``, NEL, LINE/PARAGRAPH SEPARATOR become ``\\n``;
2. control characters (Unicode ``Cc`` except tab and newline) and invisible format junk (BOM /
   zero-width no-break space, zero-width space, word joiner) are removed — joiners that scripts
   need (ZWJ, ZWNJ) and bidi marks are kept;
3. exotic spaces (NBSP, ideographic space, thin space ... any ``Zs``) become a plain space; runs
   of spaces inside a line are **kept** (code indentation matters);
4. trailing spaces/tabs at the end of each line are removed, three or more newlines become two,
   and leading/trailing whitespace of the whole text is stripped;
5. Unicode NFC composition.

The scalar :func:`normalize_text` runs the very same expression on a one-element Series, so the
scalar and the vectorised forms cannot disagree.

Example
-------
>>> normalize_text("  Cafe\\u0301\\u00a0au lait \\r\\n\\n\\n\\nok\\x00 ")
'Café au lait\\n\\nok'
>>> import polars as pl
>>> pl.DataFrame({"t": ["a\\u200b b  "]}).select(normalize_expr("t")).item()
'a b'
"""

from __future__ import annotations

import polars as pl

_LINE_BREAKS = r"\r\n|[\r\x{85}\x{2028}\x{2029}]"
_JUNK = r"[\p{Cc}--[\t\n]]|[\x{FEFF}\x{200B}\x{2060}]"
_EXOTIC_SPACE = r"[\p{Zs}--[ ]]"
_TRAILING = r"[ \t]+\n"
_BLANK_RUN = r"\n{3,}"
_STRIP = " \t\n"


def normalize_expr(column: str | pl.Expr) -> pl.Expr:
    """The normalisation as a polars expression (nulls stay null; output keeps the column name)."""
    expr = pl.col(column) if isinstance(column, str) else column
    return (
        expr.str.replace_all(_LINE_BREAKS, "\n")
        .str.replace_all(_JUNK, "")
        .str.replace_all(_EXOTIC_SPACE, " ")
        .str.replace_all(_TRAILING, "\n")
        .str.replace_all(_BLANK_RUN, "\n\n")
        .str.strip_chars(_STRIP)
        .str.normalize("NFC")
    )


def normalize_id_expr(column: str | pl.Expr) -> pl.Expr:
    """Identifiers (contributor ids, datanet names): NFC, no control characters, no outer spaces."""
    expr = pl.col(column) if isinstance(column, str) else column
    return (
        expr.str.replace_all(_JUNK, "")
        .str.replace_all(r"[\p{Zs}\t\n\r]+", " ")
        .str.strip_chars(" ")
        .str.normalize("NFC")
    )


def normalize_text(text: str | None) -> str | None:
    """Normalise one string exactly as :func:`normalize_expr` does (``None`` stays ``None``)."""
    if text is None:
        return None
    return pl.Series("t", [text], dtype=pl.String).to_frame().select(normalize_expr("t")).item()
