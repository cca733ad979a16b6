"""The embedded sample datanet: a realistic, labelled contribution stream built from real text.

:func:`sample_stream` simulates contributors of six archetypes submitting instruction/response
pairs to a "Python standard library Q&A" datanet.  Honest answers are real human prose (the
docstrings of a fixed list of stdlib modules, shipped in ``data/stdlib_qa.parquet``); adversarial
items are copies, edited copies, spam, low-effort one-liners, answers to other questions, real
non-English text (gettext translations) and real machine output (SmolLM2 answers shipped in
``data/synthetic_answers.jsonl``).  Every row carries its ground truth: ``label``, ``archetype``,
``split`` (by question) and, for copies, ``duplicate_of``.

:func:`external_eval_set` (in :mod:`olkit.data.external`) builds a second labelled set from
different text with independently written corruptions, to check that filters do not overfit.

Example
-------
>>> from olkit.data import sample_stream
>>> frame = sample_stream(n_contributors=50, seed=1)
>>> frame.columns[:4]
['contributor_id', 'instruction', 'response', 'source']
>>> set(frame["label"]) <= set(LABELS)
True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import polars as pl

from olkit.data.corpus import (
    INSTRUCTION_TEMPLATES,
    multilingual,
    render_instructions,
    split_of,
    stdlib_qa,
    synthetic_answers,
)
from olkit.data.corrupt_sample import NEAR_EDITS, low_effort_text, spam_text
from olkit.data.textops import edit_into_band, tokens
from olkit.errors import InputError
from olkit.kit import largest_remainder
from olkit.schema import ARCHETYPES, DEFAULT_MIX

LABELS = ("genuine", "exact_duplicate", "near_duplicate", "spam", "low_effort", "off_topic",
          "other_language", "synthetic")
# ARCHETYPES and DEFAULT_MIX (``mix`` overrides it) are the house's one vocabulary, in olkit.schema

#: Probability of each label for an item of each archetype (rows sum to 1).
LABEL_MIX: dict[str, dict[str, float]] = {
    "expert": {"genuine": 0.94, "near_duplicate": 0.05, "low_effort": 0.01},
    "casual": {"genuine": 0.64, "low_effort": 0.12, "off_topic": 0.06, "other_language": 0.09,
               "exact_duplicate": 0.04, "near_duplicate": 0.05},
    "spammer": {"spam": 0.77, "low_effort": 0.08, "off_topic": 0.07, "other_language": 0.03,
                "genuine": 0.05},
    "farmer": {"synthetic": 0.45, "near_duplicate": 0.20, "exact_duplicate": 0.10, "spam": 0.10,
               "low_effort": 0.05, "genuine": 0.10},
    "sybil": {"exact_duplicate": 0.35, "near_duplicate": 0.25, "synthetic": 0.15, "genuine": 0.15,
              "spam": 0.05, "low_effort": 0.05},
    "recycler": {"exact_duplicate": 0.35, "near_duplicate": 0.30, "off_topic": 0.10,
                 "other_language": 0.05, "genuine": 0.20},
}

#: Mean items per contributor (heavy-tailed: gamma-Poisson) by archetype.
MEAN_ITEMS: dict[str, float] = {"expert": 14, "casual": 8, "spammer": 25, "farmer": 30,
                                "sybil": 15, "recycler": 20}

#: Where a duplicate's original comes from: own items, the sybil ring, or anyone else.
DUP_SOURCES: dict[str, dict[str, float]] = {
    "expert": {"own": 1.0}, "casual": {"other": 1.0}, "spammer": {"other": 1.0},
    "farmer": {"own": 0.6, "other": 0.4}, "sybil": {"ring": 0.8, "other": 0.2},
    "recycler": {"other": 1.0},
}

DATANET = "python-stdlib-qa"
START = datetime(2026, 1, 5, tzinfo=UTC)
WINDOW_DAYS = 90
RING_SIZE = 5
#: Originals of near duplicates need this many words, so that an edit can stay "near".
NEAR_MIN_WORDS = 25

LICENSES = {"stdlib": "PSF-2.0", "translation": "GPL-2.0-or-later", "synthetic": "Apache-2.0",
            "written": "CC0-1.0"}

OUTPUT_COLUMNS = ("contributor_id", "instruction", "response", "source", "source_id", "license",
                  "created_at", "parent_id", "datanet", "label", "archetype", "split",
                  "question_id", "duplicate_of")

_L = {name: i for i, name in enumerate(LABELS)}


def _validate_mix(mix: Mapping[str, float] | None) -> np.ndarray:
    merged = dict(DEFAULT_MIX)
    if mix is not None:
        if not isinstance(mix, Mapping):
            raise InputError("mix must be a mapping archetype -> share", field="mix")
        unknown = sorted(set(mix) - set(ARCHETYPES))
        if unknown:
            raise InputError(f"unknown archetype(s) {unknown}; expected some of {list(ARCHETYPES)}",
                             field="mix")
        merged = {a: float(mix.get(a, 0.0)) for a in ARCHETYPES}
    shares = np.array([merged[a] for a in ARCHETYPES], dtype=float)
    if not np.all(np.isfinite(shares)) or np.any(shares < 0) or shares.sum() <= 0:
        raise InputError(f"archetype shares must be non-negative with a positive sum, got {merged}",
                         field="mix")
    return shares / shares.sum()


def _apportion(n: int, shares: np.ndarray) -> np.ndarray:
    """Integer counts summing to ``n`` closest to ``n * shares`` (largest remainder)."""
    return largest_remainder(shares, n, normalize=False)


def _label_matrix() -> np.ndarray:
    mat = np.zeros((len(ARCHETYPES), len(LABELS)))
    for a, probs in LABEL_MIX.items():
        for lab, p in probs.items():
            mat[ARCHETYPES.index(a), _L[lab]] = p
    return mat / mat.sum(axis=1, keepdims=True)


def _pick_earlier(cand_pos: np.ndarray, cand_key: np.ndarray, tgt_pos: np.ndarray,
                  tgt_key: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each target, a uniformly random candidate with the same key and a smaller position.

    Vectorised with a sorted composite key and two binary searches; ``-1`` where none exists.
    """
    out = np.full(len(tgt_pos), -1, dtype=np.int64)
    if len(cand_pos) == 0 or len(tgt_pos) == 0:
        return out
    big = np.int64(max(int(cand_pos.max()), int(tgt_pos.max())) + 1)
    comp = cand_key.astype(np.int64) * big + cand_pos
    order = np.argsort(comp, kind="stable")
    comp, pos = comp[order], cand_pos[order]
    base = tgt_key.astype(np.int64) * big
    lo = np.searchsorted(comp, base, side="left")
    hi = np.searchsorted(comp, base + tgt_pos, side="left")
    cnt = hi - lo
    pick = lo + np.floor(rng.random(len(tgt_pos)) * np.maximum(cnt, 1)).astype(np.int64)
    ok = cnt > 0
    out[ok] = pos[pick[ok]]
    return out


