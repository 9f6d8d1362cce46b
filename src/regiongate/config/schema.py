"""JSON Schemas of ``regions.yaml`` and tenant files, built from the parser's own key tables and rules.

Editors validate as people type (the files' ``# yaml-language-server: $schema=…`` first line); the parser stays
the authority: it also checks what a schema cannot express (zones of the chosen region, certificates of the
stack's region, the gateway against the region's promise). The checked-in files under ``schemas/`` are what
this module generates; tests keep them equal. Rewrite them with ``python -m regiongate.config.schema``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from regiongate.config import alarms, console_oidc, gateway, gateway_runtime, processing_areas, regions, tenants
from regiongate.config.reader import JsonSchema, Rule, object_schema, schema_pattern

SCHEMA_DIR = Path(__file__).parent / "schemas"
# Draft 7: the newest draft the YAML language server (VS Code's YAML extension) fully supports.
DRAFT = "http://json-schema.org/draft-07/schema#"


def _rule_schemas(rules: Mapping[str, Rule | None], nested: Mapping[str, JsonSchema]) -> dict[str, JsonSchema]:
    """Each key's schema: its rule's, or for a mapping of its own (rule ``None``) the one in ``nested``."""
    return {name: rule.schema() if rule is not None else nested[name] for name, rule in rules.items()}


def sizing_schema() -> JsonSchema:
    return object_schema(
        {name: rule.schema() for name, rule in regions.SIZING_RULES.items()},
        description="Database, Lambda, container, logs and network sizing; keys not given keep the defaults.",
    )


# --- the gateway section, from the gateway dataclasses --------------------------------------------------------

# Dataclass fields whose YAML spelling differs, fields computed by the parser (not keys), and the values a
# field may take. The parser's unknown-key errors are compared with the result by the tests.
_YAML_NAMES: Mapping[tuple[type, str], str] = {(gateway.Detector, "kind"): "type"}
_COMPUTED: frozenset[tuple[type, str]] = frozenset({(gateway.Model, "destinations"), (gateway.Model, "area")})
_ENUMS: Mapping[tuple[type, str], Sequence[str]] = {
    (gateway.Provider, "type"): gateway.PROVIDER_TYPES,
    (gateway.Model, "kind"): gateway.MODEL_KINDS,
    (gateway.Detector, "kind"): (*gateway.BUILTIN_DETECTORS, "regex"),
    (gateway.Detector, "action"): gateway.GUARDRAIL_ACTIONS,
}
# Fields whose schema is written by the module that parses them.
_FIELD_SCHEMAS: Mapping[tuple[type, str], JsonSchema] = {
    (gateway.GatewayConfig, name): schema for name, schema in gateway_runtime.runtime_schema().items()
}


def _type_schema(hint: Any) -> JsonSchema:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        present = [arg for arg in args if arg is not type(None)]
        return _type_schema(present[0]) if len(present) == 1 else {"anyOf": [_type_schema(a) for a in present]}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is Mapping or origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass_schema(hint)
    if hint is Decimal:  # a price: written as a number or a quoted decimal
        return {"type": ["number", "string"]}
    simple = {str: "string", bool: "boolean", int: "integer"}
    return {"type": simple[hint]}


def _dataclass_schema(cls: type) -> JsonSchema:
    hints = typing.get_type_hints(cls)
    properties: dict[str, JsonSchema] = {}
    for item in dataclasses.fields(cls):
        if (cls, item.name) in _COMPUTED:
            continue
        schema = _type_schema(hints[item.name])
        if (cls, item.name) in _ENUMS:
            schema = {"enum": list(_ENUMS[cls, item.name])}
        schema = _FIELD_SCHEMAS.get((cls, item.name), schema)
        properties[_YAML_NAMES.get((cls, item.name), item.name)] = schema
    return object_schema(properties)


def gateway_schema() -> JsonSchema:
    schema = _dataclass_schema(gateway.GatewayConfig)
    schema["description"] = (
        "Providers, model catalogue, host allowlist and guardrails; checked at synth time against the "
        "region's inference_regions."
    )
    return schema


# --- regions.yaml ---------------------------------------------------------------------------------------------


def region_schema() -> JsonSchema:
    properties = _rule_schemas(
        regions.REGION_RULES,
        {
            "sizing": sizing_schema(),
            "gateway": gateway_schema(),
            "alarms": alarms.schema(),
            processing_areas.KEY: processing_areas.area_schema(),
            console_oidc.KEY: console_oidc.schema(),
        },
    )
    # The parser also takes an unquoted account id (a 12-digit number) in regions.yaml.
    properties["account"] = {
        "anyOf": [properties["account"], {"type": "integer", "minimum": 10**11, "maximum": 10**12 - 1}]
    }
    return object_schema(properties, regions.REQUIRED_REGION_KEYS)


def regions_document() -> JsonSchema:
    single_tenant_row = object_schema(
        {name: rule.schema() for name, rule in regions.SINGLE_TENANT_RULES.items()}, regions.SINGLE_TENANT_KEYS
    )
    properties: dict[str, JsonSchema] = {
        "defaults": object_schema({"sizing": sizing_schema()}),
        "regions": {
            "type": "object",
            "description": "One entry per region stack, by region code (the API key prefix rk-<code>-).",
            "minProperties": 1,
            "propertyNames": {"pattern": schema_pattern(regions.CODE_RE)},
            "additionalProperties": region_schema(),
        },
        "single_tenant_regions": {
            "type": "array",
            "description": "The Single-Tenant Cloud region table: where `regiongate tenant add` may provision.",
            "items": single_tenant_row,
        },
    }
    return {
        "$schema": DRAFT,
        "title": "regiongate regions.yaml",
        **object_schema(properties, ("regions",), "The region catalogue: one entry per isolated region stack."),
    }


def tenant_document() -> JsonSchema:
    properties = _rule_schemas(
        tenants.TENANT_RULES,
        {
            "sizing": sizing_schema(),
            "gateway": object_schema(
                gateway_runtime.runtime_schema(),
                description="How this deployment runs the gateway (the catalogue is the geography's).",
            ),
            "alarms": alarms.schema(),
        },
    )
    return {
        "$schema": DRAFT,
        "title": "regiongate tenant file (tenants/<slug>.yaml)",
        **object_schema(
            properties,
            tenants.REQUIRED_TENANT_KEYS,
            "One single-tenant deployment, written by `regiongate tenant add`.",
        ),
    }


DOCUMENTS = {"regions.schema.json": regions_document, "tenant.schema.json": tenant_document}


def render(document: JsonSchema) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the schema files (``--check``: only report the ones that differ, exit 1 if any)."""
    check = "--check" in (sys.argv[1:] if argv is None else argv)
    stale = []
    for name, build in DOCUMENTS.items():
        path = SCHEMA_DIR / name
        text = render(build())
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'out of date' if check else 'written'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
