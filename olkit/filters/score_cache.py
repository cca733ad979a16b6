"""A content-addressed score cache on disk, shared by processes and notebooks.

Model scores of a text never change for a fixed model and scorer version, so they are kept under
``<olkit cache>/<kind>/<settings key>/`` as Parquet parts keyed by a content hash: a second run, a
different policy, another notebook of the tour or another process reads them instead of running
the model again.  Writers add a part atomically (temp file + rename); when there are more than
``max_parts`` parts they are merged into one (readers that lose the race read nothing and
recompute, never wrong rows).

Example
-------
>>> import tempfile, polars as pl
>>> cache = PartCache(tempfile.mkdtemp())
>>> cache.write(pl.DataFrame({"key": ["a", "b"], "x": [1.0, 2.0]}))
>>> cache.read(["b", "c"])["x"].to_list()
[2.0]
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from olkit.kit import atomic_file


def settings_key(*parts: object) -> str:
    """A short stable hash of the settings that determine a score (model, truncation, version ...)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def default_folder(kind: str, key: str) -> Path:
    """``<olkit cache>/<kind>/<key>`` (``$OLKIT_CACHE`` or ``~/.cache/olkit``)."""
    from olkit.embedded import cache_dir

    return cache_dir() / kind / key


class PartCache:
    """Rows keyed by a ``key`` string column, stored as Parquet parts in ``folder``."""

    def __init__(self, folder: str | Path, *, max_parts: int = 64) -> None:
        self.folder = Path(folder)
        self.max_parts = int(max_parts)

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet")) if self.folder.is_dir() else []

    def read(self, keys: Sequence[str]) -> pl.DataFrame | None:
        """The cached rows whose ``key`` is in ``keys`` (each key once), or ``None`` if none are cached."""
        if not self.parts():
            return None
        want = pl.DataFrame({"key": list(dict.fromkeys(keys))}, schema={"key": pl.String})
        try:
            got = (pl.scan_parquet(str(self.folder / "part-*.parquet")).join(want.lazy(), on="key", how="semi")
                   .unique("key", keep="first").collect())
        except (OSError, pl.exceptions.PolarsError):  # a part compacted away by another process
            return None
        return got if got.height else None

    def write(self, frame: pl.DataFrame) -> None:
        """Add rows (a ``key`` column plus values) as one new part; merge parts past ``max_parts``."""
        if frame.height == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_part(frame)
        parts = self.parts()
        if len(parts) > self.max_parts:  # keep scans fast: merge the small parts into one
            try:
                merged = pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed").unique(
                    "key", keep="first", maintain_order=True)
            except (OSError, pl.exceptions.PolarsError):  # another process is compacting: leave it to them
                return
            self._write_part(merged)
            for p in parts:
                p.unlink(missing_ok=True)

    def _write_part(self, frame: pl.DataFrame) -> None:
        with atomic_file(self.folder / f"part-{uuid.uuid4().hex}.parquet") as tmp:
            frame.write_parquet(tmp)
