"""Column mappings: how a foreign record layout becomes olkit's submission columns.

A mapping is a *preset* (a known layout) plus per-field overrides.  Spec syntax (CLI ``--map``)::

    alpaca                                   # a preset
    instruction=question,response=answer     # field=column
    alpaca,contributor_id='stanford'         # preset + a literal (quoted) value
    sharegpt,contributor_id=user,license='CC-BY-4.0'

Presets:

* ``olkit`` — columns already carry olkit's names (``contributor_id, instruction, response ...``);
* ``alpaca`` — ``instruction`` + optional ``input`` (appended after a blank line) → instruction,
  ``output`` → response;
* ``dolly`` — ``instruction`` + ``context`` → instruction, ``response`` → response;
* ``sharegpt`` — ``conversations: [{from, value}, ...]``: first human turn → instruction, first
  model turn → response;
* ``openai`` — ``messages: [{role, content}, ...]``: first user turn → instruction, first
  assistant turn → response.

Without a spec the preset is detected from the columns.  In every preset an ``id`` column becomes
``source_id`` when there is no ``source_id``.  **Nothing is dropped**: every source column the
mapping did not use goes into ``meta`` (JSON), and a chat with more than one exchange keeps its
whole conversation there too.

Example
-------
>>> m = ColumnMap.parse("alpaca,contributor_id='ann'")
>>> m.preset, m.literals
('alpaca', {'contributor_id': 'ann'})
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from olkit.errors import InputError

#: Fields a mapping may set.
TARGETS = ("contributor_id", "instruction", "response", "text", "source_id", "license",
           "created_at", "parent_id", "datanet")
_STRING_TARGETS = tuple(t for t in TARGETS if t != "created_at")
_CONTENT = ("instruction", "response", "text")
_HUMAN = ["human", "user", "prompter"]
_MODEL = ["gpt", "assistant", "chatgpt", "bard", "model", "bot"]

#: ``created_at`` must lie in [1900-01-01, 2200-01-01) UTC (a number is epoch *seconds*).
TIME_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))
EPOCH_RANGE = (TIME_RANGE[0].timestamp(), TIME_RANGE[1].timestamp())
_LITERAL = "_literal:"
#: Hidden column holding the original text of a numeric ``created_at`` outside :data:`TIME_RANGE`.
BAD_TIME = "_created_at_out_of_range"

_Builder = Callable[[set[str]], tuple[dict[str, pl.Expr], set[str], dict[str, pl.Expr]]]


def _join_nonempty(a: str, b: str) -> pl.Expr:
    second = pl.col(b).cast(pl.String)
    return (
        pl.when(second.is_null() | (second.str.strip_chars() == ""))
        .then(pl.col(a).cast(pl.String))
        .otherwise(pl.concat_str([pl.col(a).cast(pl.String), pl.lit("\n\n"), second], ignore_nulls=True))
    )


def _olkit(cols: set[str]) -> tuple[dict[str, pl.Expr], set[str], dict[str, pl.Expr]]:
    exprs = {t: pl.col(t) for t in TARGETS if t in cols}
    return exprs, set(exprs), {}


def _alpaca(cols: set[str]) -> tuple[dict[str, pl.Expr], set[str], dict[str, pl.Expr]]:
    _require(cols, ("instruction", "output"), "alpaca")
    instruction = _join_nonempty("instruction", "input") if "input" in cols else pl.col("instruction")
    return {"instruction": instruction, "response": pl.col("output")}, {"instruction", "input", "output"}, {}


def _dolly(cols: set[str]) -> tuple[dict[str, pl.Expr], set[str], dict[str, pl.Expr]]:
    _require(cols, ("instruction", "response"), "dolly")
    instruction = _join_nonempty("instruction", "context") if "context" in cols else pl.col("instruction")
    return ({"instruction": instruction, "response": pl.col("response")},
            {"instruction", "context", "response"}, {})


def _chat(list_col: str, who: str, what: str, preset: str) -> _Builder:
    def build(cols: set[str]) -> tuple[dict[str, pl.Expr], set[str], dict[str, pl.Expr]]:
        _require(cols, (list_col,), preset)
        turns = pl.col(list_col)

        def first(roles: list[str]) -> pl.Expr:
            return turns.list.eval(
                pl.element().filter(pl.element().struct.field(who).str.to_lowercase().is_in(roles))
                .struct.field(what)
            ).list.first().cast(pl.String)

        keep_whole = pl.when(turns.list.len() > 2).then(turns).otherwise(None)
        return ({"instruction": first(_HUMAN), "response": first(_MODEL)}, {list_col},
                {list_col: keep_whole})

    return build


#: Known layouts.
PRESETS: dict[str, _Builder] = {
    "olkit": _olkit,
    "alpaca": _alpaca,
    "dolly": _dolly,
    "sharegpt": _chat("conversations", "from", "value", "sharegpt"),
    "openai": _chat("messages", "role", "content", "openai"),
}


def _require(cols: set[str], needed: Sequence[str], preset: str) -> None:
    for name in needed:
        if name not in cols:
            raise InputError(f"the {preset!r} layout needs a column {name!r}; columns present: "
                             f"{sorted(cols)}", field=name)


def detect_preset(columns: Sequence[str]) -> str:
    """The preset that fits these columns (``olkit`` when none of the foreign layouts does)."""
    cols = set(columns)
    if cols & set(_CONTENT) and not ({"output", "context", "conversations", "messages"} & cols):
        return "olkit"
    if "conversations" in cols:
        return "sharegpt"
    if "messages" in cols:
        return "openai"
    if {"instruction", "output"} <= cols:
        return "alpaca"
    if {"instruction", "response", "context"} <= cols:
        return "dolly"
    return "olkit"


_ITEM = re.compile(r"""\s*([A-Za-z_]+)\s*=\s*(?:'([^']*)'|"([^"]*)"|([^,'"]+?))\s*(?:,|$)""")


