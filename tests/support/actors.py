"""People in a scenario: each a user with a development token and the headers to send it."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

import httpx

_counter = itertools.count(1)


@dataclass
class Actor:
    user_id: str
    name: str
    roles: list[str]
    token: str
    headers: dict[str, str] = field(default_factory=dict)


async def new_actor(api: httpx.AsyncClient, *roles: str, name: str | None = None) -> Actor:
    """A fresh user made through the API's own development token endpoint."""
    roles_list = list(roles) or ["student"]
    label = name or f"{roles_list[0]}-{next(_counter)}-{uuid.uuid4().hex[:6]}"
    resp = await api.post("dev/token", json={"name": label, "roles": roles_list})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    token = body["token"]
    return Actor(
        user_id=body["userId"],
        name=label,
        roles=roles_list,
        token=token,
        headers={"Authorization": f"Bearer {token}"},
    )
