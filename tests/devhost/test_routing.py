"""Route templates match paths the way the Functions host (ASP.NET routing) matches them."""

import pytest

from devhost.route_table import RouteTable, find_conflicts
from devhost.routing import RouteTemplate, RouteTemplateError, split_path

pytestmark = pytest.mark.unit


def match(template: str, path: str) -> dict[str, str] | None:
    return RouteTemplate.parse(template).match(split_path(path))


def test_literal_segments_match_case_insensitively():
    assert match("courses/list", "/Courses/LIST") == {}
    assert match("courses/list", "courses/lists") is None


def test_a_parameter_captures_one_segment():
    assert match("courses/{courseId}/lessons", "courses/abc/lessons") == {"courseId": "abc"}
    assert match("courses/{courseId}", "courses/abc/lessons") is None
    assert match("courses/{courseId}", "courses") is None


def test_one_trailing_slash_is_ignored():
    assert match("items/{id}", "items/7/") == {"id": "7"}


def test_segments_are_decoded_after_splitting():
    assert match("files/{name}", "files/a%20b%2Fc") == {"name": "a b/c"}


def test_an_optional_parameter_may_be_absent():
    assert match("greet/{name?}", "greet") == {}
    assert match("greet/{name?}", "greet/ana") == {"name": "ana"}


def test_a_default_value_fills_an_absent_parameter():
    assert match("pages/{page=1}", "pages") == {"page": "1"}
    assert match("pages/{page=1}", "pages/4") == {"page": "4"}


def test_a_catch_all_takes_the_rest_of_the_path_or_nothing():
    assert match("files/{*path}", "files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert match("files/{*path}", "files") == {}


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        ("int", ["42", "-7", "2147483647"], ["4.2", "abc", "2147483648"]),
        ("long", ["9223372036854775807"], ["9223372036854775808"]),
        (
            "guid",
            ["6f1c2b1e-6c1f-4f8e-9a44-0a0000000001", "{6f1c2b1e-6c1f-4f8e-9a44-0a0000000001}", "6f1c2b1e6c1f4f8e9a440a0000000001"],
            ["6f1c2b1e-6c1f", "nope"],
        ),
        ("alpha", ["abcXYZ"], ["abc1", "a-b"]),
        ("bool", ["true", "False"], ["yes", "1"]),
        ("double", ["1.5", "-2", "1e3"], ["nan", "inf", "x"]),
        ("minlength(3)", ["abc", "abcd"], ["ab"]),
        ("maxlength(3)", ["abc"], ["abcd"]),
        ("length(2,3)", ["ab", "abc"], ["a", "abcd"]),
        ("range(1,10)", ["1", "10"], ["0", "11", "x"]),
        ("min(5)", ["5", "500"], ["4"]),
    ],
)
def test_constraints_accept_and_refuse_like_the_host(constraint, good, bad):
    template = RouteTemplate.parse(f"things/{{value:{constraint}}}")
    for value in good:
        assert template.match(["things", value]) == {"value": value}, value
    for value in bad:
        assert template.match(["things", value]) is None, value


def test_regex_constraints_may_contain_escaped_braces_parens_and_colons():
    template = RouteTemplate.parse("codes/{code:regex(^\\d{{3}}$)}")
    assert template.match(["codes", "123"]) == {"code": "123"}
    assert template.match(["codes", "1234"]) is None
    times = RouteTemplate.parse("at/{time:regex(^\\d\\d:\\d\\d$)}")
    assert times.match(["at", "10:30"]) == {"time": "10:30"}


def test_constraints_chain():
    template = RouteTemplate.parse("n/{n:int:min(10)}")
    assert template.match(["n", "10"]) == {"n": "10"}
    assert template.match(["n", "9"]) is None


def test_mixed_segments_split_on_their_last_literal_text():
    assert match("files/{name}.{ext}", "files/report.final.pdf") == {"name": "report.final", "ext": "pdf"}
    assert match("files/{name}.{ext}", "files/report") is None


@pytest.mark.parametrize(
    "template",
    [
        "a/{id:nosuch}",
        "a/{*rest}/b",
        "a/{x}/{x}",
        "a/{x?}/b",
        "a/{x}{y}",
        "a/{x",
        "a/{x:int(3)}",
        "a//b",
        "a/{*rest?}",
        "a/{x:regex(()}",
    ],
)
def test_templates_the_host_refuses_are_refused(template):
    with pytest.raises(RouteTemplateError):
        RouteTemplate.parse(template)


def test_the_most_specific_route_wins_whatever_the_registration_order():
    table = RouteTable(
        [
            ("items/{*rest}", ["GET"], "catch-all"),
            ("items/{name}", ["GET"], "name"),
            ("items/{id:int}", ["GET"], "id"),
            ("items/special", ["GET"], "special"),
        ]
    )

    def target(path: str) -> str | None:
        found = table.resolve("GET", split_path(path))
        return found.route.target if found else None

    assert target("items/special") == "special"
    assert target("items/7") == "id"
    assert target("items/seven") == "name"
    assert target("items/a/b") == "catch-all"
    assert target("other") is None


def test_a_route_whose_methods_exclude_the_request_does_not_match():
    table = RouteTable([("items/{id}", ["GET"], "read"), ("items/{*rest}", ["POST"], "write"), ("any", None, "any")])
    assert table.resolve("POST", ["items", "7"]).route.target == "write"
    assert table.resolve("DELETE", ["items", "7"]) is None
    assert table.resolve("PATCH", ["any"]).route.target == "any"


def test_routes_that_shadow_each_other_are_reported():
    table = RouteTable([("a/{x}", ["GET"], 1), ("A/{y}", ["GET", "POST"], 2), ("a/{z}", ["PUT"], 3), ("a/{x:int}", ["GET"], 4)])
    pairs = {(first.target, second.target) for first, second in find_conflicts(table)}
    assert pairs == {(1, 2)}


def _full_scan(table: RouteTable, method: str, segments: list[str]):
    """What the table answered before it was indexed: every route in order, the first match."""
    for route in table.routes:
        if route.allows(method):
            params = route.template.match(segments)
            if params is not None:
                return route.target, params
    return None


def _paths_for(template: str) -> list[list[str]]:
    """Paths a template should match, and near misses: each parameter filled with values
    its constraints may or may not take, the first word's case changed, a segment added."""
    filled = [[]]
    for part in template.split("/") if template else []:
        if part.startswith("{"):
            filled = [path + [value] for path in filled for value in ("42", "6f1c2b1e-6c1f-4f8e-9a44-0a0000000001", "abc")]
        else:
            filled = [path + [part] for path in filled]
    paths = []
    for path in filled[:6]:
        paths += [path, path + ["extra"], path[:-1], [path[0].upper(), *path[1:]] if path else ["x"]]
    return paths


def test_the_indexed_table_answers_what_a_full_scan_of_lectern_s_routes_answers():
    from tests.support.app_index import lectern_functions

    routes = [(str(f.trigger.get("route") or f.name), f.trigger.get("methods"), f.name) for f in lectern_functions()
              if f.trigger.get("type") == "httpTrigger"]
    assert len(routes) > 50
    table = RouteTable(routes)
    checked = 0
    for template, _, _ in routes:
        for path in _paths_for(template) + [["nothing", "here"], [], ["API"]]:
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
                found = table.resolve(method, path)
                assert ((found.route.target, found.params) if found else None) == _full_scan(table, method, path), (method, path)
                checked += 1
    assert checked > 5_000
