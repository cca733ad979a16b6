"""Readers: turn a file, a saved HF dataset or an in-memory frame into raw polars batches.

Every batch carries a ``_pos`` column (Int64) saying where each record came from: the physical
line for line-based files (JSONL, CSV: the header is line 1), the 0-based row for Parquet,
HF datasets and frames.  Readers check what the file *is* before anything is written: invalid
UTF-8 names its line, a broken JSON line names its line, an empty file says so.

Supported: ``.jsonl``/``.ndjson`` (optionally ``.gz``), ``.json`` (an array of objects),
``.csv``/``.tsv`` (optionally ``.gz``), ``.parquet``, a folder written by
``datasets.Dataset.save_to_disk`` (Dataset or DatasetDict), and in memory a polars or pandas
DataFrame or a ``datasets.Dataset``/``DatasetDict``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from olkit.errors import InputError

#: Bytes of JSONL parsed at once (bounded memory whatever the file size).
DEFAULT_BATCH_BYTES = 32 * 1024 * 1024
#: Rows per batch for row-based sources.
DEFAULT_BATCH_ROWS = 100_000

_JSONL = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 13, 32]] = True


class RecordError(InputError):
    """An :class:`InputError` whose position is a ``line`` or a ``row`` (parquet, frames)."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None, unit: str = "line") -> None:
        super().__init__(message, file=file, row=row, field=field)
        self.unit = unit
        if unit != "line" and row is not None:
            self.args = (str(self.args[0]).replace(f"line {row}", f"{unit} {row}", 1),)


@dataclass
class Reader:
    """Base reader: ``label`` is recorded as the submission's ``source``; ``unit`` names ``_pos``."""

    label: str
    unit: str = "row"
    info: dict[str, Any] = field(default_factory=dict)
    #: ``"raise"`` (default): the first bad record stops everything; ``"skip"``: bad records are
    #: left out and listed in :attr:`rejected` (what could be parsed is kept).
    on_error: str = "raise"
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, pos: int | None, reason: str, field: str | None = None) -> None:
        """Record a record left out in ``on_error="skip"`` mode."""
        self.rejected.append({"source": self.label, "position": f"{self.unit} {pos}" if pos is not None else None,
                              "field": field, "reason": reason})

    def batches(self) -> Iterator[pl.DataFrame]:  # pragma: no cover - abstract
        raise NotImplementedError

    def literals(self, frame: pl.DataFrame, columns: list[str]) -> dict[str, pl.Series]:
        """For the batch just yielded: the exact source text of JSON numbers in ``columns``.

        Only JSON readers have any (a number's literal digits, which polars turns into a float);
        the mapping uses them for every text field fed from such a column, ids above all.
        """
        return {}

    def error(self, message: str, pos: int | None = None, field: str | None = None) -> RecordError:
        return RecordError(message, file=self.label, row=pos, field=field, unit=self.unit)

    @property
    def size_hint(self) -> int | None:
        """Total bytes (files) or rows (in memory), for progress bars."""
        return None


def _utf8_error(label: str, chunk: bytes, first_line: int, err: UnicodeDecodeError) -> RecordError:
    before = chunk[: err.start]
    line = first_line + before.count(b"\n")
    column = err.start - (before.rfind(b"\n") + 1) + 1
    bad = chunk[err.start: err.start + 1].hex()
    return RecordError(f"not valid UTF-8 (byte 0x{bad} at column {column}); re-encode the file as UTF-8",
                       file=label, row=line)


def _nonblank_lines(chunk: bytes) -> np.ndarray:
    """0-based indices of the lines of ``chunk`` that hold something besides whitespace."""
    arr = np.frombuffer(chunk, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(arr)]))
    lengths = ends - starts
    # a line is blank when empty; lines that could be whitespace-only (first byte is whitespace)
    # are checked one by one, which is rare in real files
    first = arr[np.minimum(starts, len(arr) - 1)] if len(arr) else np.zeros(0, dtype=np.uint8)
    maybe = np.flatnonzero((lengths > 0) & _WS[first])
    keep = lengths > 0
    for i in maybe:
        keep[i] = bool(chunk[starts[i]: ends[i]].strip())
    return np.flatnonzero(keep)


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


