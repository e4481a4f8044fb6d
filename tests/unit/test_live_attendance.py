"""Minutes present: overlapping connections (tabs) count once, open connections count until
the class ended (or now), the tutor is not a student."""

from datetime import UTC, datetime, timedelta

from shared_code.adapters.table_keys import attendance_row_key as row_key
from shared_code.models.live import AttendanceRow
from shared_code.services.live.attendance import Interval, attendance_entity, merged_seconds, summarize

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def row(user: str, conn: str, kind: str, minutes: float, name: str = "") -> AttendanceRow:
    return AttendanceRow(
        user_id=user, user_name=name or f"name-{user[-1]}", connection_id=conn, kind=kind, at=at(minutes)
    )


ANN = "00000000-0000-0000-0000-00000000000a"
BOB = "00000000-0000-0000-0000-00000000000b"
TUTOR = "00000000-0000-0000-0000-00000000000f"


def test_disjoint_intervals_add_up():
    assert merged_seconds([Interval(at(0), at(10)), Interval(at(20), at(25))]) == 15 * 60


def test_overlapping_intervals_count_once():
    assert merged_seconds([Interval(at(0), at(10)), Interval(at(5), at(15)), Interval(at(1), at(2))]) == 15 * 60


def test_touching_intervals_merge_and_empty_ones_are_ignored():
    intervals = [Interval(at(10), at(20)), Interval(at(0), at(10)), Interval(at(30), at(30)), Interval(at(40), at(35))]
    assert merged_seconds(intervals) == 20 * 60


def test_two_tabs_for_ten_minutes_are_ten_minutes():
    rows = [
        row(ANN, "c1", "join", 0), row(ANN, "c2", "join", 2),
        row(ANN, "c1", "leave", 10), row(ANN, "c2", "leave", 8),
    ]
    [ann] = summarize(rows, open_until=at(60))
    assert ann.minutes_present == 10
    assert ann.connections == 2
    assert ann.first_joined_at == at(0) and ann.last_seen_at == at(10)
    assert ann.present is False


def test_a_connection_without_leave_counts_until_the_class_ended():
    rows = [row(ANN, "c1", "join", 5), row(BOB, "c2", "join", 0), row(BOB, "c2", "leave", 30)]
    by_user = {str(s.user_id): s for s in summarize(rows, open_until=at(45))}
    assert by_user[ANN].minutes_present == 40
    assert by_user[ANN].present is True
    assert by_user[BOB].minutes_present == 30


def test_rejoining_after_a_drop_counts_both_stretches():
    rows = [
        row(ANN, "c1", "join", 0), row(ANN, "c1", "leave", 10),
        row(ANN, "c2", "join", 15), row(ANN, "c2", "leave", 20),
    ]
    [ann] = summarize(rows, open_until=at(60))
    assert ann.minutes_present == 15


def test_the_tutor_is_left_out_and_students_are_ordered_by_minutes():
    rows = [
        row(TUTOR, "t", "join", 0), row(ANN, "a", "join", 10), row(ANN, "a", "leave", 20),
        row(BOB, "b", "join", 0), row(BOB, "b", "leave", 50),
    ]
    students = summarize(rows, open_until=at(60), tutor_id=TUTOR)
    assert [str(s.user_id) for s in students] == [BOB, ANN]


def test_a_leave_without_its_join_is_a_sighting_with_no_minutes():
    [ann] = summarize([row(ANN, "c1", "leave", 12)], open_until=at(60))
    assert ann.minutes_present == 0
    assert ann.connections == 1


def test_row_keys_are_stable_and_table_safe():
    assert row_key("abc/def#1?x", "join") == "abc_def_1_x.join"
    first = attendance_entity("class", user_id="u", user_name="n", connection_id="c", kind="join", at=T0)
    again = attendance_entity("class", user_id="u", user_name="n", connection_id="c", kind="join", at=T0)
    assert first["RowKey"] == again["RowKey"] == "c.join"
    assert first["PartitionKey"] == "class"
    assert first["at"] == "2026-03-01T10:00:00.000000Z"
