"""Filter thresholds of a Policy (owned by ``olkit.filters``).

One subsection per filter.  Each has ``enabled`` and the thresholds its ``decide`` step reads.
Changing a threshold never requires re-scoring: the pipeline caches the raw signals and
:meth:`olkit.filters.pipeline.PipelineResult.redecide` re-applies a new policy in milliseconds.

Defaults are principled, taken from the published rules where one exists (Gopher, C4, FineWeb
thresholds for documents; MinHash LSH settings of FineWeb) and adapted to short
instruction/response items where the published rule assumes web pages (``min_words`` etc.).

Example
-------
>>> from olkit.filters.config import FilterPolicy
>>> fp = FilterPolicy()
>>> fp.dedup.near_threshold
0.6
>>> FilterPolicy.model_validate({"dedup": {"near_threshold": 1.5}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: ...
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from olkit.config import Section

Fraction = float

#: ``json_schema_extra`` of a *scoring-time* field: it changes what a filter's ``score`` computes, so
#: cached scores are only valid for the value they were computed with.  Every other field is
#: *decide-time*: ``PipelineResult.redecide`` re-applies it to cached scores in milliseconds.
SCORING = {"scoring": True}


class FormatPolicy(Section):
    """Required fields, length bounds, encoding and markup/boilerplate."""

    enabled: bool = True
    #: Minimum words of the main content (the response, or the document text).
    min_words: int = Field(5, ge=0, le=10_000)
    max_words: int = Field(20_000, ge=1)
    min_chars: int = Field(10, ge=0)
    max_chars: int = Field(200_000, ge=1)
    #: Instruction datanets: the instruction needs at least this many characters.
    min_instruction_chars: int = Field(5, ge=0)
    #: Fraction of characters that are U+FFFD / C0 control characters / mojibake sequences.
    max_bad_char_ratio: Fraction = Field(0.01, ge=0.0, le=1.0)
    #: Fraction of characters inside HTML/XML tags or entities.
    max_markup_ratio: Fraction = Field(0.2, ge=0.0, le=1.0)
    #: Boilerplate phrases ("lorem ipsum", "all rights reserved", "enable javascript" ...) tolerated.
    max_boilerplate_hits: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> FormatPolicy:
        if self.min_words > self.max_words:
            raise ValueError("min_words must not exceed max_words")
        if self.min_chars > self.max_chars:
            raise ValueError("min_chars must not exceed max_chars")
        return self


class HeuristicsPolicy(Section):
    """Gopher / C4 / FineWeb quality rules (defaults from the papers; ``None``-free: use the range ends
    to switch a rule off, e.g. ``max_symbol_word_ratio: 1.0``)."""

    enabled: bool = True
    #: ``olkit``: the rules adapted to short instruction/response items (below).  ``datatrove``: HF
    #: datatrove's GopherQuality + GopherRepetition + C4Quality + FineWebQuality filters with their
    #: default arguments -- datatrove's tokenisation, line splitting and conditions, reading the
    #: Gopher/C4/FineWeb thresholds below plus the ``dt_*`` fields (see
    #: :mod:`olkit.filters.datatrove_compat`).  Scoring-time: the two presets compute different signals.
    preset: Literal["olkit", "datatrove"] = Field("olkit", json_schema_extra=SCORING)
    #: datatrove preset only: Gopher's document length in non-symbol words.
    dt_min_doc_words: int = Field(50, ge=0)
    dt_max_doc_words: int = Field(100_000, ge=1)
    #: datatrove preset only: C4's minimum number of sentences in kept lines.
    dt_min_sentences: int = Field(5, ge=0)
    #: datatrove preset only: FineWeb's duplicated-line characters / characters (``char_duplicates_ratio``).
    dt_max_dup_line_char_ratio: Fraction = Field(0.01, ge=0.0, le=1.0)
    #: datatrove preset only: FineWeb's line breaks per word (``new_line_ratio``).
    dt_max_newline_word_ratio: float = Field(0.3, ge=0.0)
    #: Rules about word statistics only apply to texts with at least this many words (short answers
    #: such as "Paris." are legitimate in instruction data; length is the format filter's business).
    min_words_for_stats: int = Field(8, ge=1)
    min_mean_word_length: float = Field(3.0, ge=0.0, le=50.0)  # Gopher
    max_mean_word_length: float = Field(10.0, ge=1.0, le=1000.0)  # Gopher
    max_symbol_word_ratio: Fraction = Field(0.1, ge=0.0, le=10.0)  # Gopher: '#' and '...' per word
    max_bullet_lines_ratio: Fraction = Field(0.9, ge=0.0, le=1.0)  # Gopher
    max_ellipsis_lines_ratio: Fraction = Field(0.3, ge=0.0, le=1.0)  # Gopher
    min_alpha_words_ratio: Fraction = Field(0.8, ge=0.0, le=1.0)  # Gopher: words with a letter
    min_stop_words: int = Field(2, ge=0)  # Gopher: of the, be, to, of, and, that, have, with (+ a few)
    #: Gopher's n-gram repetition statistics are only meaningful on texts of at least this many words:
    #: a short technical answer legitimately repeats its key term ("shared memory block") three
    #: times, which alone exceeds the top-3-gram threshold below ~100 words.  Shorter texts use
    #: ``min_unique_word_ratio``.
    min_words_for_ngram_rules: int = Field(100, ge=1)
    #: Short texts (3+ words): distinct words / words below this is repetition ("idk idk idk").
    min_unique_word_ratio: Fraction = Field(0.4, ge=0.0, le=1.0)
    #: C4: the text must end in terminal punctuation (or a closing bracket/quote, or a URL); an
    #: answer that stops mid-sentence or trails off with "..." is truncated.
    require_terminal_punctuation: bool = True
    #: ... unless paragraphs that do end in terminal punctuation hold at least this share of the
    #: words (finished prose whose last line is a label or a list: C4 drops such lines, not the text).
    min_punctuated_word_frac: Fraction = Field(0.5, ge=0.0, le=1.0)
    max_dup_line_frac: Fraction = Field(0.3, ge=0.0, le=1.0)  # Gopher repetition
    max_dup_para_frac: Fraction = Field(0.3, ge=0.0, le=1.0)
    max_dup_line_char_frac: Fraction = Field(0.2, ge=0.0, le=1.0)
    max_dup_para_char_frac: Fraction = Field(0.2, ge=0.0, le=1.0)
    max_top_2gram_frac: Fraction = Field(0.20, ge=0.0, le=1.0)
    max_top_3gram_frac: Fraction = Field(0.18, ge=0.0, le=1.0)
    max_top_4gram_frac: Fraction = Field(0.16, ge=0.0, le=1.0)
    max_dup_5gram_frac: Fraction = Field(0.15, ge=0.0, le=1.0)
    max_dup_6gram_frac: Fraction = Field(0.14, ge=0.0, le=1.0)
    max_dup_7gram_frac: Fraction = Field(0.13, ge=0.0, le=1.0)
    max_dup_8gram_frac: Fraction = Field(0.12, ge=0.0, le=1.0)
    max_dup_9gram_frac: Fraction = Field(0.11, ge=0.0, le=1.0)
    max_dup_10gram_frac: Fraction = Field(0.10, ge=0.0, le=1.0)
    #: FineWeb: fraction of characters that are in runs of a repeated character ("!!!!!", "aaaaaa").
    max_char_run_ratio: Fraction = Field(0.2, ge=0.0, le=1.0)
    #: C4: lines must end in terminal punctuation; applied to multi-line documents only.
    min_terminal_punct_lines_ratio: Fraction = Field(0.12, ge=0.0, le=1.0)  # FineWeb line_punct_thr
    max_short_lines_ratio: Fraction = Field(0.67, ge=0.0, le=1.0)  # FineWeb
    #: C4 / FineWeb rules need at least this many lines to be meaningful.
    min_lines_for_line_rules: int = Field(3, ge=1)
    #: C4: reject "lorem ipsum" and curly braces (code) -- off by default for instruction data.
    reject_curly_braces: bool = False


class DedupPolicy(Section):
    """Exact (normalised content hash) and near (MinHash LSH) duplicates; first by time wins."""

    enabled: bool = True
    exact: bool = True
    near: bool = True
    #: Jaccard similarity of word-3-shingle sets (response and instruction, the smaller) at or above
    #: which a later item is a near duplicate of an earlier one.
    near_threshold: Fraction = Field(0.6, ge=0.0, le=1.0)
    #: Scoring-time parameters (changing them requires re-scoring; they are part of the policy hash).
    shingle: Literal["word", "char"] = Field("word", json_schema_extra=SCORING)
    shingle_size: int = Field(3, ge=1, le=64, json_schema_extra=SCORING)
    num_perm: int = Field(128, ge=8, le=1024, json_schema_extra=SCORING)
    bands: int = Field(32, ge=1, json_schema_extra=SCORING)
    rows: int = Field(4, ge=1, json_schema_extra=SCORING)
    seed: int = Field(1, ge=0, json_schema_extra=SCORING)

    @model_validator(mode="after")
    def _banding(self) -> DedupPolicy:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class LanguagePolicy(Section):
    """Offline language identification (script + stop-word profiles)."""

    enabled: bool = True
    #: Accepted languages (ISO 639-1).
    allowed: tuple[str, ...] = ("en",)
    #: Reject when the best non-allowed language has at least this confidence (0..1).
    min_confidence: Fraction = Field(0.6, ge=0.0, le=1.0)
    #: Fewer function-word hits than this in Latin script: undetermined (accepted).
    min_evidence: int = Field(2, ge=1)


class SpamPolicy(Section):
    """Spam about intent (promotional / abusive / engagement phrases, link farms, keyword stuffing);
    links, lists, signatures and emoji only amplify an intent signal (see :mod:`olkit.filters.spam`).
    The MiniLM relevance part is ``relevance``."""

    enabled: bool = True
    #: The false-positive rate on human text (documentation, changelogs, package descriptions,
    #: mailing-list mail, prose with links) these thresholds are held to, per human source; checked
    #: by ``benchmarks/spam_bench.py`` and the tests.  A statement, not a knob: it changes no decision.
    target_human_fpr: Fraction = Field(0.02, ge=0.0, le=1.0)
    #: Intent phrases of one kind (promotional, or abusive: scam + phishing) tolerated without
    #: amplifiers; one more rejects.
    max_promo_hits: int = Field(1, ge=0)
    #: ``spam.score`` (1 per intent phrase + 0.5 per surface amplifier: link, money amount, emoji, "!!!",
    #: shouting, throw-away domain) at which a single intent phrase rejects.
    max_spam_score: float = Field(2.0, ge=0.0)
    #: Link farm: more links than this ...
    max_links: int = Field(3, ge=0)
    #: ... with fewer words of prose per link than this.
    min_words_per_link: float = Field(6.0, ge=0.0)
    #: Hashtags that make a text a social-media advert.
    max_hashtags: int = Field(3, ge=1)
    #: Longest run of the same word (case-insensitive), e.g. "buy buy buy buy".
    max_word_run: int = Field(3, ge=1)
    #: Keyword stuffing: the top content word's share of content words above this ...
    max_top_word_share: Fraction = Field(0.2, ge=0.0, le=1.0)
    #: ... in a text whose function words are fewer than this share of its words ...
    min_stop_ratio: Fraction = Field(0.15, ge=0.0, le=1.0)
    #: ... and which is not code: code/markup characters (brackets, "=", ";", "_", "*") per word below this.
    max_code_ratio: float = Field(0.2, ge=0.0)
    #: Fraction of words (of >= 3 letters) in ALL CAPS that counts as shouting (an amplifier).
    max_caps_ratio: Fraction = Field(0.5, ge=0.0, le=1.0)


class PiiPolicy(Section):
    """Emails, phone numbers, IP addresses, payment card numbers (Luhn-checked)."""

    enabled: bool = True
    action: Literal["reject", "redact", "flag"] = "redact"
    kinds: tuple[Literal["email", "phone", "ip", "card"], ...] = ("email", "phone", "ip", "card")
    #: With ``action: reject``, reject at this many findings.
    min_hits: int = Field(1, ge=1)


class SyntheticPolicy(Section):
    """Machine-generated text detection with the embedded LM (owned by filters-models)."""

    enabled: bool = True
    #: Target false-positive rate on human text (decide-time).  The detector ships with the scores
    #: of human text of several genres (docs, FAQ answers, package descriptions, changelogs,
    #: fortunes), each computed by a model that never saw that genre; an item is rejected when at
    #: most this share of *every* genre's human text scores as high as it does (``synthetic.human_fpr
    #: <= target_fpr``).  The threshold follows this rate, not separation from one generator's output.
    target_fpr: Fraction = Field(0.02, ge=0.0, le=0.5)


class QualityPolicy(Section):
    """Learned quality score, MiniLM embeddings + linear model (owned by filters-models)."""

    enabled: bool = True
    #: Items with a predicted quality probability below this are rejected.  0.2 keeps the false
    #: rejection of genuine items under 2% on the held-out split and on the external set.
    min_score: Fraction = Field(0.2, ge=0.0, le=1.0)


class RelevancePolicy(Section):
    """Instruction-response relevance (MiniLM), thresholded by a false-positive rate on human pairs
    of several genres (owned by filters-models; the statistic is named in the relevance bank file)."""

    enabled: bool = True
    #: Target false-positive rate on human pairs (decide-time).  The relevance bank ships with the
    #: contrast scores of human pairs of several genres (docs, FAQ answers, package descriptions,
    #: changelogs, fortunes under broad prompts), each scored with a bank that never held that
    #: genre; an item is rejected as off-topic when at most this share of *every* genre's human
    #: pairs scores as low as it does (``relevance.human_fpr <= target_fpr``).  The threshold follows
    #: this rate, not a fixed cosine that loose but legitimate genres fall under.
    target_fpr: Fraction = Field(0.02, ge=0.0, le=0.5)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "min_similarity" in data:
            raise ValueError("relevance.min_similarity (an absolute MiniLM cosine cutoff) was replaced by "
                             "relevance.target_fpr (a false-positive rate on human pairs, e.g. 0.02); "
                             "rename the key")
        return data


class FilterPolicy(Section):
    """Thresholds of the filter pipeline, one subsection per filter."""

    format: FormatPolicy = Field(default_factory=FormatPolicy)
    heuristics: HeuristicsPolicy = Field(default_factory=HeuristicsPolicy)
    dedup: DedupPolicy = Field(default_factory=DedupPolicy)
    language: LanguagePolicy = Field(default_factory=LanguagePolicy)
    spam: SpamPolicy = Field(default_factory=SpamPolicy)
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    synthetic: SyntheticPolicy = Field(default_factory=SyntheticPolicy)
    quality: QualityPolicy = Field(default_factory=QualityPolicy)
    relevance: RelevancePolicy = Field(default_factory=RelevancePolicy)

    def section(self, name: str) -> Section | None:
        """The subsection of filter ``name`` (``None`` if the filter has none)."""
        value = getattr(self, name, None)
        return value if isinstance(value, Section) else None

    def is_enabled(self, name: str) -> bool:
        """Whether filter ``name`` takes part in decisions (filters without a section always do)."""
        sec = self.section(name)
        return bool(getattr(sec, "enabled", True)) if sec is not None else True


def scoring_keys() -> frozenset[str]:
    """Dotted keys (``"dedup.num_perm"``) of every scoring-time field of :class:`FilterPolicy`.

    >>> sorted(scoring_keys())[:2]
    ['dedup.bands', 'dedup.num_perm']
    """
    out = set()
    for name, info in FilterPolicy.model_fields.items():
        sub = info.annotation
        for key, field in getattr(sub, "model_fields", {}).items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            if extra.get("scoring"):
                out.add(f"{name}.{key}")
    return frozenset(out)


def scoring_values(fp: FilterPolicy, prefix: str | None = None) -> dict[str, Any]:
    """The scoring-time values of ``fp`` (optionally only keys under ``prefix``, e.g. ``"dedup"``)."""
    out = {}
    for key in sorted(scoring_keys()):
        section, _, name = key.partition(".")
        if prefix is None or section == prefix:
            out[key] = getattr(getattr(fp, section), name)
    return out
