"""Corruptions used by :func:`olkit.data.sample_stream`: spam, low-effort answers, near-duplicate edits.

The external eval set (:mod:`olkit.data.external`) has its own, independently written phrase
banks and edit operations; do not share text between the two modules, or filters tuned on the
sample would look better on the external set than they are.
"""

from __future__ import annotations

import re

import numpy as np

from olkit.data.textops import EditOp, sentences, tokens

# ---------------------------------------------------------------- spam / engagement farming
_CTA = (
    "Click here to learn more", "Check out my profile for the full guide", "DM me for the cheat sheet",
    "Sign up now and get 50% off", "Limited offer, only today", "Join my Telegram group for daily tips",
    "Get the complete course for free at", "Download the PDF here", "Earn money while you code, see",
    "Best Python hosting deals at", "Visit my blog", "Grab your free bonus at",
)
_DOMAINS = ("pyhacks", "codefast", "learn-py-now", "devcash", "topcoder-deals", "freecourse",
            "bestvpn", "cryptoboost", "airdrop-zone", "clickbank-pro", "hostingpromo", "easygains")
_TLDS = ("com", "io", "xyz", "top", "click", "biz", "net", "info")
_PATHS = ("promo", "free", "ref", "bonus", "signup", "go", "offer", "course")
_EMOJI = ("🔥", "🚀", "💰", "💯", "✅", "👉", "🤑", "⭐", "🎁", "📈")
_KEYWORDS = ("python", "tutorial", "free", "course", "crypto", "bitcoin", "hosting", "cheap",
             "bonus", "download", "money", "earn", "fast", "best", "deal", "promo", "airdrop")
_FARMING = (
    "Great question! Follow me for more Python tips",
    "Nice one! Like and follow, I follow back",
    "Awesome question, upvote if you agree and follow for daily content",
    "Love this! Follow me, I post coding tricks every day",
    "Great question! Subscribe to my channel for more",
    "So true! Drop a follow and I will follow you back",
)


def _url(rng: np.random.Generator) -> str:
    return (f"https://{_DOMAINS[rng.integers(len(_DOMAINS))]}.{_TLDS[rng.integers(len(_TLDS))]}"
            f"/{_PATHS[rng.integers(len(_PATHS))]}?id={rng.integers(1000, 99999)}")


def _emoji_run(rng: np.random.Generator) -> str:
    return "".join(_EMOJI[i] for i in rng.integers(0, len(_EMOJI), rng.integers(2, 7)))


def spam_text(rng: np.random.Generator, genuine: str | None = None) -> str:
    """One spam / engagement-farming answer; ``genuine`` (an honest answer) enables hybrid spam."""
    kind = int(rng.choice(4, p=[0.35, 0.25, 0.2, 0.2]))
    if kind == 3 and genuine:  # a real answer with a promotional tail: the hard case
        first = genuine.split("\n\n")[0]
        return f"{first}\n\n{_CTA[rng.integers(len(_CTA))]}: {_url(rng)} {_emoji_run(rng)}"
    if kind == 1:  # engagement farming
        tail = " ".join(_EMOJI[i] for i in rng.integers(0, len(_EMOJI), rng.integers(1, 4)))
        extra = f" {_CTA[rng.integers(len(_CTA))]}: {_url(rng)}" if rng.random() < 0.4 else ""
        return f"{_FARMING[rng.integers(len(_FARMING))]} {tail}{extra}"
    if kind == 2:  # keyword stuffing
        words = [_KEYWORDS[i] for i in rng.integers(0, len(_KEYWORDS), rng.integers(10, 30))]
        return " ".join(words) + f" {_emoji_run(rng)} {_url(rng)}"
    n_links = int(rng.integers(1, 4))
    links = " ".join(_url(rng) for _ in range(n_links))
    return f"{_emoji_run(rng)} {_CTA[rng.integers(len(_CTA))]}!!! {links} {_emoji_run(rng)}"


