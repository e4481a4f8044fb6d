"""The log alerts in infra/bicep/modules/alerts.bicep count lines the app really logs.

A log alert over `traces` fires only if some code path emits a line its query matches,
through a logger that telemetry.py exports (the `lectern` tree). An alert on a line
nobody logs stays green for ever, so each query's message text and custom dimensions are
read from the Bicep and looked for in the logging calls of shared_code and functions.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import source

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "infra" / "bicep" / "modules" / "alerts.bicep"
CODE_DIRS = (REPO / "shared_code", REPO / "functions")
LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3, "exception": 3, "critical": 4}
# The logger telemetry.py hands to configure_azure_monitor: only its subtree is exported.
EXPORTED_LOGGER = "lectern"


@dataclass
class LogCall:
    path: Path
    function: str
    logger: str
    level: int
    template: str
    extra: dict[str, object]
    calls_in_function: set[str]


def _log_alert_queries() -> dict[str, str]:
    text = ALERTS.read_text()
    found = dict(re.findall(r"^\s*name: '([\w-]+)'\n(?:\s*(?!name:)\w+: .*\n)*?\s*query: '(.*)'$", text, re.M))
    assert found, "no log alert queries found in alerts.bicep"
    return found


def _log_calls() -> list[LogCall]:
    calls: list[LogCall] = []
    for directory in CODE_DIRS:
        for path in directory.rglob("*.py"):
            tree = source.parse(path)
            loggers = {
                target.id: node.value.args[0].value
                for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and ast.unparse(node.value.func) == "logging.getLogger"
                and node.value.args and isinstance(node.value.args[0], ast.Constant)
                for target in node.targets if isinstance(target, ast.Name)
            }
            for function in ast.walk(tree):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                called = {ast.unparse(c.func).split(".")[-1] for c in ast.walk(function) if isinstance(c, ast.Call)}
                for call in ast.walk(function):
                    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                            and isinstance(call.func.value, ast.Name) and call.func.value.id in loggers
                            and call.func.attr in LEVELS and call.args
                            and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)):
                        continue
                    extra: dict[str, object] = {}
                    for keyword in call.keywords:
                        if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                            for key, value in zip(keyword.value.keys, keyword.value.values, strict=False):
                                if isinstance(key, ast.Constant):
                                    extra[key.value] = value.value if isinstance(value, ast.Constant) else ast.unparse(value)
                    calls.append(LogCall(path, function.name, loggers[call.func.value.id], LEVELS[call.func.attr],
                                         call.args[0].value, extra, called))
    return calls


def _emitted_by(template: str) -> re.Pattern[str]:
    """What the formatted message can look like: each %-placeholder stands for any text."""
    parts = re.split(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfi]", template)
    return re.compile(".+".join(re.escape(part) for part in parts), re.S)


def _matching_calls(query: str) -> list[LogCall]:
    """The logging calls whose line the query counts (message filter, severity, dimensions)."""
    equals = re.findall(r'message == "([^"]*)"', query)
    contains = re.findall(r'message (?:contains|has) "([^"]*)"', query)
    severity = re.search(r"severityLevel >= (\d)", query)
    dimensions = dict(re.findall(r"toint\(customDimensions\.(\w+)\) == (\d+)", query))
    assert equals or contains, f"the query names no message: {query}"
    matches = []
    for call in _log_calls():
        if not (call.logger == EXPORTED_LOGGER or call.logger.startswith(EXPORTED_LOGGER + ".")):
            continue
        if any(not _emitted_by(call.template).fullmatch(text) for text in equals):
            continue
        # A fixed fragment must sit in the template's literal text, not in a placeholder.
        if any(text not in call.template for text in contains):
            continue
        if severity and call.level < int(severity.group(1)):
            continue
        if any(call.extra.get(name) != int(value) for name, value in dimensions.items()):
            continue
        matches.append(call)
    return matches


@pytest.mark.parametrize("alert", sorted(name for name, query in _log_alert_queries().items() if query.startswith("traces")))
def test_every_log_alert_counts_a_line_the_app_logs(alert: str) -> None:
    query = _log_alert_queries()[alert]
    assert _matching_calls(query), f"alert {alert}: no exported logging call emits what `{query}` counts"


def test_poison_alert_counts_the_line_logged_where_the_app_moves_a_message_to_the_poison_queue() -> None:
    query = _log_alert_queries()["poison-queue-messages"]
    assert "MaxDequeueCount" not in query, "the host never moves outbox messages itself: the app does"
    calls = _matching_calls(query)
    assert any("poison_queue" in call.calls_in_function for call in calls), (
        "the matching line is not logged by the function that sends to the poison queue"
    )


def test_payment_mismatch_alert_counts_the_webhook_mismatch_line_by_its_dimension() -> None:
    query = _log_alert_queries()["payment-mismatch"]
    assert "customDimensions.paymentMismatch" in query
    calls = _matching_calls(query)
    assert calls and all(call.level >= LEVELS["warning"] for call in calls)


def test_the_exported_logger_tree_is_the_one_telemetry_configures() -> None:
    text = (REPO / "shared_code" / "telemetry.py").read_text()
    assert f'logger_name="{EXPORTED_LOGGER}"' in text
