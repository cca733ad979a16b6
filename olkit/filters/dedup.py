"""Exact and near-duplicate detection; duplicates cluster to the earliest item (first by time wins).

* **Exact**: a 128-bit hash (two seeded 64-bit polars hashes) of the *normalised* content
  (NFKC, lower case, whitespace collapsed, instruction and response joined).  Every item whose
  key was seen earlier in batch order is a duplicate of the first one.
* **Near**: MinHash LSH, fully vectorised with numpy.  Shingles (word or character k-grams) are
  hashed with a rolling 64-bit hash over the flattened batch; a permutation is ``(a*x + b) mod p``
  with ``p = 2**61 - 1`` computed for all shingles and permutations at once (``x, a, b < 2**32`` so
  nothing overflows, the modulo is two shifts and a mask); per-item minima come from
  ``np.minimum.reduceat``.  Signatures are cut into ``bands x rows``; each band's rows are hashed to
  one 64-bit bucket key, and bucket members are linked to the earliest member and to the previous
  member of the bucket (hash grouping, no pairwise loop).  Each item keeps the highest estimated
  Jaccard similarity to an earlier linked item (candidates verified with the exact Jaccard
  similarity of their shingle sets), so :meth:`DedupFilter.decide` applies any
  ``near_threshold`` without re-scoring, and :func:`near_clusters` resolves the duplicate chains to
  their earliest item.

Example
-------
>>> import polars as pl
>>> from olkit.filters.config import FilterPolicy
>>> from olkit.filters.dedup import DedupFilter
>>> batch = pl.DataFrame({"submission_id": ["a", "b", "c"], "text": [
...     "The quick brown fox jumps over the lazy dog near the river bank today",
...     "the quick  brown fox jumps over the lazy dog near the river bank today",   # exact (normalised)
...     "The quick brown fox jumps over the lazy dog near the river bank yesterday"]})
>>> f = DedupFilter()
>>> f.decide(f.score(batch), FilterPolicy())["reason_code"].to_list()
[None, 'dedup.exact', 'dedup.near']
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import polars as pl
import pyarrow as pa

from olkit.filters.base import Filter, rule_decisions, with_content_columns
from olkit.filters.config import DedupPolicy, FilterPolicy, scoring_values
from olkit.filters.ngrams import MULT as _MULT

MERSENNE_61 = np.uint64((1 << 61) - 1)
MAX_HASH_32 = np.uint64(0xFFFFFFFF)
_WORD = r"[\p{L}\p{N}_]+"


def normalised_content() -> pl.Expr:
    """Normalised content used for exact dedup: NFKC, lower case, whitespace collapsed."""
    pair = pl.concat_str([pl.col("instruction").fill_null(""), pl.col("response").fill_null("")],
                         separator="\x1f")
    raw = pl.coalesce(pl.col("text"), pair, pl.lit(""))
    return (raw.str.normalize("NFKC").str.to_lowercase().str.replace_all(r"\s+", " ")
            .str.strip_chars())


# ------------------------------------------------------------------------------------------------
# shingling


def word_shingles(texts: pl.Series, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(item index, 32-bit shingle hash) of every word k-gram of every text (vectorised).

    An item with fewer than ``k`` words yields one shingle of all its words; an item without words
    yields none.
    """
    flat = (pl.DataFrame({"t": texts}).with_row_index("d")
            .select("d", pl.col("t").fill_null("").str.to_lowercase().str.extract_all(_WORD).alias("w"))
            .explode("w").drop_nulls("w")
            .select(pl.col("d").cast(pl.Int64), pl.col("w").hash(seed=3).alias("h")))
    doc, h = flat["d"].to_numpy(), flat["h"].to_numpy()
    return _rolling_shingles(doc, h, k)


