"""Vectorised cleaning and parsing of attribute columns, collecting problems per row.

Every parser takes an Arrow array of any type (text from CSV/XLSX, typed columns
from GIS files), returns a typed Arrow array with nulls where nothing usable was
found, and records what was wrong in an :class:`Issues` collector, row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H时%M分%S秒",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日%H:%M",
    "%Y年%m月%d日",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
)
_ZONED_FORMATS = ("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z")

Array = pa.Array | pa.ChunkedArray
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


@dataclass
class _Part:
    idx: NDArray[np.intp]
    code: str
    reason: NDArray[np.object_]
    field: str | None
    value: NDArray[np.object_] | None
    loaded: bool


class Issues:
    """Problems found in one chunk of ``n`` rows, each with its row and reason."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.bad = np.zeros(n, dtype=bool)
        self.repaired = np.zeros(n, dtype=bool)
        self._parts: list[_Part] = []

    def add(
        self,
        mask: NDArray[np.bool_],
        code: str,
        reason: str | NDArray[np.object_],
        *,
        field: str | None = None,
        value: Array | NDArray[np.object_] | Callable[[NDArray[np.intp]], Any] | None = None,
        loaded: bool = False,
    ) -> None:
        """Record ``code`` for the rows where ``mask`` is true.

        ``reason`` and ``value`` are either one for all rows or aligned with the chunk;
        ``value`` may also be a function of the flagged positions (computed only then).
        ``loaded`` marks a note on a row that is still loaded (a repair, a warning).
        """
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        if isinstance(reason, str):
            reasons = np.full(idx.size, reason, dtype=object)
        else:
            reasons = np.asarray(reason, dtype=object)[idx]
        values = None
        if callable(value):
            values = np.asarray([_display(x) for x in value(idx)], dtype=object)
        elif value is not None:
            if isinstance(value, pa.Array | pa.ChunkedArray):
                picked = value.take(pa.array(idx))
                values = np.asarray([_display(v) for v in picked.to_pylist()], dtype=object)
            else:
                values = np.asarray([_display(v) for v in np.asarray(value)[idx]], dtype=object)
        self._parts.append(_Part(idx, code, reasons, field, values, loaded))
        if loaded:
            self.repaired[idx] = True
        else:
            self.bad[idx] = True

    def frame(self, row_no: NDArray[np.int64], keys: NDArray[np.object_]) -> pd.DataFrame:
        """One line per problem: row_no, natural_key, reason_code, reason, field, value, loaded."""
        if not self._parts:
            return empty_issue_frame()
        frames = [
            pd.DataFrame(
                {
                    "row_no": row_no[p.idx],
                    "natural_key": keys[p.idx],
                    "reason_code": p.code,
                    "reason": p.reason,
                    "field": p.field,
                    "value": p.value if p.value is not None else None,
                    "loaded": p.loaded,
                }
            )
            for p in self._parts
        ]
        out = pd.concat(frames, ignore_index=True)
        # a note on a row that was rejected anyway is no longer "loaded"
        out.loc[out["loaded"] & self.bad[_positions(out["row_no"], row_no)], "loaded"] = False
        return out.sort_values(["row_no", "loaded"], kind="stable").reset_index(drop=True)


ISSUE_COLUMNS = ("row_no", "natural_key", "reason_code", "reason", "field", "value", "loaded")


def empty_issue_frame() -> pd.DataFrame:
    """An issues frame with no rows and the right columns."""
    return pd.DataFrame(
        {
            "row_no": pd.Series(dtype="int64"),
            "natural_key": pd.Series(dtype=object),
            "reason_code": pd.Series(dtype=object),
            "reason": pd.Series(dtype=object),
            "field": pd.Series(dtype=object),
            "value": pd.Series(dtype=object),
            "loaded": pd.Series(dtype=bool),
        }
    )


def _positions(rows: pd.Series, row_no: NDArray[np.int64]) -> NDArray[np.intp]:
    return np.searchsorted(row_no, rows.to_numpy())