def sample_stream(n_contributors: int = 200, seed: int = 0,
                  mix: Mapping[str, float] | None = None) -> pl.DataFrame:
    """A labelled contribution stream of ``n_contributors`` simulated contributors.

    Parameters
    ----------
    n_contributors:
        Number of contributors; about 15 items each on average (200 give ~3,000 items).
    seed:
        Seeds every random choice; the same seed gives the same frame.
    mix:
        Share of contributors per archetype (``expert, casual, spammer, farmer, sybil,
        recycler``); missing archetypes get 0, shares are normalised.  ``None``: :data:`DEFAULT_MIX`.

    Returns
    -------
    polars.DataFrame
        One row per submission, sorted by ``created_at``, with the submission columns ingestion
        needs (``contributor_id, instruction, response, source, source_id, license, created_at,
        parent_id, datanet``) and ground truth (``label, archetype, split, question_id,
        duplicate_of``).  ``parent_id`` is set on revisions (an expert's edited resubmission) and
        holds the ``source_id`` of the revised item; ``duplicate_of`` holds the ``source_id`` of
        the item an exact/near duplicate copies.

    Example
    -------
    >>> frame = sample_stream(n_contributors=30, seed=0, mix={"expert": 1, "spammer": 1})
    >>> sorted(frame["archetype"].unique().to_list())
    ['expert', 'spammer']
    """
    if isinstance(n_contributors, bool) or not isinstance(n_contributors, (int, np.integer)) \
            or n_contributors < 1:
        raise InputError(f"n_contributors must be a positive integer, got {n_contributors!r}",
                         field="n_contributors")
    shares = _validate_mix(mix)
    rng = np.random.default_rng([int(seed), 0x5A3])
    qa = stdlib_qa()

    # ---------------------------------------------------------------- contributors
    n_c = int(n_contributors)
    arch = np.repeat(np.arange(len(ARCHETYPES)), _apportion(n_c, shares))
    arch = arch[rng.permutation(n_c)]
    is_sybil = arch == ARCHETYPES.index("sybil")
    ring = np.full(n_c, -1, dtype=np.int64)
    ring[is_sybil] = np.arange(is_sybil.sum()) // RING_SIZE
    mean_items = np.array([MEAN_ITEMS[a] for a in ARCHETYPES])[arch]
    n_items = 1 + rng.poisson(rng.gamma(2.0, (mean_items - 1) / 2.0))
    n_items = np.minimum(n_items, 50 * mean_items.astype(np.int64))

    # ---------------------------------------------------------------- items: who and when
    who = np.repeat(np.arange(n_c), n_items)
    n = len(who)
    window = WINDOW_DAYS * 86_400.0
    join = rng.uniform(0, 0.6, n_c) * window
    span = rng.uniform(0.1, 1.0, n_c) * (window - join)
    t = join[who] + rng.random(n) * span[who]
    # sybil rings post in coordinated bursts around a few shared moments
    n_rings = int(ring.max()) + 1 if is_sybil.any() else 0
    if n_rings:
        bursts = rng.uniform(0.05, 0.95, (n_rings, 4)) * window
        sy = is_sybil[who]
        b = bursts[ring[who[sy]], rng.integers(0, 4, sy.sum())]
        t[sy] = np.clip(b + rng.normal(0, 3 * 3600, sy.sum()), 0, window)
    order = np.lexsort((who, t))
    who, t = who[order], t[order]
    a_item = arch[who]

    # ---------------------------------------------------------------- labels
    cum = np.cumsum(_label_matrix(), axis=1)
    label = (rng.random(n)[:, None] > cum[a_item]).sum(axis=1).clip(0, len(LABELS) - 1)

    # ---------------------------------------------------------------- fresh content
    n_qa = qa.height
    question = np.full(n, -1, dtype=np.int64)
    response: list[str | None] = [None] * n
    instruction: list[str | None] = [None] * n
    license_ = np.full(n, LICENSES["stdlib"], dtype=object)
    dup_of = np.full(n, -1, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)

    # synthetic: real SmolLM2 answers, each used once (a repeat beyond the file is a copy)
    syn = synthetic_answers("sample")
    syn = syn.filter(pl.col("question_id").is_in(qa["question_id"].implode()))
    if syn.height == 0:
        raise InputError("no usable SmolLM2 answers for the stdlib corpus; regenerate them with "
                         "data/scripts/generate_synthetic.py", file="data/synthetic_answers.jsonl")
    qid_index = {q: i for i, q in enumerate(qa["question_id"].to_list())}
    syn_q = np.array([qid_index.get(q, -1) for q in syn["question_id"].to_list()])
    syn_perm = rng.permutation(syn.height)
    is_syn = np.flatnonzero(label == _L["synthetic"])
    syn_pick = syn_perm[np.arange(len(is_syn)) % syn.height]
    first_use = np.arange(len(is_syn)) < syn.height
    syn_instr, syn_resp = syn["instruction"].to_list(), syn["response"].to_list()
    for p, k in zip(is_syn[first_use].tolist(), syn_pick[first_use].tolist(), strict=True):
        instruction[p], response[p] = syn_instr[k], syn_resp[k]
    question[is_syn[first_use]] = syn_q[syn_pick[first_use]]
    license_[is_syn] = LICENSES["synthetic"]
    # repeats beyond the shipped answers become exact copies of the first use
    dup_of[is_syn[~first_use]] = is_syn[np.arange(len(is_syn))[~first_use] % syn.height]
    label[is_syn[~first_use]] = _L["exact_duplicate"]

    # duplicates: pick an earlier original (genuine or synthetic) from the right pool
    is_orig = (label == _L["genuine"]) | ((label == _L["synthetic"]) & (dup_of < 0))
    words = np.zeros(n, dtype=np.int64)  # filled for originals once answers exist (below)
    genuine_idx = np.flatnonzero(label == _L["genuine"])

    # genuine answers: distinct questions without replacement (wrap-around = an exact copy)
    q_perm = rng.permutation(n_qa)
    g_first = np.arange(len(genuine_idx)) < n_qa
    question[genuine_idx[g_first]] = q_perm[np.arange(g_first.sum())]
    wrapped = genuine_idx[~g_first]
    if len(wrapped):
        warnings.warn(
            f"sample_stream: {len(genuine_idx)} honest answers requested but the corpus has {n_qa} "
            f"questions; the {len(wrapped)} extra ones become exact duplicates (use <= ~300 "
            "contributors for the documented label mix)", UserWarning, stacklevel=2)
    dup_of[wrapped] = genuine_idx[np.arange(len(genuine_idx))[~g_first] % n_qa]
    label[wrapped] = _L["exact_duplicate"]
    g_ok = genuine_idx[g_first]
    g_rows = qa[question[g_ok]]
    templ = rng.integers(0, 5, len(g_ok))
    g_instr = render_instructions(g_rows, templ, INSTRUCTION_TEMPLATES)
    answers = g_rows["answer"].to_list()
    casual_like = a_item[g_ok] != ARCHETYPES.index("expert")
    for j, p in enumerate(g_ok.tolist()):
        text = answers[j]
        if casual_like[j]:  # non-experts tend to paste only the first paragraph
            first = text.split("\n\n")[0]
            if len(tokens(first)) >= 15:
                text = first
        instruction[p], response[p] = g_instr[j], text
    for p in np.flatnonzero(is_orig).tolist():
        if response[p] is not None:
            words[p] = len(tokens(response[p]))

    is_dup = (label == _L["exact_duplicate"]) | (label == _L["near_duplicate"])
    need = np.flatnonzero(is_dup & (dup_of < 0))
    src = np.full(len(need), -1, dtype=np.int64)
    arch_names = np.array(ARCHETYPES)[a_item[need]]
    pool = np.array([rng.choice(list(DUP_SOURCES[a]), p=list(DUP_SOURCES[a].values()))
                     for a in arch_names]) if len(need) else np.array([], dtype=str)
    near_t = label[need] == _L["near_duplicate"]
    # an identical resubmission by the same person is the same submission (content-addressed id),
    # so exact duplicates always copy someone else
    pool[(~near_t) & (pool == "own")] = "other"
    for is_near in (False, True):
        cand = np.flatnonzero(is_orig & (words >= (NEAR_MIN_WORDS if is_near else 1)))
        sel = near_t == is_near
        for kind, key_of in (("own", who), ("ring", ring[who])):
            m = sel & (pool == kind)
            src[m] = _pick_earlier(cand, key_of[cand], need[m], key_of[need[m]], rng)
        # "other" and every fallback: anyone else's earlier original (a few redraws)
        for _ in range(6):
            m = sel & (src < 0) | (sel & (pool != "own") & (src >= 0) & (who[np.maximum(src, 0)] == who[need]))
            if not m.any():
                break
            src[m] = _pick_earlier(cand, np.zeros(len(cand)), need[m], np.zeros(m.sum()), rng)
    own_conflict = (pool != "own") & (src >= 0) & (who[np.maximum(src, 0)] == who[need])
    src[own_conflict] = -1
    dup_of[need] = src

    # questions nobody answers honestly: for orphans, then for the other labels and off-topic answers
    spare = q_perm[min(len(g_ok), n_qa):]
    # items that found no original become ordinary honest answers
    orphan = need[src < 0]
    label[orphan] = _L["genuine"]
    if len(orphan):
        qs = spare[: len(orphan)] if len(spare) >= len(orphan) else rng.integers(0, n_qa, len(orphan))
        spare = spare[len(orphan):]
        question[orphan] = qs
        rows = qa[qs]
        texts = rows["answer"].to_list()
        for p, ins, text in zip(orphan.tolist(), render_instructions(rows, rng.integers(0, 5, len(orphan))),
                                texts, strict=True):
            instruction[p], response[p] = ins, text
    # half of the unanswered questions are asked by spam/low-effort/... items, the other half
    # lend their answers to off-topic items, so neither collides with honest text in the stream
    if len(spare) >= 20:
        ask_pool, answer_pool = spare[: len(spare) // 2], spare[len(spare) // 2:]
    else:
        ask_pool = answer_pool = np.arange(n_qa)

    # copies in time order (an original always precedes its copies)
    dups = np.flatnonzero(dup_of >= 0)
    for p in dups.tolist():
        s = int(dup_of[p])
        question[p], license_[p] = question[s], license_[s]
        instruction[p] = instruction[s]
        if label[p] == _L["near_duplicate"]:
            edited = edit_into_band(response[s], NEAR_EDITS, rng)
            if edited is None:
                label[p] = _L["exact_duplicate"]
                edited = response[s]
            response[p] = edited
            if a_item[p] == ARCHETYPES.index("expert") and who[s] == who[p]:
                parent[p] = s  # an expert revising their own answer declares the lineage
        else:
            response[p] = response[s]

    # other fresh labels: spam, low effort, off-topic, other language
    rest = np.flatnonzero(question < 0)
    question[rest] = ask_pool[rng.integers(0, len(ask_pool), len(rest))]
    # short answers (low effort, other language) may come to any question outside the answer pool
    short = rest[np.isin(label[rest], [_L["low_effort"], _L["other_language"]])]
    asked = np.setdiff1d(np.arange(n_qa), answer_pool) if len(answer_pool) < n_qa else np.arange(n_qa)
    question[short] = asked[rng.integers(0, len(asked), len(short))]
    answer_order = answer_pool[rng.permutation(len(answer_pool))]
    n_off = 0
    rows = qa[question[rest]]
    r_instr = render_instructions(rows, rng.integers(0, 5, len(rest)))
    r_answers, r_names = rows["answer"].to_list(), rows["name"].to_list()
    split_all = split_of(qa["question_id"]).to_numpy()
    module = qa["module"].to_numpy()
    all_answers = qa["answer"].to_list()
    ml = multilingual("sample")
    ml_lang = ml["lang"].to_numpy()
    ml_text = ml["text"].to_list()
    langs = np.unique(ml_lang)
    by_lang = {lang: np.flatnonzero(ml_lang == lang) for lang in langs}
    for j, p in enumerate(rest.tolist()):
        instruction[p] = r_instr[j]
        lab = int(label[p])
        if lab == _L["spam"]:
            response[p] = spam_text(rng, r_answers[j])
            license_[p] = LICENSES["written"]
        elif lab == _L["low_effort"]:
            response[p] = low_effort_text(rng, r_names[j], r_answers[j])
            license_[p] = LICENSES["written"]
        elif lab == _L["off_topic"]:
            # a real answer to a different question of the same split, from another module
            q = int(question[p])
            # each unused answer serves once (cycling through the pool) before any repeats
            for _ in range(len(answer_order)):
                other = int(answer_order[n_off % len(answer_order)])
                n_off += 1
                if split_all[other] == split_all[q] and module[other] != module[q]:
                    break
            response[p] = all_answers[other]
        elif lab == _L["other_language"]:
            pool_ = by_lang[langs[rng.integers(len(langs))]]
            k = int(rng.integers(1, 4))
            response[p] = " ".join(ml_text[i] for i in rng.choice(pool_, size=min(k, len(pool_)),
                                                                  replace=False))
            license_[p] = LICENSES["translation"]
        else:  # pragma: no cover - every label is handled above
            raise AssertionError(LABELS[lab])

    frame = _assemble(
        who=who, arch_idx=a_item, t=t, label=label, question=question, instruction=instruction,
        response=response, license_=license_, dup_of=dup_of, parent=parent, qa=qa, seed=seed,
        prefix="sample", datanet=DATANET, source="olkit-sample:python-stdlib-qa",
        start=START)
    return frame


def _assemble(*, who, arch_idx, t, label, question, instruction, response, license_, dup_of,
              parent, qa, seed, prefix, datanet, source, start, split=None) -> pl.DataFrame:
    """Build the output frame and make ground truth honest about accidental identical content."""
    n = len(who)
    source_id = [f"{prefix}-{int(seed)}-{i:05d}" for i in range(n)]
    qids = qa["question_id"].to_numpy()[question]
    if split is None:
        split = split_of(pl.Series(qids)).to_numpy()
    frame = pl.DataFrame({
        "contributor_id": [f"{prefix[0]}{int(seed)}-c{int(c):04d}" for c in who],
        "instruction": instruction,
        "response": response,
        "source": source,
        "source_id": source_id,
        "license": license_.astype(str),
        "created_at": (np.datetime64(start.replace(tzinfo=None), "us")
                       + (t * 1e6).astype("timedelta64[us]")),
        "parent_id": pl.Series([source_id[i] if i >= 0 else None for i in parent.tolist()],
                               dtype=pl.String),
        "datanet": datanet,
        "label": np.array(LABELS)[label],
        "archetype": np.array(ARCHETYPES)[arch_idx],
        "split": split,
        "question_id": qids,
        "duplicate_of": pl.Series([source_id[i] if i >= 0 else None for i in dup_of.tolist()],
                                  dtype=pl.String),
    }).with_columns(pl.col("created_at").dt.replace_time_zone("UTC"))
    # Identical content sent twice: by the same contributor it is one submission (content-addressed
    # ids), so the later row is dropped; by someone else it is an exact duplicate of the first.
    key = pl.col("instruction") + "\x1f" + pl.col("response")
    frame = frame.with_columns(
        pl.int_range(pl.len()).over(key).alias("_nth"),
        pl.col("source_id").first().over(key).alias("_first"),
        pl.int_range(pl.len()).over(key, "contributor_id").alias("_nth_own"),
    )
    frame = frame.filter(pl.col("_nth_own") == 0).with_columns(
        pl.when(pl.col("_nth") > 0).then(pl.lit("exact_duplicate")).otherwise("label").alias("label"),
        pl.when(pl.col("_nth") > 0).then("_first").otherwise("duplicate_of").alias("duplicate_of"),
    ).with_columns(
        # a revision whose parent row was dropped keeps no dangling lineage
        pl.when(pl.col("parent_id").is_in(pl.col("source_id").implode())).then("parent_id")
        .alias("parent_id")
    )
    return frame.select(OUTPUT_COLUMNS)

