"""WebSocket frames as the server writes them (RFC 6455 section 5.2).

Server frames carry no mask, so one encoded frame is byte-for-byte the same for every
recipient: a broadcast encodes once and writes the same bytes to thousands of sockets.
"""

from __future__ import annotations

import struct

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2

_FIN = 0x80
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def header(opcode: int, length: int) -> bytes:
    """The header of one unfragmented, unmasked frame whose payload has `length` bytes."""
    first = _FIN | opcode
    if length < 126:
        return _SHORT.pack(first, length)
    if length < 65536:
        return _MEDIUM.pack(first, 126, length)
    return _LONG.pack(first, 127, length)


def encode(opcode: int, payload: bytes) -> bytes:
    return header(opcode, len(payload)) + payload
