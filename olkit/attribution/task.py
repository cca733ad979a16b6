"""A small, seeded attribution task with known structure and injected bad data.

Retraining-based ground truth needs a dataset whose items measurably move a model's eval loss
and a model small enough to be retrained dozens of times on two CPU cores.  :func:`make_task`
builds instruction/response pairs from a handful of *topics* (each with its own templates and
vocabulary); every contributor specialises in one or two topics, so leaving a contributor out
changes the loss on exactly their topics.  Bad data is injected with ground-truth labels:

* ``spam``: promotional word salad unrelated to any instruction;
* ``wrong_answer``: an instruction answered with another topic's response;
* ``duplicate``: an exact copy of someone else's item under a new contributor (for reward tests).

Every topic has two response *styles* (the same facts, different wording, e.g. "Bake the bread for
ten minutes until it is golden." vs "Ten minutes of baking leaves the bread golden."), and each
contributor mostly writes in one style.  Sentence embeddings see the two styles as near-identical,
but a language model's token likelihood does not: a method that only looks at meaning cannot tell
which training items actually lower the loss of an answer written in a given style.  This is the
gap between semantic similarity and training influence that model-aware attribution exists for.

Example
-------
>>> task = make_task(n_contributors=6, items_per_contributor=6, n_eval=8, seed=0)
>>> task.train.columns[:4]
['submission_id', 'contributor_id', 'instruction', 'response']
>>> set(task.train["label"]) <= {"genuine", "spam", "wrong_answer", "duplicate"}
True
>>> sorted(set(make_task(n_contributors=3, canaries=True, seed=0).train["contributor_id"]))[:3]
['c000', 'c001', 'c002']
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from olkit.schema import content_hash, submission_id

#: topic -> second response style (same slots, different wording)
STYLES: dict[str, str] = {
    "cooking": "{n} minutes of {verb}ing leaves the {food} {state}, so keep watching it.",
    "weather": "Expect {thing} and {adj} days, that is {city} in {season} for you.",
    "astronomy": "That would be {planet}: {count} moons circle it and it shines {colour}.",
    "gardening": "Put {plant} into {soil} ground around {month}, watering {freq}.",
    "sports": "{n} players make up one {level} {sport} side, practising {freq} weekly.",
    "music": "For {style} music put the {instrument} in {key}, with {adj} {part}.",
}

#: topic -> (instruction template, response template, slot fillers)
TOPICS: dict[str, tuple[str, str, dict[str, list[str]]]] = {
    "cooking": (
        "How long should I {verb} the {food}?",
        "{verb} the {food} for {n} minutes until it is {state}.",
        {"verb": ["bake", "boil", "fry", "roast", "steam", "grill"],
         "food": ["potatoes", "rice", "carrots", "salmon", "bread", "eggs", "beans", "onions"],
         "n": ["five", "ten", "twelve", "twenty", "thirty", "forty"],
         "state": ["golden", "tender", "soft", "crisp", "brown", "cooked"]},
    ),
    "weather": (
        "What is the weather like in {city} during {season}?",
        "In {season} {city} is usually {adj} with {thing} most days.",
        {"city": ["Oslo", "Lima", "Cairo", "Perth", "Quito", "Dakar", "Hanoi", "Reno"],
         "season": ["winter", "spring", "summer", "autumn"],
         "adj": ["cold", "warm", "humid", "dry", "windy", "mild"],
         "thing": ["rain", "snow", "fog", "sunshine", "storms", "clouds"]},
    ),
    "astronomy": (
        "Which planet has {count} moons and a {colour} surface?",
        "The planet with {count} moons is {planet}, whose surface looks {colour} from orbit.",
        {"count": ["two", "three", "seven", "nine", "eleven", "many"],
         "colour": ["red", "blue", "pale", "grey", "orange", "white"],
         "planet": ["Mars", "Neptune", "Saturn", "Jupiter", "Uranus", "Venus"]},
    ),
    "gardening": (
        "When should I plant {plant} in {soil} soil?",
        "Plant {plant} in {soil} soil early in {month} and water it {freq}.",
        {"plant": ["tomatoes", "tulips", "garlic", "lettuce", "roses", "peppers", "basil"],
         "soil": ["sandy", "clay", "loamy", "chalky", "peaty"],
         "month": ["March", "April", "May", "June", "September", "October"],
         "freq": ["daily", "weekly", "sparingly", "often", "deeply"]},
    ),
    "sports": (
        "How many players are on a {sport} team at the {level} level?",
        "A {level} {sport} team fields {n} players and trains {freq} each week.",
        {"sport": ["hockey", "rugby", "volleyball", "cricket", "handball", "polo"],
         "level": ["junior", "amateur", "college", "national", "club"],
         "n": ["five", "six", "seven", "eleven", "fifteen"],
         "freq": ["twice", "three times", "daily", "once"]},
    ),
    "music": (
        "How do I tune a {instrument} for {style} music?",
        "Tune the {instrument} to {key} and keep the {part} {adj} for {style} music.",
        {"instrument": ["guitar", "violin", "banjo", "cello", "harp", "ukulele"],
         "style": ["folk", "jazz", "blues", "baroque", "country"],
         "key": ["D minor", "G major", "E flat", "A minor", "C major"],
         "part": ["strings", "bridge", "pegs", "bow"],
         "adj": ["loose", "tight", "steady", "bright"]},
    ),
}

SPAM_WORDS = ("BUY", "CHEAP", "WIN", "FREE", "CLICK", "NOW", "BONUS", "CRYPTO", "DEAL", "LIMITED",
              "OFFER", "PRIZE", "CASINO", "VISIT", "PROMO", "URGENT", "LOAN", "CASH")


@dataclass(frozen=True)
class AttributionTask:
    """Training submissions (with ground-truth ``label``/``topic``) and a clean eval set."""

    train: pl.DataFrame
    eval: pl.DataFrame
    seed: int

    @property
    def bad_mask(self) -> np.ndarray:
        """True for injected harmful items (spam, wrong answers)."""
        return self.train["label"].is_in(["spam", "wrong_answer"]).to_numpy()


def _fill(rng: np.random.Generator, topic: str, style: int = 0) -> tuple[str, str]:
    inst, resp, slots = TOPICS[topic]
    values = {k: v[int(rng.integers(len(v)))] for k, v in slots.items()}
    response = (STYLES[topic] if style == 1 else resp).format(**values)
    return inst.format(**values), response[0].upper() + response[1:]


def make_task(
    n_contributors: int = 10,
    items_per_contributor: int = 8,
    n_eval: int = 24,
    *,
    spam_fraction: float = 0.1,
    wrong_fraction: float = 0.1,
    n_duplicates: int = 0,
    topics: tuple[str, ...] | None = None,
    styles: bool = True,
    canaries: bool = False,
    redundant: bool = False,
    datanet: str = "attribution-task",
    seed: int = 0,
) -> AttributionTask:
    """Build a seeded :class:`AttributionTask`.

    Each contributor draws a main topic (70 % of their items) and a side topic; a fraction of all
    items is replaced by spam and wrong answers; ``n_duplicates`` extra rows copy random genuine
    items under a ``copycat-*`` contributor.  The eval set is drawn from the same topics.

    Variants: ``styles=False`` writes every response (train and eval) in the first style (no
    style trick); ``redundant=True`` makes contributor ``c001`` overlap ``c000`` (same main topic,
    and half of its items are copies or paraphrases of ``c000``'s); ``canaries=True`` adds three
    planted contributors (label in brackets): ``canary-spam`` (only spam, ``spam``),
    ``canary-sole`` (the only contributor of a topic that 40 % of the eval set asks about,
    ``genuine``) and ``canary-copy`` (one-word variants of ``c000``'s items, ``near_copy``).
    """
    if n_contributors < 1 or items_per_contributor < 1 or n_eval < 1:
        raise ValueError("n_contributors, items_per_contributor and n_eval must be >= 1")
    rng = np.random.default_rng(seed)
    names = list(topics or TOPICS)
    sole = names.pop() if canaries and len(names) > 2 else None
    rows = []
    for c in range(n_contributors):
        main, side = rng.choice(len(names), size=2, replace=len(names) < 2)
        style = int(rng.integers(2)) if styles else 0
        if redundant and c == 1:
            main = names.index(rows[0]["topic"])
        for k in range(items_per_contributor):
            if redundant and c == 1 and k % 2 == 0:
                src = rows[k % items_per_contributor]
                resp = src["response"] if k % 4 == 0 else _paraphrase(rng, src, styles)
                rows.append({**src, "contributor_id": "c001", "response": resp, "label": "redundant"})
                continue
            topic = names[main] if rng.random() < 0.7 else names[side]
            s = (style if rng.random() < 0.8 else 1 - style) if styles else 0
            inst, resp = _fill(rng, topic, s)
            rows.append({"contributor_id": f"c{c:03d}", "instruction": inst, "response": resp,
                         "topic": topic, "style": s, "label": "genuine"})
    n = len(rows)
    order = rng.permutation(n)
    n_spam, n_wrong = int(round(spam_fraction * n)), int(round(wrong_fraction * n))
    for i in order[:n_spam]:
        words = rng.choice(SPAM_WORDS, size=int(rng.integers(8, 14)))
        rows[i]["response"] = " ".join(words) + "!"
        rows[i]["label"] = "spam"
    for i in order[n_spam:n_spam + n_wrong]:
        other = [t for t in names if t != rows[i]["topic"]] or names
        _, resp = _fill(rng, other[int(rng.integers(len(other)))], rows[i]["style"])
        rows[i]["response"], rows[i]["label"] = resp, "wrong_answer"
    genuine = [r for r in rows if r["label"] == "genuine"]
    for d in range(n_duplicates):
        src = genuine[int(rng.integers(len(genuine)))]
        rows.append({**src, "contributor_id": f"copycat-{d % 3}", "label": "duplicate"})
    if canaries:
        rows += _canaries(rng, rows, items_per_contributor, sole, styles)
    train = _frame(rows, datanet)
    eval_rows = []
    for _ in range(n_eval):
        if sole is not None and rng.random() < 0.4:
            topic = sole
        else:
            topic = names[int(rng.integers(len(names)))]
        s = int(rng.integers(2)) if styles else 0
        inst, resp = _fill(rng, topic, s)
        eval_rows.append({"contributor_id": "eval", "instruction": inst, "response": resp,
                          "topic": topic, "style": s, "label": "genuine"})
    ev = _frame(eval_rows, datanet).rename({"submission_id": "eval_id"}).drop("contributor_id")
    ev = ev.with_columns(pl.format("e{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(4)).alias("eval_id"))
    return AttributionTask(train=train, eval=ev, seed=seed)


FILLERS = ("really", "indeed", "usually", "simply", "just", "always")


def near_copy(rng: np.random.Generator, text: str) -> str:
    """``text`` with one filler word inserted at a random word boundary (a one-word variant)."""
    words = text.split()
    i = int(rng.integers(1, max(2, len(words))))
    return " ".join(words[:i] + [FILLERS[int(rng.integers(len(FILLERS)))]] + words[i:])


def _paraphrase(rng: np.random.Generator, src: dict, styles: bool) -> str:
    """The same facts in the other style (or a one-word variant when styles are off)."""
    if not styles or src["label"] != "genuine":
        return near_copy(rng, src["response"])
    inst, resp, slots = TOPICS[src["topic"]]
    # recover the slot values from the instruction+response by matching each slot's options
    text = src["instruction"] + " " + src["response"]
    values = {k: next((o for o in opts if o.lower() in text.lower()), opts[0]) for k, opts in slots.items()}
    other = (resp if src["style"] == 1 else STYLES[src["topic"]]).format(**values)
    return other[0].upper() + other[1:]


def _canaries(rng: np.random.Generator, rows: list[dict], k: int, sole: str | None, styles: bool) -> list[dict]:
    out = []
    for _ in range(k):
        words = rng.choice(SPAM_WORDS, size=int(rng.integers(8, 14)))
        topic = rows[int(rng.integers(len(rows)))]["topic"]
        inst, _ = _fill(rng, topic)
        out.append({"contributor_id": "canary-spam", "instruction": inst, "response": " ".join(words) + "!",
                    "topic": topic, "style": 0, "label": "spam"})
    if sole is not None:
        for _ in range(k):
            s = int(rng.integers(2)) if styles else 0
            inst, resp = _fill(rng, sole, s)
            out.append({"contributor_id": "canary-sole", "instruction": inst, "response": resp,
                        "topic": sole, "style": s, "label": "genuine"})
    victim = [r for r in rows if r["contributor_id"] == "c000"] or rows[:k]
    for r in victim[:k]:
        out.append({**r, "contributor_id": "canary-copy", "response": near_copy(rng, r["response"]),
                    "label": "near_copy"})
    return out


def _frame(rows: list[dict], datanet: str) -> pl.DataFrame:
    hashes = [content_hash(r["instruction"], r["response"], None) for r in rows]
    ids = [submission_id(datanet, r["contributor_id"], h, None) for r, h in zip(rows, hashes, strict=True)]
    # the same contributor may draw the same item twice: keep ids unique by a row suffix
    seen: dict[str, int] = {}
    uniq = []
    for sid in ids:
        k = seen.get(sid, 0)
        seen[sid] = k + 1
        uniq.append(sid if k == 0 else f"{sid}-{k}")
    return pl.DataFrame({
        "submission_id": uniq,
        "contributor_id": [r["contributor_id"] for r in rows],
        "instruction": [r["instruction"] for r in rows],
        "response": [r["response"] for r in rows],
        "topic": [r["topic"] for r in rows],
        "style": [r["style"] for r in rows],
        "label": [r["label"] for r in rows],
        "content_hash": hashes,
    })