@dataclass
class JsonlReader(Reader):
    """JSON Lines, parsed by polars in newline-aligned chunks of ``batch_bytes``."""

    path: Path = Path()
    batch_bytes: int = DEFAULT_BATCH_BYTES
    unit: str = "line"

    @property
    def size_hint(self) -> int | None:
        return self.path.stat().st_size

    def batches(self) -> Iterator[pl.DataFrame]:
        digest = hashlib.sha256()
        line = 1  # number of the first line of the current chunk
        records = 0
        tail = b""
        with _open_bytes(self.path) as fh:
            first = True
            while True:
                block = fh.read(self.batch_bytes)
                digest.update(block)
                if first and block.startswith(b"\xef\xbb\xbf"):
                    block = block[3:]
                first = False
                data = tail + block
                if not block:
                    chunk, tail = data, b""
                else:
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        tail = data
                        continue
                    chunk, tail = data[: cut + 1], data[cut + 1:]
                if chunk:
                    frame = self._parse(chunk, line)
                    line += chunk.count(b"\n")
                    if frame is not None:
                        records += frame.height
                        self.info["bytes_read"] = self.info.get("bytes_read", 0) + len(chunk)
                        yield frame
                if not block:
                    break
        self.info.update(sha256=digest.hexdigest(), records=records)
        if records == 0 and self.rejected:
            first = self.rejected[0]
            raise self.error(f"no readable record: all {len(self.rejected)} were rejected "
                             f"(first: {first['position']}: {first['reason']})")
        if records == 0:
            raise self.error("the file is empty: no JSON records (one JSON object per line expected)")

    def _parse(self, chunk: bytes, first_line: int) -> pl.DataFrame | None:
        # polars validates UTF-8 while parsing; on any error we locate the line ourselves
        nonblank = _nonblank_lines(chunk)
        if nonblank.size == 0:
            return None
        try:
            frame = pl.read_ndjson(chunk, infer_schema_length=None)
        except Exception as err:  # noqa: BLE001 - polars raises several types; we locate the line
            if self.on_error != "skip":
                raise self._locate(chunk, first_line, err) from None
            chunk = self._blank_bad_lines(chunk, first_line)
            nonblank = _nonblank_lines(chunk)
            if nonblank.size == 0:
                return None
            try:
                frame = pl.read_ndjson(chunk, infer_schema_length=None)
            except Exception as err2:  # noqa: BLE001 - e.g. a field that is an object here, a list there
                raise self._locate(chunk, first_line, err2) from None
        if frame.height != nonblank.size:  # should not happen; be loud rather than mislabel lines
            raise self._locate(chunk, first_line, None)
        self._batch = (chunk, nonblank)
        return frame.with_columns(pl.Series("_pos", nonblank + first_line, dtype=pl.Int64))

    def literals(self, frame: pl.DataFrame, columns: list[str]) -> dict[str, pl.Series]:
        chunk, nonblank = getattr(self, "_batch", (b"", None))
        return _line_literals(frame, chunk, nonblank, columns)

    def _blank_bad_lines(self, chunk: bytes, first_line: int) -> bytes:
        """Skip mode: empty every line that is not UTF-8 JSON object (keeps line numbers), record why."""
        lines = chunk.split(b"\n")
        for offset, raw in enumerate(lines):
            if not raw.strip():
                continue
            reason = None
            try:
                value = json.loads(raw.decode("utf-8"))
                if not isinstance(value, dict):
                    reason = f"expected a JSON object, found a JSON {type(value).__name__}"
            except UnicodeDecodeError:
                reason = "not valid UTF-8"
            except json.JSONDecodeError as bad:
                reason = f"not valid JSON ({bad.msg} at column {bad.colno})"
            if reason is not None:
                self.reject(first_line + offset, reason)
                lines[offset] = b""
        return b"\n".join(lines)

    def _locate(self, chunk: bytes, first_line: int, err: Exception | None) -> RecordError:
        """The first line that is not UTF-8 JSON object (error path only: Python, line by line)."""
        for offset, raw in enumerate(chunk.split(b"\n")):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                return _utf8_error(self.label, raw, first_line + offset, bad)
            try:
                value = json.loads(text)
            except json.JSONDecodeError as bad:
                return self.error(f"not valid JSON ({bad.msg} at column {bad.colno})", first_line + offset)
            if not isinstance(value, dict):
                return self.error(f"expected a JSON object, found a JSON {type(value).__name__}",
                                  first_line + offset)
        return self.error(f"could not read the records: {str(err).splitlines()[0] if err else 'unknown error'}")


