"""Rule-based spam detection about *intent*, not surface.

Links, lists, e-mail signatures, ALL-CAPS headings and the odd emoji are ordinary in human writing
(documentation, changelogs, mailing-list posts, package descriptions).  So surface signals never
reject on their own here: they only *amplify* an intent signal.  Intent is read from four phrase
families, each a generic lexicon of e-mail / comment spam (not the text of any evaluation set):

* ``promo`` -- commercial calls to action and offers ("buy now", "% off", "promo code", "free
  trial", "money back guarantee", "order today") and pharmacy sales (drug names, "no prescription");
* ``scam`` -- advance-fee and money offers ("next of kin", "beneficiary", "$N million", "processing
  fee", "work from home", "guaranteed returns", "pre-approved", "earn $N per day");
* ``phish`` -- credential and payment bait ("verify your account", "account suspended", "confirm
  your password", "update your billing", "within 24 hours");
* ``engage`` -- engagement bait ("follow me", "like and subscribe", "upvote", "tag a friend",
  "share with 10 friends", "sub4sub") and contact bait (WhatsApp / Telegram handles, "DM me").

Surface amplifiers: links, money amounts, phone numbers, emoji, "!!!" runs, shouting (ALL-CAPS share), URL
shorteners and throw-away top-level domains.  Structure signals: a link farm (many links, little
prose), keyword stuffing (one content word or phrase making up much of a text with few function
words), and the longest run of one word.

Reasons (``rule_decisions`` keeps every rule that fired):

* ``spam.promotional`` -- advertising: promo phrases beyond ``max_promo_hits``, or one with enough
  amplifiers (``spam.score >= max_spam_score``), or an emoji cluster around a link with "!!!", no
  prose or a throw-away domain, or a
  hashtag cloud with an intent phrase or emoji (``#include`` lines and IRC channels are not adverts);
* ``spam.abusive`` -- unsolicited scams, phishing and contact bait (``scam``/``phish`` families,
  same two-way test);
* ``spam.engagement`` -- engagement bait with any amplifier or a second intent phrase;
* ``spam.link_farm`` -- more than ``max_links`` links with fewer than ``min_words_per_link`` words
  of prose per link, and a throw-away domain, shortener or intent phrase among them;
* ``spam.keyword_stuffing`` -- one word repeated in a run (``max_word_run``) or making up more than
  ``max_top_word_share`` of a text's content words with few function words; never on code (code
  characters per word at or above ``max_code_ratio``: a function repeating ``self`` or ``key`` is not SEO).

``spam.target_human_fpr`` states the false-positive rate on human text the defaults are held to;
``benchmarks/spam_bench.py`` reports it per human source (python3.11-doc, changelogs with
signatures, READMEs/NEWS, Debian descriptions with homepages, docstrings with URLs, real mailing-list
mail) next to the recall per spam style.

Example
-------
>>> import polars as pl
>>> from olkit.filters.config import FilterPolicy
>>> from olkit.filters.spam import SpamFilter
>>> batch = pl.DataFrame({"submission_id": ["a", "b"], "instruction": ["What is os.sep?"] * 2,
...     "response": ["The path separator; see https://docs.python.org/3/library/os.html for details.",
...                  "🔥🔥 Click here for the FREE course!!! https://py-deals.xyz/promo 🚀"]})
>>> f = SpamFilter()
>>> f.decide(f.score(batch), FilterPolicy())["passed"].to_list()
[True, False]
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import polars as pl

from olkit.filters.base import Filter, main_text, rule_decisions, with_content_columns
from olkit.filters.config import FilterPolicy


def _alt(*phrases: str) -> str:
    """One case-insensitive alternation of whole-word phrases; a space also matches a line break."""
    def loose(p: str) -> str:
        return p.replace("[- ]", r"[-\s]").replace(" ?", r"\s?").replace(" ", r"\s+")

    return r"(?i)\b(?:" + "|".join(loose(p) for p in phrases) + r")\b"


URL = (r"(?i)\b[a-z][a-z0-9+.-]*://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+"
       r"|\b[a-z0-9][a-z0-9-]{1,62}\.(?:com|net|org|io|xyz|top|click|biz|info|shop|online|site|win|cc|ru|cn"
       r"|ly|me|co|app|store|live|link|club|vip|bet|loan|work|tk|ml|ga|gq)(?:/[^\s<>\"')\]]*)?\b")
#: Top-level domains and shorteners that ordinary references rarely use.
THROWAWAY = (r"(?i)\b(?:bit\.ly|tinyurl\.com|goo\.gl|t\.co|t\.me|ow\.ly|is\.gd|buff\.ly)/"
             r"|\.(?:xyz|top|click|win|bet|loan|work|tk|ml|ga|gq|vip|club|shop|store|online|site|live|biz)\b")

PROMO = _alt(
    r"click (?:here|the link|below|now)", r"buy now", r"order (?:now|today|online)", r"shop now", r"act now",
    r"sign up (?:now|today|free|for free)", r"get (?:it|yours|started) (?:now|today|for free)", r"enroll now",
    r"limited[- ](?:time )?(?:offer|deal)", r"(?:special|exclusive|introductory) (?:offer|deal|price)",
    r"offer (?:ends|expires|valid)", r"(?:deal|sale) ends", r"only today", r"today only", r"don'?t miss (?:out|this)",
    r"hurry,? (?:now|offer|deal|sale|only|while|before)", r"while (?:supplies|stocks?) last", r"(?:only|just) \d+ left", r"\d+ ?% off", r"save (?:up to )?\d+ ?%",
    r"promo(?:tional)? code", r"coupon(?: code)?", r"discount code", r"use code", r"free (?:trial|bonus|gift|sample|shipping|delivery|quote)",
    r"money[- ]back guarantee", r"satisfaction guaranteed", r"(?:best|lowest) (?:prices?|deals?|rates)(?: guaranteed| ever)?",
    r"buy (?:1|one) get (?:1|one)", r"no credit card (?:required|needed)", r"risk[- ]free trial",
    r"call (?:now|today|us now)", r"toll[- ]free", r"(?:check out|visit) my (?:blog|channel|store|shop|page|site|website|profile)",
    r"(?:course|ebook|e-book|guide|pdf) for free",
    r"link in (?:bio|profile)", r"cheap (?:meds|pills|viagra|cialis|essays|followers|flights|hotels)",
    r"(?:viagra|cialis|levitra|xanax|valium|tramadol|oxycodone|adderall|percocet|ambien|phentermine)",
    r"(?:without|no) (?:a )?prescription", r"(?:online|canadian|discount) pharmacy", r"generic (?:drugs|meds)",
    r"(?:diet|weight[- ]loss|fat[- ]burn(?:ing|er)) (?:pills|formula|supplement)s?", r"lose \d+ (?:pounds|lbs|kg)",
    r"male enhancement", r"(?:buy|sell) (?:instagram |youtube |tiktok |twitter )?(?:followers|likes|views)",
    r"replica (?:watches|rolex|bags)", r"casino bonus", r"no deposit bonus", r"free spins",
    r"apply (?:now|online|today)", r"free (?:quotes?|consultation|estimate|information|report)", r"act fast",
    r"(?:lowest|low|great) (?:interest )?rates?", r"(?:historic|record|all-time) lows?", r"order (?:yours|your \w+) (?:now|today)",
    r"(?:100 ?%|absolutely) free", r"(?:special|limited) promotion", r"to be removed from (?:our|this) (?:mailing )?list",
    r"(?:remove|unsubscribe) (?:me )?in the subject", r"this (?:is not|isn'?t) spam", r"opt[- ]in (?:list|e-?mail)",
    r"removal instructions", r"to be removed,? (?:call|click|reply|send|e-?mail)", r"(?:click|reply) here to (?:be removed|unsubscribe)",
    r"(?:no longer|not) (?:like|wish|want) (?:us )?to (?:contact|receive|hear)", r"received this (?:e-?mail|message) in error",
    r"call (?:us |me )?(?:anytime|today|toll|now)", r"join (?:now |today )?(?:for )?free", r"(?:for )?only \$\s?\d",
    r"one[- ]time (?:charge|fee|payment) of", r"(?:meet|hot|local) singles", r"webcam", r"(?:university|college) diplomas?",
    r"lose \d+(?:-\d+)? ?(?:lbs|pounds|kg)", r"guaranteed to (?:lose|make|earn|work)",
    r"as low as \$\s?\d", r"why pay more", r"(?:strong )?buy recommendations?", r"stock symbol",
    r"(?:should|will|could|set to) (?:skyrocket|explode|soar)", r"(?:penny|hot) stocks?",
    r"lose weight", r"(?:human )?growth hormone", r"hgh", r"(?:second|refinance your) mortgage", r"mortgage lenders",
    r"no hidden (?:charges|fees|costs)", r"\d+ ?% less than", r"(?:taken|removed) (?:off|from) (?:our|the) (?:mailing )?list",
    r"(?:get|getting) out of debt", r"lower your (?:monthly )?payments", r"limited stock", r"money back",
)
SCAM = _alt(
    r"next of kin", r"beneficiary", r"(?:dormant|unclaimed|abandoned) (?:account|funds|deposit)",
    r"(?:us\$|usd|\$|€|£|gbp|eur)\s?[\d.,]+\s?(?:m\b|million|billion)", r"[\d.,]+ ?(?:million|billion) (?:us )?(?:dollars|usd|euros?|pounds)",
    r"(?:processing|release|clearance|transfer|shipping|courier) (?:fee|charge)", r"(?:lottery|sweepstakes?) (?:draw|winner|award)",
    r"winning (?:number|notification)", r"(?:strictly|highly|absolutely) confidential", r"top secret",
    r"(?:100 ?%|completely|totally) (?:risk[- ]free|legal|safe|guaranteed)", r"foreign (?:partner|account)",
    r"transfer (?:of )?(?:the |this )?(?:funds|money|sum)", r"(?:late|deceased) (?:husband|wife|father|client|dr\.?|mr\.?|engr\.?)",
    r"compensation (?:fund|payment)", r"consignment", r"business (?:proposal|proposition)",
    r"(?:work|working) from home", r"make (?:money|\$\d)", r"earn (?:money|cash|extra)", r"earn (?:up to )?(?:\$|€|£)\s?\d",
    r"(?:\$|€|£)\s?[\d,]+ (?:a|per|every) (?:day|week|month|hour)", r"financial freedom", r"be your own boss",
    r"passive income", r"get rich", r"guaranteed (?:returns?|profits?|income|results)", r"double your (?:money|investment)",
    r"pre-?approved", r"(?:bad|no) credit(?: check)?", r"(?:eliminate|consolidate) (?:your )?debt", r"unlimited income",
    r"investment (?:plan|opportunity)", r"(?:claim|collect) (?:your|the) (?:prize|reward|winnings|funds|money)",
    r"you (?:have )?(?:won|been selected)", r"congratulations,? you",
    r"(?:fast|quick|instant|easy) (?:loans?|cash|approval)", r"get paid (?:to|for)", r"paid (?:daily|weekly)",
    r"(?:cash|money) (?:advance|fast)", r"(?:extra|additional) income", r"home[- ]based business", r"mlm",
)
PHISH = _alt(
    r"verify your (?:account|identity|email|details|information)", r"confirm your (?:password|account|identity|details|billing|card)",
    r"(?:account|mailbox|membership|card) (?:has been|was|is|will be) (?:temporarily )?(?:suspended|locked|closed|deactivated|limited|disabled)",
    r"unusual (?:activity|sign-?in|login)", r"update your (?:billing|payment|card|account) (?:information|details|info)",
    r"(?:log ?in|sign ?in) (?:here )?to (?:verify|confirm|restore|validate)", r"validate your (?:account|mailbox|email)",
    r"within 24 hours", r"permanent(?:ly)? (?:closure|closed|suspended|deleted)", r"(?:social security|ssn) number",
    r"(?:username|user name) and (?:current )?password", r"one[- ]time (?:code|password)", r"redelivery fee",
    r"(?:your|the) (?:pin|password) (?:and|or)", r"restore (?:access|your account)",
    r"if you did not (?:make|authori[sz]e|request) (?:this|the)", r"(?:unauthori[sz]ed|suspicious) (?:transaction|activity|purchase|payment)",
    r"cancel the (?:transfer|order|transaction|payment)", r"(?:card number|account number) and (?:pin|password)",
)
ENGAGE = _alt(
    r"follow (?:me|us)", r"follow for (?:more|follow)", r"follow(?:s)? back", r"f4f", r"sub4sub",
    r"drop a (?:follow|like)", r"like and (?:share|subscribe|follow)", r"(?:smash|hit) (?:that|the) (?:like|bell)",
    r"subscribe to (?:my|our) channel", r"turn on (?:post )?notifications", r"upvote (?:if|so|this)",
    r"tag (?:a|\d+|two|three|your) friends?", r"share (?:this |it )?with (?:\d+ |ten |your )?friends",
    r"rate (?:it |us )?5 stars", r"comment (?:below|your answer|'?done'?)", r"type amen",
    r"(?:will|would) scroll past", r"copy and paste this", r"only a genius", r"dm me", r"inbox me",
    r"whats ?app(?: me| us)? (?:\+|@|on)", r"telegram (?:@|group|channel)", r"t\.me/", r"i (?:always )?follow back",
    r"giving away", r"giveaway", r"(?:give|gimme) (?:me )?karma", r"\d+ upvotes",
)
PHONE = r"(?:\+\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b|\b1-800-\d{3}-\d{4}\b"
MONEY = r"(?:\$|€|£|US\$|USD ?)\s?\d[\d,.]*|\b\d[\d,.]* ?(?:dollars|usd|euros?|gbp)\b"
EMOJI = r"\p{Extended_Pictographic}"
HASHTAG = r"(?:^|\s)#\p{L}[\p{L}\p{N}_]+"  # "#linux", not "Closes: #1054879"
CAPS_WORD = r"\b\p{Lu}{3,}\b"
LONG_WORD = r"\b\p{L}{3,}\b"
#: Characters of code and markup (brackets, "=", ";", "_", "*", "<>", backslash, ">>>" prompts).
CODE_CHAR = r"[(){}\[\]=;<>*_\\]"
STOP = r"(?i)\b(?:the|a|an|of|to|in|is|it|and|or|for|on|with|that|this|be|are|as|by|not|if|at|from|was|which|you|we|can|will)\b"
#: Weights of ``spam.score`` (intent first; amplifiers count only with an intent phrase).
WEIGHTS = {"intent": 1.0, "link": 0.5, "money": 0.5, "phone": 0.5, "emoji": 0.5, "exclaim": 0.5, "caps": 0.5,
           "throwaway": 0.5}
FAMILIES = ("promo", "scam", "phish", "engage")


def longest_word_run(texts: pl.Series) -> np.ndarray:
    """Longest run of the same (case-folded) word with 2+ letters per text, vectorised over the
    flattened words.  A word is a whole alphanumeric token, so numbers and one-letter variables
    (``255.255.255.255``, ``W W W``) do not count and enumerations of versions or models
    (``SHA3-256, SHA3-384``, ``vt100, vt102``) are different words, not a run of "sha"/"vt"."""
    flat = (pl.DataFrame({"t": texts.fill_null("")}).with_row_index("d")
            .select("d", pl.col("t").str.to_lowercase().str.extract_all(r"[\p{L}\p{N}][\p{L}\p{N}_'’-]*").alias("w"))
            .explode("w").drop_nulls("w").filter(pl.col("w").str.count_matches(r"\p{L}") >= 2)
            .select(pl.col("d").cast(pl.Int64), pl.col("w").hash(seed=5).alias("h")))
    out = np.zeros(len(texts), dtype=np.int64)
    if flat.height == 0:
        return out
    d, h = flat["d"].to_numpy(), flat["h"].to_numpy()
    new_run = np.r_[True, (h[1:] != h[:-1]) | (d[1:] != d[:-1])]
    run_id = np.cumsum(new_run) - 1
    run_len = np.bincount(run_id)
    run_doc = d[new_run]
    np.maximum.at(out, run_doc, run_len)
    return out


def top_word_share(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(count of the most frequent content word, its share of content words) per text.  Content words
    have 3+ letters and are not function words; URLs are left out."""
    flat = (pl.DataFrame({"t": texts.fill_null("")}).with_row_index("d")
            .select("d", pl.col("t").str.replace_all(URL, " ").str.replace_all(STOP, " ").str.to_lowercase()
                    .str.extract_all(r"\p{L}{3,}").alias("w"))
            .explode("w").drop_nulls("w"))
    count, share = np.zeros(len(texts)), np.zeros(len(texts))
    if flat.height == 0:
        return count, share
    top = (flat.group_by("d", "w").len().group_by("d").agg(pl.col("len").max().alias("top"), pl.col("len").sum().alias("n")))
    d = top["d"].to_numpy()
    count[d] = top["top"].to_numpy()
    share[d] = top["top"].to_numpy() / np.maximum(top["n"].to_numpy(), 1)
    return count, share