@dataclass(frozen=True)
class ColumnMap:
    """A preset (``None`` = detect from the columns) plus ``field -> column`` and ``field -> literal``."""

    preset: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    literals: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.preset is not None and self.preset not in PRESETS:
            raise InputError(f"unknown mapping preset {self.preset!r}; known: {sorted(PRESETS)}",
                             field="--map")
        for target in (*self.columns, *self.literals):
            if target not in TARGETS:
                raise InputError(f"cannot map to {target!r}; mappable fields: {list(TARGETS)}",
                                 field="--map")

    @classmethod
    def parse(cls, spec: str | Mapping[str, str] | ColumnMap | None) -> ColumnMap:
        """Parse a ``--map`` spec (see module docs), a ``{field: column}`` dict, or pass through."""
        if spec is None or isinstance(spec, ColumnMap):
            return spec or cls()
        if isinstance(spec, Mapping):
            return cls(columns=dict(spec))
        spec = spec.strip()
        preset = None
        head, _, rest = spec.partition(",")
        if "=" not in head:
            preset, spec = head.strip() or None, rest
        columns: dict[str, str] = {}
        literals: dict[str, str] = {}
        pos = 0
        spec = spec.strip()
        while pos < len(spec):
            m = _ITEM.match(spec, pos)
            if not m or m.end() == pos:
                raise InputError(f"cannot parse mapping {spec[pos:]!r}: expected field=column or "
                                 f"field='literal', separated by commas", field="--map")
            target, lit1, lit2, column = m.groups()
            if column is not None:
                columns[target] = column.strip()
            else:
                literals[target] = lit1 if lit1 is not None else lit2
            pos = m.end()
        return cls(preset=preset, columns=columns, literals=literals)

    def resolved_preset(self, columns: Sequence[str]) -> str:
        """The preset used for a source with these columns."""
        if self.preset is not None:
            return self.preset
        if set(_CONTENT) & (set(self.columns) | set(self.literals)):
            return "olkit"  # the user maps the content explicitly
        return detect_preset(columns)

    def apply(self, raw: pl.DataFrame, *, file: str | None = None,
              literals: Callable[[pl.DataFrame, list[str]], dict[str, pl.Series]] | None = None) -> pl.DataFrame:
        """Map a raw batch to olkit columns (strings; ``created_at`` as found) plus ``meta``.

        Extra columns starting with ``_`` (reader bookkeeping such as ``_pos``) pass through.
        ``literals`` (a reader's :meth:`~olkit.ingest.readers.Reader.literals`) gives the exact
        source text of JSON numbers, used for every text field fed straight from such a column.
        """
        book = [c for c in raw.columns if c.startswith("_")]
        cols = {c for c in raw.columns if not c.startswith("_")}
        preset = self.resolved_preset(sorted(cols))
        exprs, used, keep = PRESETS[preset](cols)
        overridden = set(self.columns) | set(self.literals)
        if preset == "olkit":  # an identity column that is overridden is not used: it goes to meta
            used -= overridden
        for target, column in self.columns.items():
            if column not in cols:
                raise InputError(f"the mapping {target}={column} names a column that is not there; "
                                 f"columns present: {sorted(cols)}", file=file, field=column)
            exprs[target] = pl.col(column)
        used |= set(self.columns.values())
        if "source_id" not in exprs and "id" in cols:
            exprs["source_id"] = pl.col("id")
            used.add("id")
        for target, value in self.literals.items():
            exprs[target] = pl.lit(value, dtype=pl.String)
        if literals is not None:  # text fed from JSON numbers: their exact source text
            fed = {t: e.meta.output_name() for t, e in exprs.items() if t != "created_at" and e.meta.is_column()}
            found = literals(raw, sorted(set(fed.values()))) if fed else {}
            if found:
                raw = raw.with_columns(s.alias(_LITERAL + c) for c, s in found.items())
                for target, column in fed.items():
                    if column in found:
                        exprs[target] = pl.coalesce(pl.col(_LITERAL + column), pl.col(column).cast(pl.String))
        if "contributor_id" not in exprs:
            raise InputError("no contributor_id: the source has no 'contributor_id' column; map one "
                             "(--map contributor_id=COLUMN) or give a literal (--map contributor_id='name'); "
                             f"columns present: {sorted(cols)}", file=file, field="contributor_id")
        if not set(exprs) & set(_CONTENT):
            raise InputError("no content: map at least one of instruction/response/text; columns present: "
                             f"{sorted(cols)}", file=file, field="instruction")
        out = raw.select(*[e.alias(t) for t, e in exprs.items()], *book)
        out = _coerce(out, raw, exprs, file)
        rest = [c for c in raw.columns if c not in used and not c.startswith("_")]
        meta_fields = [pl.col(c) for c in rest] + [e.alias(c) for c, e in keep.items()]
        meta = (raw.select(pl.struct(meta_fields).struct.json_encode().alias("meta"))["meta"]
                if meta_fields else pl.Series("meta", [None] * raw.height, dtype=pl.String))
        return out.with_columns(meta)


