"""Request plumbing shared by every page: bounded form parsing, field validation and the one place that
turns errors into HTTP responses. No handler reads raw input any other way."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from regiongate.contract.limits import BUDGET_RULE, budget_problem

MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 64
MAX_FIELD_CHARS = 1024


class HTTPError(Exception):
    """Answered with ``status`` and ``message`` (shown to the user: never echo unvalidated input into it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadInput(HTTPError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Form:
    """A parsed application/x-www-form-urlencoded body (or query string): every value bounded."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for name, value in pairs:
            if len(name) > 64 or len(value) > MAX_FIELD_CHARS:
                raise HTTPError(413, "A form field is too long.")
            self.values.setdefault(name, []).append(value)

    @classmethod
    def parse(cls, raw: bytes | str) -> Form:
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            pairs = parse_qsl(
                text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            raise BadInput("The form could not be read.") from None
        return cls(pairs)

    @classmethod
    def from_query(cls, items: Mapping[str, str] | list[tuple[str, str]]) -> Form:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        if len(pairs) > MAX_FIELDS:
            raise BadInput("Too many parameters.")
        return cls(pairs)

    def get(self, name: str, default: str = "") -> str:
        values = self.values.get(name)
        if not values:
            return default
        if len(values) > 1:
            raise BadInput(f"The field {name} was sent more than once.")
        if "\x00" in values[0]:
            raise BadInput(f"The field {name} contains a NUL character.")
        return values[0]

    def get_all(self, name: str) -> list[str]:
        return self.values.get(name, [])


_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def optional_id(value: str, what: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not _ID_RE.match(value):
        raise BadInput(f"{what} must be 1 to 63 lower-case letters, digits, '.', '_' or '-'.")
    return value


def optional_amount(value: str, what: str = "Budget") -> Decimal | None:
    value = value.strip().replace(",", "")
    if not value:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise BadInput(f"{what} must be an amount of USD, like 250 or 99.50.") from None
    if budget_problem(amount) is not None:  # the one bound of every budget (contract.limits)
        raise BadInput(f"{what} must be {BUDGET_RULE}.")
    return amount


EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(9998, 12, 31)  # a day after LATEST_DATE is still a date


def optional_date(value: str, what: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{what} must be a date like 2026-12-31.") from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise BadInput(f"{what} must be a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}.")
    return day


def int_param(value: str, what: str, low: int, high: int, default: int) -> int:
    value = value.strip()
    if not value:
        return default
    if not re.fullmatch(r"\d{1,9}", value) or not low <= int(value) <= high:
        raise BadInput(f"{what} must be a whole number from {low} to {high}.")
    return int(value)


def choice(value: str, what: str, allowed: tuple[str, ...] | list[str], default: str) -> str:
    if not value:
        return default
    if value not in allowed:
        raise BadInput(f"{what} must be one of: {', '.join(allowed)}.")
    return value


def end_of_day(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)


def safe_next(value: str) -> str:
    """Only a path on this site (never //host or a scheme) may follow the sign-in."""
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and len(value) < 512
        and not any(c in value for c in "\r\n\t")
    ):
        return value
    return "/"
