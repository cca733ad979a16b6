"""Evaluation sets for synthetic-text detection: real human text of several genres, and machine
text that is *not* SmolLM2 greedy output.

Human sources (:data:`HUMAN_SOURCES`), each read from files on this machine that nobody here
wrote, each item an (instruction, response) pair a contributor could have submitted:

* ``faq`` -- the Python FAQ (``python3.11-doc`` HTML): the question heading and its answer;
* ``python_docs`` -- paragraphs of the Python library/reference/tutorial HTML under their heading;
* ``docstrings`` -- the first paragraph of stdlib function/class docstrings;
* ``debian`` -- long descriptions of the installed Debian packages (the dpkg status file);
* ``upstream_docs`` -- prose paragraphs of READMEs, NEWS and changelogs in ``/usr/share/doc``;
* ``fortunes`` -- ``fortune`` cookies (``/usr/share/games/fortunes``; quotes, jokes, literature).

Machine sets (:data:`MACHINE_SETS`), generated with SmolLM2-135M-Instruct from the same kinds of
instructions, by sampling (never greedy): plain answers at several temperatures / top-p,
paraphrases and "polishings" of human answers, and mixed answers (a human opening sentence that
the model continues).  Generation is slow on a CPU, so the generated frame is cached on disk
(``<olkit cache>/synthetic_eval/``) by a hash of its settings; everything is deterministic by
``seed``.

Every machine item carries ``fold`` 0 or 1 (alternating within its set): a detector is fitted on
one fold and reported on the other.

Example
-------
>>> from olkit.data.synthetic_eval import human_texts
>>> h = human_texts(n_per_source=5, seed=0)   # doctest: +SKIP
>>> sorted(h["source"].unique().to_list())     # doctest: +SKIP
['debian', 'docstrings', 'faq', 'fortunes', 'python_docs', 'upstream_docs']
"""

from __future__ import annotations

import gzip
import hashlib
import html
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from olkit.errors import InputError

PYDOC_HTML = Path("/usr/share/doc/python3.11-doc/html")
USR_SHARE_DOC = Path("/usr/share/doc")
FORTUNES = Path("/usr/share/games/fortunes")
DPKG_STATUS = Path("/var/lib/dpkg/status")

HUMAN_SOURCES: tuple[str, ...] = ("faq", "python_docs", "docstrings", "debian", "upstream_docs", "fortunes")

#: name -> (kind, temperature, top_p).  kind: "answer" (answer the instruction), "paraphrase" /
#: "polish" (rewrite a human answer), "mixed" (continue a human answer's first sentence).
MACHINE_SETS: dict[str, tuple[str, float, float]] = {
    "sampled_t0.7": ("answer", 0.7, 1.0),
    "sampled_t1.0_p0.9": ("answer", 1.0, 0.9),
    "sampled_t1.0": ("answer", 1.0, 1.0),
    "paraphrase": ("paraphrase", 0.7, 0.95),
    "polish": ("polish", 1.0, 0.9),
    "mixed": ("mixed", 0.8, 0.95),
}
#: Version of the generation recipe (part of the disk-cache key).
EVAL_VERSION = 1

_COLUMNS = {"source": pl.String, "instruction": pl.String, "response": pl.String, "label": pl.String}
_MIN_WORDS, _MAX_WORDS = 15, 120


# ------------------------------------------------------------------------------------ helpers
def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _trim(text: str, max_words: int = _MAX_WORDS) -> str:
    """At most ``max_words`` words, cut at a sentence end (never mid-sentence: a text with no
    sentence end in reach stays whole)."""
    words = text.split()
    if len(words) <= max_words:
        return text
    cut = " ".join(words[:max_words])
    end = max(cut.rfind(". "), cut.rfind("? "), cut.rfind("! "))
    return cut[: end + 1] if end > len(cut) // 3 else text


