"""Guardrails: size and token limits, model allowlists and content detectors.

Detectors see the request's text in memory only. A violation records the detector, the action and where
it matched (``messages[2].content``), never the matched text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from regiongate.contract.document import GuardrailPolicy

# Each pattern begins with a character class, and its boundary check comes after that first character: Python's
# regex engine then skips, in C, every position where the class cannot match, instead of trying the whole pattern
# at each one. The plain forms, (?<!\d)(?:\d[ -]?){12,18}\d(?!\d) and \b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b,
# find exactly the same matches (tests/unit/gateway/test_keys_pricing_guardrails.py compares them), about four times
# slower on source code (bench/bench_gateway.py, docs/benchmarks.md): time the event loop serves nothing else.
_CARD_RE = re.compile(r"\d(?<!\d\d)[ -]?(?:\d[ -]?){11,17}\d(?!\d)")  # 13-19 digits, no digit on either side
_IBAN_RE = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]){11,30}\b")  # \b before the first letter
_IBAN_LENGTHS = {
    "AD": 24,
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
}


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "")
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is None or len(iban) != expected:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def find_cards(text: str) -> bool:
    for match in _CARD_RE.finditer(text):
        digits = match.group(0).replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def find_ibans(text: str) -> bool:
    return any(iban_valid(m.group(0)) for m in _IBAN_RE.finditer(text))


@dataclass(frozen=True)
class Violation:
    detector: str
    action: str
    message: str

    def as_event(self) -> dict[str, Any]:
        return {"detector": self.detector, "action": self.action, "message": self.message}


_DESCRIPTIONS = {"payment_card": "a payment card number", "iban": "an IBAN"}
_compiled: dict[str, re.Pattern[str]] = {}


def _matcher(detector: Mapping[str, str]) -> Callable[[str], bool]:
    kind = detector["type"]
    if kind == "payment_card":
        return find_cards
    if kind == "iban":
        return find_ibans
    pattern = _compiled.get(detector["pattern"])
    if pattern is None:
        pattern = _compiled[detector["pattern"]] = re.compile(detector["pattern"])
    return lambda text: pattern.search(text) is not None


def scan(texts: Iterable[tuple[str, str]], policy: GuardrailPolicy) -> list[Violation]:
    """``texts`` are (location, text) pairs; at most one violation per detector (the first location)."""
    if not policy.detectors:
        return []
    texts = list(texts)
    violations = []
    for detector in policy.detectors:
        match = _matcher(detector)
        for where, text in texts:
            if text and match(text):
                what = _DESCRIPTIONS.get(detector["type"], f"text matching detector {detector['name']}")
                violations.append(Violation(detector["name"], detector["action"], f"{what} was found in {where}"))
                break
    return violations


def estimate_tokens(texts: Iterable[tuple[str, str]]) -> int:
    """A tokenizer-free upper-ish estimate (4 characters a token) used for the input-token limit."""
    return sum((len(text) + 3) // 4 for _, text in texts)


def chat_texts(body: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every piece of text in a validated chat request, with where it is."""
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        if isinstance(content, str):
            yield f"messages[{i}].content", content
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if part.get("type") == "text":
                    yield f"messages[{i}].content[{j}]", part.get("text", "")
        for j, call in enumerate(message.get("tool_calls") or ()):
            yield f"messages[{i}].tool_calls[{j}].function.arguments", call["function"].get("arguments", "")
        for j, block in enumerate(message.get("thinking_blocks") or ()):  # reasoning sent back (reasoning.py)
            if isinstance(block, dict) and isinstance(block.get("thinking"), str):
                yield f"messages[{i}].thinking_blocks[{j}].thinking", block["thinking"]
    for i, tool in enumerate(body.get("tools") or ()):
        yield f"tools[{i}].function.description", tool["function"].get("description", "") or ""
