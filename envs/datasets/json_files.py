"""Reading JSON and JSON Lines data files that may be broken or hostile.

Whatever the bytes, a reader raises DatasetFormatError naming the file (and the
record or line), never a parser's own error: nesting deeper than Python can
recurse, an integer longer than it converts, bytes that are not UTF-8. JSON
arrays are parsed one item at a time, so that an error names its record.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from agent_r1.envs.datasets.records import DatasetFormatError


class OversizedInt:
    """An integer literal longer than Python converts (sys.get_int_max_str_digits()).

    json would raise a bare ValueError on it; kept as this marker instead, it is
    harmless in a field no loader reads and fails by name in one that is checked."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"an integer of {self.digits} digits"


# 0 (no limit) before Python 3.10.7, which added the limit.
_INT_DIGITS_LIMIT = getattr(sys, "get_int_max_str_digits", lambda: 0)


def _parse_int(text: str) -> int | OversizedInt:
    digits = len(text) - text.startswith("-")
    limit = _INT_DIGITS_LIMIT()
    return OversizedInt(digits) if limit and digits > limit else int(text)


_DECODER = json.JSONDecoder(parse_int=_parse_int)
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's own, narrower than str.isspace


def kind(value: Any) -> str:
    """A value's JSON-ish type, for messages."""
    return repr(value) if isinstance(value, OversizedInt) else type(value).__name__


def json_value(text: str, pos: int = 0) -> tuple[Any, int]:
    """One JSON value starting at `pos` and the offset after it.

    Nesting deeper than the interpreter can recurse (a file of 100,000 `[`) comes
    back as a JSONDecodeError, so that every caller has one error to report."""
    try:
        return _DECODER.raw_decode(text, pos)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, pos) from None


def decode_json(text: str) -> Any:
    """json.loads with json_value's guarantees."""
    value, end = json_value(text, _WHITESPACE.match(text).end())
    end = _WHITESPACE.match(text, end).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: a leading byte-order mark is not part of the JSON
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _array_records(path: Path, text: str, start: int) -> list[tuple[int | None, Any]]:
    """The items of the JSON array at `start`, parsed one at a time so that an error names its record."""
    records: list[tuple[int | None, Any]] = []
    pos = _WHITESPACE.match(text, start + 1).end()
    closed = text.startswith("]", pos)
    try:
        while not closed:
            value, pos = json_value(text, pos)
            records.append((None, value))
            pos = _WHITESPACE.match(text, pos).end()
            closed = text.startswith("]", pos)
            if not closed:
                if not text.startswith(",", pos):
                    raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
                pos = _WHITESPACE.match(text, pos + 1).end()
        end = _WHITESPACE.match(text, pos + 1).end()
        if end != len(text):
            raise json.JSONDecodeError("Extra data after the array", text, end)
    except json.JSONDecodeError as exc:
        where = f" (record {len(records)})" if not closed else ""
        raise DatasetFormatError(f"{path}: broken JSON array at line {exc.lineno}, column {exc.colno}{where}: {exc.msg}") from None
    return records


def _line_records(path: Path, text: str) -> list[tuple[int | None, Any]]:
    records: list[tuple[int | None, Any]] = []
    # Split at "\n" only: str.splitlines also breaks at U+2028 and others, which JSON strings may hold raw.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, decode_json(line)))
        except json.JSONDecodeError as exc:
            raise DatasetFormatError(f"{path}: line {number} is not a JSON object ({exc.msg}); expected JSON Lines or a JSON array") from None
    return records


def read_numbered_records(path: str | Path) -> list[tuple[int | None, Any]]:
    """(line number, record) for each record of a JSON Lines file; (None, record) for a JSON array."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise DatasetFormatError(f"{path}: the file is empty")
    start = _WHITESPACE.match(text).end()
    if text.startswith("[", start):
        return _array_records(path, text, start)
    return _line_records(path, text)
