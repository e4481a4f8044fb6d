"""Timer schedules parse and advance the way NCrontab (the host's parser) reads them."""

from datetime import UTC, datetime

import pytest

from devhost.ncrontab import CronSchedule, IntervalSchedule, ScheduleError, parse_schedule

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)  # a Thursday


def upcoming(expression: str, count: int = 3, start: datetime = START) -> list[str]:
    schedule = parse_schedule(expression)
    moments, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        moments.append(moment.strftime("%a %Y-%m-%d %H:%M:%S"))
    return moments


def test_the_first_of_six_fields_is_seconds():
    assert upcoming("*/10 * * * * *") == ["Thu 2026-01-01 00:00:10", "Thu 2026-01-01 00:00:20", "Thu 2026-01-01 00:00:30"]


def test_five_fields_run_at_second_zero():
    assert upcoming("*/5 * * * *", 2) == ["Thu 2026-01-01 00:05:00", "Thu 2026-01-01 00:10:00"]


def test_the_next_occurrence_is_strictly_after_the_given_moment():
    exact = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    assert upcoming("*/10 * * * * *", 1, exact) == ["Thu 2026-01-01 00:00:20"]


def test_a_value_with_a_step_runs_to_the_end_of_the_field():
    assert upcoming("5/20 * * * * *") == ["Thu 2026-01-01 00:00:25", "Thu 2026-01-01 00:00:45", "Thu 2026-01-01 00:01:05"]


def test_ranges_lists_and_names():
    assert upcoming("0 30 9 * * Mon-Fri", 3) == ["Thu 2026-01-01 09:30:00", "Fri 2026-01-02 09:30:00", "Mon 2026-01-05 09:30:00"]
    assert upcoming("0 0 12 1 jan,JULY *", 2) == ["Thu 2026-01-01 12:00:00", "Wed 2026-07-01 12:00:00"]


def test_day_of_month_and_day_of_week_must_both_match():
    # Friday the 13th, not "every 13th or every Friday" as Vixie cron would read it.
    assert upcoming("0 0 0 13 * 5", 2) == ["Fri 2026-02-13 00:00:00", "Fri 2026-03-13 00:00:00"]


def test_a_timespan_schedule_fires_at_its_interval():
    schedule = parse_schedule("00:05:00")
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.next_after(START) == datetime(2026, 1, 1, 0, 5, 5, tzinfo=UTC)


def test_the_normalised_expression_is_plain_numeric_cron():
    schedule = parse_schedule("0 0 9 * * Sun,sat")
    assert isinstance(schedule, CronSchedule)
    assert schedule.normalised == "0 0 9 * * 0,6"


@pytest.mark.parametrize(
    "expression",
    [
        "* * * *",  # too few fields
        "* * * * * * *",  # too many
        "60 * * * * *",  # second out of range
        "* * 24 * * *",
        "* * * 0 * *",  # days start at 1
        "* * * * 13 *",
        "* * * * * 7",  # NCrontab's week is 0-6
        "*/0 * * * * *",
        "0 0 0 L * *",  # Quartz extensions NCrontab does not know
        "0 0 0 ? * *",
        "0 0 0 * * 5#3",
        "0 0 10-5 * * *",  # backwards range
        "0 0 0 * * funday",
        "soon",
        "00:00:00",
    ],
)
def test_schedules_the_host_refuses_are_refused(expression):
    with pytest.raises(ScheduleError):
        parse_schedule(expression)
