"""Extract the real-text corpora that olkit's sample datanet and external eval set are built from.

Run once; the outputs are shipped in ``data/`` so the sample does not depend on the installed
Python or Debian version (re-running on another machine may give slightly different text)::

    .venv/bin/python data/scripts/extract_corpora.py

Writes (atomically):

* ``data/stdlib_qa.parquet`` — instruction/response pairs from docstrings of a fixed, sorted list
  of Python standard-library modules (PSF licence); source of ``olkit.data.sample_stream``;
* ``data/external_qa.parquet`` — pairs from the Python language reference shipped in the stdlib
  (``pydoc_data.topics``, PSF licence) and from Debian package long descriptions
  (``/var/lib/dpkg/status``); source of ``olkit.data.external_eval_set``;
* ``data/multilingual.parquet`` — real human translations (``msgstr``) of GNU/Debian program
  messages, read from the gettext catalogs under ``/usr/share/locale`` (GPL/LGPL).
"""

from __future__ import annotations

import gettext
import hashlib
import importlib
import inspect
import re
import sys
import warnings
from pathlib import Path

import polars as pl

DATA = Path(__file__).resolve().parents[1]

#: Fixed list of standard-library modules whose docstrings become instruction/response pairs.
STDLIB_MODULES = sorted({
    "abc", "argparse", "ast", "asyncio", "base64", "bdb", "bisect", "calendar", "cgi", "cmd",
    "code", "codecs", "collections", "collections.abc", "colorsys", "concurrent.futures",
    "configparser", "contextlib", "copy", "copyreg", "csv", "dataclasses", "datetime", "decimal",
    "difflib", "dis", "doctest", "email", "email.message", "email.utils", "email.parser", "enum",
    "filecmp", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext",
    "glob", "graphlib", "gzip", "hashlib", "heapq", "hmac", "html", "html.parser", "http.client",
    "http.cookiejar", "http.server", "imaplib", "importlib", "importlib.metadata", "inspect", "io",
    "ipaddress", "itertools", "json", "json.decoder", "json.encoder", "keyword", "linecache",
    "locale", "logging", "logging.handlers", "lzma", "mailbox", "math", "mimetypes",
    "multiprocessing", "netrc", "numbers", "operator", "optparse", "os", "os.path", "pathlib",
    "pdb", "pickle", "pickletools", "pkgutil", "platform", "plistlib", "poplib", "pprint",
    "profile", "pstats", "queue", "quopri", "random", "re", "reprlib", "sched", "secrets",
    "selectors", "shelve", "shlex", "shutil", "signal", "smtplib", "socket", "socketserver",
    "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "sysconfig", "tabnanny",
    "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize", "trace", "traceback",
    "tracemalloc", "types", "typing", "unittest", "unittest.mock", "urllib.parse",
    "urllib.request", "uuid", "warnings", "wave", "weakref", "webbrowser", "xml.dom.minidom",
    "xml.etree.ElementTree", "zipfile", "zipimport", "zoneinfo",
    # submodules whose classes are re-exported by their package (``__module__`` is the submodule)
    "asyncio.base_events", "asyncio.events", "asyncio.futures", "asyncio.locks",
    "asyncio.protocols", "asyncio.queues", "asyncio.streams", "asyncio.subprocess",
    "asyncio.tasks", "asyncio.transports", "concurrent.futures._base",
    "concurrent.futures.process", "concurrent.futures.thread", "email.charset",
    "email.feedparser", "email.generator", "email.header", "email.headerregistry",
    "email.policy", "email._policybase", "http.cookies", "importlib.abc", "importlib.machinery",
    "importlib.resources", "importlib.util", "logging.config", "multiprocessing.connection",
    "multiprocessing.context", "multiprocessing.managers", "multiprocessing.pool",
    "multiprocessing.process", "multiprocessing.queues", "multiprocessing.shared_memory",
    "multiprocessing.synchronize", "unittest.case", "unittest.loader", "unittest.result",
    "unittest.runner", "unittest.suite", "urllib.error", "urllib.robotparser", "wsgiref.handlers",
    "wsgiref.headers", "wsgiref.simple_server", "wsgiref.util", "xml.dom.pulldom",
    "xml.sax.handler", "xml.sax.saxutils", "xml.sax.xmlreader", "xmlrpc.client",
    "xmlrpc.server",
    # more modules, including the C-implemented ones whose docstrings are real prose too
    "array", "binascii", "builtins", "cmath", "compileall", "contextvars", "ctypes", "modulefinder",
    "nntplib", "py_compile", "pydoc", "runpy", "symtable", "sys", "telnetlib", "time", "tomllib",
    "zipapp", "zlib", "bz2", "mmap", "select", "stat", "errno", "faulthandler", "gc",
    "marshal", "posixpath", "resource", "imghdr", "mailcap", "chunk",
})

