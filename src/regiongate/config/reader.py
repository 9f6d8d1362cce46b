"""Reading configuration files strictly: the error type, the key-path reader and typed value rules.

A leaf of ``regiongate.config``: ``regions`` (regions.yaml), ``tenants`` (tenant files) and ``gateway``
(``regions.<code>.gateway``) all report mistakes through :class:`Reader`, so every message has the same
shape: file, key path, what would be valid. The value rules (:class:`Text`, :class:`WholeNumber`, ...) both
check a value and describe it as JSON Schema, so the published schemas are built from what the parser checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A mistake in a configuration file: the message names the file, the key and the fix."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path = str(path)
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}")


def describe(value: Any) -> str:
    """A value as an error message shows it: its YAML-ish type and its repr."""
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def key_path(key: str, name: str) -> str:
    """``name`` under ``key`` (a top-level key when ``key`` is empty, as in a tenant file)."""
    return f"{key}.{name}" if key else name


class Reader:
    """Walks parsed YAML, remembering the file for error messages (callers pass the key path)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.path, key, problem)

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {describe(value)}")
        for name in value:
            if name not in allowed:
                raise self.fail(key_path(key, str(name)), f"unknown key; valid keys here: {', '.join(allowed)}")
        for name in required:
            if name not in value or value[name] is None:
                raise self.fail(key_path(key, name), "is required")
        return value

    def string(self, value: Any, key: str, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {describe(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(key, f"{value!r} is not {what}")
        return value

    def integer(self, value: Any, key: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number from {low} to {high}, got {describe(value)}")
        if not low <= value <= high:
            raise self.fail(key, f"{value} is out of range; valid: {low} to {high}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {describe(value)}")
        return value

    def string_list(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"must be a non-empty list, got {describe(value)}")
        return tuple(self.string(item, f"{key}[{i}]") for i, item in enumerate(value))


# --- value rules: one definition checks a value and describes it as JSON Schema --------------------------------

JsonSchema = dict[str, Any]


def schema_pattern(pattern: re.Pattern[str]) -> str:
    """A Python regular expression as JSON Schema (ECMA-262) spells it: named groups lose their names."""
    return re.sub(r"\(\?P<\w+>", "(", pattern.pattern)


@dataclass(frozen=True)
class Text:
    """A non-empty string, optionally matching ``pattern`` (``what`` says what it must be)."""

    pattern: re.Pattern[str] | None = None
    what: str = ""
    max_length: int | None = None

    def parse(self, reader: Reader, value: Any, key: str) -> str:
        return reader.string(value, key, self.pattern, self.what)

    def schema(self) -> JsonSchema:
        schema: JsonSchema = {"type": "string", "minLength": 1}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = schema_pattern(self.pattern)
        if self.what:
            schema["description"] = self.what
        return schema


@dataclass(frozen=True)
class TextList:
    """A non-empty list of strings; ``item`` describes each (its checks may depend on other keys)."""

    item: Text | Choice | None = None

    def parse(self, reader: Reader, value: Any, key: str) -> tuple[str, ...]:
        items = reader.string_list(value, key)
        if isinstance(self.item, Choice):
            for i, item in enumerate(items):
                self.item.parse(reader, item, f"{key}[{i}]")
        return items

    def schema(self) -> JsonSchema:
        return {"type": "array", "minItems": 1, "items": self.item.schema() if self.item else Text().schema()}


@dataclass(frozen=True)
class WholeNumber:
    low: int
    high: int

    def parse(self, reader: Reader, value: Any, key: str) -> int:
        return reader.integer(value, key, self.low, self.high)

    def schema(self) -> JsonSchema:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class Flag:
    def parse(self, reader: Reader, value: Any, key: str) -> bool:
        return reader.boolean(value, key)

    def schema(self) -> JsonSchema:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (``what`` names the kind of value: "a geography")."""

    values: tuple[str, ...] | tuple[int, ...]
    what: str

    def parse(self, reader: Reader, value: Any, key: str) -> Any:
        # bool is an int in Python: true must not pass for 1.
        if isinstance(value, bool) or value not in self.values:
            raise reader.fail(key, f"{value!r} is not {self.what}; valid: {', '.join(map(str, self.values))}")
        return value

    def schema(self) -> JsonSchema:
        return {"enum": list(self.values), "description": self.what}


Rule = Text | TextList | WholeNumber | Flag | Choice


def object_schema(
    properties: Mapping[str, JsonSchema], required: tuple[str, ...] = (), description: str = ""
) -> JsonSchema:
    """A mapping with exactly these keys: unknown keys are refused, as the parser refuses them."""
    schema: JsonSchema = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = dict(properties)
    schema["additionalProperties"] = False
    if required:
        schema["required"] = list(required)
    return schema


# --- YAML ------------------------------------------------------------------------------------------------------


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice (YAML would silently keep the last one)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (a region code or key may appear only once)", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_yaml(text: str) -> Any:
    """Parse YAML text strictly (a key written twice is an error)."""
    return yaml.load(text, Loader=UniqueKeyLoader)


def read_yaml_file(path: Path, missing_hint: str) -> Any:
    """Parse a configuration file strictly (a key written twice is an error); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "(file)", f"not found; {missing_hint}") from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, "(syntax)", f"not valid YAML: {exc}") from None
