"""What a rule says about one field of an input: the value every validation rule returns
and `errors.Invalid` carries out as the problem's `errors` list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FieldError:
    field: str
    message: str
