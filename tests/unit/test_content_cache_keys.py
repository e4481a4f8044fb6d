"""Every Redis key of one course carries the course's hash tag, so one MGET can read them together."""

from __future__ import annotations

import uuid

from shared_code.adapters.redis import keys


def test_redis_keys_of_a_course_share_one_hash_tag():
    course_id, lesson_id, user_id = (str(uuid.uuid4()) for _ in range(3))
    names = [
        keys.content_generation(course_id),
        keys.content_course(course_id),
        keys.content_lessons(course_id),
        keys.content_lesson(course_id, lesson_id),
        keys.content_member(course_id, user_id),
    ]
    assert len(set(names)) == len(names)
    assert {name[name.index("{") + 1 : name.index("}")] for name in names} == {course_id}


def test_keys_of_different_courses_never_collide():
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert keys.content_course(a) != keys.content_course(b)
    assert keys.content_member(a, b) != keys.content_member(b, a)


def test_the_hash_tag_is_what_redis_cluster_hashes():
    from shared_code.concurrency import hash_tag

    assert hash_tag("lectern:content:{abc}:gen") == "abc"
    assert hash_tag("lectern:content:lesson-course:x") == "lectern:content:lesson-course:x"
    assert hash_tag("a{}b{c}") == "a{}b{c}"  # an empty first tag means the whole key, as in Redis
