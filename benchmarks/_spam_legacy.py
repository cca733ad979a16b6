"""The spam rules as they were before issue 16 (frozen copy, for ``spam_bench.py``'s side-by-side
comparison only): surface signals (links, promo phrases, emoji, caps, word runs) and a weighted score,
with that version's default thresholds.  Not part of olkit.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from olkit.filters.base import Filter, main_text, rule_decisions, with_content_columns
from olkit.filters.spam import longest_word_run  # unchanged since the legacy rules: one implementation

URL = (r"(?i)\bhttps?://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+"
       r"|\b[a-z0-9][a-z0-9-]{1,62}\.(?:com|net|org|io|xyz|top|click|biz|info|shop|online|site|win|cc|ru|cn"
       r"|ly|me|co|app|store|live|link|club|vip|bet|loan|work|tk|ml|ga|gq)(?:/[^\s<>\"')\]]*)?\b")
PROMO = r"(?i)" + "|".join([
    # calls to action
    r"\bclick (?:here|the link|below|now)\b", r"\bsign up\b", r"\bsubscribe\b", r"\bbuy now\b",
    r"\border now\b", r"\bact now\b", r"\bshop now\b", r"\bget (?:it|yours|started) (?:now|today|for free)\b",
    r"\blimited[- ](?:time )?offer\b", r"\bonly today\b", r"\bdon'?t miss\b", r"\bdiscount\b",
    r"\bcoupon\b", r"\bpromo(?: code)?\b", r"\d+ ?% off\b", r"\bfree (?:trial|bonus|course|download|shipping|gift)\b", r"\bfor free (?:at|here|on)\b",
    r"\b(?:check out|visit) my\b", r"\bmy (?:channel|blog|profile|page|course|store)\b",
    r"\bdownload (?:the pdf|now|here)\b", r"\bbest (?:deals?|price|offer)\b", r"\bcheap\b",
    # engagement farming
    r"\bfollow (?:me|us|for more)\b", r"\bfollow(?:s)? back\b", r"\bdrop a (?:follow|like)\b",
    r"\blike and (?:share|subscribe|follow)\b", r"\bupvote\b", r"\bsmash (?:that|the) like\b",
    r"\bturn on notifications\b", r"\bshare (?:this |it )?with (?:your )?friends\b", r"\brate (?:it )?5 stars\b",
    r"\bleave a (?:comment|like)\b", r"\bcomment below\b", r"\btag a friend\b",
    # contact baits and scams
    r"\bdm me\b", r"\bwhats ?app\b", r"\btelegram\b", r"\bcall now\b", r"\bverify your (?:account|identity)\b",
    r"\bclaim (?:it|your)\b", r"\bcongratulations\b", r"\baccount (?:has been|was) suspended\b",
    r"\bconfirm your password\b", r"\bearn (?:\$?\d+|money|cash)\b", r"\bmake money\b", r"\bwork from home\b",
    r"\bcasino\b", r"\bairdrop\b", r"\bgiveaway\b", r"\bcrypto\b", r"\bbitcoin\b", r"\bno deposit\b",
    r"\binstagram followers\b", r"\bweight loss\b", r"\breplica\b",
])
EMOJI = r"\p{Extended_Pictographic}"
HASHTAG = r"(?:^|\s)#[\p{L}\p{N}_]{2,}"
CAPS_WORD = r"\b\p{Lu}{3,}\b"
LONG_WORD = r"\b\p{L}{3,}\b"
#: Weights of the combined score (a signal present counts its weight once; promo phrases count 1.5
#: per occurrence up to 3, so one call to action plus any second signal -- a link, an emoji -- reaches
#: the default threshold 2; links count 1 for the first and 0.5 for each further one up to 3, so that
#: references alone -- two links in a package description -- stay below the default threshold 2).
class _Policy:
    """The pre-issue-16 ``SpamPolicy`` defaults."""

    enabled = True
    max_links_per_100_words = 4.0
    max_links = 3
    max_promo_hits = 1
    max_emoji_ratio = 0.1
    max_word_run = 3
    max_caps_ratio = 0.5
    max_spam_score = 2.0


LEGACY_POLICY = _Policy()
WEIGHTS = {"link": 1.0, "promo": 1.5, "emoji": 0.5, "hashtags": 1.0, "exclaim": 0.5, "caps": 0.5,
           "word_run": 1.0}


class LegacySpamFilter(Filter):
    """Links, promotional/engagement phrases, emoji, hashtags, caps and word runs."""

    name: ClassVar[str] = "spam"
    layer: ClassVar[str] = "heuristics"

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = with_content_columns(batch)
        # signals are read from the first 200k characters (the default format.max_chars): a longer
        # item is rejected by the format layer anyway, and this bounds the regex work per item
        t = main_text().str.slice(0, 200_000)
        words = t.str.count_matches(r"\S+").cast(pl.Float64)
        long_words = t.str.count_matches(LONG_WORD).cast(pl.Float64)
        frame = batch.select(
            "submission_id",
            t.str.count_matches(URL).cast(pl.Int64).alias("spam.links"),
            (t.str.count_matches(URL) * 100.0 / words.clip(lower_bound=1.0)).alias("spam.links_per_100_words"),
            t.str.count_matches(PROMO).cast(pl.Int64).alias("spam.promo_hits"),
            t.str.count_matches(EMOJI).cast(pl.Int64).alias("spam.emoji"),
            (t.str.count_matches(EMOJI) / words.clip(lower_bound=1.0)).alias("spam.emoji_ratio"),
            t.str.count_matches(HASHTAG).cast(pl.Int64).alias("spam.hashtags"),
            t.str.count_matches(r"[!?]{3,}").cast(pl.Int64).alias("spam.exclaim_runs"),
            pl.when(long_words >= 4).then(t.str.count_matches(CAPS_WORD) / long_words.clip(lower_bound=1.0))
            .otherwise(0.0).alias("spam.caps_ratio"),
        )
        texts = batch.select(t.alias("t"))["t"]
        return frame.with_columns(pl.Series("spam.word_run", longest_word_run(texts), dtype=pl.Int64))

    @staticmethod
    def combined_score(p) -> pl.Expr:
        """The weighted spam score from cached signals (thresholds of ``SpamPolicy`` for emoji/caps/runs)."""
        c = pl.col
        w = WEIGHTS
        return (
            w["link"] * (0.5 * (c("spam.links") > 0).cast(pl.Float64) + 0.5 * c("spam.links").clip(upper_bound=3))
            + w["promo"] * c("spam.promo_hits").clip(upper_bound=3)
            + w["emoji"] * (c("spam.emoji") > 0).cast(pl.Float64)
            + w["emoji"] * (c("spam.emoji_ratio") > p.max_emoji_ratio).cast(pl.Float64)
            + w["hashtags"] * (c("spam.hashtags") >= 3).cast(pl.Float64)
            + w["exclaim"] * (c("spam.exclaim_runs") > 0).cast(pl.Float64)
            + w["caps"] * (c("spam.caps_ratio") > p.max_caps_ratio).cast(pl.Float64)
            + w["word_run"] * (c("spam.word_run") > p.max_word_run).cast(pl.Float64)
        ).cast(pl.Float64)

    def decide(self, scores: pl.DataFrame, policy=None) -> pl.DataFrame:
        p = LEGACY_POLICY
        c = pl.col
        score = self.combined_score(p)
        rules = [
            ("spam.links", (c("spam.links") > p.max_links)
             | ((c("spam.links") > 0) & (c("spam.links_per_100_words") > p.max_links_per_100_words)
                & (c("spam.promo_hits") + c("spam.emoji") > 0))),
            ("spam.promo", c("spam.promo_hits") > p.max_promo_hits),
            ("spam.emoji", (c("spam.emoji") >= 3) & (c("spam.emoji_ratio") > p.max_emoji_ratio)),
            ("spam.keyword_run", c("spam.word_run") > p.max_word_run),
            ("spam.score", score >= p.max_spam_score),
        ]
        return rule_decisions(scores, rules, score, enabled=p.enabled)
