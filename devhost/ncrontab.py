"""Timer schedules: NCRONTAB expressions and TimeSpan intervals, as the Functions host reads them.

The host parses schedules with the NCrontab library: six fields `{second} {minute} {hour}
{day} {month} {day-of-week}` (five fields mean no seconds, at second 0). Each field is `*`,
a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from a to the field's maximum),
or a comma list of those; months and days of the week may be spelled by name (the first
three letters count). Day of week runs 0-6 from Sunday. Unlike Vixie cron, NCrontab
requires BOTH the day of month and the day of week to match when both are restricted.

Anything NCrontab would refuse (`L`, `W`, `#`, `?`, day of week 7, ...) is refused here
too, so a schedule that runs locally also runs in Azure. The arithmetic of finding the
next occurrence is croniter's, fed a normalised expression. A schedule may also be a
TimeSpan such as `00:05:00`, which fires at that interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from croniter import croniter

from devhost.host_config import parse_timespan


class ScheduleError(ValueError):
    """A schedule the host would refuse."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day", 1, 31)
_MONTH = _Field("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
_DAY_OF_WEEK = _Field("day-of-week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
_FIELDS = (_SECOND, _MINUTE, _HOUR, _DAY, _MONTH, _DAY_OF_WEEK)

_ITEM = re.compile(r"^(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?$")


def _value(field: _Field, token: str, expression: str) -> int:
    if token.isdigit():
        number = int(token)
    elif token.isalpha() and field.names and len(token) >= 3 and token[:3].lower() in field.names:
        number = field.names.index(token[:3].lower()) + field.low
    else:
        raise ScheduleError(f"'{expression}': '{token}' is not a valid {field.name}")
    if not field.low <= number <= field.high:
        raise ScheduleError(f"'{expression}': {field.name} {number} is outside {field.low}-{field.high}")
    return number


def _normalise_field(field: _Field, text: str, expression: str) -> str:
    """The field in plain numeric cron syntax, after checking it the way NCrontab does."""
    items = []
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            raise ScheduleError(f"'{expression}': '{item}' is not a valid {field.name} field")
        span, step = match["range"], match["step"]
        if step is not None and int(step) == 0:
            raise ScheduleError(f"'{expression}': a step of 0 in the {field.name} field")
        if span == "*":
            items.append("*" if step is None else f"*/{step}")
            continue
        if "-" in span:
            first_text, last_text = span.split("-", 1)
            first, last = _value(field, first_text, expression), _value(field, last_text, expression)
            if first > last:
                raise ScheduleError(f"'{expression}': range {span} in the {field.name} field runs backwards")
        else:
            first = _value(field, span, expression)
            # NCrontab reads "a/n" as "from a to the maximum, every n".
            last = field.high if step is not None else first
        body = f"{first}" if first == last else f"{first}-{last}"
        items.append(body if step is None else f"{body}/{step}")
    return ",".join(items)


@dataclass(frozen=True)
class CronSchedule:
    """An NCRONTAB schedule; times are timezone-aware."""

    expression: str
    normalised: str  # croniter syntax with the seconds field first

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment`."""
        # day_or=False: NCrontab ANDs the day-of-month and day-of-week fields.
        iterator = croniter(self.normalised, moment, second_at_beginning=True, day_or=False)
        return iterator.get_next(datetime)

    def describe(self) -> str:
        return self.expression


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule: every `interval` seconds from the previous occurrence."""

    expression: str
    interval: float

    def next_after(self, moment: datetime) -> datetime:
        return moment + timedelta(seconds=self.interval)

    def describe(self) -> str:
        return self.expression


Schedule = CronSchedule | IntervalSchedule


def parse_schedule(expression: str) -> Schedule:
    """Parses a timer trigger's schedule (already resolved from any %AppSetting%)."""
    text = expression.strip()
    tokens = text.split()
    if len(tokens) in (5, 6):
        if len(tokens) == 5:
            tokens = ["0", *tokens]
        fields = [_normalise_field(field, token, text) for field, token in zip(_FIELDS, tokens, strict=False)]
        return CronSchedule(expression=text, normalised=" ".join(fields))
    if len(tokens) == 1 and ":" in text:
        try:
            interval = parse_timespan(text)
        except ValueError as exc:
            raise ScheduleError(str(exc)) from None
        if interval <= 0:
            raise ScheduleError(f"'{text}': an interval schedule must be longer than zero")
        return IntervalSchedule(expression=text, interval=interval)
    raise ScheduleError(
        f"'{text}' is not a schedule: expected six fields {{second}} {{minute}} {{hour}} {{day}} {{month}} "
        "{day-of-week} (or five without seconds), or a TimeSpan such as 00:05:00"
    )
