"""The shared kit: small helpers every stage uses, implemented once.

* :func:`atomic_file` / :func:`atomic_dir` (:class:`AtomicDir`) -- never half-write: write into a temporary sibling,
  rename into place on success, remove it on error (plus :func:`write_text_atomic`).
* :func:`largest_remainder` -- integer counts that sum exactly to a total.
* :func:`auroc`, :func:`f1`, :func:`gini` -- the metrics the stages report.
* :func:`dotted_update` -- apply ``{"a.b.c": value}`` changes to a nested mapping (policy and
  simulation overrides).
* :func:`canonical_hash` -- 12 hex digits of the canonical JSON of a mapping (policy version hashes).

Example
-------
>>> largest_remainder([1, 1, 1], 10).tolist()
[4, 3, 3]
>>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
>>> round(gini([0, 0, 0, 1]), 2), f1(0.5, 1.0)
(0.75, 0.6666666666666666)
>>> dotted_update({"mix": {"sybil": 0.1}}, {"mix.sybil": 0.2})
{'mix': {'sybil': 0.2}}
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


# -- never half-write ---------------------------------------------------------------------------
@contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    The temporary file keeps ``path``'s suffix (writers such as polars pick the format from it).
    On an exception the temporary file is removed and ``path`` is untouched.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_file(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class AtomicDir:
    """A temporary folder next to ``path`` that becomes ``path`` in one rename on :meth:`commit`.

    Use it as a context manager (commit on success, discard on an exception) or, where the
    folder must outlive a ``with`` block (checkpoints written during training), call
    :meth:`commit` / :meth:`discard` yourself.  With ``overwrite`` an existing ``path`` is
    replaced (moved aside, deleted after the rename); without it an existing non-empty ``path``
    raises ``FileExistsError`` at commit and the temporary folder is removed.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> with atomic_dir(out) as tmp:
    ...     _ = (tmp / "weights.bin").write_bytes(b"0")
    >>> sorted(p.name for p in out.iterdir())
    ['weights.bin']
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}."))

    def commit(self) -> Path:
        """Rename the temporary folder to ``path``; returns ``path``."""
        path = self.path
        try:
            if path.exists() and not (path.is_dir() and not any(path.iterdir())):
                if not self.overwrite:
                    raise FileExistsError(f"{path} exists")
                old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
                os.replace(path, old / "x")
                os.replace(self.tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                if path.exists():
                    path.rmdir()
                os.replace(self.tmp, path)
        except BaseException:
            self.discard()
            raise
        return path

    def discard(self) -> None:
        """Remove the temporary folder (``path`` is untouched)."""
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_dir(path: str | Path, *, overwrite: bool = False) -> AtomicDir:
    """``with atomic_dir(path) as tmp:`` -- fill ``tmp``; it becomes ``path`` on success (:class:`AtomicDir`)."""
    return AtomicDir(path, overwrite=overwrite)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


# -- rounding -----------------------------------------------------------------------------------
def largest_remainder(shares: Any, total: int, *, normalize: bool = True) -> np.ndarray:
    """Non-negative integers summing to ``total``, closest to ``total * shares / sum(shares)``.

    Each gets the floor of its exact share; the units left go to the largest remainders, ties to
    the lower index (Hamilton's method).  All-zero shares give all zeros.  ``normalize=False``:
    ``shares`` already sum to 1 and are used as given (``total * shares``, bit for bit).
    """
    w = np.asarray(shares, dtype=np.float64)
    s = w.sum()
    if w.size == 0 or s <= 0:
        return np.zeros(w.shape, dtype=np.int64)
    exact = w / s * total if normalize else total * w
    counts = np.minimum(np.floor(exact), total).astype(np.int64)
    left = int(total - counts.sum())
    if left > 0:
        counts[np.argsort(-(exact - counts), kind="stable")[:left]] += 1
    elif left < 0:  # float rounding floored one unit too many somewhere: take it from the largest
        counts[np.argsort(-counts, kind="stable")[:-left]] -= 1
    return counts


# -- metrics ------------------------------------------------------------------------------------
def auroc(y_true: Any, score: Any) -> float:
    """Area under the ROC curve of ``score`` for the positives in ``y_true`` (Mann-Whitney U,
    ties count half); non-finite scores are dropped; NaN when a class is missing."""
    from scipy.stats import rankdata

    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1(precision: float | None, recall: float | None) -> float | None:
    """Harmonic mean of precision and recall; ``None`` if either is undefined, 0 if both are 0."""
    if precision is None or recall is None:
        return None
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def gini(values: Any, *, sorted_ranks: np.ndarray | None = None) -> float:
    """Gini coefficient of non-negative values (0: equal, -> 1: one takes all); 0 for empty/all-zero.

    ``sorted_ranks``: the caller guarantees ``values`` are sorted ascending and passes ``1..n``
    (same dtype) -- skips the sort and an allocation in per-epoch hot loops.
    """
    x = np.asarray(values)
    if sorted_ranks is None:
        x = np.sort(x.astype(np.float64))
    n = x.size
    total = float(x.sum(dtype=np.float64))
    if n == 0 or total <= 0:
        return 0.0
    r = sorted_ranks if sorted_ranks is not None else np.arange(1, n + 1, dtype=x.dtype)
    return float(2.0 * float(np.multiply(x, r).sum(dtype=np.float64)) / (n * total) - (n + 1.0) / n)


# -- nested settings ----------------------------------------------------------------------------
def dotted_update(data: Mapping[str, Any], changes: Mapping[str, Any], *,
                  on_unknown: Callable[[str], Exception] | None = None) -> dict[str, Any]:
    """A deep copy of ``data`` with ``{"a.b": value}`` changes applied.

    Missing intermediate keys are created, unless ``on_unknown`` is given: then a dotted key whose
    parent is not a mapping raises ``on_unknown(dotted_key)``.
    """
    out = copy.deepcopy(dict(data))
    for dotted, value in changes.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                if on_unknown is not None:
                    raise on_unknown(dotted)
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return out


def canonical_hash(body: Any) -> str:
    """12 hex digits of SHA-256 of the canonical (sorted-key, compact) JSON of ``body``."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# -- numerics -----------------------------------------------------------------------------------
#: Environment switch: ``OLKIT_BF16=0`` makes every ``"auto"`` dtype (training compute, LM scoring)
#: pick float32 even where the hardware has native bf16 (reproduces an AVX2 machine's numerics).
BF16_ENV = "OLKIT_BF16"


def native_bf16(device: Any = None) -> bool:
    """Whether ``device`` (a ``torch.device``; ``None``: the CPU) computes bfloat16 natively
    (CUDA with bf16, or a CPU with AVX512-BF16/AMX)."""
    import torch

    if device is not None and torch.device(device).type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - torch without oneDNN
        return False


def auto_bf16(device: Any = None) -> bool:
    """Whether an ``"auto"`` dtype means bfloat16 on ``device``: native bf16 and not ``OLKIT_BF16=0``.

    >>> import os
    >>> os.environ["OLKIT_BF16"] = "0"; auto_bf16()
    False
    >>> del os.environ["OLKIT_BF16"]
    """
    if os.environ.get(BF16_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    return native_bf16(device)
