"""Queue triggers through the local host, against Azurite: decoding, redelivery, poison, batches.

The sample app's host.json: batchSize 4, newBatchThreshold 2, maxDequeueCount 3,
visibilityTimeout 1 s, maxPollingInterval 1 s, base64 messages.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueServiceClient

from tests.devhost.conftest import SampleHost

pytestmark = pytest.mark.integration

MAX_DEQUEUE_COUNT = 3


@pytest.fixture(scope="module")
def queue(sample_host: SampleHost) -> Iterator[QueueClient]:
    with QueueClient.from_connection_string(sample_host.storage_connection_string, sample_host.queue_name) as client:
        yield client


@pytest.fixture(scope="module")
def poison(sample_host: SampleHost) -> Iterator[QueueClient]:
    with QueueClient.from_connection_string(sample_host.storage_connection_string, f"{sample_host.queue_name}-poison") as client:
        yield client


def send(queue: QueueClient, spec: dict) -> tuple[str, str]:
    """Sends `spec` as base64 JSON, the way the app's producers do; returns (key, raw content)."""
    spec = {"key": uuid.uuid4().hex, **spec}
    content = base64.b64encode(json.dumps(spec).encode()).decode()
    queue.send_message(content)
    return spec["key"], content


def attempts(records: dict, key: str) -> list[dict]:
    return [r for r in records.get("queue", []) if r["key"] == key]


def wait_until_empty(queue: QueueClient, timeout: float = 10) -> None:
    # The approximate count includes invisible messages, so zero means deleted, not hidden.
    deadline = time.monotonic() + timeout
    while queue.get_queue_properties().approximate_message_count:
        assert time.monotonic() < deadline, "messages are still on the queue"
        time.sleep(0.2)


def poison_contents(poison: QueueClient) -> list[str]:
    try:
        return [m.content for m in poison.peek_messages(max_messages=32)]
    except ResourceNotFoundError:  # the host creates the poison queue only when it needs it
        return []


def test_the_host_creates_its_queue(sample_host):
    with QueueServiceClient.from_connection_string(sample_host.storage_connection_string) as service:
        names = [q.name for q in service.list_queues(name_starts_with=sample_host.queue_name)]
    assert sample_host.queue_name in names


def test_a_message_arrives_decoded_and_is_deleted_after_success(sample_host, queue):
    key, _ = send(queue, {"text": "ünïcødé ✓"})
    (seen,) = sample_host.wait_for(lambda r: attempts(r, key))
    body = json.loads(base64.b64decode(seen["body_b64"]))
    assert body == {"key": key, "text": "ünïcødé ✓"}
    assert seen["dequeue_count"] == 1
    assert seen["has_pop_receipt"] and seen["has_insertion_time"]
    wait_until_empty(queue)


def test_a_failed_message_comes_back_after_the_visibility_timeout_with_a_higher_dequeue_count(sample_host, queue, poison):
    key, content = send(queue, {"fail_times": 2})
    seen = sample_host.wait_for(lambda r: len(attempts(r, key)) >= 3 and attempts(r, key))
    assert [a["dequeue_count"] for a in seen] == [1, 2, 3]
    gaps = [b["at"] - a["at"] for a, b in zip(seen, seen[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # visibilityTimeout is one second
    wait_until_empty(queue)
    assert content not in poison_contents(poison)


def test_a_message_is_poisoned_after_exactly_max_dequeue_count_failures(sample_host, queue, poison):
    key, content = send(queue, {"fail_always": True})
    deadline = time.monotonic() + 20
    while content not in poison_contents(poison):
        assert time.monotonic() < deadline, "the message never reached the poison queue"
        time.sleep(0.2)
    time.sleep(2)  # long enough for a fourth delivery, were there one
    assert [a["dequeue_count"] for a in attempts(sample_host.records(), key)] == [1, 2, 3]
    wait_until_empty(queue)


def test_a_message_that_is_not_base64_goes_straight_to_poison(sample_host, queue, poison):
    before = len(sample_host.records().get("queue", []))
    content = f"not base64 at all {uuid.uuid4().hex}!"
    queue.send_message(content)
    deadline = time.monotonic() + 10
    while content not in poison_contents(poison):
        assert time.monotonic() < deadline, "the message never reached the poison queue"
        time.sleep(0.2)
    wait_until_empty(queue)
    assert len(sample_host.records().get("queue", [])) == before  # the function never ran


def test_a_batch_runs_concurrently_within_the_batch_limits(sample_host, queue):
    keys = [send(queue, {"sleep": 1})[0] for _ in range(8)]
    sample_host.wait_for(lambda r: all(attempts(r, k) for k in keys), timeout=30)
    wait_until_empty(queue)
    # Concurrency is read from the functions themselves (how many ran at once), not from
    # the wall clock, which a busy machine stretches.
    in_flight = sample_host.records()["queue_max_in_flight"]
    assert 1 < in_flight <= 4 + 2  # batchSize plus newBatchThreshold


def test_a_queue_output_binding_sends_a_base64_message(sample_host, queue):
    key = uuid.uuid4().hex
    response = httpx.post(f"{sample_host.base_url}/enqueue", content=json.dumps({"key": key}), timeout=10)
    assert response.status_code == 202
    (seen,) = sample_host.wait_for(lambda r: attempts(r, key))
    assert json.loads(base64.b64decode(seen["body_b64"])) == {"key": key}
    wait_until_empty(queue)


def test_queue_invocations_are_logged_with_the_queue_name(sample_host):
    log = sample_host.log_file.read_text()
    assert f"Reason='New queue message detected on '{sample_host.queue_name}'.'" in log
    assert f"Moving message to queue '{sample_host.queue_name}-poison'" in log