def char_shingles(texts: pl.Series, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(item index, 32-bit shingle hash) of every UTF-8 byte k-gram (whitespace collapsed)."""
    arr = pa.array(texts.fill_null("").str.to_lowercase().str.replace_all(r"\s+", " ").to_arrow())
    arr = arr.cast(pa.large_string())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset: arr.offset + len(arr) + 1]
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, dtype=np.uint8)[offsets[0]: offsets[-1]] if buf is not None else np.zeros(0, np.uint8)
    offsets = offsets - offsets[0]
    doc = np.repeat(np.arange(len(arr), dtype=np.int64), np.diff(offsets))
    h = (data.astype(np.uint64) + np.uint64(1)) * _MULT
    return _rolling_shingles(doc, h, k)


def _rolling_shingles(doc: np.ndarray, h: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(h)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    acc = h[: n - k + 1].copy() if n >= k else np.zeros(0, np.uint64)
    with np.errstate(over="ignore"):
        for j in range(1, k):
            acc *= _MULT
            acc += h[j: n - k + 1 + j]
            acc ^= acc >> np.uint64(31)
    valid = doc[: len(acc)] == doc[k - 1:] if len(acc) else np.zeros(0, bool)
    out_doc, out = doc[: len(acc)][valid], acc[valid]
    # items with fewer than k words: one shingle of all their words
    first = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    length = np.diff(np.r_[first, n])
    short = first[length < k]
    if len(short):
        short_len = length[length < k]
        comb = h[short].copy()
        with np.errstate(over="ignore"):
            for j in range(1, int(short_len.max())):
                inside = j < short_len
                comb[inside] = comb[inside] * _MULT + h[short[inside] + j]
                comb[inside] ^= comb[inside] >> np.uint64(31)
        out_doc = np.concatenate([out_doc, doc[short]])
        out = np.concatenate([out, comb])
    out = (out ^ (out >> np.uint64(32))) & MAX_HASH_32
    return out_doc, out


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort + neighbour mask: faster than ``np.unique`` on uint64)."""
    v = np.sort(values)
    return v[np.r_[True, v[1:] != v[:-1]]] if len(v) else v


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``a`` (in [1, 2**32)) and ``b`` (in [0, 2**32)) of ``num_perm`` universal hashes."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 32, size=num_perm, dtype=np.uint64)
    b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint64)
    return a, b


