"""One cached MiniLM embedding helper shared by the model-based filters.

The relevance filter (instruction–response cosine) and the learned quality score both need the
MiniLM embeddings of the same instructions and responses.  :class:`EmbeddingCache` embeds every
distinct text once (keyed by a hash of the text), keeps the unit-norm vectors in memory, and hands
the same rows to whichever filter asks next, so a pipeline run embeds each text once per batch
however many filters read it.

Example
-------
>>> from olkit.filters.embeddings import default_embedder
>>> emb = default_embedder()
>>> vecs = emb.embed(["How do I boil an egg?", "Put it in boiling water for 8 minutes."])
>>> vecs.shape
(2, 384)
"""

from __future__ import annotations

import hashlib
import threading
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl

from olkit.filters.base import Filter
from olkit.filters.score_cache import PartCache, default_folder, settings_key

#: Characters kept per text before tokenising (~128 word pieces): the opening of a text says what
#: it is about, attention cost grows with length, and cutting early keeps 1 MB strings cheap.
MAX_CHARS = 600
#: Version of what an embedding means (model, cut); part of the disk-cache key.
EMBED_VERSION = 1


def text_key(text: str) -> bytes:
    """A 16-byte digest of a text (the cache key)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class EmbeddingCache:
    """Embed texts with a sentence-transformers encoder, each distinct text once.

    Parameters
    ----------
    encoder:
        A ``SentenceTransformer`` (default: the embedded all-MiniLM-L6-v2, loaded on first use).
    max_items:
        Vectors kept in memory (least recently used are dropped); 100k MiniLM vectors ≈ 150 MB.
    batch_size:
        Texts per forward pass.
    show_progress:
        Show a ``tqdm`` bar when more than ``batch_size * 4`` new texts are embedded.
    disk:
        A second cache level on disk shared by processes and notebooks
        (:class:`olkit.filters.score_cache.PartCache`): ``None`` (default) = on for the embedded
        MiniLM under ``<olkit cache>/embeddings/``, off for an encoder passed in; ``False`` = off;
        a folder = there.

    Attributes
    ----------
    n_encoded, n_hits, n_disk:
        Texts actually encoded, texts served from the cache, and of those read from disk.
    """

    def __init__(self, encoder=None, *, max_items: int = 100_000, batch_size: int = 64,
                 show_progress: bool = True, disk: bool | str | Path | None = None) -> None:
        if disk is None or disk is True:
            disk = (default_folder("embeddings", settings_key("all-MiniLM-L6-v2", MAX_CHARS, EMBED_VERSION))
                    if encoder is None or disk is True else False)
        self.disk = PartCache(disk) if disk is not False else None
        self._encoder = encoder
        self.max_items = int(max_items)
        self.batch_size = int(batch_size)
        self.show_progress = show_progress
        self._store: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.n_encoded = 0
        self.n_hits = 0
        self.n_disk = 0

    @property
    def encoder(self):
        if self._encoder is None:
            from olkit.embedded import minilm_encoder

            self._encoder = minilm_encoder()
        return self._encoder

    @property
    def dim(self) -> int:
        enc = self.encoder
        get = getattr(enc, "get_embedding_dimension", None) or enc.get_sentence_embedding_dimension
        return int(get())

    @property
    def size(self) -> int:
        """Vectors currently cached."""
        return len(self._store)

    def clear(self) -> None:
        with self._lock:
            self._store.clear()

    def embed(self, texts: Sequence[str | None] | pl.Series) -> np.ndarray:
        """Unit-norm embeddings, one row per text (``float32``, shape ``(n, dim)``).

        ``None`` and empty texts get a zero vector (cosine 0 with everything), so callers never
        special-case missing fields.
        """
        if isinstance(texts, pl.Series):
            texts = texts.to_list()
        texts = ["" if t is None else str(t)[:MAX_CHARS] for t in texts]
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        # distinct, non-empty, not cached texts, in first-seen order
        missing: dict[bytes, str] = {}
        with self._lock:
            for key, text in zip(keys, texts, strict=True):
                if text.strip() and key not in self._store and key not in missing:
                    missing[key] = text
        if missing and self.disk is not None:  # second level: vectors another process embedded
            hexes = {k.hex(): k for k in missing}
            got = self.disk.read(list(hexes))
            if got is not None:
                vecs = got["vec"].to_numpy().astype(np.float32)
                with self._lock:
                    for hx, vec in zip(got["key"].to_list(), vecs, strict=True):
                        self._store[hexes[hx]] = vec
                        missing.pop(hexes[hx], None)
                    while len(self._store) > self.max_items:
                        self._store.popitem(last=False)
                self.n_disk += got.height
        if missing:
            vecs = self._encode(list(missing.values()))
            if self.disk is not None:
                self.disk.write(pl.DataFrame({"key": [k.hex() for k in missing],
                                              "vec": pl.Series(vecs, dtype=pl.Array(pl.Float32, vecs.shape[1]))}))
            with self._lock:
                for key, vec in zip(missing, vecs, strict=True):
                    self._store[key] = vec
                    self._store.move_to_end(key)
                while len(self._store) > self.max_items:
                    self._store.popitem(last=False)
                self.n_encoded += len(missing)
        out = np.zeros((n, self.dim), dtype=np.float32)
        with self._lock:
            for i, (key, text) in enumerate(zip(keys, texts, strict=True)):
                if not text.strip():
                    continue
                vec = self._store.get(key)
                if vec is None:  # evicted between the two locks (tiny cache): encode again
                    vec = self._encode([text])[0]
                out[i] = vec
            self.n_hits += n - len(missing)
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        show = self.show_progress and len(texts) > self.batch_size * 4
        vecs = self.encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=show)
        return np.asarray(vecs, dtype=np.float32)

    def embed_pairs(self, batch: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of ``instruction`` and ``response`` (``text`` stands in for a missing response).

        Both columns are embedded in one call so texts shared between them are encoded once.
        """
        n = batch.height
        instr = _column(batch, "instruction", n)
        resp = _column(batch, "response", n)
        text = _column(batch, "text", n)
        resp = [r if (r is not None and r != "") else t for r, t in zip(resp, text, strict=True)]
        both = self.embed(instr + resp)
        return both[:n], both[n:]


