"""Rows as frozen values: the column list of a row type is its fields, written once."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest

from shared_code.adapters.postgres.certificates import CertificateRow
from shared_code.adapters.postgres.classes import ClassRow
from shared_code.adapters.postgres.courses import CourseRow
from shared_code.adapters.postgres.enrollments import EnrollmentListing, EnrollmentRow
from shared_code.adapters.postgres.lessons import LessonRow
from shared_code.adapters.postgres.materials import MaterialRow
from shared_code.adapters.postgres.notifications import NotificationRow
from shared_code.adapters.postgres.polls import PollRow
from shared_code.adapters.postgres.purchases import PurchaseRow
from shared_code.adapters.postgres.quizzes import QuizRow
from shared_code.adapters.postgres.rows import columns, values
from shared_code.adapters.postgres.users import AccountRow, UserRow
from shared_code.models.admin import UserRoles
from shared_code.models.certificates import Certificate, CertificateVerification
from shared_code.models.content import Course, Enrollment, Lesson, Material
from shared_code.models.live import LiveClass
from shared_code.models.me import MyEnrollment, Profile
from shared_code.models.notifications import Notification
from shared_code.models.payments import Purchase
from shared_code.models.progress import Quiz, QuizWithKeys


@dataclass(frozen=True)
class Pair:
    id: str
    name: str


def test_the_column_list_is_the_fields_in_order():
    assert columns(Pair) == "id, name"
    assert columns(PollRow) == "id, class_id, question, options, status, opened_at, closed_at, final_counts"


def test_only_a_frozen_dataclass_is_a_row_type():
    @dataclass
    class Loose:
        id: str

    with pytest.raises(TypeError):
        columns(Loose)
    with pytest.raises(TypeError):
        columns(dict)


def test_a_row_value_cannot_change_and_gives_its_fields_by_name():
    pair = Pair("1", "one")
    with pytest.raises(FrozenInstanceError):
        pair.name = "two"  # type: ignore[misc]
    assert values(pair) == {"id": "1", "name": "one"}


@pytest.mark.parametrize(
    ("row_type", "model", "derived"),
    [
        (ClassRow, LiveClass, {"has_recording"}),  # whether recording_asset_id is set
        (PurchaseRow, Purchase, set()),
        (EnrollmentRow, Enrollment, {"id"}),  # from the course and user ids
        (EnrollmentListing, MyEnrollment, {"course_id", "progress_percent"}),  # the listing's id; from the counts
        (MaterialRow, Material, set()),
        (LessonRow, Lesson, {"has_video"}),  # whether a video lesson names its asset
        (CourseRow, Course, set()),
        (CertificateRow, Certificate, {"pdf_ready", "verify_url"}),  # whether pdf_blob is set; from the code
        (CertificateRow, CertificateVerification, set()),
        (NotificationRow, Notification, {"key"}),  # the dedupe_key
        (UserRow, Profile, set()),
        (AccountRow, UserRoles, set()),
        (QuizRow, QuizWithKeys, set()),
        (QuizRow, Quiz, {"attempts_used"}),  # the caller's attempts, counted
    ],
)
def test_every_field_of_a_wire_model_read_from_a_row_is_a_column_of_it(row_type, model, derived):
    """The model reads the row's attributes by name, so a renamed column must not leave a
    model field without its value. Fields a model derives from the row are named."""
    assert set(model.model_fields) - derived <= set(columns(row_type).split(", "))