def _prose(text: str) -> bool:
    """A paragraph of prose: enough words, mostly letters, finished sentences, not a code listing."""
    n = len(text.split())
    if n < _MIN_WORDS:
        return False
    letters = sum(c.isalpha() for c in text)
    return (letters / max(1, len(text)) > 0.7 and text.rstrip()[-1:] in ".!?\"')"
            and text.count("(") <= n // 6 and "http" not in text)


def _strip_tags(fragment: str) -> str:
    return _clean(html.unescape(re.sub(r"<[^>]+>", " ", fragment.replace("¶", ""))))


def _row(source: str, instruction: str, response: str) -> dict[str, str]:
    return {"source": source, "instruction": _clean(instruction), "response": _trim(_clean(response)),
            "label": "human"}


def _require(path: Path, package: str) -> None:
    if not path.exists():
        raise InputError(f"{path} is missing: install the Debian package {package!r} "
                         f"(apt-get install {package})", file=str(path))


# ------------------------------------------------------------------------------------ human sources
def _faq() -> list[dict]:
    _require(PYDOC_HTML, "python3.11-doc")
    rows = []
    for page in sorted((PYDOC_HTML / "faq").glob("*.html")):
        body = page.read_text(encoding="utf-8", errors="replace")
        for part in re.split(r"<h3>", body)[1:]:
            head, _, rest = part.partition("</h3>")
            question = _strip_tags(head)
            paras = [_strip_tags(p) for p in re.findall(r"<p>(.*?)</p>", rest.split("<h3>")[0], flags=re.S)]
            answer = " ".join(paras[:3])
            if question.endswith("?") and _prose(answer):
                rows.append(_row("faq", question, answer))
    return rows


def _python_docs() -> list[dict]:
    _require(PYDOC_HTML, "python3.11-doc")
    rows = []
    for folder in ("library", "reference", "tutorial", "howto"):
        for page in sorted((PYDOC_HTML / folder).glob("*.html")):
            body = page.read_text(encoding="utf-8", errors="replace")
            for part in re.split(r"<h[12]>", body)[1:]:
                head, _, rest = part.partition("</h")
                heading = _strip_tags(head)
                for p in re.findall(r"<p>(.*?)</p>", rest, flags=re.S)[:2]:
                    text = _strip_tags(p)
                    if _prose(text) and heading:
                        rows.append(_row("python_docs", f"Explain {heading} in Python.", text))
    return rows


_DOC_MODULES = ("argparse", "asyncio", "base64", "bisect", "calendar", "collections", "csv", "datetime",
                "decimal", "difflib", "email", "fractions", "ftplib", "functools", "gettext", "glob",
                "gzip", "heapq", "hmac", "http.client", "imaplib", "inspect", "ipaddress", "json",
                "logging", "mailbox", "mimetypes", "os", "pathlib", "pickle", "pprint", "random", "re",
                "shlex", "shutil", "smtplib", "socket", "sqlite3", "statistics", "string", "subprocess",
                "tarfile", "tempfile", "textwrap", "threading", "tkinter", "turtle", "typing", "unittest",
                "urllib.parse", "uuid", "warnings", "wave", "zipfile")


def _docstrings() -> list[dict]:
    rows = []
    for name in _DOC_MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 (a module this Python lacks, e.g. tkinter without Tk)
            continue
        for attr in sorted(vars(mod)):
            obj = getattr(mod, attr)
            if attr.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", "") != mod.__name__:
                continue
            doc = inspect.getdoc(obj) or ""
            first = _clean(doc.split("\n\n")[0])
            if _prose(first):
                rows.append(_row("docstrings", f"What does {name}.{attr} do?", first))
    return rows


def _debian_stanzas() -> str:
    # dpkg's status file has the long descriptions of installed packages (``apt-cache dumpavail``
    # only has the short ones unless Translation files were downloaded)
    _require(DPKG_STATUS, "dpkg")
    return DPKG_STATUS.read_text(encoding="utf-8", errors="replace")


def _debian() -> list[dict]:
    rows, seen = [], set()
    for stanza in _debian_stanzas().split("\n\n"):
        pkg = re.search(r"^Package: (\S+)", stanza, flags=re.M)
        desc = re.search(r"^Description(?:-en)?: (.*)\n((?: .*\n?)*)", stanza, flags=re.M)
        if not pkg or not desc or pkg.group(1) in seen:
            continue
        seen.add(pkg.group(1))
        long = [ln[1:] for ln in desc.group(2).splitlines()]
        text = _clean(" ".join(ln for ln in long if ln.strip() != "."))
        if _prose(text):
            rows.append(_row("debian", f"What is the Debian package {pkg.group(1)} for?", text))
    return rows


def _read_maybe_gz(path: Path) -> str:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                return fh.read(200_000)
        return path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return ""


def _upstream_docs() -> list[dict]:
    rows = []
    pattern = re.compile(r"^(readme|news|changelog|changes)(\.(md|txt|rst|markdown))?(\.gz)?$", re.I)
    for pkg_dir in sorted(p for p in USR_SHARE_DOC.iterdir() if p.is_dir()):
        for f in sorted(pkg_dir.iterdir()):
            if not f.is_file() or not pattern.match(f.name):
                continue
            kind = f.name.split(".")[0].upper()
            for para in re.split(r"\n\s*\n", _read_maybe_gz(f)):
                lines = [ln.strip().lstrip("*-+# ").strip() for ln in para.splitlines()]
                text = _clean(" ".join(lines))
                if _prose(text) and not re.search(r"<\S+@\S+>|\bSigned-off-by\b|^\s*(--|\[)|•", para):
                    rows.append(_row("upstream_docs", f"What does the {kind} of {pkg_dir.name} say?", text))
    return rows


_FORTUNE_FILES = ("wisdom", "literature", "science", "computers", "people", "humorists", "work",
                  "education", "platitudes", "pets", "food", "art", "law", "medicine", "sports",
                  "linux", "magic", "tao", "love", "songs-poems")


def _fortunes() -> list[dict]:
    _require(FORTUNES, "fortunes")
    rows = []
    for name in _FORTUNE_FILES:
        path = FORTUNES / name
        if not path.exists():
            continue
        for cookie in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            lines = [ln for ln in cookie.splitlines() if not re.match(r"^\s*(--|-- )", ln)]
            text = _clean(" ".join(lines))
            if _prose(text):
                rows.append(_row("fortunes", f"Tell me something about {name.replace('-', ' and ')}.", text))
    return rows


_READERS: dict[str, Callable[[], list[dict]]] = {
    "faq": _faq, "python_docs": _python_docs, "docstrings": _docstrings, "debian": _debian,
    "upstream_docs": _upstream_docs, "fortunes": _fortunes,
}


def human_texts(n_per_source: int = 100, seed: int = 0,
                sources: tuple[str, ...] = HUMAN_SOURCES) -> pl.DataFrame:
    """Up to ``n_per_source`` human items of each source (drawn with ``seed``, duplicates dropped).

    Columns: ``source``, ``instruction``, ``response``, ``label`` (``"human"``).
    """
    unknown = [s for s in sources if s not in _READERS]
    if unknown:
        raise InputError(f"unknown human source(s) {unknown}; known: {list(_READERS)}", field="sources")
    parts = []
    for i, name in enumerate(sources):
        frame = pl.DataFrame(_READERS[name](), schema=_COLUMNS).unique("response", keep="first", maintain_order=True)
        if frame.height == 0:
            raise InputError(f"human source {name!r} yielded no text on this machine", field="sources")
        parts.append(frame.sample(min(n_per_source, frame.height), seed=seed + i, shuffle=True))
    return pl.concat(parts)


# ------------------------------------------------------------------------------------ machine sets
_REWRITE = {
    "paraphrase": "Rewrite the following answer in your own words, keeping its meaning.\n\n{text}",
    "polish": "Polish this text: fix the grammar and make it read smoothly and professionally.\n\n{text}",
}


def _first_sentence(text: str) -> str:
    m = re.match(r"(.{20,}?[.!?])\s", text + " ")
    return m.group(1) if m else " ".join(text.split()[:12])


def _gen_dtype():
    import torch

    from olkit.kit import auto_bf16

    return torch.bfloat16 if auto_bf16() else torch.float32


def _generate(prompts: list[tuple[str, str]], temperature: float, top_p: float, seed: int,
              max_new_tokens: int, batch_size: int) -> list[str]:
    """Sampled SmolLM2 completions of (user prompt, assistant prefix) pairs, batched, left-padded."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from olkit.embedded import smollm2_path

    path = str(smollm2_path())
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    # bfloat16 where the CPU has it natively (about 2x faster here); part of the cache key
    model = AutoModelForCausalLM.from_pretrained(path, dtype=_gen_dtype()).eval()
    texts = [tok.apply_chat_template([{"role": "user", "content": u}], tokenize=False, add_generation_prompt=True)
             + prefix for u, prefix in prompts]
    out: list[str] = []
    with torch.inference_mode():
        for lo in tqdm(range(0, len(texts), batch_size), desc=f"SmolLM2 generate T={temperature} p={top_p}",
                       unit="batch"):
            torch.manual_seed(seed + lo)
            enc = tok(texts[lo: lo + batch_size], return_tensors="pt", padding=True, truncation=True,
                      max_length=384)
            gen = model.generate(**enc, do_sample=True, temperature=temperature, top_p=top_p, top_k=0,
                                 max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
            out += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [_clean(t) for t in out]


def machine_texts(n_per_set: int = 40, seed: int = 0, sets: tuple[str, ...] = tuple(MACHINE_SETS),
                  max_new_tokens: int = 64, batch_size: int = 40, cache: bool | str | Path = True,
                  human: pl.DataFrame | None = None) -> pl.DataFrame:
    """``n_per_set`` SmolLM2 items of each machine set (columns of :func:`human_texts` plus ``fold``).

    Prompts come from human items of every source (``human``, default ``human_texts(seed=seed+1000)``:
    other draws than the default human eval sample).  Cached on disk by the settings.
    """
    unknown = [s for s in sets if s not in MACHINE_SETS]
    if unknown:
        raise InputError(f"unknown machine set(s) {unknown}; known: {list(MACHINE_SETS)}", field="sets")
    prompts_from = "default" if human is None else hashlib.sha256(
        "\x1e".join(human["instruction"].to_list() + human["response"].to_list()).encode()).hexdigest()
    key = hashlib.sha256(f"v{EVAL_VERSION}|{n_per_set}|{seed}|{sets}|{max_new_tokens}|{prompts_from}|{_gen_dtype()}"
                         .encode()
                         ).hexdigest()[:16]
    path = None
    if cache is not False:
        from olkit.embedded import cache_dir

        root = cache_dir() / "synthetic_eval" if cache is True else Path(cache)
        path = root / f"machine-{key}.parquet"
        if path.exists():
            return pl.read_parquet(path)
    if human is None:
        human = human_texts(n_per_source=max(20, n_per_set), seed=seed + 1000)
    rng = np.random.default_rng(seed)
    parts = []
    for s_i, name in enumerate(sets):
        kind, temp, top_p = MACHINE_SETS[name]
        pick = human[rng.choice(human.height, size=min(n_per_set, human.height), replace=False).tolist()]
        instr, resp = pick["instruction"].to_list(), pick["response"].to_list()
        if kind == "answer":
            prompts = [(q, "") for q in instr]
        elif kind in _REWRITE:
            prompts = [(_REWRITE[kind].format(text=r), "") for r in resp]
        else:  # mixed: the model continues the human answer's first sentence
            prompts = [(q, _first_sentence(r) + " ") for q, r in zip(instr, resp, strict=True)]
        gen = _generate(prompts, temp, top_p, seed + 7919 * s_i, max_new_tokens, batch_size)
        if kind == "mixed":
            gen = [_clean(p + " " + g) for (_, p), g in zip(prompts, gen, strict=True)]
        parts.append(pl.DataFrame({"source": [name] * len(gen), "instruction": instr, "response": gen,
                                   "label": ["machine"] * len(gen), "fold": [i % 2 for i in range(len(gen))]},
                                  schema={**_COLUMNS, "fold": pl.Int64}))
    frame = pl.concat(parts).filter(pl.col("response").str.split(" ").list.len() >= 8)
    if path is not None:
        from olkit.kit import atomic_file

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:
            frame.write_parquet(tmp)
    return frame


def eval_frame(n_human_per_source: int = 100, n_machine_per_set: int = 40, seed: int = 0,
               **machine_kwargs) -> pl.DataFrame:
    """Human and machine items in one frame with a ``submission_id`` (``fold`` null for human)."""
    human = human_texts(n_per_source=n_human_per_source, seed=seed).with_columns(pl.lit(None, pl.Int64).alias("fold"))
    machine = machine_texts(n_per_set=n_machine_per_set, seed=seed, **machine_kwargs)
    frame = pl.concat([human, machine.select(human.columns)])
    return frame.with_row_index("n").with_columns(
        (pl.col("label") + "-" + pl.col("n").cast(pl.String)).alias("submission_id")).drop("n")


def detector_training_sets(seed: int = 0, n_human_per_source: int = 100, n_machine_per_set: int = 40,
                           n_sample: int = 120, n_contributors: int = 200) -> dict[str, pl.DataFrame]:
    """The shipped synthetic detector's data (``scripts/refit_synthetic_detector.py``), fixed up front.

    ``human``: :func:`human_texts` (label 0, also the false-positive calibration set, by source);
    ``machine``: fold 0 of :func:`machine_texts` plus up to ``n_sample`` SmolLM2 answers of the
    sample datanet's train split (label 1); ``extra_human``: up to ``n_sample`` genuine answers of
    that split (label 0, not used to calibrate); ``machine_eval``: fold 1 (never fitted on).
    """
    from olkit.data.sample import sample_stream

    machine = machine_texts(n_per_set=n_machine_per_set, seed=seed)
    stream = sample_stream(n_contributors=n_contributors, seed=seed).filter(
        (pl.col("split") == "train") & (pl.col("response").fill_null("").str.strip_chars() != ""))

    def draw(label: str) -> pl.DataFrame:
        part = stream.filter(pl.col("label") == label)
        return part.sample(min(n_sample, part.height), seed=seed).select("instruction", "response")

    cols = ["instruction", "response"]
    return {"human": human_texts(n_per_source=n_human_per_source, seed=seed),
            "machine": pl.concat([machine.filter(pl.col("fold") == 0).select(cols), draw("synthetic")]),
            "extra_human": draw("genuine"),
            "machine_eval": machine.filter(pl.col("fold") == 1)}