def _coerce(out: pl.DataFrame, raw: pl.DataFrame, exprs: dict[str, pl.Expr], file: str | None) -> pl.DataFrame:
    fixes = []
    for name in exprs:
        dtype = out.schema[name]
        if name == "created_at":
            if dtype.is_numeric():  # epoch seconds; outside the sane range: null + flagged for prepare_batch
                secs = pl.col(name).cast(pl.Float64)
                ok = secs.is_between(EPOCH_RANGE[0], EPOCH_RANGE[1], closed="left").fill_null(True)
                fixes.append(pl.when(ok).then((secs.fill_nan(0.0).clip(*EPOCH_RANGE) * 1e6).cast(pl.Int64)
                                              .cast(pl.Datetime("us", "UTC"))).otherwise(None).alias(name))
                fixes.append(pl.when(ok).then(None).otherwise(pl.col(name).cast(pl.String)).alias(BAD_TIME))
            elif isinstance(dtype, pl.Datetime):
                col = pl.col(name) if dtype.time_zone else pl.col(name).dt.replace_time_zone("UTC")
                fixes.append(col.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias(name))
            elif isinstance(dtype, pl.Date):
                fixes.append(pl.col(name).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias(name))
            elif dtype in (pl.String, pl.Null):
                fixes.append(pl.col(name).cast(pl.String))
            else:
                raise InputError(f"created_at must be a timestamp, a date, an ISO string or epoch seconds, "
                                 f"not {dtype}", file=file, field="created_at")
        elif dtype == pl.String:
            continue
        elif dtype == pl.Binary:  # bytes: fine when they are UTF-8 text
            try:
                text = out[name].cast(pl.String)
            except pl.exceptions.PolarsError:  # error path: find the first row in Python
                first = next(i for i, v in enumerate(out[name].to_list()) if v is not None and not _is_utf8(v))
                where = int(out["_pos"][first]) if "_pos" in out.columns else first
                raise InputError("expected text but found bytes that are not UTF-8", file=file, row=where,
                                 field=name) from None
            fixes.append(text.alias(name))
        elif dtype.is_nested() or isinstance(dtype, pl.Object):
            bad = out.filter(pl.col(name).is_not_null())
            where = int(bad["_pos"][0]) if "_pos" in bad.columns and bad.height else None
            raise InputError(f"expected text but found {dtype} values", file=file, row=where, field=name)
        else:
            fixes.append(pl.col(name).cast(pl.String))
    return out.with_columns(fixes) if fixes else out


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