@dataclass
class JsonArrayReader(Reader):
    """A ``.json`` file holding one array of objects (the original Alpaca/Dolly distribution)."""

    path: Path = Path()
    unit: str = "record"

    def batches(self) -> Iterator[pl.DataFrame]:
        data = self.path.read_bytes()
        self.info["sha256"] = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise _utf8_error(self.label, data, 1, err) from None
        if not text.strip():
            raise RecordError("the file is empty: expected a JSON array of objects", file=self.label)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as bad:
            raise RecordError(f"not valid JSON ({bad.msg} at column {bad.colno})", file=self.label,
                              row=bad.lineno) from None
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not value:
            raise RecordError("expected a non-empty JSON array of objects", file=self.label)
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"expected a JSON object, found a JSON {type(item).__name__}", i)
        try:
            frame = pl.from_dicts(value, infer_schema_length=None)
        except Exception:  # noqa: BLE001 - e.g. an int beyond int64 next to text: as a float (literal kept)
            wide = [{k: float(v) if type(v) is int and not -(2**63) <= v < 2**63 else v for k, v in item.items()}
                    for item in value]
            try:
                frame = pl.from_dicts(wide, infer_schema_length=None)
            except Exception as err:  # noqa: BLE001
                raise self.error(f"the records do not fit one table: {str(err).splitlines()[0]}") from None
        self._records, self._text = value, text
        self.info["records"] = frame.height
        yield frame.with_row_index("_pos").with_columns(pl.col("_pos").cast(pl.Int64))


    def literals(self, frame: pl.DataFrame, columns: list[str]) -> dict[str, pl.Series]:
        records = getattr(self, "_records", [])
        numeric = [c for c in columns if any(isinstance(v := item.get(c), int | float) and not isinstance(v, bool)
                                             for item in records)]
        if not numeric:
            return {}
        again = json.loads(self._text, parse_int=_Literal, parse_float=_Literal)
        return {c: pl.Series(c, [str(v) if isinstance(v := item.get(c), _Literal) else None for item in again],
                             dtype=pl.String) for c in numeric}


@dataclass
class CsvReader(Reader):
    """CSV/TSV with a header line; every column is read as text (no type guessing)."""

    path: Path = Path()
    batch_rows: int = DEFAULT_BATCH_ROWS
    unit: str = "line"

    @property
    def size_hint(self) -> int | None:
        return self.path.stat().st_size

    def batches(self) -> Iterator[pl.DataFrame]:
        with _open_bytes(self.path) as fh:
            data = fh.read()
        self.info["sha256"] = hashlib.sha256(data).hexdigest()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise _utf8_error(self.label, data, 1, err) from None
        if not data.strip():
            raise self.error("the file is empty: expected a header line and at least one row")
        sep = "\t" if ".tsv" in self.path.suffixes else ","
        try:
            frame = pl.read_csv(io.BytesIO(data), separator=sep, infer_schema=False)
        except Exception as err:  # noqa: BLE001
            raise self._locate(data, sep, err) from None
        if frame.height == 0:
            raise self.error("the file has a header but no rows")
        self.info["records"] = frame.height
        # data row i (0-based) is on line i + 2 when no field spans several lines
        frame = frame.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("_pos"))
        for start in range(0, frame.height, self.batch_rows):
            yield frame.slice(start, self.batch_rows)


    def _locate(self, data: bytes, sep: str, err: Exception) -> RecordError:
        """Find the first malformed CSV row with the csv module (error path only)."""
        import csv

        rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=sep, strict=True)
        try:
            header = next(rows)
            for row in rows:
                if len(row) != len(header):
                    return self.error(f"expected {len(header)} fields (as in the header), found {len(row)}",
                                      rows.line_num)
        except csv.Error as bad:
            return self.error(f"not valid CSV: {bad}", rows.line_num)
        return self.error(f"not a valid CSV file: {str(err).splitlines()[0]}")


