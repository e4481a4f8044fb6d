"""Certificate verification codes: short enough to type from paper, random enough that
nobody finds one by guessing (80 bits, and the public lookup is rate-limited per address).

Crockford's base32 alphabet (no I, L, O, U), grouped in fours: `7KQ2-M9XD-4HTC-R8WB`.
Lookups accept lower case and missing dashes, and read I/L as 1 and O as 0, as the
alphabet intends.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 4
GROUP_LENGTH = 4
CODE_LENGTH = GROUPS * GROUP_LENGTH  # 16 symbols × 5 bits = 80 bits

_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_code() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return format_code(symbols)


def format_code(symbols: str) -> str:
    return "-".join(symbols[i : i + GROUP_LENGTH] for i in range(0, len(symbols), GROUP_LENGTH))


def normalise_code(text: str) -> str | None:
    """The canonical form of a code someone typed, or None when it cannot be one."""
    symbols = text.strip().upper().replace("-", "").replace(" ", "").translate(_READ_AS)
    if len(symbols) != CODE_LENGTH or any(s not in ALPHABET for s in symbols):
        return None
    return format_code(symbols)

