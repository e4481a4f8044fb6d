"""The AsyncAPI 3.0 document of the live-class WebSocket messages, generated from their
pydantic models (`shared_code/models/live_messages.py`) as the OpenAPI document is from the
HTTP models: `make openapi` writes it to docs/asyncapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from shared_code.models import live_messages as lm

REF_TEMPLATE = "#/components/schemas/{model}"


def _camel_key(name: str) -> str:
    """`poll.opened` → `pollOpened`, `screenShare.started` → `screenShareStarted`."""
    head, *rest = name.split(".")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _schemas() -> tuple[dict[type, dict[str, Any]], dict[str, Any]]:
    models = [*lm.SERVER_MESSAGES, *lm.CLIENT_FRAMES]
    generator = GenerateJsonSchema(by_alias=True, ref_template=REF_TEMPLATE)
    # Validation mode: a field with a default is one the message may leave out.
    mapping, defs = generator.generate_definitions(
        [(m, "validation", TypeAdapter(m).core_schema) for m in models]
    )
    return {m: ref for (m, _mode), ref in mapping.items()}, {str(name): schema for name, schema in defs.items()}


def _message(key: str, name: str, model: type, ref: dict[str, Any]) -> dict[str, Any]:
    doc = (model.__doc__ or "").strip()
    out: dict[str, Any] = {"name": name, "title": name, "contentType": "application/json", "payload": ref}
    if doc and not doc.startswith(model.__name__ + "("):
        out["summary"] = doc.split("\n\n")[0].replace("\n", " ")
    return out


def build_asyncapi(*, version: str = "1.0.0") -> dict[str, Any]:
    refs, defs = _schemas()
    messages: dict[str, Any] = {}
    keys: dict[type, str] = {}
    for model in lm.SERVER_MESSAGES:
        name = lm.message_type(model)
        key = _camel_key(name) if name != "ack" else "ack"
        keys[model] = key
        messages[key] = _message(key, name, model, refs[model])
    for frame in lm.CLIENT_FRAMES:
        name = lm.event_name(frame)
        key = name + "Event"
        keys[frame] = key
        messages[key] = _message(key, name, frame, refs[frame])

    def message_refs(models: tuple[type, ...]) -> dict[str, Any]:
        return {keys[m]: {"$ref": f"#/components/messages/{keys[m]}"} for m in models}

    def channel_refs(channel: str, models: tuple[type, ...]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/{channel}/messages/{keys[m]}"} for m in models]

    id_param = {"description": "A UUID."}
    channels = {
        "class": {
            "address": "class.{classId}",
            "title": "A live class",
            "description": (
                "Every member's connection to the class joins this group. Each message carries the class's "
                "`seq`; a jump of more than one means a message was missed: load "
                "`GET /api/classes/{classId}/state` and go on from its `seq`. Web PubSub delivers each as "
                "`{type: \"message\", from: \"group\", group, dataType: \"json\", data: <message>}`."
            ),
            "parameters": {"classId": id_param},
            "messages": message_refs(lm.CLASS_MESSAGES),
        },
        "course": {
            "address": "course.{courseId}",
            "title": "A course's members",
            "description": "Every connection of an enrolled member (class and personal connections).",
            "parameters": {"courseId": id_param},
            "messages": message_refs(lm.COURSE_MESSAGES),
        },
        "user": {
            "address": "user.{userId}",
            "title": "One user",
            "description": "Every connection of one user, e.g. the personal one from `POST /api/me/negotiate`.",
            "parameters": {"userId": id_param},
            "messages": message_refs(lm.USER_MESSAGES),
        },
        "connection": {
            "address": None,
            "title": "One connection",
            "description": (
                "What a connection sends (Web PubSub `event` frames, which pass the app's event handler: "
                "checked, rate-limited, then broadcast) and the app's acknowledgement of each, delivered "
                "to the sender only as `{type: \"message\", from: \"server\", dataType: \"json\", data: <ack>}`."
            ),
            "messages": {**message_refs(lm.CLIENT_FRAMES), "ack": {"$ref": "#/components/messages/ack"}},
        },
    }
    operations = {
        "receiveClassMessages": {
            "action": "receive", "channel": {"$ref": "#/channels/class"},
            "summary": "Messages to everyone in a class.", "messages": channel_refs("class", lm.CLASS_MESSAGES),
        },
        "receiveCourseMessages": {
            "action": "receive", "channel": {"$ref": "#/channels/course"},
            "summary": "Messages to a course's members.", "messages": channel_refs("course", lm.COURSE_MESSAGES),
        },
        "receiveUserMessages": {
            "action": "receive", "channel": {"$ref": "#/channels/user"},
            "summary": "Messages to one user.", "messages": channel_refs("user", lm.USER_MESSAGES),
        },
        "sendClientEvent": {
            "action": "send", "channel": {"$ref": "#/channels/connection"},
            "summary": "A client event; the server answers each with an `ack`.",
            "messages": channel_refs("connection", lm.CLIENT_FRAMES),
            "reply": {"channel": {"$ref": "#/channels/connection"},
                      "messages": [{"$ref": "#/channels/connection/messages/ack"}]},
        },
        "receiveAck": {
            "action": "receive", "channel": {"$ref": "#/channels/connection"},
            "summary": "The acknowledgement of one client event.",
            "messages": [{"$ref": "#/channels/connection/messages/ack"}],
        },
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Lectern live classes",
            "version": version,
            "description": (
                "The WebSocket side of a live class (docs/live-classes.md). Connect with the URL from "
                "`POST /api/classes/{classId}/negotiate` (or `POST /api/me/negotiate`) and the subprotocol "
                "`json.webpubsub.azure.v1`. The HTTP side is docs/openapi.json."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "webpubsub": {
                "host": "{resource}.webpubsub.azure.com",
                "protocol": "wss",
                "pathname": "/client/hubs/{hub}",
                "description": "Azure Web PubSub; locally the project's own Web PubSub service.",
                "variables": {"resource": {"description": "The Web PubSub resource name."},
                              "hub": {"description": "The hub (the app's setting)."}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": {name: defs[name] for name in sorted(defs)}},
    }
