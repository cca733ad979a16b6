"""Personally identifiable information: e-mail addresses, phone numbers, IP addresses, card numbers.

Detection is regex extraction over the batch (polars) plus a vectorised Luhn check for card
numbers (numpy over a right-aligned digit matrix), so a 16-digit order id is not a card number.
Per policy (``policy.pii.action``) an item with PII is rejected (``reject``), kept but flagged
(``flag``: the score says how many), or kept with its PII replaced by placeholders (``redact``,
the default: apply :func:`redact` when building training data).

Example
-------
>>> import polars as pl
>>> from olkit.filters.pii import redact
>>> frame = pl.DataFrame({"response": ["Mail jane.doe@example.org or call +1 415 555 0132; card 4111 1111 1111 1111."]})
>>> redact(frame)["response"][0]
'Mail [EMAIL] or call [PHONE]; card [CARD].'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import polars as pl

from olkit.filters.base import Filter, full_text, rule_decisions, with_content_columns
from olkit.filters.config import FilterPolicy

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b"
IPV6 = r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b"
#: International (+CC) or separated national numbers; 9-15 digits checked after extraction.
PHONE = r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){2,4}\b|\+\d{9,15}\b"
CARD = r"\b\d(?:[ -]?\d){12,18}\b"
PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "ip": "[IP]", "card": "[CARD]"}


def luhn_valid(numbers: pl.Series) -> np.ndarray:
    """Luhn checksum of digit strings (separators ignored), vectorised; 13-19 digits required."""
    digits = numbers.fill_null("").str.replace_all(r"\D", "")
    n = digits.str.len_chars().to_numpy()
    ok_len = (n >= 13) & (n <= 19)
    padded = digits.str.slice(0, 19).str.pad_start(19, "0")
    raw = np.frombuffer("".join(padded.to_list()).encode("ascii"), dtype=np.uint8) if len(padded) else \
        np.zeros(0, np.uint8)
    mat = (raw.reshape(-1, 19) - ord("0")).astype(np.int64)
    from_right = np.arange(18, -1, -1)  # position of each column counted from the right
    doubled = np.where(from_right % 2 == 1, mat * 2, mat)
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    return ok_len & (doubled.sum(axis=1) % 10 == 0)


def _phones(text: pl.Expr) -> pl.Expr:
    """Phone-number matches with 9-15 digits that are not dates or dotted IPs."""
    return text.str.extract_all(PHONE).list.eval(
        pl.element().filter(pl.element().str.count_matches(r"\d").is_between(9, 15)
                            & ~pl.element().str.contains(r"^\d{1,3}(?:\.\d{1,3}){3}$")
                            & ~pl.element().str.contains(r"^\d{4}[-.]\d{2}[-.]\d{2}")))


def find_pii(texts: pl.Series) -> pl.DataFrame:
    """Per text: counts of ``email``, ``phone``, ``ip``, ``card`` (Luhn-valid) findings."""
    base = pl.DataFrame({"t": texts.fill_null("").cast(pl.String)}).with_row_index("d")
    t = pl.col("t")
    counts = base.select(
        "d", t.str.count_matches(EMAIL).alias("email"), _phones(t).list.len().alias("phone"),
        (t.str.count_matches(IPV4) + t.str.count_matches(IPV6)).alias("ip"))
    cands = base.select("d", t.str.extract_all(CARD).alias("c")).explode("c").drop_nulls("c")
    if cands.height:
        cands = cands.with_columns(pl.Series("ok", luhn_valid(cands["c"])))
        cards = cands.group_by("d").agg(pl.col("ok").sum().alias("card"))
        counts = counts.join(cards, on="d", how="left")
    else:
        counts = counts.with_columns(pl.lit(0).alias("card"))
    return counts.sort("d").select(pl.col("email", "phone", "ip", "card").fill_null(0).cast(pl.Int64))


def redact(frame: pl.DataFrame, kinds: Sequence[str] = ("email", "phone", "ip", "card"),
           columns: Sequence[str] = ("instruction", "response", "text")) -> pl.DataFrame:
    """A copy of ``frame`` with PII in the content columns replaced by ``[EMAIL]``, ``[PHONE]`` ...

    Card numbers are replaced only when they pass the Luhn check.
    """
    out = frame
    for col in (c for c in columns if c in frame.columns):
        e = pl.col(col)
        if "card" in kinds:
            cands = out.select(e.str.extract_all(CARD).alias("c")).explode("c").drop_nulls("c").unique()
            valid = cands.filter(pl.Series(luhn_valid(cands["c"])) if cands.height else pl.lit(False))["c"]
            if len(valid):
                e = e.str.replace_many(valid.to_list(), [PLACEHOLDERS["card"]] * len(valid))
        if "email" in kinds:
            e = e.str.replace_all(EMAIL, PLACEHOLDERS["email"])
        if "ip" in kinds:
            e = e.str.replace_all(IPV4, PLACEHOLDERS["ip"]).str.replace_all(IPV6, PLACEHOLDERS["ip"])
        out = out.with_columns(e.alias(col))
        if "phone" in kinds:
            phones = out.select(_phones(pl.col(col)).alias("p")).explode("p").drop_nulls("p").unique()["p"]
            if len(phones):
                out = out.with_columns(pl.col(col).str.replace_many(phones.to_list(), [PLACEHOLDERS["phone"]] * len(phones)))
    return out


class PiiFilter(Filter):
    """Counts PII findings; rejects, flags or (default) lets them through for redaction."""

    name: ClassVar[str] = "pii"
    layer: ClassVar[str] = "format"

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = with_content_columns(batch)
        found = find_pii(batch.select(full_text().alias("t"))["t"])
        return pl.concat([batch.select("submission_id"),
                          found.select([pl.col(k).alias(f"pii.{k}") for k in found.columns])], how="horizontal")

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.pii
        hits = pl.sum_horizontal([pl.col(f"pii.{k}") for k in p.kinds]) if p.kinds else pl.lit(0)
        rules = [("pii.found", pl.lit(p.action == "reject") & (hits >= p.min_hits))]
        return rule_decisions(scores, rules, hits, enabled=p.enabled)