@dataclass
class ParquetReader(Reader):
    """Parquet, streamed in row batches with pyarrow."""

    path: Path = Path()
    batch_rows: int = DEFAULT_BATCH_ROWS

    @property
    def size_hint(self) -> int | None:
        return self.path.stat().st_size

    def batches(self) -> Iterator[pl.DataFrame]:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
        except Exception as err:  # noqa: BLE001
            raise self.error(f"not a readable Parquet file: {err}") from None
        if pf.metadata.num_rows == 0:
            raise self.error("the file is empty: no rows")
        self.info["records"] = pf.metadata.num_rows
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                digest.update(block)
        self.info["sha256"] = digest.hexdigest()
        start = 0
        for batch in pf.iter_batches(batch_size=self.batch_rows):
            frame = pl.from_arrow(batch)
            yield _with_pos(frame, start)
            start += frame.height


@dataclass
class FrameReader(Reader):
    """An in-memory polars or pandas DataFrame."""

    frame: Any = None
    batch_rows: int = DEFAULT_BATCH_ROWS

    @property
    def size_hint(self) -> int | None:
        return len(self.frame)

    def batches(self) -> Iterator[pl.DataFrame]:
        frame = self.frame if isinstance(self.frame, pl.DataFrame) else pl.from_pandas(self.frame)
        if frame.height == 0:
            raise self.error("the frame is empty: no rows")
        self.info["records"] = frame.height
        for start in range(0, frame.height, self.batch_rows):
            yield _with_pos(frame.slice(start, self.batch_rows), start)


@dataclass
class HFDatasetReader(Reader):
    """A ``datasets.Dataset`` / ``DatasetDict`` (in memory or loaded from ``save_to_disk``)."""

    dataset: Any = None
    batch_rows: int = DEFAULT_BATCH_ROWS

    def batches(self) -> Iterator[pl.DataFrame]:
        import datasets

        parts = (list(self.dataset.items()) if isinstance(self.dataset, datasets.DatasetDict)
                 else [(None, self.dataset)])
        total = sum(len(ds) for _, ds in parts)
        if total == 0:
            raise self.error("the dataset is empty: no rows")
        self.info["records"] = total
        for split, ds in parts:
            table = ds.with_format("arrow")
            for start in range(0, len(ds), self.batch_rows):
                frame = pl.from_arrow(table[start: start + self.batch_rows])
                if split is not None:
                    frame = frame.with_columns(pl.lit(split).alias("hf_split"))
                yield _with_pos(frame, start)


class _Literal(str):
    """A JSON number kept as the text it was written as (``json.loads`` hook)."""