def _display(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def mask(arr: Array) -> NDArray[np.bool_]:
    """A boolean Arrow array as NumPy, nulls as False."""
    return np.asarray(arr.fill_null(False), dtype=bool)


def _chunk(arr: Array) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def text(arr: Array) -> pa.Array:
    """Trimmed text; blanks become null; whole numbers lose their '.0'."""
    arr = _chunk(arr)
    if pa.types.is_floating(arr.type):
        values = np.asarray(arr.fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=float)
        finite = np.isfinite(values)
        whole = finite & (np.mod(np.where(finite, values, 0), 1) == 0) & (np.abs(values) < 1e15)
        as_int = pa.array(np.where(whole, values, 0).astype(np.int64)).cast(pa.string())
        arr = pc.if_else(pa.array(whole), as_int, arr.cast(pa.string()))
        arr = pc.if_else(pa.array(~finite), pa.scalar(None, pa.string()), arr)
    elif pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        arr = pc.strftime(
            arr, format="%Y-%m-%d %H:%M:%S" if pa.types.is_timestamp(arr.type) else "%Y-%m-%d"
        )
    elif not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.string())
    # control characters are never meant (and NUL cannot be stored in PostgreSQL text)
    arr = arr.cast(pa.string())
    if _has_control(arr):
        arr = pc.replace_substring_regex(arr, _CONTROL, "")
    arr = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(arr, ""), None, arr)


def _has_control(arr: pa.Array) -> bool:
    """Whether any value holds a control character (a byte scan, far cheaper than a regex)."""
    data = arr.buffers()[2]
    if data is None:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    low = raw < 32
    if low.any():
        low &= (raw != 9) & (raw != 10) & (raw != 13)
    return bool(low.any() or (raw == 127).any())


def too_long(arr: pa.Array, max_len: int | None, issues: Issues, field: str) -> pa.Array:
    """Null out (and report) values longer than the column allows."""
    if max_len is None:
        return arr
    over = mask(pc.greater(pc.utf8_length(arr), max_len))
    issues.add(
        over, "too_long", f"{field} is longer than {max_len} characters", field=field, value=arr
    )
    return pc.if_else(pa.array(over), None, arr) if over.any() else arr


def required(arr: pa.Array, issues: Issues, field: str) -> None:
    """Report rows where a required value is missing."""
    issues.add(
        np.asarray(arr.is_null()), "missing_value", f"{field} is required but empty", field=field
    )


def code(
    arr: Array, issues: Issues, field: str, *, pattern: str | None, pad_to: int | None
) -> pa.Array:
    """Codes: text, 6/9-digit division codes padded to 12, checked against ``pattern``."""
    out = text(arr)
    if pad_to is not None:
        short = mask(
            pc.and_(
                pc.match_substring_regex(out, r"^\d+$"),
                pc.is_in(pc.utf8_length(out), pa.array([6, 9], pa.int32())),
            )
        )
        if short.any():
            out = pc.if_else(pa.array(short), pc.utf8_rpad(out, width=pad_to, padding="0"), out)
    if pattern is not None:
        bad = mask(pc.invert(pc.match_substring_regex(out, f"^(?:{pattern})$")))
        issues.add(
            bad, "bad_code", f"{field} is not a valid code ({pattern})", field=field, value=out
        )
        if bad.any():
            out = pc.if_else(pa.array(bad), None, out)
    return out


def choice(
    arr: Array,
    issues: Issues,
    field: str,
    *,
    choices: Mapping[str, str],
    keep_unknown: bool = False,
) -> pa.Array:
    """Map accepted spellings to stored values; others are reported (or kept as given)."""
    raw = text(arr)
    keys = pa.array(list(choices), pa.string())
    found = pc.index_in(pc.utf8_lower(raw), value_set=keys)
    mapped = pa.array(list(choices.values()), pa.string()).take(found)
    unknown = mask(pc.and_(pc.is_valid(raw), pc.is_null(found)))
    if keep_unknown:
        return pc.if_else(pa.array(unknown), raw, mapped)
    allowed = ", ".join(dict.fromkeys(choices.values()))
    issues.add(unknown, "bad_choice", f"{field} must be one of {allowed}", field=field, value=raw)
    return mapped