#: Languages and gettext domains for other-language text.  The sample and the external set use
#: disjoint domains so that a language filter cannot memorise one set's sentences.
LANGUAGES = ("de", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt_BR", "ru", "sv", "tr", "uk",
             "vi", "zh_CN", "cs")
SAMPLE_DOMAINS = ("apt", "coreutils", "dpkg", "bash", "findutils", "diffutils", "sed", "gnupg2",
                  "gettext-tools")
EXTERNAL_DOMAINS = ("git", "tar", "wget", "grep", "make", "systemd", "shadow", "man-db",
                    "procps-ng", "xz", "libc", "psql-15", "elfutils", "ld")

_WS = re.compile(r"[ \t]+")


def _atomic_write(frame: pl.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.write_parquet(tmp, compression="zstd", statistics=False)
    tmp.replace(path)


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def clean_docstring(doc: str, max_words: int = 180) -> str | None:
    """Prose paragraphs of a docstring: no doctests, code blocks, signatures or field lists."""
    doc = inspect.cleandoc(doc)
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", doc):
        lines = block.splitlines()
        if not lines:
            continue
        if any(ln.lstrip().startswith((">>>", "...")) for ln in lines):
            continue
        if all(ln.startswith((" ", "\t")) for ln in lines):  # indented: code or field list
            continue
        first = lines[0].strip()
        if re.match(r"^[\w.]+\(.*\)(\s*->.*)?$", first):  # a signature line
            lines = lines[1:]
            if not lines:
                continue
        if re.match(r"^(:param|:return|:raises|Args:|Returns:|Raises:|Parameters|-{3,}|={3,})",
                    first):
            break
        text = _WS.sub(" ", " ".join(ln.strip() for ln in lines)).strip()
        if (_words(text) < 4 or _words(text) > 150 or text.count("|") > 2 or " -- " in text
                or text.count("(") > 6 or re.search(r"\s{2,}", text)):
            continue
        paragraphs.append(text)
        if sum(_words(p) for p in paragraphs) >= max_words:
            break
    if not paragraphs:
        return None
    out = "\n\n".join(paragraphs)
    if not out.rstrip().endswith((".", ":", ")", "!", "?")):
        out = out.rstrip() + "."
    return out


def _members(module) -> list[tuple[str, str, object]]:
    """(qualified name, kind, object) of public functions, classes and methods in ``module``."""
    out = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        if getattr(obj, "__module__", None) not in (module.__name__, "_" + module.__name__.split(".")[-1]):
            continue
        if inspect.isclass(obj):
            out.append((f"{module.__name__}.{name}", "class", obj))
            for mname, meth in sorted(vars(obj).items()):
                if mname.startswith("_") or not (inspect.isfunction(meth) or inspect.ismethoddescriptor(meth)):
                    continue
                out.append((f"{module.__name__}.{name}.{mname}", "method", meth))
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
            out.append((f"{module.__name__}.{name}", "function", obj))
    return out


def extract_stdlib(min_words: int = 15) -> pl.DataFrame:
    rows = []
    seen: set[str] = set()
    warnings.simplefilter("ignore")
    for modname in STDLIB_MODULES:
        try:
            module = importlib.import_module(modname)
        except Exception:  # noqa: BLE001 - a module missing on this platform is skipped
            continue
        for qualname, kind, obj in _members(module):
            doc = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else None
            if not doc:
                continue
            answer = clean_docstring(doc)
            if answer is None or _words(answer) < min_words:
                continue
            # aliases and inherited docstrings: keep the first (sorted) name; answers are also
            # unique by first paragraph, because casual contributors paste only that
            keys = {re.sub(r"\W+", " ", text.lower()) for text in (answer, answer.split("\n\n")[0])}
            if keys & seen:
                continue
            seen |= keys
            rows.append({"question_id": "py:" + qualname, "module": modname, "name": qualname,
                         "kind": kind, "answer": answer})
    frame = near_dedupe(pl.DataFrame(rows).sort("question_id"))
    return frame.with_columns(
        pl.lit(f"Python {sys.version_info.major}.{sys.version_info.minor} standard library docstrings").alias("source"),
        pl.lit("PSF-2.0").alias("license"),
    )


def _shingle_set(text: str) -> set[str]:
    toks = re.findall(r"\w+", text.lower())
    return {" ".join(toks[i:i + 3]) for i in range(max(len(toks) - 2, 1))}


def near_dedupe(frame: pl.DataFrame, *, against: pl.DataFrame | None = None,
                threshold: float = 0.5) -> pl.DataFrame:
    """Drop answers whose word-3-shingle Jaccard with an earlier kept answer (or with any answer
    of ``against``) is >= ``threshold``: honest items must not be near duplicates of each other
    (e.g. ``bytes.split`` and ``bytearray.split`` share a docstring)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold * 0.8, num_perm=128)
    sets: dict[str, set[str]] = {}

    def minhash(sh: set[str]) -> MinHash:
        m = MinHash(num_perm=128, seed=7)
        m.update_batch([x.encode() for x in sh])
        return m

    if against is not None:
        for i, text in enumerate(against["answer"].to_list()):
            key = f"a{i}"
            sets[key] = _shingle_set(text)
            lsh.insert(key, minhash(sets[key]))
    keep = []
    for i, text in enumerate(frame["answer"].to_list()):
        sh = _shingle_set(text)
        mh = minhash(sh)
        close = any(len(sh & sets[k]) / len(sh | sets[k]) >= threshold for k in lsh.query(mh))
        keep.append(not close)
        if not close:
            sets[f"f{i}"] = sh
            lsh.insert(f"f{i}", mh)
    return frame.filter(pl.Series(keep))


def _topic_sections(title: str, text: str) -> list[tuple[str, str]]:
    """Split a language-reference topic into (heading, prose) sections."""
    lines = text.splitlines()
    sections: list[tuple[str, list[str]]] = []
    heading, body = title, []
    i = 0
    while i < len(lines):
        if i + 1 < len(lines) and lines[i].strip() and re.fullmatch(r"[*=\-~^]{3,}", lines[i + 1].strip()):
            sections.append((heading, body))
            heading, body = lines[i].strip(), []
            i += 2
            continue
        body.append(lines[i])
        i += 1
    sections.append((heading, body))
    out = []
    for head, blines in sections:
        paragraphs = []
        for block in re.split(r"\n\s*\n", "\n".join(blines)):
            blk = [ln for ln in block.splitlines() if ln.strip()]
            if not blk or all(ln.startswith(" ") for ln in blk) or any(ln.lstrip().startswith(">>>") for ln in blk):
                continue
            if blk[0].startswith(("Note:", "See also:", "Added in version", "Changed in version")):
                continue
            text = _WS.sub(" ", " ".join(ln.strip() for ln in blk)).strip()
            if _words(text) >= 6:
                paragraphs.append(text)
        prose = "\n\n".join(paragraphs[:4])
        if _words(prose) >= 30 and len(head) < 80:
            out.append((head, prose))
    return out


def _debian_descriptions() -> list[dict]:
    status = Path("/var/lib/dpkg/status")
    if not status.exists():
        return []
    rows = []
    for stanza in status.read_text(encoding="utf-8", errors="replace").split("\n\n"):
        pkg = re.search(r"^Package: (.+)$", stanza, re.M)
        desc = re.search(r"^Description: (.*)\n((?: .*\n?)*)", stanza, re.M)
        if not pkg or not desc:
            continue
        paragraphs, cur = [], []
        for ln in desc.group(2).splitlines():
            body = ln[1:]
            if body.strip() == ".":
                paragraphs.append(cur)
                cur = []
            else:
                cur.append(body)
        paragraphs.append(cur)
        prose = [
            _WS.sub(" ", " ".join(s.strip() for s in p)).strip()
            for p in paragraphs if p and not any(s.startswith(" ") for s in p)
        ]
        text = "\n\n".join(p for p in prose if p)
        if _words(text) < 25:
            continue
        rows.append({"question_id": "deb:" + pkg.group(1), "name": pkg.group(1),
                     "synopsis": desc.group(1).strip(), "answer": text})
    return rows


def extract_external(stdlib: pl.DataFrame) -> pl.DataFrame:
    from pydoc_data.topics import topics

    rows = []
    seen: set[str] = set()
    for key in sorted(topics):
        text = topics[key]
        first = text.splitlines()[0].strip() if text.strip() else key
        for head, prose in _topic_sections(first, text):
            if prose in seen:
                continue
            seen.add(prose)
            rows.append({"question_id": f"ref:{key}:{head}", "name": head, "synopsis": key,
                         "answer": prose, "kind": "language-reference",
                         "source": "Python language reference (pydoc_data.topics)",
                         "license": "PSF-2.0"})
    for row in sorted(_debian_descriptions(), key=lambda r: r["question_id"]):
        if row["answer"] in seen:
            continue
        seen.add(row["answer"])
        rows.append({**row, "kind": "debian-package", "source": "Debian package descriptions (/var/lib/dpkg/status)",
                     "license": "per-package (see /usr/share/doc/<package>/copyright)"})
    # no external answer may be a near copy of another one or of a sample (stdlib) answer
    return near_dedupe(pl.DataFrame(rows).sort("question_id"), against=stdlib)


def _catalog(lang: str, domain: str) -> dict:
    path = Path("/usr/share/locale") / lang / "LC_MESSAGES" / f"{domain}.mo"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        try:
            return gettext.GNUTranslations(fh)._catalog  # noqa: SLF001 - the parsed catalog
        except Exception:  # noqa: BLE001 - a corrupt catalog is skipped
            return {}


def _prose_message(msg: str) -> str | None:
    text = _WS.sub(" ", msg.replace("\n", " ")).strip()
    if not text or any(c in text for c in "%{}\\=<>[]|@#$`*"):
        return None
    if re.search(r"\b[A-ZÀ-Ý]{4,}\b", text):  # placeholders such as FILE, COMMANDS
        return None
    if text.startswith(("-", "*", "(")) or "--" in text or "_" in text or "/" in text:
        return None
    n = len(text.split())
    is_cjk = bool(re.search(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]", text))
    if (is_cjk and len(text) < 18) or (not is_cjk and n < 8):
        return None
    return text


def extract_multilingual() -> pl.DataFrame:
    rows = []
    for lang in LANGUAGES:
        for group, domains in (("sample", SAMPLE_DOMAINS), ("external", EXTERNAL_DOMAINS)):
            for domain in domains:
                for msgid, msgstr in sorted(_catalog(lang, domain).items(), key=lambda kv: str(kv[0])):
                    if not isinstance(msgid, str) or not isinstance(msgstr, str) or not msgid:
                        continue
                    text = _prose_message(msgstr)
                    if text is None or text == _WS.sub(" ", msgid.replace("\n", " ")).strip():
                        continue  # untranslated
                    rows.append({"lang": lang.split("_")[0], "domain": domain, "group": group,
                                 "text": text,
                                 "msg_hash": hashlib.sha1(msgid.encode()).hexdigest()[:12]})
    frame = pl.DataFrame(rows).unique(subset=["text"], keep="first", maintain_order=True)
    return frame.sort(["group", "lang", "domain", "msg_hash"]).with_columns(
        pl.lit("gettext translations shipped in Debian (/usr/share/locale)").alias("source"),
        pl.lit("GPL/LGPL (license of each program)").alias("license"),
    )


def main() -> None:
    stdlib = extract_stdlib()
    _atomic_write(stdlib, DATA / "stdlib_qa.parquet")
    print(f"stdlib_qa: {stdlib.height} pairs from {stdlib['module'].n_unique()} modules")
    external = extract_external(stdlib)
    _atomic_write(external, DATA / "external_qa.parquet")
    print(f"external_qa: {external.height} pairs", external.group_by("kind").len().rows())
    multi = extract_multilingual()
    _atomic_write(multi, DATA / "multilingual.parquet")
    print(f"multilingual: {multi.height} messages", multi.group_by("group").len().rows())


if __name__ == "__main__":
    main()
