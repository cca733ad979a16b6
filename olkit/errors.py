"""Errors that reach the user with a clear message (file, row, field) instead of a traceback."""

from __future__ import annotations


class OlkitError(Exception):
    """Base of every error olkit raises on purpose."""


class InputError(OlkitError, ValueError):
    """Bad input data.  ``str(err)`` names the file, the line/row and the field when known."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.row, self.field, self.message = file, row, field, message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"line {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