# ---------------------------------------------------------------- low effort
_LOW = ("idk", "no idea", "google it", "it does what the name says", "yes", "same as the docs say",
        "just use it lol", "works for me", "see above", "read the docs", "nvm", "good question",
        "it is a python thing", "not sure, maybe try it", "ok")


def low_effort_text(rng: np.random.Generator, name: str, genuine: str) -> str:
    """A one-liner, a repeated word, or an answer truncated after a few words."""
    kind = int(rng.choice(4, p=[0.45, 0.2, 0.2, 0.15]))
    if kind == 0:
        return _LOW[rng.integers(len(_LOW))]
    if kind == 1:
        word = name.split(".")[-1] if rng.random() < 0.5 else _LOW[rng.integers(len(_LOW))].split()[0]
        return " ".join([word] * int(rng.integers(3, 9)))
    if kind == 2:
        words = genuine.split()
        return " ".join(words[: int(rng.integers(3, 8))])
    return f"{name.split('.')[-1]} {_LOW[rng.integers(len(_LOW))]}"


# ---------------------------------------------------------------- near-duplicate edits
_SYNONYMS = {
    "return": "give back", "returns": "gives back", "function": "routine", "object": "instance",
    "given": "specified", "use": "utilize", "used": "utilized", "create": "make", "creates": "makes",
    "value": "result", "values": "results", "default": "fallback", "optional": "non-mandatory",
    "argument": "parameter", "arguments": "parameters", "string": "str", "list": "sequence",
    "file": "document", "raise": "throw", "raised": "thrown", "otherwise": "else", "the": "this",
    "is": "will be", "if": "when", "can": "may", "must": "has to", "new": "fresh",
}
_ADDED = ("Hope this helps.", "This is from the standard library docs.", "I use this a lot.",
          "See the official documentation for details.", "It works the same in recent versions.",
          "Worth knowing when you write scripts.")


def _swap_synonym(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if w.lower().strip(".,;:") in _SYNONYMS]
    if not idx:
        return _transpose(text, rng)
    i = idx[int(rng.integers(len(idx)))]
    core = words[i].strip(".,;:")
    repl = _SYNONYMS[core.lower()]
    words[i] = words[i].replace(core, repl.capitalize() if core[:1].isupper() else repl)
    return " ".join(words)


def _transpose(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    if len(words) < 3:
        return text
    i = int(rng.integers(0, len(words) - 1))
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def _punctuation(text: str, rng: np.random.Generator) -> str:
    choice = int(rng.integers(3))
    if choice == 0 and "," in text:
        return text.replace(",", "", 1)
    if choice == 1:
        return re.sub(r"\.$", "!", text.rstrip()) if text.rstrip().endswith(".") else text + "."
    return text.replace(". ", "; ", 1)


def _casing(text: str, rng: np.random.Generator) -> str:
    return text.lower() if rng.random() < 0.5 else text[:1].lower() + text[1:]


def _add_sentence(text: str, rng: np.random.Generator) -> str:
    return f"{text.rstrip()} {_ADDED[rng.integers(len(_ADDED))]}"


def _drop_sentence(text: str, rng: np.random.Generator) -> str:
    parts = sentences(text)
    if len(parts) < 3:
        return _drop_word(text, rng)
    del parts[int(rng.integers(len(parts)))]
    return " ".join(parts)


def _drop_word(text: str, rng: np.random.Generator) -> str:
    words = text.split(" ")
    if len(words) < 4:
        return text
    del words[int(rng.integers(len(words)))]
    return " ".join(words)


#: The sample's near-duplicate edit operations (word swaps, punctuation, casing, sentences).
NEAR_EDITS: list[EditOp] = [_swap_synonym, _swap_synonym, _transpose, _punctuation, _casing,
                            _add_sentence, _drop_sentence, _drop_word]

__all__ = ["NEAR_EDITS", "low_effort_text", "spam_text", "tokens"]
