"""Pydantic models: the wire contract (camelCase) that OpenAPI publishes."""