def number(
    arr: Array,
    issues: Issues,
    field: str,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> pa.Array:
    """Numbers from numeric or text columns; bad text, fractions and range errors reported."""
    arr = _chunk(arr)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        values = arr.cast(pa.float64())
    else:
        raw = text(arr)
        try:
            values = pc.cast(raw, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed = pd.to_numeric(
                pd.Series(raw.to_pylist(), dtype=object).str.replace(",", "", regex=False),
                errors="coerce",
            )
            values = pa.array(parsed.to_numpy(dtype=float), pa.float64(), from_pandas=True)
            bad = mask(pc.and_(pc.is_valid(raw), pc.is_null(values)))
            issues.add(bad, "bad_number", f"{field} is not a number", field=field, value=raw)
    np_values = values.to_numpy(zero_copy_only=False)
    finite = np.isfinite(np_values)
    bad = np.zeros(len(np_values), dtype=bool)
    if integer:
        frac = finite & (np.mod(np.where(finite, np_values, 0), 1) != 0)
        issues.add(frac, "bad_number", f"{field} must be a whole number", field=field, value=values)
        bad |= frac
    low = finite & (np_values < minimum) if minimum is not None else np.zeros_like(bad)
    high = finite & (np_values > maximum) if maximum is not None else np.zeros_like(bad)
    span = (
        f"between {_fmt(minimum)} and {_fmt(maximum)}"
        if maximum is not None
        else f"at least {_fmt(minimum)}"
    )
    issues.add(low | high, "out_of_range", f"{field} must be {span}", field=field, value=values)
    bad |= low | high
    keep = finite & ~bad
    out = pa.array(np.where(keep, np_values, 0.0), pa.float64(), mask=~keep)
    return out.cast(pa.int64()) if integer else out


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def timestamps(arr: Array, issues: Issues, field: str, *, tz: str) -> pa.Array:
    """Instants as naive UTC microseconds (timestamp[us]); wall times read in zone ``tz``.

    ``tz`` is the deployment's time zone (``CITYGRID_TIMEZONE``): a time written
    without an offset is a local wall-clock time there.

    >>> issues = Issues(2)
    >>> out = timestamps(pa.array(["2024-03-05 08:00", "2024-03-05T08:00:00+00:00"]),
    ...                  issues, "t", tz="Asia/Shanghai")
    >>> [str(t) for t in out.to_pylist()]
    ['2024-03-05 00:00:00', '2024-03-05 08:00:00']
    """
    arr = _chunk(arr)
    n = len(arr)
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is None:
            return _local_to_utc(arr.cast(pa.timestamp("us")), tz)
        return arr.cast(pa.timestamp("us", "UTC")).cast(pa.int64()).cast(pa.timestamp("us"))
    if pa.types.is_date(arr.type):
        return _local_to_utc(arr.cast(pa.timestamp("us")), tz)
    raw = text(arr)
    try:
        return _local_to_utc(pc.cast(raw, pa.timestamp("us")), tz)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    micros = np.zeros(n, dtype=np.int64)
    done = np.asarray(raw.is_null())
    for fmt in _ZONED_FORMATS + _DATETIME_FORMATS:
        todo = np.flatnonzero(~done)
        if todo.size == 0:
            break
        sub = raw.take(pa.array(todo))
        parsed = pc.strptime(sub, format=fmt, unit="us", error_is_null=True)
        if fmt in _ZONED_FORMATS:
            utc = parsed.cast(pa.int64())
        else:
            utc = _local_to_utc(parsed, tz).cast(pa.int64())
        ok = np.asarray(utc.is_valid())
        micros[todo[ok]] = np.asarray(utc.filter(pa.array(ok)))
        done[todo[ok]] = True
    bad = ~done
    issues.add(
        bad,
        "bad_date",
        f"{field} is not a date/time (use e.g. 2024-03-05 14:30)",
        field=field,
        value=raw,
    )
    valid = done & np.asarray(raw.is_valid())
    return pa.array(micros, pa.int64(), mask=~valid).cast(pa.timestamp("us"))


def _local_to_utc(naive: pa.Array, tz: str) -> pa.Array:
    local = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="earliest")
    return local.cast(pa.int64()).cast(pa.timestamp("us"))


def dates(arr: Array, issues: Issues, field: str, *, tz: str) -> pa.Array:
    """Calendar dates (date32), from dates, date-times (their date in zone ``tz``) or text."""
    arr = _chunk(arr)
    if pa.types.is_date(arr.type):
        return arr.cast(pa.date32())
    utc = timestamps(arr, issues, field, tz=tz).cast(pa.timestamp("us", "UTC"))
    return pc.local_timestamp(utc.cast(pa.timestamp("us", tz))).cast(pa.date32())


def as_object(arr: Array) -> NDArray[np.object_]:
    """An Arrow array as a NumPy object array (None for null)."""
    return np.asarray(_chunk(arr).to_numpy(zero_copy_only=False), dtype=object)