class SpamFilter(Filter):
    """Promotional, abusive (scam/phishing/contact bait) and engagement intent; link farms and
    keyword stuffing.  Surface signals only amplify intent."""

    name: ClassVar[str] = "spam"
    layer: ClassVar[str] = "heuristics"

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = with_content_columns(batch)
        # signals are read from the first 200k characters (the default format.max_chars)
        t = main_text().str.slice(0, 200_000)
        words = t.str.count_matches(r"\S+").cast(pl.Float64)
        long_words = t.str.count_matches(LONG_WORD).cast(pl.Float64)
        prose = t.str.replace_all(URL, " ")
        frame = batch.select(
            "submission_id",
            t.str.count_matches(URL).cast(pl.Int64).alias("spam.links"),
            prose.str.count_matches(r"\S+").cast(pl.Int64).alias("spam.prose_words"),
            t.str.count_matches(THROWAWAY).cast(pl.Int64).alias("spam.throwaway_links"),
            # distinct phrases: a subject quoted in every reply counts once
            *[t.str.extract_all(pat).list.eval(pl.element().str.to_lowercase()).list.n_unique().cast(pl.Int64)
              .alias(f"spam.{name}_hits")
              for name, pat in (("promo", PROMO), ("scam", SCAM), ("phish", PHISH), ("engage", ENGAGE))],
            t.str.count_matches(MONEY).cast(pl.Int64).alias("spam.money"),
            t.str.count_matches(PHONE).cast(pl.Int64).alias("spam.phone"),
            t.str.count_matches(EMOJI).cast(pl.Int64).alias("spam.emoji"),
            t.str.count_matches(HASHTAG).cast(pl.Int64).alias("spam.hashtags"),
            t.str.count_matches(r"[!?]{3,}|!\s+\S[^.\n]{0,60}!").cast(pl.Int64).alias("spam.exclaim_runs"),
            pl.when(long_words >= 4).then(t.str.count_matches(CAPS_WORD) / long_words.clip(lower_bound=1.0))
            .otherwise(0.0).alias("spam.caps_ratio"),
            (t.str.count_matches(STOP) / words.clip(lower_bound=1.0)).alias("spam.stop_ratio"),
            (t.str.count_matches(CODE_CHAR) / words.clip(lower_bound=1.0)).alias("spam.code_ratio"),
            words.cast(pl.Int64).alias("spam.words"),
        )
        texts = batch.select(t.alias("t"))["t"]
        top_count, top_share = top_word_share(texts)
        return frame.with_columns(
            pl.Series("spam.word_run", longest_word_run(texts), dtype=pl.Int64),
            pl.Series("spam.top_word_count", top_count, dtype=pl.Float64),
            pl.Series("spam.top_word_share", top_share, dtype=pl.Float64),
        )

    @staticmethod
    def amplifiers(p) -> pl.Expr:
        """Weighted surface signals (each counted once)."""
        c, w = pl.col, WEIGHTS
        return (w["link"] * (c("spam.links") > 0).cast(pl.Float64)
                + w["money"] * (c("spam.money") > 0).cast(pl.Float64)
                + w["phone"] * (c("spam.phone") > 0).cast(pl.Float64)
                + w["emoji"] * (c("spam.emoji") > 0).cast(pl.Float64)
                + w["exclaim"] * (c("spam.exclaim_runs") > 0).cast(pl.Float64)
                + w["caps"] * (c("spam.caps_ratio") > p.max_caps_ratio).cast(pl.Float64)
                + w["throwaway"] * (c("spam.throwaway_links") > 0).cast(pl.Float64))

    @classmethod
    def combined_score(cls, p) -> pl.Expr:
        """``spam.score``: intent phrases (capped at 4) plus amplifiers when there is any intent."""
        c = pl.col
        intent = pl.sum_horizontal([c(f"spam.{f}_hits") for f in FAMILIES]).cast(pl.Float64)
        return (WEIGHTS["intent"] * intent.clip(upper_bound=4.0)
                + pl.when(intent > 0).then(cls.amplifiers(p)).otherwise(0.0)).cast(pl.Float64)

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.spam
        c = pl.col
        score = self.combined_score(p)
        # an intent phrase + enough amplifiers: score = 1 per phrase + 0.5 per amplifier
        strong = score >= p.max_spam_score
        promo, engage = c("spam.promo_hits"), c("spam.engage_hits")
        abusive = c("spam.scam_hits") + c("spam.phish_hits")
        # an emoji cluster around a link, with "!!!", no prose or a throw-away domain
        advert = ((c("spam.links") > 0) & (c("spam.emoji") >= 2)
                  & ((c("spam.exclaim_runs") > 0) | (c("spam.stop_ratio") < p.min_stop_ratio)
                     | (c("spam.throwaway_links") > 0)))
        prose_per_link = c("spam.prose_words") / c("spam.links").clip(lower_bound=1)
        rules = [
            ("spam.abusive", (abusive > p.max_promo_hits) | ((abusive > 0) & strong)),
            ("spam.promotional", (promo > p.max_promo_hits) | ((promo > 0) & strong)
             | advert
             | ((c("spam.hashtags") >= p.max_hashtags) & ((score > 0) | (c("spam.emoji") > 0)))),
            ("spam.engagement", (engage > 0) & ((c("spam.emoji") > 0) | (c("spam.exclaim_runs") > 0)
                                                | (c("spam.hashtags") > 0) | (score >= 2.0))),
            ("spam.link_farm", (c("spam.links") > p.max_links) & (prose_per_link < p.min_words_per_link)
             & ((c("spam.throwaway_links") > 0) | (score > 0))),
            # prose (function words >= min_stop_ratio of the words) and code are never keyword stuffing
            ("spam.keyword_stuffing", (c("spam.stop_ratio") < p.min_stop_ratio)
             & (c("spam.code_ratio") < p.max_code_ratio) & (
                (c("spam.word_run") > p.max_word_run)
                | ((c("spam.top_word_count") >= 5) & (c("spam.top_word_share") > p.max_top_word_share)
                   & (c("spam.links") <= 1)))),
        ]
        return rule_decisions(scores, rules, score, enabled=p.enabled)