def _column(batch: pl.DataFrame, name: str, n: int) -> list[str | None]:
    if name in batch.columns:
        return batch.get_column(name).cast(pl.String).to_list()
    return [None] * n


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of unit-norm (or zero) vectors."""
    return np.einsum("ij,ij->i", a, b).astype(np.float64)


@cache
def default_embedder() -> EmbeddingCache:
    """The process-wide cache used by the relevance and quality filters."""
    return EmbeddingCache()


class EmbeddingFilter(Filter):
    """A model filter scored from the shared MiniLM embeddings of instruction and response.

    Subclasses name their one score column (:attr:`score_column`) and implement
    :meth:`score_embedded`; embedding, caching and the empty-batch case are handled here, once.
    """

    #: The ``<name>.<signal>`` column :meth:`score` returns.
    score_column: ClassVar[str]

    def __init__(self, embedder: EmbeddingCache | None = None) -> None:
        self._embedder = embedder

    @property
    def embedder(self) -> EmbeddingCache:
        """The cache passed in, else the process-wide :func:`default_embedder`."""
        return self._embedder if self._embedder is not None else default_embedder()

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        ids = batch.get_column("submission_id")
        values = (self.score_embedded(batch, *self.embedder.embed_pairs(batch)) if batch.height
                  else np.zeros(0))
        return pl.DataFrame({"submission_id": ids,
                             self.score_column: pl.Series(values, dtype=pl.Float64).fill_nan(None)})

    @abstractmethod
    def score_embedded(self, batch: pl.DataFrame, instr: np.ndarray, resp: np.ndarray) -> np.ndarray:
        """One float per row of ``batch``; NaN where there is nothing to judge (the item passes)."""
