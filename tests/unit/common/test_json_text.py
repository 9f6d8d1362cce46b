"""The prebuilt encoders write exactly what json.dumps writes with the same arguments."""

from __future__ import annotations

import itertools
import json
import random
import re
from decimal import Decimal
from typing import Any

import pytest

from regiongate.common.json_text import compact_unicode_json, encode_string, encoder, loads_text

_STRINGS = [
    "",
    "plain",
    "Paris é 巴黎 😀",
    'quote " backslash \\ tab \t nl \n',
    "\x00\x1f\x7f",
    "\ud800 lone",
    "</script>",
]
_NUMBERS: list[Any] = [
    0,
    -1,
    2**70,
    1.5,
    -0.0,
    1e300,
    1e-300,
    0.1 + 0.2,
    float("nan"),
    float("inf"),
    float("-inf"),
    True,
    False,
]


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6 if depth < 4 else 3)
    if kind == 0:
        return rng.choice(_STRINGS)
    if kind == 1:
        return rng.choice(_NUMBERS)
    if kind == 2:
        return None
    if kind == 3:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 4:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    keys: list[Any] = [*_STRINGS, 7, 2.5, True, None]  # json.dumps turns non-str keys into strings
    return {rng.choice(keys): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


_OPTIONS = [
    dict(ensure_ascii=ascii_, compact=compact, default=default)
    for ascii_, compact, default in itertools.product([True, False], [True, False], [None, str])
]


@pytest.mark.parametrize("options", _OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_encoders_write_what_json_dumps_writes(options: dict[str, Any]) -> None:
    encode = encoder(**options)
    dumps_args = {
        "ensure_ascii": options["ensure_ascii"],
        "separators": (",", ":") if options["compact"] else (", ", ": "),
        "default": options["default"],
    }
    rng = random.Random(12)
    values = [_value(rng) for _ in range(3000)] + [*_STRINGS, *_NUMBERS, None, [], {}]
    if options["default"] is not None:
        values.append({"cost_usd": Decimal("0.000125"), "nested": [Decimal("1E+2")]})
    for value in values:
        assert encode(value) == json.dumps(value, **dumps_args)


def test_an_encoder_without_default_refuses_what_json_cannot_write() -> None:
    with pytest.raises(TypeError, match="Object of type Decimal is not JSON serializable"):
        encoder(compact=True)({"cost": Decimal("1")})
    assert encoder(compact=True, default=str)({"cost": Decimal("1")}) == '{"cost":"1"}'


def test_loads_text_reads_what_json_loads_reads_and_refuses_what_it_refuses() -> None:
    rng = random.Random(13)
    texts = [json.dumps(_value(rng)) for _ in range(3000)]
    texts += [json.dumps(_value(rng), separators=(",", ":"), ensure_ascii=False) for _ in range(500)]
    # refused by json.loads: nothing, trailing data, a trailing comma, an unquoted key, a lone quote, two values
    refused = ["", "{} x", "[1,]", "{a:1}", '"', "1 2", "{", "nul", " "]
    texts += [" {} ", "\t[1]\n", '"x"\r\n']  # whitespace around the value, which json.loads allows
    for text in texts:
        assert repr(loads_text(text)) == repr(json.loads(text))  # repr: NaN == NaN as text
    for text in refused:
        try:
            json.loads(text)
        except json.JSONDecodeError as refusal:
            expected = str(refusal)
        else:
            raise AssertionError(f"json.loads read {text!r}")
        with pytest.raises(json.JSONDecodeError, match=f"^{re.escape(expected)}$"):  # the same words, the same place
            loads_text(text)


def test_encode_string_writes_a_string_as_the_unicode_encoders_do() -> None:
    for text in _STRINGS:
        assert encode_string(text) == json.dumps(text, ensure_ascii=False)
        assert encode_string(text) == compact_unicode_json(text)
