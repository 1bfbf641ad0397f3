"""Splitting a .glb file into its JSON document and binary chunk, checking the container on the way (tests)."""
from __future__ import annotations

import json
import struct


def glb_chunks(data: bytes) -> tuple[dict, bytes]:
    """(JSON document, BIN chunk) of .glb bytes; asserts the glTF 2.0 header, chunk types and lengths."""
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert (magic, version, length) == (b"glTF", 2, len(data))
    jlen, jtype = struct.unpack("<I4s", data[12:20])
    assert jtype == b"JSON" and jlen % 4 == 0
    doc = json.loads(data[20:20 + jlen])
    blen, btype = struct.unpack("<I4s", data[20 + jlen:28 + jlen])
    assert btype == b"BIN\0" and blen % 4 == 0 and 28 + jlen + blen == len(data)
    return doc, data[28 + jlen:28 + jlen + blen]


def glb_json(path) -> dict:
    """The JSON document of the .glb file at `path` (container checked)."""
    with open(path, "rb") as f:
        return glb_chunks(f.read())[0]
