"""Shifting DICOM DA and DT values by an increment, keeping the value's precision and offset."""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

_DATETIME = re.compile(
    r"^(?P<year>\d{4})(?P<month>\d{2})?(?P<day>\d{2})?(?P<hour>\d{2})?(?P<minute>\d{2})?(?P<second>\d{2})?"
    r"(?P<fraction>\.\d{1,6})?(?P<offset>[+-]\d{4})?$"
)
_SECONDS_PER_UNIT = {
    "second": 1,
    "seconds": 1,
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
    "week": 604800,
    "weeks": 604800,
}
_CALENDAR_UNITS = {"month": 1, "months": 1, "year": 12, "years": 12}
UNITS = tuple(_SECONDS_PER_UNIT) + tuple(_CALENDAR_UNITS)


def shift(value: str, increment: int, units: str) -> str:
    """Shift a DA (YYYYMMDD) or DT (YYYYMMDDHHMMSS.FFFFFF&ZZXX, trailing parts optional) value.

    The result has the same components as the input (a date stays a date). Raises ValueError for a
    value that is not a DICOM date/date-time or for unknown units.
    """
    text = value.strip()
    match = _DATETIME.match(text)
    if not match:
        raise ValueError(f"{value!r} is not a DICOM date (YYYYMMDD) or date-time")
    parts = match.groupdict()
    fraction = parts["fraction"] or ""
    moment = datetime(
        int(parts["year"]),
        int(parts["month"] or 1),
        int(parts["day"] or 1),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        int(parts["second"] or 0),
        int((fraction[1:] or "0").ljust(6, "0")),
    )
    unit = units.strip().lower()
    if unit in _SECONDS_PER_UNIT:
        moment += timedelta(seconds=increment * _SECONDS_PER_UNIT[unit])
    elif unit in _CALENDAR_UNITS:
        moment = _add_months(moment, increment * _CALENDAR_UNITS[unit])
    else:
        raise ValueError(f"unknown increment units {units!r}; expected one of: {', '.join(UNITS)}")
    return _format_like(moment, parts, fraction) + (parts["offset"] or "")


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _format_like(moment: datetime, parts: dict[str, str | None], fraction: str) -> str:
    text = f"{moment.year:04d}"
    for name, number in (
        ("month", moment.month),
        ("day", moment.day),
        ("hour", moment.hour),
        ("minute", moment.minute),
        ("second", moment.second),
    ):
        if parts[name] is None:
            return text
        text += f"{number:02d}"
    if fraction:
        text += "." + f"{moment.microsecond:06d}"[: len(fraction) - 1]
    return text
