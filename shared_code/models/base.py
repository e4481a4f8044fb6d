"""The base every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Responses and lenient inputs.

    As a response every field is sent, `null` where there is no value, so the published
    schema (serialization mode) marks every field required, defaults included.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, from_attributes=True,
        json_schema_serialization_defaults_required=True,
    )


class StrictInput(ApiModel):
    """Request bodies that refuse unknown fields, so a typo never silently drops data."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", str_strip_whitespace=True,
        json_schema_serialization_defaults_required=True,
    )


def utc_instant(value: datetime) -> datetime:
    """A time the server stores and reads back: it must name its offset, and it is kept as the
    same instant in UTC. A time whose UTC instant falls outside the years Python can hold
    (9999-12-31T23:00:00-14:00 is in the year 10000 in UTC) is refused here, with its reason,
    rather than failing when the stored row is read back."""
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset, e.g. 2026-01-01T10:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("falls outside the years 1 to 9999 in UTC") from None
