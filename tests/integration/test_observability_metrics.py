"""The `lectern` meter counts at the real call sites, against the real Redis and the real
Web PubSub event handler logic: content-cache hits and misses from the read batcher,
connections per class from connect / disconnected, client events with their ack latency."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared_code import metrics
from shared_code.models.content import EnrollmentRequest
from shared_code.services.content import enrollments
from shared_code.services.live import events as live_events
from shared_code.services.live.class_access import Member
from shared_code.services.live.connection_state import encode_state, state_key
from tests.integration.conftest import person
from tests.integration.test_round_trips import started_class

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def meter() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    metrics.enable(MeterProvider(metric_readers=[reader]))
    yield reader
    metrics.disable()


def _points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    return [p for r in (data.resource_metrics if data else []) for s in r.scope_metrics for m in s.metrics
            if m.name == name for p in m.data.data_points]


async def test_content_cache_reads_count_hits_and_misses(ctx, meter):
    present, absent = f"test:{{obs}}:{uuid.uuid4()}", f"test:{{obs}}:{uuid.uuid4()}"
    await ctx.redis.set(present, "1")
    assert await ctx.content_cache.reads.read([present, absent, present]) == ["1", None, "1"]
    counted = {p.attributes["result"]: p.value for p in _points(meter, metrics.CACHE_READS)}
    assert counted == {"hit": 1, "miss": 1}  # distinct keys: the batcher reads each once


def _event(kind: str, member: Member, key: bytes, body: bytes = b"") -> live_events.UpstreamEvent:
    return live_events.UpstreamEvent(
        ce_type=f"azure.webpubsub.{kind}", event_name="vote" if kind == "user.vote" else "",
        connection_id=member.connection_id, user_id=member.user_id,
        connection_state=encode_state(member, key), body=body,
    )


async def test_connections_per_class_and_client_events_are_counted_by_the_event_handler(ctx, meter):
    key = state_key(ctx.settings)
    _, course_id, class_id, first = await started_class(ctx, "Metrics")
    second = person("student")
    await enrollments.enrol(ctx, second, course_id, EnrollmentRequest())
    members = [Member(uuid.uuid4().hex, s.user_id, class_id, course_id, "student", s.name) for s in (first, second)]
    for member in members:
        connect = live_events.UpstreamEvent(
            ce_type="azure.webpubsub.sys.connect", event_name="connect", connection_id=member.connection_id,
            user_id=member.user_id, connection_state=None, body=json.dumps({"query": {"classId": [class_id]}}).encode(),
        )
        assert (await live_events.handle(ctx, connect)).status == 200
    assert (await live_events.handle(ctx, _event("sys.connected", members[0], key))).status == 204  # counts nothing
    assert (await live_events.handle(ctx, _event("sys.disconnected", members[0], key))).status == 204
    reply = await live_events.handle(ctx, _event("user.vote", members[1], key, b'{"pollId": "nope"}'))
    assert reply.status == 200
    await ctx.throttles.presence.drain()  # the presence broadcast the joins scheduled

    (connections,) = _points(meter, metrics.LIVE_CONNECTIONS)
    assert connections.attributes == {"class_id": class_id} and connections.value == 1
    (votes,) = _points(meter, metrics.LIVE_EVENTS)
    assert votes.attributes == {"event": "vote"} and votes.value == 1
    (latency,) = _points(meter, metrics.ACK_LATENCY)
    assert latency.count == 1 and latency.sum > 0
