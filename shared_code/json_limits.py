"""How deep a JSON text nests, read from the text before it is parsed.

The standard parser recurses once per level, so a body of 100,000 `[` raises
RecursionError inside `json.loads` (a 500) before any check of the parsed value could
run. Counting brackets outside strings needs no recursion and no parse.
"""

from __future__ import annotations

import re

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def too_deep(text: bytes | str, limit: int) -> bool:
    """True when arrays and objects in `text` nest deeper than `limit`.

    Brackets inside strings do not count. Text that is not valid JSON gets some answer;
    the parser that runs next refuses it anyway.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # not enough brackets to be that deep
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
