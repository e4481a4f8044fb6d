"""Rows as frozen values instead of loose dicts.

A table's row type is a frozen dataclass whose fields are the columns its queries select,
in order. The column list is written once, there: `columns(RowType)` is the SELECT (or
RETURNING) list, and psycopg's own row factory (`psycopg.rows.class_row`) builds the value
from the result, so no adapter copies columns into a row by hand. A wire model whose field
names are the row's (the pydantic models read attributes, `from_attributes=True`) is then
`Model.model_validate(row)`; `values(row)` gives the fields as keyword arguments for a model
that adds fields of its own.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any, LiteralString

from psycopg.rows import class_row

from shared_code.adapters.postgres.pool import Conn


@cache
def columns(row_type: type[Any]) -> str:
    """`id, course_id, ...`: the fields of the frozen dataclass `row_type`, as a column list.

    The names come from the code, never from input, so the list may be put into SQL."""
    if not is_dataclass(row_type) or not row_type.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{row_type.__name__} is not a frozen dataclass")
    return ", ".join(f.name for f in fields(row_type))


def values(row: Any) -> dict[str, Any]:
    """A row value's fields by name (shallow: the values themselves are not copied)."""
    return {f.name: getattr(row, f.name) for f in fields(row)}


async def fetch_one[T](conn: Conn, row_type: type[T], query: LiteralString, params: Any = None) -> T | None:
    """The first row of `query` as a `row_type`, or None."""
    async with conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def fetch_all[T](conn: Conn, row_type: type[T], query: LiteralString, params: Any = None) -> list[T]:
    """Every row of `query`, each a `row_type`."""
    async with conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()
