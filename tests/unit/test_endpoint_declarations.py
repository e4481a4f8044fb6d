"""Every endpoint says who may call it, and the host still sees the `(req)` function it binds.

The decorator checks the declared roles and relation before a handler runs, so a class
route without a declared relation would leave the check to whatever its service happens
to do: these tests keep the declarations complete and the document's `roles` filled.
"""

from __future__ import annotations

import inspect

from devhost.indexing import HTTP_TRIGGER
from shared_code.http import OPERATIONS
from tests.support.app_index import lectern_functions


def _operations():
    lectern_functions()  # indexing imports the app, which registers every operation
    return list(OPERATIONS)


def test_every_class_route_declares_a_class_relation():
    undeclared = [
        f"{op.methods} {op.route}" for op in _operations() if "{classId}" in op.route and op.auth and op.relation is None
    ]
    assert undeclared == []


def test_an_operation_with_a_relation_lists_the_roles_that_can_hold_it():
    unlisted = [op.name for op in _operations() if op.relation is not None and not op.roles]
    assert unlisted == []


def test_the_functions_the_host_binds_take_only_the_request_and_the_invocation_context():
    """`call` is the decorator's, never a binding; `context` is the worker's (for the log's
    invocation id) and optional, so the endpoints can still be called with the request alone."""
    http = [f for f in lectern_functions() if f.trigger_type == HTTP_TRIGGER]
    assert http
    for function in http:
        parameters = inspect.signature(function.user_function).parameters
        assert list(parameters) in (["req"], ["req", "context"]), function.name
        if "context" in parameters:
            assert parameters["context"].default is None, function.name