def minhash_signatures(doc: np.ndarray, shingles: np.ndarray, n_items: int, num_perm: int, seed: int,
                       *, chunk: int = 2048, threads: int | None = None) -> np.ndarray:
    """``(n_items, num_perm)`` uint32 MinHash signatures; rows of items without shingles are all max.

    Permutation ``k`` of a 32-bit shingle hash ``x`` is ``((a_k*x + b_k) mod p) mod 2**32`` with the
    Mersenne prime ``p = 2**61 - 1`` and ``a_k, b_k < 2**32`` (so ``a_k*x + b_k < 2**64``: no
    overflow).  The modulo is the lazy Mersenne reduction ``(v & p) + (v >> 61)`` -- congruent mod
    ``p``, equal to the fully reduced value except for results in ``[p, p + 7]`` (probability about
    2**-58).  Work is done in cache-sized blocks of ``chunk`` shingles, in place, split over
    ``threads`` threads (numpy releases the GIL).
    """
    a, b = permutations(num_perm, seed)
    sig = np.full((n_items, num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
    if len(shingles) == 0:
        return sig
    # MinHash is over shingle *sets*: drop repeats first (a 1 MB "x x x ..." is one shingle).
    # Shingle hashes are 32-bit, so (item, shingle) packs into one sortable uint64.
    packed = _sorted_unique((doc.astype(np.uint64) << np.uint64(32)) | (shingles & MAX_HASH_32))
    doc = (packed >> np.uint64(32)).astype(np.int64)
    shingles = packed & MAX_HASH_32
    shift = np.uint64(61)

    def block(lo: int, hi: int) -> list[tuple[np.ndarray, np.ndarray]]:
        buf = np.empty((chunk, num_perm), dtype=np.uint64)
        tmp = np.empty((chunk, num_perm), dtype=np.uint64)
        out = []
        for s0 in range(lo, hi, chunk):
            d = doc[s0: min(s0 + chunk, hi)]
            m = len(d)
            v, t = buf[:m], tmp[:m]
            np.multiply(shingles[s0: s0 + m, None], a[None, :], out=v)  # x, a < 2**32: no overflow
            np.add(v, b[None, :], out=v)
            np.right_shift(v, shift, out=t)
            np.bitwise_and(v, MERSENNE_61, out=v)
            np.add(v, t, out=v)  # (a*x + b) mod p, lazily reduced
            v32 = v.astype(np.uint32)  # mod 2**32
            starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
            out.append((d[starts], np.minimum.reduceat(v32, starts, axis=0)))
        return out

    # numpy releases the GIL in ufuncs: split the shingles over threads, merge minima here
    n_threads = max(1, min(threads or (os.cpu_count() or 1), len(doc) // (4 * chunk) or 1))
    cuts = np.linspace(0, len(doc), n_threads + 1).astype(int)
    if n_threads == 1:
        parts = [block(0, len(doc))]
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            parts = list(pool.map(block, cuts[:-1], cuts[1:]))
    for part in parts:
        for items, mins in part:  # items are distinct within a block; a block boundary may split an item
            sig[items] = np.minimum(sig[items], mins)
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n_items, bands)`` uint64 bucket keys: each band's ``rows`` values hashed together."""
    n = sig.shape[0]
    keys = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            col = sig[:, r: bands * rows: rows][:, :bands].astype(np.uint64)  # row r of every band
            keys = (keys ^ (col + np.uint64(r + 1))) * _MULT
            keys ^= keys >> np.uint64(29)
        keys ^= np.arange(bands, dtype=np.uint64)[None, :] * np.uint64(0xBF58476D1CE4E5B9)
    return keys


def candidate_pairs(keys: np.ndarray, active: np.ndarray) -> np.ndarray:
    """``(m, 2)`` int64 pairs ``(later, earlier)``: each bucket member linked to the bucket's first
    and previous member (items in batch order; ``active`` masks items without shingles)."""
    n, bands = keys.shape
    idx = np.flatnonzero(active)
    if len(idx) < 2:
        return np.zeros((0, 2), np.int64)
    if len(idx) >= 1 << 32:  # pragma: no cover
        raise ValueError("candidate_pairs handles at most 2**32 items per batch")
    # one sortable uint64 per (bucket, item): the top 32 bits of the bucket key (band_keys mixes the
    # band in; a rare 32-bit collision only adds a candidate, which similarity checks later) and the
    # item index, so one plain sort groups buckets with their members in batch order
    return pairs_from_packed(bucket_entries(keys[idx], idx))


def bucket_entries(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """One uint64 per (band, item): the top 32 bits of the band's bucket key over the item's
    position ``order`` (< 2**32) in batch order.  Buckets are the top 32 bits, so entries can be
    partitioned by bucket (``entries >> 32``) and grouped anywhere (:func:`pairs_from_packed`)."""
    bands = keys.shape[1]
    return (keys.T.reshape(-1) & np.uint64(0xFFFFFFFF00000000)) | np.tile(order, bands).astype(np.uint64)


def pairs_from_packed(packed: np.ndarray) -> np.ndarray:
    """Sorted distinct ``(later, earlier)`` pairs from bucket entries (:func:`bucket_entries`):
    each bucket member linked to the bucket's first and previous member.  Every entry of a bucket
    must be present (a subset of whole buckets gives exactly those buckets' pairs)."""
    if len(packed) < 2:
        return np.zeros((0, 2), np.int64)
    packed = np.sort(packed)
    i = (packed & MAX_HASH_32).astype(np.int64)
    k = packed >> np.uint64(32)
    same = k[1:] == k[:-1]  # element j+1 shares the bucket of element j
    group_start = np.r_[0, np.flatnonzero(~same) + 1]
    first = np.repeat(i[group_start], np.diff(np.r_[group_start, len(i)]))
    later = i[1:][same]
    pairs = np.concatenate([np.stack([later, i[:-1][same]], axis=1),
                            np.stack([later, first[1:][same]], axis=1)])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return unique_pairs(pairs)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Sorted distinct rows of an ``(m, 2)`` array of item positions (< 2**32)."""
    if len(pairs) == 0:
        return np.zeros((0, 2), np.int64)
    packed = _sorted_unique((pairs[:, 0].astype(np.uint64) << np.uint64(32)) | pairs[:, 1].astype(np.uint64))
    return np.stack([(packed >> np.uint64(32)).astype(np.int64), (packed & MAX_HASH_32).astype(np.int64)], axis=1)


def estimated_jaccard(sig: np.ndarray, pairs: np.ndarray, *, chunk: int = 200_000) -> np.ndarray:
    """Fraction of equal MinHash values for each pair."""
    out = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), chunk):
        p = pairs[s: s + chunk]
        out[s: s + chunk] = (sig[p[:, 0]] == sig[p[:, 1]]).mean(axis=1)
    return out


@dataclass(frozen=True)
class MinHashLSH:
    """Vectorised MinHash LSH over a whole batch (see the module docstring).

    >>> import polars as pl
    >>> lsh = MinHashLSH(num_perm=64, bands=16, rows=4)
    >>> texts = pl.Series(["a b c d e f g h i j", "a b c d e f g h i k", "x y z"])
    >>> best_sim, best_of = lsh.near_duplicates(texts)
    >>> best_of.tolist(), bool(best_sim[1] > 0.5)
    ([-1, 0, -1], True)
    """

    num_perm: int = 128
    bands: int = 32
    rows: int = 4
    shingle: Literal["word", "char"] = "word"
    shingle_size: int = 3
    seed: int = 1

    @classmethod
    def from_policy(cls, p: DedupPolicy) -> MinHashLSH:
        return cls(num_perm=p.num_perm, bands=p.bands, rows=p.rows, shingle=p.shingle,
                   shingle_size=p.shingle_size, seed=p.seed)

    def signatures(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(signatures, has_shingles mask)."""
        fn = word_shingles if self.shingle == "word" else char_shingles
        doc, sh = fn(texts, self.shingle_size)
        sig = minhash_signatures(doc, sh, len(texts), self.num_perm, self.seed)
        active = np.zeros(len(texts), dtype=bool)
        active[doc] = True
        return sig, active

    def pairs(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """Candidate pairs ``(later, earlier)`` and their estimated Jaccard similarity."""
        sig, active = self.signatures(texts)
        pairs = candidate_pairs(band_keys(sig, self.bands, self.rows), active)
        return pairs, estimated_jaccard(sig, pairs)

    def near_duplicates(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """Per item (in the given order): best estimated Jaccard to an earlier candidate and its index
        (``-1`` / 0.0 when none)."""
        n = len(texts)
        pairs, sim = self.pairs(texts)
        best_sim = np.zeros(n)
        best_of = np.full(n, -1, dtype=np.int64)
        if len(pairs):
            frame = pl.DataFrame({"i": pairs[:, 0], "j": pairs[:, 1], "s": sim})
            top = frame.sort(["i", "s", "j"], descending=[False, True, False]).group_by("i", maintain_order=True).first()
            best_sim[top["i"].to_numpy()] = top["s"].to_numpy()
            best_of[top["i"].to_numpy()] = top["j"].to_numpy()
        return best_sim, best_of


# ------------------------------------------------------------------------------------------------


class DedupFilter(Filter):
    """Exact + near duplicates (cross-row: the pipeline scores it over the whole batch).

    Near duplicates are *items*: for instruction data both the response and the instruction must be
    similar (a copied answer under a different question is an off-topic item, not a duplicate
    item).  Candidates come from MinHash LSH over the responses (or documents); each candidate pair is
    then verified with the *exact* Jaccard similarity of the shingle sets, for the response and for
    the instruction, and the pair similarity is the smaller of the two (documents: the text's).

    Scores: ``dedup.exact_of`` (submission_id of the earliest identical item, null for the first),
    ``dedup.near_of`` / ``dedup.near_sim`` (the earlier candidate with the highest pair similarity,
    and that similarity), ``dedup.near_response_sim`` / ``dedup.near_instruction_sim`` (its parts).
    MinHash parameters are fixed at construction (default: ``DedupPolicy()``); thresholds come from
    the policy at decision time.
    """

    name: ClassVar[str] = "dedup"
    layer: ClassVar[str] = "dedup"
    cross_row: ClassVar[bool] = True

    def __init__(self, params: DedupPolicy | None = None) -> None:
        self.params = params or DedupPolicy()
        self.lsh = MinHashLSH.from_policy(self.params)

    def scoring_params(self) -> dict[str, object]:
        return scoring_values(FilterPolicy(dedup=self.params), "dedup")

    def _shingles(self, texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        fn = word_shingles if self.lsh.shingle == "word" else char_shingles
        return fn(texts, self.lsh.shingle_size)

    def content_signatures(self, content: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """``(band keys (n, bands), has-shingles mask)`` of the contents (one item's row depends on
        that item only, so shards can compute them apart)."""
        c_doc, c_sh = self._shingles(content)
        sig = minhash_signatures(c_doc, c_sh, len(content), self.lsh.num_perm, self.lsh.seed)
        active = np.zeros(len(content), dtype=bool)
        active[c_doc] = True
        return band_keys(sig, self.lsh.bands, self.lsh.rows), active

    def verify(self, content: pl.Series, instr: pl.Series, ids: np.ndarray,
               pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact Jaccard similarity (response, instruction) of candidate ``pairs`` of item ids
        (``ids[k]`` is the id of ``content[k]``/``instr[k]``)."""
        c_doc, c_sh = self._shingles(content)
        i_doc, i_sh = self._shingles(instr)
        return (exact_jaccard(ids[c_doc], c_sh, pairs),
                exact_jaccard(ids[i_doc], i_sh, pairs, empty_both=1.0))

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        batch = with_content_columns(batch)
        n = batch.height
        sids = batch["submission_id"]
        keys = exact_keys(batch).with_columns(sid=sids)
        exact_of = keys.select(
            pl.when(pl.col("empty")).then(None)
            .otherwise(pl.col("sid").first().over("h1", "h2")).alias("of"), "sid")
        exact_of = exact_of.select(pl.when(pl.col("of") != pl.col("sid")).then(pl.col("of")).alias("of"))["of"]

        content, instr = dedup_texts(batch)
        keys, active = self.content_signatures(content)
        pairs = candidate_pairs(keys, active)
        resp_sim, instr_sim = self.verify(content, instr, np.arange(n, dtype=np.int64), pairs)
        best_of = np.full(n, -1, dtype=np.int64)
        best = np.zeros((3, n))
        top = best_links(pairs, resp_sim, instr_sim)
        if top.height:
            idx = top["i"].to_numpy()
            best_of[idx] = top["j"].to_numpy()
            best[0, idx], best[1, idx], best[2, idx] = top["s"].to_numpy(), top["r"].to_numpy(), top["q"].to_numpy()
        near_of = sids.gather(np.maximum(best_of, 0)).to_frame("of").with_columns(
            pl.when(pl.Series(best_of >= 0)).then(pl.col("of")).alias("of"))["of"] if n else sids
        return pl.DataFrame({
            "submission_id": sids,
            "dedup.exact_of": exact_of.cast(pl.String),
            "dedup.near_of": near_of.cast(pl.String),
            "dedup.near_sim": pl.Series(best[0], dtype=pl.Float64),
            "dedup.near_response_sim": pl.Series(best[1], dtype=pl.Float64),
            "dedup.near_instruction_sim": pl.Series(best[2], dtype=pl.Float64),
        })

    def decide(self, scores: pl.DataFrame, policy: FilterPolicy) -> pl.DataFrame:
        p = policy.dedup
        c = pl.col
        exact = c("dedup.exact_of").is_not_null()
        rules = [
            ("dedup.exact", pl.lit(p.exact) & exact),
            ("dedup.near", pl.lit(p.near) & ~(pl.lit(p.exact) & exact) & (c("dedup.near_sim") >= p.near_threshold)),
        ]
        score = pl.when(exact).then(1.0).otherwise(c("dedup.near_sim"))
        return rule_decisions(scores, rules, score, enabled=p.enabled)


def exact_keys(batch: pl.DataFrame) -> pl.DataFrame:
    """``empty, h1, h2`` per item: whether the normalised content is empty, and its 128-bit hash
    (two seeded 64-bit polars hashes; items with equal keys are exact duplicates)."""
    norm = with_content_columns(batch).select(normalised_content().alias("n"))["n"]
    return pl.DataFrame({"n": norm}).select(pl.col("n").str.len_chars().eq(0).alias("empty"),
                                            pl.col("n").hash(seed=101).alias("h1"),
                                            pl.col("n").hash(seed=202).alias("h2"))


def dedup_texts(batch: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """(content, instruction) MinHash and verification read: the document text or the response,
    and the instruction of instruction items ("" for documents)."""
    batch = with_content_columns(batch)
    content = batch.select(pl.coalesce(pl.col("text"), pl.col("response")).fill_null("").alias("c"))["c"]
    instr = batch.select(pl.when(pl.col("text").is_null()).then(pl.col("instruction")).fill_null("")
                         .alias("i"))["i"]
    return content, instr


def best_links(pairs: np.ndarray, resp_sim: np.ndarray, instr_sim: np.ndarray) -> pl.DataFrame:
    """``i, j, s, r, q``: for each later item ``i`` of the verified pairs, the earlier candidate
    ``j`` with the highest pair similarity ``s = min(r, q)`` (ties: the earliest ``j``)."""
    frame = pl.DataFrame({"i": pairs[:, 0], "j": pairs[:, 1], "r": resp_sim, "q": instr_sim},
                         schema={"i": pl.Int64, "j": pl.Int64, "r": pl.Float64, "q": pl.Float64}) \
        .with_columns(pl.min_horizontal("r", "q").alias("s"))
    return (frame.sort(["i", "s", "j"], descending=[False, True, False])
            .group_by("i", maintain_order=True).first().select("i", "j", "s", "r", "q"))


def exact_jaccard(doc: np.ndarray, shingles: np.ndarray, pairs: np.ndarray, *, empty_both: float = 0.0) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of each pair (hash joins, no pairwise loop).

    ``empty_both``: the similarity of two items that both have no shingles (e.g. no instruction).
    """
    if len(pairs) == 0:
        return np.zeros(0)
    sets = pl.DataFrame({"d": doc, "h": shingles}).unique()
    sizes = sets.group_by("d").len()
    pr = pl.DataFrame({"i": pairs[:, 0], "j": pairs[:, 1]}).with_row_index("p")
    inter = (pr.join(sets, left_on="i", right_on="d")
             .join(sets, left_on=["j", "h"], right_on=["d", "h"])
             .group_by("p").len().rename({"len": "inter"}))
    out = (pr.join(inter, on="p", how="left")
           .join(sizes.rename({"d": "i", "len": "si"}), on="i", how="left")
           .join(sizes.rename({"d": "j", "len": "sj"}), on="j", how="left")
           .with_columns(pl.col("inter", "si", "sj").fill_null(0))
           .sort("p")
           .select(pl.when((pl.col("si") == 0) & (pl.col("sj") == 0)).then(pl.lit(empty_both))
                   .otherwise(pl.col("inter") / (pl.col("si") + pl.col("sj") - pl.col("inter")).clip(lower_bound=1))
                   .alias("j")))
    return out["j"].to_numpy().astype(np.float64)


def near_clusters(scores: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """``submission_id, cluster`` where ``cluster`` is the earliest item of its duplicate chain
    (exact links always count; near links count at ``near_sim >= threshold``)."""
    sid = scores["submission_id"]
    frame = scores.select(
        "submission_id",
        pl.coalesce(pl.col("dedup.exact_of"),
                    pl.when(pl.col("dedup.near_sim") >= threshold).then(pl.col("dedup.near_of"))).alias("parent"),
    ).with_row_index("i")
    lookup = frame.select(pl.col("submission_id").alias("parent"), pl.col("i").alias("pi"))
    parent = frame.join(lookup, on="parent", how="left", maintain_order="left")["pi"]
    ptr = np.where(parent.is_null().to_numpy(), np.arange(len(frame)), parent.fill_null(0).to_numpy()).astype(np.int64)
    for _ in range(64):  # pointer jumping: log2(chain length) rounds
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            break
        ptr = nxt
    return pl.DataFrame({"submission_id": sid, "cluster": sid.gather(ptr)})
