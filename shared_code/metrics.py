"""The `lectern` meter: what an operator watches during a live class, counted in process and
exported by the OpenTelemetry SDK on its own interval (no network call per request).

Every function here returns at its first line until `enable` runs (telemetry configured),
so the hot paths that call them pay one global read when telemetry is off. The names are
the contract with the workbook (infra/bicep/modules/workbook.bicep; tests/infra checks
that every name it charts is one of `NAMES`).

| name | kind | attributes | what |
|---|---|---|---|
| lectern.live.connections | up-down counter | class_id | connections per live class (connected minus disconnected) |
| lectern.live.events | counter | event | client events handled (`vote`, `chat`, ...): the vote rate |
| lectern.live.ack_latency | histogram (ms) | event | time from a client event's arrival to its ack |
| lectern.http.requests | counter | operation, status | HTTP requests by operation (`record_progress`: the heartbeat rate) |
| lectern.outbox.depth | gauge | queue | messages waiting in the outbox queue |
| lectern.outbox.poison | gauge | queue | messages in the poison queue |
| lectern.payments.mismatches | counter | reason | signed payment events that matched no purchase |
| lectern.cache.reads | counter | result (hit, miss) | content-cache entries read: the hit ratio |
| lectern.breaker.state | gauge | dependency | 0 closed, 1 open, 2 half-open (probing) |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics as otel_metrics

LIVE_CONNECTIONS = "lectern.live.connections"
LIVE_EVENTS = "lectern.live.events"
ACK_LATENCY = "lectern.live.ack_latency"
HTTP_REQUESTS = "lectern.http.requests"
OUTBOX_DEPTH = "lectern.outbox.depth"
POISON_MESSAGES = "lectern.outbox.poison"
PAYMENT_MISMATCHES = "lectern.payments.mismatches"
CACHE_READS = "lectern.cache.reads"
BREAKER_STATE = "lectern.breaker.state"
NAMES = frozenset({
    LIVE_CONNECTIONS, LIVE_EVENTS, ACK_LATENCY, HTTP_REQUESTS, OUTBOX_DEPTH, POISON_MESSAGES,
    PAYMENT_MISMATCHES, CACHE_READS, BREAKER_STATE,
})
BREAKER_STATES = {"closed": 0, "open": 1, "half-open": 2}


@dataclass(frozen=True)
class Instruments:
    live_connections: Any
    live_events: Any
    ack_latency: Any
    http_requests: Any
    outbox_depth: Any
    poison_messages: Any
    payment_mismatches: Any
    cache_reads: Any
    breaker_state: Any


_on: Instruments | None = None


def enable(provider: otel_metrics.MeterProvider | None = None) -> None:
    """Creates the instruments on `provider` (the global one when None)."""
    global _on
    meter = (provider or otel_metrics.get_meter_provider()).get_meter("lectern")
    _on = Instruments(
        live_connections=meter.create_up_down_counter(LIVE_CONNECTIONS, unit="{connection}"),
        live_events=meter.create_counter(LIVE_EVENTS, unit="{event}"),
        ack_latency=meter.create_histogram(ACK_LATENCY, unit="ms"),
        http_requests=meter.create_counter(HTTP_REQUESTS, unit="{request}"),
        outbox_depth=meter.create_gauge(OUTBOX_DEPTH, unit="{message}"),
        poison_messages=meter.create_gauge(POISON_MESSAGES, unit="{message}"),
        payment_mismatches=meter.create_counter(PAYMENT_MISMATCHES, unit="{event}"),
        cache_reads=meter.create_counter(CACHE_READS, unit="{entry}"),
        breaker_state=meter.create_gauge(BREAKER_STATE),
    )


def disable() -> None:
    global _on
    _on = None


def enabled() -> bool:
    return _on is not None


def connection_changed(class_id: str, delta: int) -> None:
    if _on is not None:
        _on.live_connections.add(delta, {"class_id": class_id})


def client_event(event: str, ack_ms: float) -> None:
    if _on is not None:
        _on.live_events.add(1, {"event": event})
        _on.ack_latency.record(ack_ms, {"event": event})


def http_request(operation: str, status: int) -> None:
    if _on is not None:
        _on.http_requests.add(1, {"operation": operation, "status": status})


def outbox_queues(queue: str, depth: int, poison_queue: str, poisoned: int) -> None:
    if _on is not None:
        _on.outbox_depth.set(depth, {"queue": queue})
        _on.poison_messages.set(poisoned, {"queue": poison_queue})


def payment_mismatch(reason: str) -> None:
    if _on is not None:
        _on.payment_mismatches.add(1, {"reason": reason.split(" (")[0]})


def cache_reads(hits: int, misses: int) -> None:
    if _on is not None:
        if hits:
            _on.cache_reads.add(hits, {"result": "hit"})
        if misses:
            _on.cache_reads.add(misses, {"result": "miss"})


def breaker(dependency: str, state: str) -> None:
    if _on is not None:
        _on.breaker_state.set(BREAKER_STATES[state], {"dependency": dependency})
