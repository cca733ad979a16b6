"""A datatrove-compatible scoring of the Gopher / C4 / FineWeb rules (``heuristics.preset: datatrove``).

olkit's own heuristics (:mod:`olkit.filters.heuristics`) adapt the published rules to short
instruction/response items.  This module reproduces instead what HF datatrove's
``GopherQualityFilter``, ``GopherRepetitionFilter``, ``C4QualityFilter`` and ``FineWebQualityFilter``
decide with their default arguments (English), so that a speed comparison with datatrove compares
the same decisions, and so that a user migrating from datatrove keeps its behaviour:

* words are datatrove's spaCy-English tokens, approximated by one regular expression per
  whitespace chunk (:data:`TOKEN_RE`: prefix/suffix punctuation split off one character at a time,
  words with inner periods kept, spaCy's infix splits and contractions (``do`` + ``n't``) applied
  first, URLs and e-mail addresses, abbreviations, emoticons and ``...`` one token each); blank
  tokens are dropped as datatrove does;
* sentences (C4's ``min_num_sentences``) are counted as spaCy's sentencizer does on those tokens: a new
  sentence starts at the first non-punctuation token after a token that is a sentence-final character;
* lines, paragraphs and their duplicates are split exactly as datatrove splits them
  (``str.splitlines`` for Gopher quality and C4, ``\\n+`` / ``\\n{2,}`` for Gopher repetition,
  non-blank ``\\n`` lines for FineWeb);
* Gopher's "top n-gram" is the most frequent n-gram (first seen wins ties), without olkit's
  "must occur twice" condition; duplicated n-grams (5..10) are measured as the characters covered by
  repeated n-grams, where datatrove scans greedily and skips ahead after each repeat (the two agree
  except on documents sitting at the threshold).

Everything is computed on flattened token/line frames with polars and numpy, no Python loop over
documents.  ``benchmarks/heuristics_bench.py`` measures the decision agreement with datatrove itself
(>= 0.99 required) and ``tests/test_heuristics_datatrove.py`` checks it on a few hundred documents.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from olkit.filters.ngrams import DUP_NGRAMS, TOP_NGRAMS, first_seen, repeat_coverage, rolling_ngrams

#: datatrove ``utils.text.TERMINAL_PUNCTUATION`` (FineWeb's line-end characters).
TERMINAL_CHARS = '!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᭽᭾᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼⹓⹔。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡𐩖𐩗𐽕𐽖𐽗𐽘𐽙𐾆𐾇𐾈𐾉𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑥄𑥆𑩂𑩃𑪛𑪜𑱁𑱂𑻷𑻸\U00011f43\U00011f44𖩮𖩯𖫵𖬷𖬸𖭄𖺘𛲟𝪈'
#: datatrove ``PUNCTUATION_SET`` (a token made only of these is a symbol, not a word).
PUNCT_CHARS = '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f«´»։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᭽᭾᰻᰼᱾᱿–—’“”„…‼‽⁇⁈⁉∶━►⸮⸼⹓⹔、。〈〉《》「」【】꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！％（），．１：；？～｡𐩖𐩗𐽕𐽖𐽗𐽘𐽙𐾆𐾇𐾈𐾉𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑥄𑥆𑩂𑩃𑪛𑪜𑱁𑱂𑻷𑻸\U00011f43\U00011f44𖩮𖩯𖫵𖬷𖬸𖭄𖺘𛲟𝪈'
#: spaCy ``Sentencizer.default_punct_chars`` (a token equal to one of these ends a sentence).
SENT_CHARS = '!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡𐩖𐩗𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑩂𑩃𑪛𑪜𑱁𑱂𖩮𖩯𖫵𖬷𖬸𖭄𛲟𝪈'


def _cls(chars: str, negate: bool = False) -> str:
    body = "".join(f"\\x{{{ord(c):x}}}" for c in chars)
    return f"[{'^' if negate else ''}{body}]"


#: spaCy English prefix / suffix characters: split off a whitespace chunk one at a time.
_PRE = "\"'`‘’“”«»‹›()[]{}<>§%=—–_#*&$£€¥!?¿¡,:;…"
_SUF = _PRE + ".°"
#: One datatrove (spaCy English) token, on text whose contractions and infixes were split first
#: (:func:`tokens`).  Alternatives in order: URLs, contractions, one-letter abbreviations and
#: "e.g."-style ones, runs of "-" or "." (one token), a core (a chunk without its leading prefix and
#: trailing suffix characters), any single character.
TOKEN_RE = (r"(?i:n['’]t)|['’](?i:s|re|ve|ll|d|m)\b"
            r"|[:;=]-?[()DPpO/\\|\]\[]|''"  # emoticons, '' (one token each in spaCy)
            r"|\p{L}(?:\.\p{L})+\.|\p{L}\.(?:\s|$)"  # e.g. i.e. U.S. ; one-letter abbreviations
            r"|-{2,}|\.{2,}"
            rf"|{_cls(_PRE + chr(32), True)[:-1]}\s]\S*{_cls(_SUF, True)[:-1]}\s]|{_cls(_PRE, True)[:-1]}\s]"
            r"|\S")
#: A whitespace chunk holding a URL is one token, less leading/trailing punctuation (spaCy's url_match).
_URL_CHUNK = r"[A-Za-z][A-Za-z0-9+.-]*://|^[\w.+-]+@[\w-]+\.[\w.-]+"  # URLs and e-mail addresses
_URL_TOKEN_RE = r"(?:[A-Za-z][A-Za-z0-9+.-]*://|[\w.+-]+@)\S*" + _cls(_SUF, True)[:-1] + r"\s]|\S"
#: spaCy English abbreviation exceptions that keep their period (a few frequent ones).
_ABBREV = r"\b(vs|Mr|Mrs|Ms|Dr|Inc|Ltd|Jr|Sr|St|Co|Corp|Prof|approx|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec)\."
#: (pattern, replacement) applied before tokenising: contractions and spaCy's infix splits.
_PRESPLIT = (
    (r"(\S)(n['’]t)\b", "$1 $2"),
    (r"(\S)(['’](?:[sSdDmM]|re|ve|ll|RE|VE|LL))\b", "$1 $2"),
    (r"\b([Cc]an)(not)\b", "$1 $2"),
    (r"(\p{Ll})\.(\p{Lu})", "$1 . $2"),
    (r"([\p{L}\p{N}])([:<>=/])(\p{L})", "$1 $2 $3"),
    (r"(\p{L}),(\p{L})", "$1 , $2"),
    (r"([\p{L}\p{N}])([-–—])(\p{L})", "$1 $2 $3"),
    (r"(\p{N})([-+*^])(\p{N})", "$1 $2 $3"),
    (r"(\S)(\.{2,}|…)(\S)", "$1 $2 $3"),
)
_SYMBOL_TOKEN = "^" + _cls(PUNCT_CHARS) + "+$"
_SENT_TOKEN = "^" + _cls(SENT_CHARS) + "$"
_TERMINAL_END = _cls(TERMINAL_CHARS) + "$"
_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
_CITATION = r"\[\d*]|\[edit]|\[citation needed]"
_POLICY = "terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies"
#: Characters ``str.splitlines`` breaks on besides ``\\n``.
_SPLITLINES = "\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"


def tokens(text: pl.Expr) -> pl.Expr:
    """datatrove's English word tokens of ``text`` (a list column)."""
    chunk = pl.element()
    plain = chunk
    for pat, rep in _PRESPLIT:
        plain = plain.str.replace_all(pat, rep)
    # a protected abbreviation keeps its period: marked with U+E000 while tokenising
    plain = plain.str.replace_all(_ABBREV, "$1\ue000")
    split = (pl.when(chunk.str.contains(_URL_CHUNK)).then(chunk.str.extract_all(_URL_TOKEN_RE))
             .otherwise(plain.str.extract_all(TOKEN_RE)))
    return (text.str.extract_all(r"\S+")
            .list.eval(split.explode().drop_nulls().str.replace_all("\ue000", ".", literal=True)))


