"""Shifting DICOM DA and DT values by an increment as dicom-edit6 does (DefaultDicomDateTimeShifter).

A value of reduced precision stands for a period, and is shifted from the middle of that period
(MidPointDateTimeFactory): "2022" from 1 July 2022, "202205" from 16 May 12:00, "20220519" from noon,
"2022051913" from 13:30, "202205191347" from 13:47:30. The result keeps the input's precision, so
"2022" shifted back three days stays "2022". Fractional seconds and the UTC offset are carried through
unchanged, not shifted.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

DATETIME = re.compile(
    r"(?P<year>\d{4})(?P<month>\d{2})?(?P<day>\d{2})?(?P<hour>\d{2})?(?P<minute>\d{2})?(?P<second>\d{2})?"
    r"(?P<fraction>\.\d{1,6})?(?P<offset>[+-]\d{4})?"
)
# DicomDateTimeShifter.toSeconds: the only units upstream knows; a year is 365 days, not a calendar year.
SECONDS_PER_UNIT = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "years": 365 * 86400}
UNITS = tuple(SECONDS_PER_UNIT)
_FIELDS = ("month", "day", "hour", "minute", "second")


def shift(value: str, increment: int, units: str) -> str:
    """Shift a DA (YYYYMMDD) or DT (YYYYMMDDHHMMSS.FFFFFF&ZZXX, trailing parts optional) value.

    Raises ValueError for a value that is not a DICOM date/date-time (empty included) or for units
    other than seconds, minutes, hours, days and years (any letter case).
    """
    unit = units.lower()
    if unit not in SECONDS_PER_UNIT:
        raise ValueError(f"unsupported time-shift units {units!r}; DicomEdit knows: {', '.join(UNITS)}")
    match = DATETIME.fullmatch(value or "")
    if match is None:
        raise ValueError(f"failed to parse DICOM date/time string {value!r}")
    parts = match.groupdict()
    try:
        moment = midpoint(parts)
    except ValueError as error:
        raise ValueError(f"failed to parse DICOM date/time string {value!r}: {error}") from None
    shifted = moment + timedelta(seconds=increment * SECONDS_PER_UNIT[unit])
    return _format_like(shifted, parts)


def midpoint(parts: dict[str, str | None]) -> datetime:
    """The moment a value of the given components stands for: the middle of the period it leaves open."""
    year = int(parts["year"] or "")
    month = int(parts["month"]) if parts["month"] else 7
    days_in_month = calendar.monthrange(year, month)[1]  # ValueError for a month outside 1-12
    middle_day = days_in_month // 2 + 1 if parts["month"] else 1
    day = int(parts["day"]) if parts["day"] else middle_day
    if parts["hour"]:
        hour = int(parts["hour"])
    elif parts["day"]:
        hour = 12
    else:
        hour = 12 if parts["month"] and days_in_month % 2 else 0
    minute = int(parts["minute"]) if parts["minute"] else (30 if parts["hour"] else 0)
    second = int(parts["second"]) if parts["second"] else (30 if parts["minute"] else 0)
    return datetime(year, month, day, hour, minute, second)


def _format_like(moment: datetime, parts: dict[str, str | None]) -> str:
    text = f"{moment.year:04d}"
    numbers = (moment.month, moment.day, moment.hour, moment.minute, moment.second)
    for name, number in zip(_FIELDS, numbers, strict=True):
        if parts[name] is None:
            break
        text += f"{number:02d}"
    else:
        text += parts["fraction"] or ""
    return text + (parts["offset"] or "")
