"""JSON encoders built once, for the text the request path writes on every request and every streamed chunk, and
the decoder of what it reads on every streamed chunk.

``json.dumps`` builds its C encoder anew on each call, and with any non-default argument (``ensure_ascii``,
``separators``, ``default``) a ``JSONEncoder`` too: 1.3-2 µs of a 2.5-4.5 µs call on a chat completion's answer
(issue 12). An encoder from here is built when the module that uses it is imported and writes exactly what
``json.dumps`` writes with the same arguments (tests/unit/common/test_json_text.py). It does not check for circular
references: what it encodes was parsed from JSON or built by our code, and a cycle still fails (RecursionError).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _stdlib
from json import scanner as _scanner
from typing import Any


def encoder(
    *, ensure_ascii: bool = True, compact: bool = False, default: Callable[[Any], Any] | None = None
) -> Callable[[Any], str]:
    """``value -> str``, as ``json.dumps(value, ensure_ascii=..., separators=(",", ":") if compact, default=...)``."""
    separators = (",", ":") if compact else (", ", ": ")
    fallback = json.JSONEncoder(ensure_ascii=ensure_ascii, separators=separators, default=default)
    make = getattr(_stdlib, "c_make_encoder", None)  # json.encoder's C encoder; not in its typeshed stubs
    if make is None:  # an interpreter without the C accelerator: the same text, slower
        return fallback.encode
    iterencode = make(
        None,  # markers: no circular-reference check (see above)
        fallback.default,  # ``default``, or JSONEncoder's TypeError naming the type
        _stdlib.encode_basestring_ascii if ensure_ascii else _stdlib.encode_basestring,
        None,  # indent
        separators[1],
        separators[0],
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )

    def encode(value: Any) -> str:
        return "".join(iterencode(value, 0))

    return encode


# What the gateway writes to clients and upstreams: the chat answer and upstream request bodies as json.dumps
# writes them by default but for non-ASCII text, and every SSE chunk and event compact.
unicode_json = encoder(ensure_ascii=False)
compact_unicode_json = encoder(ensure_ascii=False, compact=True)
# One string as those two write it, quotes included.
encode_string: Callable[[str], str] = _stdlib.encode_basestring


# json.scanner's C scanner, or its Python one where the accelerator is missing (neither typed in typeshed's stubs)
_make_scanner: Callable[[json.JSONDecoder], Callable[[str, int], tuple[Any, int]]] = getattr(
    _scanner, "c_make_scanner", None
) or getattr(_scanner, "py_make_scanner")  # noqa: B009
_scan_once = _make_scanner(json.JSONDecoder())


def loads_text(text: str) -> Any:
    """``json.loads(text)`` for a ``str``: the same value, or the same ``json.JSONDecodeError``. The C scanner is
    called at once, without json.loads' three Python frames (loads, decode, raw_decode), as a relayed chunk is
    decoded once per event; what it does not read whole (whitespace around the value, an error) goes to json.loads,
    which reads it or says why not in its own words."""
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value
