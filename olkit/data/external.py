"""An external labelled eval set, built from different real text with its own corruptions.

Filters tuned on :func:`olkit.data.sample_stream` must keep their quality here.  Nothing in this
module is shared with the sample generator's templates: the honest text is the Python language
reference (``pydoc_data.topics``) and Debian package descriptions, the spam phrases, low-effort
answers and near-duplicate edit operations are written separately, other-language text comes from
other gettext domains, and the machine-generated answers are a separate SmolLM2 batch sampled at
a higher temperature.  Every row has ``split == "heldout"``: the whole set is for evaluation.

Example
-------
>>> from olkit.data import external_eval_set
>>> ext = external_eval_set(seed=0, n_items=300)
>>> ext["split"].unique().to_list()
['heldout']
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import polars as pl

from olkit.data.corpus import (
    EXTERNAL_TEMPLATES,
    external_qa,
    multilingual,
    render_instructions,
    synthetic_answers,
)
from olkit.data.textops import EditOp, edit_into_band, sentences, tokens
from olkit.errors import InputError

#: Label shares of the external set.
EXTERNAL_LABEL_SHARES: dict[str, float] = {
    "genuine": 0.42, "exact_duplicate": 0.08, "near_duplicate": 0.10, "spam": 0.10,
    "low_effort": 0.08, "off_topic": 0.07, "other_language": 0.05, "synthetic": 0.10,
}
#: Which kind of contributor sends each label (the external set has no simulated behaviour).
_ARCHETYPE_OF = {"genuine": ("expert", "casual"), "exact_duplicate": ("recycler", "sybil"),
                 "near_duplicate": ("recycler", "farmer"), "spam": ("spammer",),
                 "low_effort": ("casual", "spammer"), "off_topic": ("casual", "recycler"),
                 "other_language": ("casual",), "synthetic": ("farmer", "sybil")}
DATANET = "linux-python-reference-qa"
START = datetime(2026, 4, 1, tzinfo=UTC)

# ---------------------------------------------------------------- spam (independent phrase bank)
_SEO = ("cheap vps hosting 2026 coupon", "best vpn discount code", "buy instagram followers fast",
        "online casino no deposit bonus", "work from home earn $500 per day",
        "replica watches free shipping", "weight loss pills that actually work")
_PHISH = ("Your account has been suspended. Verify your identity within 24 hours at",
          "Congratulations, you were selected for a reward! Claim it here:",
          "Security alert: unusual sign-in detected, confirm your password at")
_CONTACT = ("WhatsApp +1 555 0134 for details", "Telegram @fastcash_admin", "email me at deals4u@mailbox.example",
            "call now 1-800-555-0199")
_SOCIAL = ("Like and subscribe for more Linux content!", "Upvote if this helped and share with friends!",
           "Smash that like button and turn on notifications!", "Please rate 5 stars and leave a comment!")
_HASHTAGS = ("#linux", "#debian", "#opensource", "#coding", "#100DaysOfCode", "#devops", "#programming",
             "#tech", "#giveaway", "#crypto")


def _ext_url(rng: np.random.Generator) -> str:
    host = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), int(rng.integers(5, 11))))
    return f"http://www.{host}.{('shop', 'online', 'site', 'win', 'cc')[rng.integers(5)]}/{rng.integers(10, 999)}"


def _ext_spam(rng: np.random.Generator, honest: str) -> str:
    kind = int(rng.integers(5))
    if kind == 0:
        return f"{_SEO[rng.integers(len(_SEO))].title()} - {_ext_url(rng)} - {_CONTACT[rng.integers(len(_CONTACT))]}"
    if kind == 1:
        return f"{_PHISH[rng.integers(len(_PHISH))]} {_ext_url(rng)}"
    if kind == 2:
        tags = " ".join(rng.choice(_HASHTAGS, int(rng.integers(5, 10))))
        return f"{_SOCIAL[rng.integers(len(_SOCIAL))]} {tags}"
    if kind == 3:  # spam first, then a real paragraph (the reverse of the sample's hybrid)
        para = honest.split("\n\n")[0]
        return f"{_SEO[rng.integers(len(_SEO))].upper()}!!! {_ext_url(rng)}\n\n{para}"
    return " | ".join(_SEO[i] for i in rng.choice(len(_SEO), 4, replace=False)) + f" >> {_ext_url(rng)}"


# ---------------------------------------------------------------- low effort (independent)
_SHRUG = ("?", "no idea tbh", "ask chatgpt", "this.", "+1", "same question here", "bump",
          "lol what", "sudo apt install it", "just reboot", "who cares", "dunno man")


def _ext_low_effort(rng: np.random.Generator, name: str, honest: str) -> str:
    kind = int(rng.integers(4))
    if kind == 0:
        return _SHRUG[rng.integers(len(_SHRUG))]
    if kind == 1:  # keyboard mash
        return "".join(rng.choice(list("asdfghjkl;qwerty"), int(rng.integers(6, 16))))
    if kind == 2:  # cut mid-word
        cut = int(rng.integers(12, 40))
        return honest[:cut].rstrip() + "..."
    return f"{name.split()[0].strip(chr(34))} {name.split()[0].strip(chr(34))}?"


# ---------------------------------------------------------------- near-duplicate edits (independent)
_FILLERS = ("Basically, ", "In short, ", "To be honest, ", "As far as I know, ", "Simply put, ")
_CONTRACT = (("do not", "don't"), ("does not", "doesn't"), ("it is", "it's"), ("cannot", "can't"),
             ("is not", "isn't"), ("that is", "that's"))
_SPELL = (("behavior", "behaviour"), ("ize", "ise"), ("color", "colour"), ("program ", "programme "),
          ("center", "centre"), ("license", "licence"))


def _typo(text: str, rng: np.random.Generator) -> str:
    idx = [m.start() for m in re.finditer(r"\w{5,}", text)]
    if not idx:
        return text
    i = idx[int(rng.integers(len(idx)))] + 1
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def _reorder(text: str, rng: np.random.Generator) -> str:
    parts = sentences(text)
    if len(parts) < 2:
        return _typo(text, rng)
    i = int(rng.integers(len(parts) - 1))
    parts[i], parts[i + 1] = parts[i + 1], parts[i]
    return " ".join(parts)


def _filler(text: str, rng: np.random.Generator) -> str:
    parts = sentences(text)
    i = int(rng.integers(len(parts)))
    s = parts[i]
    parts[i] = _FILLERS[rng.integers(len(_FILLERS))] + s[:1].lower() + s[1:]
    return " ".join(parts)


def _contract(text: str, rng: np.random.Generator) -> str:
    for a, b in rng.permutation(np.array(_CONTRACT, dtype=object)):
        if a in text:
            return text.replace(a, b, 1)
    return _typo(text, rng)


def _respell(text: str, rng: np.random.Generator) -> str:
    for a, b in rng.permutation(np.array(_SPELL, dtype=object)):
        if a in text:
            return text.replace(a, b)
    return _typo(text, rng)


def _drop_clause(text: str, rng: np.random.Generator) -> str:
    spans = [m.span() for m in re.finditer(r"\([^()]{3,80}\)|, [^,.]{3,60},", text)]
    if not spans:
        return _reorder(text, rng)
    a, b = spans[int(rng.integers(len(spans)))]
    return text[:a] + ("," if text[a] == "," else "") + text[b:]


EXTERNAL_EDITS: list[EditOp] = [_typo, _typo, _reorder, _filler, _contract, _respell, _drop_clause]


def external_eval_set(seed: int = 0, n_items: int = 1000) -> pl.DataFrame:
    """Labelled instruction data from the language reference and Debian package descriptions.

    Same columns and labels as :func:`olkit.data.sample_stream`; label shares are
    :data:`EXTERNAL_LABEL_SHARES`; every row is ``split == "heldout"``.
    """
    from olkit.data.sample import ARCHETYPES, LABELS, _apportion, _assemble

    if isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 10:
        raise InputError(f"n_items must be an integer >= 10, got {n_items!r}", field="n_items")
    rng = np.random.default_rng([int(seed), 0xE7])
    qa = external_qa()
    n_qa = qa.height
    lab_names = list(EXTERNAL_LABEL_SHARES)
    counts = _apportion(int(n_items), np.array(list(EXTERNAL_LABEL_SHARES.values())))
    syn = synthetic_answers("external")
    syn = syn.filter(pl.col("question_id").is_in(qa["question_id"].implode()))
    counts[lab_names.index("synthetic")] = min(counts[lab_names.index("synthetic")], syn.height)
    counts[lab_names.index("genuine")] = min(counts[lab_names.index("genuine")], n_qa // 2)
    labels = np.repeat([LABELS.index(x) for x in lab_names], counts)
    n = len(labels)
    # originals first in time, then copies after them; everything else interleaved
    t = rng.random(n) * 30 * 86_400.0
    is_copy = np.isin(labels, [LABELS.index("exact_duplicate"), LABELS.index("near_duplicate")])
    t[is_copy] += 30 * 86_400.0
    order = np.argsort(t, kind="stable")
    labels, t = labels[order], t[order]

    instruction: list[str | None] = [None] * n
    response: list[str | None] = [None] * n
    question = np.full(n, -1, dtype=np.int64)
    dup_of = np.full(n, -1, dtype=np.int64)
    license_ = np.full(n, "", dtype=object)
    q_perm = rng.permutation(n_qa)
    answers, names, lic = qa["answer"].to_list(), qa["name"].to_list(), qa["license"].to_list()

    gen = np.flatnonzero(labels == LABELS.index("genuine"))
    question[gen] = q_perm[: len(gen)]
    g_instr = render_instructions(qa[question[gen]], rng.integers(0, 4, len(gen)), EXTERNAL_TEMPLATES)
    for p, ins in zip(gen.tolist(), g_instr, strict=True):
        instruction[p], response[p] = ins, answers[question[p]]
        license_[p] = lic[question[p]]
    sy = np.flatnonzero(labels == LABELS.index("synthetic"))
    qid_index = {q: i for i, q in enumerate(qa["question_id"].to_list())}
    for p, row in zip(sy.tolist(), syn[rng.permutation(syn.height)[: len(sy)]].iter_rows(named=True),
                      strict=True):
        instruction[p], response[p] = row["instruction"], row["response"]
        question[p] = qid_index.get(row["question_id"], 0)
        license_[p] = "Apache-2.0"
    originals = np.sort(np.concatenate([gen, sy]))
    long_enough = originals[np.array([len(tokens(response[c])) >= 25 for c in originals.tolist()],
                                     dtype=bool)]
    for lab in ("exact_duplicate", "near_duplicate"):
        for p in np.flatnonzero(labels == LABELS.index(lab)).tolist():
            pool = long_enough if lab == "near_duplicate" else originals
            cands = pool[: np.searchsorted(pool, p)]
            s = int(cands[rng.integers(len(cands))])
            text = response[s]
            if lab == "near_duplicate":
                text = edit_into_band(text, EXTERNAL_EDITS, rng)
                if text is None:
                    labels[p], text = LABELS.index("exact_duplicate"), response[s]
            instruction[p], response[p], question[p] = instruction[s], text, question[s]
            dup_of[p], license_[p] = s, license_[s]
    # unanswered questions: half are asked by the other labels, half lend off-topic answers
    rest = np.flatnonzero(question < 0)
    spare = q_perm[len(gen):]
    spare = spare[~np.isin(spare, question[question >= 0])]
    if len(spare) < 20:
        spare = q_perm
    ask_pool, answer_pool = spare[: len(spare) // 2], spare[len(spare) // 2:]
    question[rest] = ask_pool[rng.integers(0, len(ask_pool), len(rest))]
    short = rest[np.isin(labels[rest], [LABELS.index("low_effort"), LABELS.index("other_language")])]
    asked = np.setdiff1d(np.arange(n_qa), answer_pool)
    question[short] = asked[rng.integers(0, len(asked), len(short))]
    answer_order = answer_pool[rng.permutation(len(answer_pool))]
    n_off = 0
    r_instr = render_instructions(qa[question[rest]], rng.integers(0, 4, len(rest)), EXTERNAL_TEMPLATES)
    ml = multilingual("external")
    ml_text = ml["text"].to_list()
    ml_lang = ml["lang"].to_numpy()
    langs = np.unique(ml_lang)
    for p, ins in zip(rest.tolist(), r_instr, strict=True):
        q = int(question[p])
        instruction[p] = ins
        lab = LABELS[labels[p]]
        license_[p] = "CC0-1.0"
        if lab == "spam":
            response[p] = _ext_spam(rng, answers[q])
        elif lab == "low_effort":
            response[p] = _ext_low_effort(rng, names[q], answers[q])
        elif lab == "off_topic":  # a real answer to another question nobody else answered
            o = int(answer_order[n_off % len(answer_order)])  # each unused answer once first
            n_off += 1
            response[p], license_[p] = answers[o], lic[o]
        else:  # other_language: one or two real translated messages in one language
            idx = np.flatnonzero(ml_lang == langs[rng.integers(len(langs))])
            response[p] = " ".join(ml_text[i] for i in rng.choice(idx, int(rng.integers(1, 3)), replace=False))
            license_[p] = "GPL-2.0-or-later"
    # contributors: each label is sent by a plausible kind of contributor, 120 contributors in all
    arch_names = np.array([_ARCHETYPE_OF[LABELS[x]][rng.integers(len(_ARCHETYPE_OF[LABELS[x]]))]
                           for x in labels])
    arch_idx = np.array([ARCHETYPES.index(a) for a in arch_names])
    who = arch_idx * 1000 + rng.integers(0, 20, n)
    return _assemble(
        who=who, arch_idx=arch_idx, t=t, label=labels, question=question, instruction=instruction,
        response=response, license_=license_, dup_of=dup_of, parent=np.full(n, -1), qa=qa,
        seed=seed, prefix="external", datanet=DATANET, source="olkit-external:reference+debian",
        start=START, split=np.full(n, "heldout", dtype=object))