def _line_literals(frame: pl.DataFrame, chunk: bytes, nonblank: np.ndarray | None,
                   columns: list[str]) -> dict[str, pl.Series]:
    """Exact text of the JSON numbers in ``columns`` of a JSONL chunk (``nonblank``: the record lines).

    polars parses JSON numbers into floats (``12345`` next to ``1.5`` becomes ``12345.0``;
    9007199254740993 becomes ...992), so text fields fed from numbers — contributor ids above all
    — would change or merge.  One regex over the chunk finds whether any wanted key holds a number
    at all (the common all-strings file stops there); otherwise the lines that do are parsed again
    with :mod:`json`, keeping each number's literal text.
    """
    cols = [c for c in columns if c in frame.columns and (frame.schema[c].is_numeric() or frame.schema[c] == pl.String)]
    if not cols or nonblank is None:
        return {}
    keys = {c: re.escape(json.dumps(c)) for c in cols}
    if not re.search(("(?:" + "|".join(keys.values()) + r")\s*:\s*-?[0-9]").encode(), chunk):
        return {}
    lines = pl.Series(chunk.decode("utf-8").split("\n")).gather(nonblank)
    out = {}
    for column, key in keys.items():
        hits = lines.str.contains(key + r"\s*:\s*-?[0-9]").arg_true()
        if not hits.len():
            continue
        texts: list[str | None] = [None] * frame.height
        for i, line in zip(hits.to_list(), lines.gather(hits).to_list(), strict=True):
            value = json.loads(line, parse_int=_Literal, parse_float=_Literal).get(column)
            if isinstance(value, _Literal):
                texts[i] = str(value)
        out[column] = pl.Series(column, texts, dtype=pl.String)
    return out


def _with_pos(frame: pl.DataFrame, start: int) -> pl.DataFrame:
    return frame.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + start).alias("_pos"))


def open_source(source: Any, *, name: str | None = None, batch_bytes: int = DEFAULT_BATCH_BYTES,
                on_error: str = "raise") -> Reader:
    """Pick the reader for a path or an in-memory object.  ``name`` overrides the recorded label."""
    if on_error not in ("raise", "skip"):
        raise InputError(f"on_error must be 'raise' or 'skip', not {on_error!r}", field="on_error")
    reader = _open(source, name, batch_bytes)
    reader.on_error = on_error
    return reader


def _open(source: Any, name: str | None, batch_bytes: int) -> Reader:
    if isinstance(source, pl.DataFrame) or type(source).__name__ == "DataFrame":
        return FrameReader(label=name or "frame", frame=source)
    if type(source).__name__ in ("Dataset", "DatasetDict"):
        return HFDatasetReader(label=name or "hf-dataset", dataset=source)
    if not isinstance(source, str | Path):
        raise InputError(f"cannot ingest a {type(source).__name__}: give a path, a polars/pandas "
                         f"DataFrame or a datasets.Dataset")
    path = Path(source)
    label = name or str(source)
    if not path.exists():
        raise InputError("no such file or folder", file=label)
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            import datasets

            try:
                ds = datasets.load_from_disk(str(path))
            except Exception as err:  # noqa: BLE001
                raise InputError(f"not a readable saved HF dataset: {err}", file=label) from None
            return HFDatasetReader(label=label, dataset=ds)
        found = sorted(p.name for p in path.iterdir() if _kind(p) is not None)
        raise InputError(f"a folder is only accepted when it is a saved HF dataset (save_to_disk); "
                         f"pass the data files instead{': ' + ', '.join(found) if found else ''}",
                         file=label)
    kind = _kind(path)
    if kind is None:
        raise InputError("unknown file type: expected .jsonl, .ndjson, .json, .csv, .tsv or .parquet "
                         "(.jsonl/.csv may be gzipped)", file=label)
    if path.stat().st_size == 0:
        raise InputError("the file is empty (0 bytes): nothing to ingest", file=label)
    if kind == "jsonl":
        return JsonlReader(label=label, path=path, batch_bytes=batch_bytes)
    if kind == "json":
        return JsonArrayReader(label=label, path=path)
    if kind == "csv":
        return CsvReader(label=label, path=path)
    return ParquetReader(label=label, path=path)


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_JSONL):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith(_CSV):
        return "csv"
    if name.endswith(".parquet"):
        return "parquet"
    return None
