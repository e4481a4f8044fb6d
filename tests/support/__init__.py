"""Helpers the integration and end-to-end rings share: API clients and users with tokens."""
