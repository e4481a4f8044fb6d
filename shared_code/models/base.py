"""The base every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

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