def _splitlines(text: pl.Expr) -> pl.Expr:
    """``str.splitlines()``: a trailing line break adds no empty line."""
    t = text.str.replace_all(_SPLITLINES, "\n")
    return pl.when(t.str.ends_with("\n")).then(t.str.slice(0, t.str.len_chars() - 1)).otherwise(t).str.split("\n")


def _dups(frame: pl.DataFrame, col: str, n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document: elements, duplicated elements (not first seen) and their characters."""
    f = frame.with_columns(pl.struct("d", pl.col(col).hash(seed=3)).is_first_distinct().alias("first"))
    agg = f.group_by("d").agg(pl.len().alias("n"), (~pl.col("first")).sum().alias("dup"),
                              pl.when(~pl.col("first")).then(pl.col(col).str.len_chars()).otherwise(0).sum().alias("c"))
    out = [np.zeros(n_docs) for _ in range(3)]
    d = agg["d"].to_numpy()
    for arr, name in zip(out, ("n", "dup", "c"), strict=True):
        arr[d] = agg[name].to_numpy()
    return out[0], out[1], out[2]


def _explode(texts: pl.Series, parts: pl.Expr, name: str) -> pl.DataFrame:
    return (pl.DataFrame({"t": texts}).with_row_index("d")
            .select(pl.col("d").cast(pl.Int64), parts.alias(name)).explode(name).drop_nulls(name))


def _ngram_stats(doc: np.ndarray, h: np.ndarray, wl: np.ndarray, n_docs: int) -> dict[str, np.ndarray]:
    """Top n-gram characters (count x length of the most frequent, first seen on ties) and characters
    of repeated n-grams, per document."""
    out: dict[str, np.ndarray] = {}
    big_n = len(h)
    csum = np.concatenate([[0], np.cumsum(wl)])
    for n, rolled, valid in rolling_ngrams(doc, h, max(DUP_NGRAMS)):
        if rolled is None:
            if n in TOP_NGRAMS:
                out[f"top_{n}gram_chars"] = np.zeros(n_docs)
            if n in DUP_NGRAMS:
                out[f"dup_{n}gram_chars"] = np.zeros(n_docs)
            continue
        m = len(rolled)
        starts = np.arange(m)
        if n in TOP_NGRAMS:
            chars = csum[starts + n] - csum[starts]
            top = (pl.DataFrame({"d": doc[:m][valid], "k": rolled[valid], "c": chars[valid] + (n - 1),
                                 "p": starts[valid]})
                   .group_by("d", "k").agg(pl.len().alias("cnt"), pl.col("c").first(), pl.col("p").min())
                   .sort(["d", "cnt", "p"], descending=[False, True, False])
                   .group_by("d", maintain_order=True).first())
            arr = np.zeros(n_docs)
            arr[top["d"].to_numpy()] = (top["cnt"] * top["c"]).to_numpy()
            out[f"top_{n}gram_chars"] = arr
        if n in DUP_NGRAMS:
            first = first_seen(doc[:m][valid], rolled[valid])
            covered = repeat_coverage(starts[valid][~first], n, big_n)
            out[f"dup_{n}gram_chars"] = np.bincount(doc, weights=wl * covered, minlength=n_docs)
    return out


def _c4(texts: pl.Series, n_docs: int) -> dict[str, np.ndarray]:
    """C4QualityFilter per document: kept sentences, and whether a kept line has lorem ipsum / '{'."""
    lines = _explode(texts, _splitlines(pl.col("t")), "raw").with_row_index("line")
    raw = pl.col("raw").str.strip_chars()
    lines = lines.with_columns(
        raw.str.extract_all(r"\S+").alias("w"),
        raw.str.replace_all(_CITATION, "").alias("l"),
    ).with_columns(
        pl.col("w").list.len().alias("nw"),
        pl.col("w").list.eval(pl.element().str.len_chars()).list.max().fill_null(0).alias("maxw"),
    )
    l_ = pl.col("l")
    lower = l_.str.to_lowercase()
    eligible = ((pl.col("maxw") <= 1000)
                & l_.str.contains(r"[.?!\"']$") & ~l_.str.ends_with("...")
                & (pl.col("nw") >= 3))
    lines = lines.with_columns(
        (eligible & lower.str.contains("lorem ipsum", literal=True)).alias("lorem"),
        (eligible & ~lower.str.contains("javascript", literal=True) & l_.str.contains("{", literal=True)).alias("curly"),
        (eligible & ~lower.str.contains("javascript", literal=True) & ~lower.str.contains(_POLICY)).alias("kept"),
    )
    kept = lines.filter("kept").select("d", "line", "l")
    sents = np.zeros(n_docs)
    if kept.height:
        tok = (kept.select("d", "line", tokens(pl.col("l")).alias("tok")).explode("tok").drop_nulls("tok")
               .select("d", "line", pl.col("tok").str.contains(_SENT_TOKEN).alias("b"),
                       pl.col("tok").str.contains(r"^\p{P}+$").alias("p")))
        line = tok["line"].to_numpy()
        b = tok["b"].to_numpy()
        p = tok["p"].to_numpy() & ~b | b  # a sentence-final character is punctuation too
        cs = np.concatenate([[0], np.cumsum(b)])
        idx = np.flatnonzero(~p)  # non-punctuation tokens
        # bnd: a sentence-final token since the previous non-punctuation token of the same line
        prev = np.r_[-1, idx[:-1]]
        same = np.r_[False, line[idx[1:]] == line[idx[:-1]]]
        line_start = np.searchsorted(line, line[idx], side="left")  # tokens are grouped by line
        before = np.where(same, cs[prev + 1], cs[line_start])
        starts_sentence = (cs[idx] - before) > 0
        first_of_line = ~same
        # a line's first token opens its first sentence; each later boundary opens another
        n_sent = (pl.DataFrame({"line": line[idx], "s": starts_sentence & ~(first_of_line & (idx == line_start))})
                  .group_by("line").agg(pl.col("s").sum()))
        per_line = kept.join(n_sent, on="line", how="left").with_columns(
            (pl.col("s").fill_null(0) + 1).alias("s"))
        agg = per_line.group_by("d").agg(pl.col("s").sum())
        sents[agg["d"].to_numpy()] = agg["s"].to_numpy()
    flags = lines.group_by("d").agg(pl.col("lorem").any(), pl.col("curly").any())
    lorem, curly = np.zeros(n_docs, bool), np.zeros(n_docs, bool)
    lorem[flags["d"].to_numpy()] = flags["lorem"].to_numpy()
    curly[flags["d"].to_numpy()] = flags["curly"].to_numpy()
    return {"c4_sentences": sents, "c4_lorem": lorem, "c4_curly": curly}


def score_frame(texts: pl.Series) -> dict[str, np.ndarray]:
    """Raw signals of the four datatrove filters for every text (see the module docstring)."""
    texts = texts.fill_null("").cast(pl.String)
    n_docs = len(texts)
    t = pl.col("t")
    frame = pl.DataFrame({"t": texts})
    row = frame.select(
        t.str.len_chars().alias("chars"),
        t.str.count_matches("#", literal=True).alias("hashes"),
        (t.str.count_matches(r"\.\.\.") + t.str.count_matches("…", literal=True)).alias("ellipses"),
        _splitlines(t).list.len().alias("sl_lines"),
        _splitlines(t).list.eval(pl.element().str.contains(r"^\s*[•-]")).list.sum().alias("bullet_lines"),
        _splitlines(t).list.eval(pl.element().str.contains(r"(?:\.\.\.|…)\s*$")).list.sum().alias("ellipsis_lines"),
        t.str.count_matches("\n", literal=True).alias("newlines"),
        t.str.replace_all("\n", "", literal=True).str.len_chars().alias("chars_no_nl"),
    )
    out = {k: row[k].to_numpy().astype(np.float64) for k in row.columns}
    # tokens
    tok = _explode(texts, tokens(t), "w").with_columns(
        pl.col("w").str.len_chars().alias("n"),
        ~pl.col("w").str.contains(_SYMBOL_TOKEN).alias("content"),
        pl.col("w").str.contains(r"\p{L}").alias("alpha"),
        pl.col("w").is_in(_STOP_WORDS).alias("stop"),
    )
    agg = tok.group_by("d").agg(
        pl.len().alias("words"), pl.col("content").sum().alias("content_words"),
        pl.when("content").then(pl.col("n")).otherwise(0).sum().alias("content_chars"),
        pl.col("alpha").sum().alias("alpha_words"),
        pl.col("w").filter("stop").n_unique().alias("stop_words"))
    d = agg["d"].to_numpy()
    for k in ("words", "content_words", "content_chars", "alpha_words", "stop_words"):
        out[k] = np.zeros(n_docs)
        out[k][d] = agg[k].to_numpy()
    doc = tok["d"].to_numpy()
    h = tok["w"].hash(seed=7).to_numpy()
    wl = tok["n"].to_numpy().astype(np.int64)
    out.update(_ngram_stats(doc, h, wl, n_docs))
    # Gopher repetition: paragraphs (\n{2,} of the stripped text) and lines (\n+)
    paras = _explode(texts, t.str.strip_chars().str.replace_all(r"\n{2,}", "\x00").str.split("\x00"), "s")
    out["paras"], out["dup_paras"], out["dup_para_chars"] = _dups(paras, "s", n_docs)
    glines = _explode(texts, t.str.replace_all(r"\n+", "\n").str.split("\n"), "s")
    out["glines"], out["dup_glines"], out["dup_gline_chars"] = _dups(glines, "s", n_docs)
    # FineWeb: non-blank \n lines, unstripped
    flines = _explode(texts, t.str.split("\n"), "s").filter(pl.col("s").str.strip_chars() != "")
    out["flines"], _, out["dup_fline_chars"] = _dups(flines, "s", n_docs)
    fl = flines.group_by("d").agg(pl.col("s").str.contains(_TERMINAL_END).sum().alias("punct"),
                                  (pl.col("s").str.len_chars() <= 30).sum().alias("short"))
    for k in ("punct", "short"):
        out[f"fline_{k}"] = np.zeros(n_docs)
        out[f"fline_{k}"][fl["d"].to_numpy()] = fl[k].to_numpy()
    out.update(_c4(texts, n_docs))
    return out


def rules(p) -> list[tuple[str, pl.Expr]]:
    """datatrove's failure conditions over ``heuristics.dt_*`` score columns; ``p`` is a
    :class:`~olkit.filters.config.HeuristicsPolicy` (the Gopher/C4/FineWeb thresholds it shares with
    datatrove's defaults, plus the ``dt_*`` fields only this preset reads)."""
    def c(name: str) -> pl.Expr:
        return pl.col(f"heuristics.dt_{name}")

    words = c("words").clip(lower_bound=1)
    mean_len = c("content_chars") / c("content_words").clip(lower_bound=1)
    chars = c("chars").clip(lower_bound=1)
    sl = c("sl_lines").clip(lower_bound=1)
    top = [c(f"top_{n}gram_chars") / chars > getattr(p, f"max_top_{n}gram_frac") for n in TOP_NGRAMS]
    dup = [c(f"dup_{n}gram_chars") / chars > getattr(p, f"max_dup_{n}gram_frac") for n in DUP_NGRAMS]
    flines = c("flines").clip(lower_bound=1)
    return [
        ("heuristics.gopher_doc_words", (c("content_words") < p.dt_min_doc_words)
         | (c("content_words") > p.dt_max_doc_words)),
        ("heuristics.mean_word_length", (mean_len < p.min_mean_word_length) | (mean_len > p.max_mean_word_length)),
        ("heuristics.symbol_ratio", (c("hashes") / words > p.max_symbol_word_ratio)
         | (c("ellipses") / words > p.max_symbol_word_ratio)),
        ("heuristics.bullet_lines", c("bullet_lines") / sl > p.max_bullet_lines_ratio),
        ("heuristics.ellipsis_lines", c("ellipsis_lines") / sl > p.max_ellipsis_lines_ratio),
        ("heuristics.alpha_ratio", c("alpha_words") / words < p.min_alpha_words_ratio),
        ("heuristics.stop_words", c("stop_words") < p.min_stop_words),
        ("heuristics.dup_paragraphs", (c("chars") == 0)
         | (c("dup_paras") / c("paras").clip(lower_bound=1) > p.max_dup_para_frac)
         | (c("dup_para_chars") / chars > p.max_dup_para_char_frac)),
        ("heuristics.dup_lines", (c("dup_glines") / c("glines").clip(lower_bound=1) > p.max_dup_line_frac)
         | (c("dup_gline_chars") / chars > p.max_dup_line_char_frac)),
        ("heuristics.top_ngram", pl.any_horizontal(top)),
        ("heuristics.dup_ngram", pl.any_horizontal(dup)),
        ("heuristics.c4_lorem_ipsum", c("c4_lorem") > 0),
        ("heuristics.curly_braces", c("c4_curly") > 0),
        ("heuristics.c4_sentences", c("c4_sentences") < p.dt_min_sentences),
        ("heuristics.terminal_punct", (c("flines") == 0)
         | (c("fline_punct") / flines < p.min_terminal_punct_lines_ratio)),
        ("heuristics.short_lines", c("fline_short") / flines > p.max_short_lines_ratio),
        ("heuristics.fineweb_dup_line_chars",
         c("dup_fline_chars") / c("chars_no_nl").clip(lower_bound=1) > p.dt_max_dup_line_char_ratio),
        ("heuristics.fineweb_list_ratio", c("newlines") / words > p.dt_max_newline_word_ratio),
    ]
