"""The takedown rules of the shared access check, with plain rows: who still sees a
taken-down course or material, and to whom it is frozen."""

from __future__ import annotations

import uuid

import pytest

from shared_code.auth import Principal
from shared_code.errors import Forbidden, NotFound, TakenDown
from shared_code.platform import access

OWNER = str(uuid.uuid4())


def _course(*, taken_down: bool, published: bool = True) -> dict:
    return {"id": str(uuid.uuid4()), "owner_id": OWNER, "title": "T", "published": published, "price_cents": 0,
            "taken_down_at": "2026-12-01T00:00:00+00:00" if taken_down else None}


def _who(kind: str) -> Principal:
    if kind == "owner":
        return Principal(user_id=OWNER, name="o", roles=frozenset({"tutor"}))
    if kind == "admin":
        return Principal(user_id=str(uuid.uuid4()), name="a", roles=frozenset({"admin"}))
    return Principal(user_id=str(uuid.uuid4()), name="s", roles=frozenset({kind}))


@pytest.mark.parametrize("kind", ["student", "tutor"])
def test_a_taken_down_course_is_not_found_for_anyone_else_even_enrolled(kind):
    with pytest.raises(NotFound):
        access.decide(_who(kind), _course(taken_down=True), True)
    assert access.hidden_from(_who(kind), _course(taken_down=True))


def test_its_owner_sees_it_frozen_and_admins_see_it_as_it_is():
    owned = access.decide(_who("owner"), _course(taken_down=True), False)
    assert owned.relation == "owner" and owned.frozen and owned.is_member
    with pytest.raises(TakenDown):
        access.require_changeable(owned)
    assert isinstance(access.refused(owned, "no"), TakenDown)
    admin = access.decide(_who("admin"), _course(taken_down=True), False)
    assert admin.taken_down and not admin.frozen
    assert access.require_deliverable(admin) is admin


def test_a_course_that_is_not_taken_down_changes_nothing():
    live = access.decide(_who("student"), _course(taken_down=False), True)
    assert live.relation == "enrolled" and not live.frozen
    assert isinstance(access.refused(live, "no"), Forbidden)
    # Rows cached before the column existed carry no takedown at all.
    old = _course(taken_down=False)
    del old["taken_down_at"]
    assert access.decide(_who("student"), old, True).relation == "enrolled"


def test_a_taken_down_material_is_hidden_from_members_and_frozen_to_its_owner():
    material = True  # taken down
    student = access.decide(_who("student"), _course(taken_down=False), True)
    with pytest.raises(NotFound):
        access.material_access(material, student)
    owner = access.material_access(material, access.decide(_who("owner"), _course(taken_down=False), False))
    assert owner.frozen
    admin = access.material_access(material, access.decide(_who("admin"), _course(taken_down=False), False))
    assert not admin.frozen
    assert access.material_access(False, student) is student
