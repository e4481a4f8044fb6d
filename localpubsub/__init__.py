"""A local Web PubSub service: the client WebSocket protocols, the REST data plane and the
CloudEvents upstream of Azure Web PubSub, so the official SDKs and browsers work unchanged
on a developer machine and in tests."""

__version__ = "1.0.0"
