"""What each notification says and the key that makes it happen once per user: pure, with
plain values and explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared_code.domain import notifications as texts
from shared_code.models.notifications import MarkRead

AT = datetime(2026, 3, 1, 9, 50, tzinfo=UTC)


def test_a_reminder_names_the_class_says_how_soon_and_is_keyed_by_the_class_and_its_time():
    first = texts.class_reminder("c1", "k1", "Algebra", AT + timedelta(minutes=10), AT)
    later = texts.class_reminder("c1", "k1", "Algebra", AT + timedelta(minutes=10), AT + timedelta(minutes=9))
    assert first.title == "Class starts in 10 minutes: Algebra"
    assert later.title == "Class starts in 1 minute: Algebra"
    # Every run over the same class writes under the same key, so only the first one counts;
    # the class moved to another time is another event.
    assert first.key == later.key == "class.reminder:c1:2026-03-01T10:00Z"
    moved = texts.class_reminder("c1", "k1", "Algebra", AT + timedelta(hours=2), AT + timedelta(hours=1, minutes=55))
    assert moved.key == "class.reminder:c1:2026-03-01T11:50Z"
    assert first.data == {"classId": "c1", "courseId": "k1", "scheduledAt": "2026-03-01T10:00:00+00:00"}


def test_each_kind_is_keyed_by_the_event_it_reports():
    assert texts.material_published("m1", "k1", "Course", "a.pdf", AT).key == "material.published:m1"
    assert texts.quiz_graded("a1", "q1", "k1", "Quiz", 3, 4, AT).key == "quiz.graded:a1"
    assert texts.refund_processed("p1", "k1", 4005, "usd", AT).key == "purchase.refunded:p1"


def test_a_refund_states_the_amount_in_the_currency_s_units():
    assert "40.05 USD" in texts.refund_processed("p1", "k1", 4005, "usd", AT).body


def test_long_user_chosen_words_are_clipped():
    draft = texts.material_published("m1", "k1", "C" * 500, "f" * 5000, AT)
    assert len(draft.title) == texts.TITLE_MAX and draft.title.endswith("…")
    assert len(draft.body) == texts.BODY_MAX


def test_a_draft_survives_the_outbox_message_and_an_unknown_kind_does_not():
    draft = texts.quiz_graded("a1", "q1", "k1", "Quiz", 3, 4, AT)
    assert texts.Draft.from_payload(draft.payload()) == draft
    with pytest.raises(ValueError, match="unknown notification kind"):
        texts.Draft.from_payload({**draft.payload(), "kind": "anything"})


@pytest.mark.parametrize("body", [{}, {"all": False}, {"ids": [], "all": True}, {"ids": []}, {"all": True, "extra": 1}])
def test_marking_read_takes_either_ids_or_all_true(body):
    with pytest.raises(ValidationError):
        MarkRead.model_validate(body)


def test_marking_read_by_ids_or_all():
    assert MarkRead.model_validate({"all": True}).all_ is True
    assert len(MarkRead.model_validate({"ids": ["3f0c0b8e-8d1f-4b55-9a57-3c3f1f5e9d10"]}).ids or []) == 1
