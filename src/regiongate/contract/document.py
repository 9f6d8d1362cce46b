"""The region document: what synthesis hands every runtime about its region, one schema in both directions.

Synthesis builds a ``RuntimeConfig`` (``regiongate.config.gateway.runtime_document``) and writes
``to_document()``; the functions read it from ``REGION_DOCUMENT_PATH`` and the console from an environment
variable, both with ``from_document``, which refuses unknown keys, missing keys and wrong types, naming the key.

Versioning: ``contract_version`` is "major.minor". A runtime reads documents of its own major version whose minor
is not newer than its own. A minor version only adds optional keys (absent in older documents, defaulted here);
a newer minor may carry keys this runtime does not know, so it is refused like another major: deploy the
runtime of the same release as the stack (the functions always are; the console image must be mirrored again).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from regiongate.contract.limits import (
    DEFAULT_AUDIT_RETENTION_MONTHS,
    DEFAULT_KEY_CACHE_TTL_SECONDS,
    DEFAULT_LAMBDA_GENERATION_SECONDS,
)

# 1.1: max_generation_seconds (optional; a 1.0 document means the Lambda's UPSTREAM_DEADLINE_SECONDS).
# 1.2: a model's processing_area (optional: a model without one is processed inside inference_regions);
#      memory (optional; absent: the region offers no Memory-as-a-Service).
# 1.3: a model's cache_read_usd_per_mtok and cache_write_usd_per_mtok (optional; absent: cache tokens are priced
#      at input_usd_per_mtok, as before).
CONTRACT_VERSION = "1.3"

# Each provider type has exactly these keys (all required).
PROVIDER_KEYS: Mapping[str, tuple[str, ...]] = {
    "bedrock": ("name", "type", "aws_region"),
    "azure_openai": ("name", "type", "endpoint", "location", "api_version"),
    "openai_compatible": ("name", "type", "base_url"),
}
MODEL_KINDS = ("chat", "embedding")
DETECTOR_TYPES = ("payment_card", "iban", "regex")
GUARDRAIL_ACTIONS = ("block", "flag")

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")


class DocumentError(ValueError):
    """The region document does not match this runtime's contract (the message names the key)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    provider: str
    target: str
    kind: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    deployment_type: str | None = None
    # An operator's explicit opt-in to a wider area than inference_regions (regions.yaml processing_areas): its
    # name and regions, stated in keys and /v1/models. None: processed inside inference_regions.
    processing_area: ProcessingAreaEntry | None = None
    # Prices of input tokens read from / written to the provider's prompt cache (1.3). None: the input price.
    cache_read_usd_per_mtok: Decimal | None = None
    cache_write_usd_per_mtok: Decimal | None = None

    @property
    def cache_read_price(self) -> Decimal:
        return self.input_usd_per_mtok if self.cache_read_usd_per_mtok is None else self.cache_read_usd_per_mtok

    @property
    def cache_write_price(self) -> Decimal:
        return self.input_usd_per_mtok if self.cache_write_usd_per_mtok is None else self.cache_write_usd_per_mtok

    @property
    def highest_input_price(self) -> Decimal:
        """What an input token can cost at most (a budget reservation's price): uncached, or written to the cache."""
        return max(self.input_usd_per_mtok, self.cache_write_price)


@dataclass(frozen=True)
class ProcessingAreaEntry:
    name: str
    regions: tuple[str, ...]


@dataclass(frozen=True)
class ProviderEntry:
    name: str
    type: str
    aws_region: str | None = None
    endpoint: str | None = None
    location: str | None = None
    api_version: str | None = None
    base_url: str | None = None


@dataclass(frozen=True)
class GuardrailPolicy:
    max_request_bytes: int
    max_input_tokens: int
    model_allowlist: tuple[str, ...] | None
    # Each detector: name, type (payment_card, iban, regex), action (block, flag), and pattern for regex only.
    detectors: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class MemoryOffer:
    """The region offers Memory-as-a-Service (orgs still enable it one by one): facts are embedded by the
    region's own ``embedding_model`` into vectors of ``dimensions`` (the memory store's column size)."""

    embedding_model: str
    dimensions: int


@dataclass(frozen=True)
class RuntimeConfig:
    """The region's document, typed."""

    code: str
    display_name: str
    aws_region: str
    partition: str
    geography: str
    inference_regions: tuple[str, ...]
    providers: Mapping[str, ProviderEntry]
    models: Mapping[str, ModelEntry]
    allowed_hosts: tuple[str, ...]
    guardrails: GuardrailPolicy
    org_guardrails: Mapping[str, GuardrailPolicy] = field(default_factory=dict)
    audit_retention_months: int = DEFAULT_AUDIT_RETENTION_MONTHS
    key_cache_ttl_seconds: int = DEFAULT_KEY_CACHE_TTL_SECONDS
    # The longest generation the deployment allows: the overall upstream deadline of one request (seconds).
    max_generation_seconds: int = DEFAULT_LAMBDA_GENERATION_SECONDS
    memory: MemoryOffer | None = None  # 1.2

    def guardrails_for(self, org_id: str | None) -> GuardrailPolicy:
        return self.org_guardrails.get(org_id or "", self.guardrails)

    # --- writing ----------------------------------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        """The JSON-able document: no secrets, deterministic order, ``from_document``'s exact inverse."""
        return {
            "contract_version": CONTRACT_VERSION,
            "code": self.code,
            "display_name": self.display_name,
            "aws_region": self.aws_region,
            "partition": self.partition,
            "geography": self.geography,
            "inference_regions": list(self.inference_regions),
            "providers": [{k: v for k, v in p.__dict__.items() if v is not None} for p in self.providers.values()],
            "models": [
                {
                    "name": m.name,
                    "provider": m.provider,
                    "target": m.target,
                    "kind": m.kind,
                    "input_usd_per_mtok": str(m.input_usd_per_mtok),
                    "output_usd_per_mtok": str(m.output_usd_per_mtok),
                    **({"deployment_type": m.deployment_type} if m.deployment_type is not None else {}),
                    **{
                        name: str(price)
                        for name, price in (
                            ("cache_read_usd_per_mtok", m.cache_read_usd_per_mtok),
                            ("cache_write_usd_per_mtok", m.cache_write_usd_per_mtok),
                        )
                        if price is not None
                    },
                    **(
                        {
                            "processing_area": {
                                "name": m.processing_area.name,
                                "regions": list(m.processing_area.regions),
                            }
                        }
                        if m.processing_area is not None
                        else {}
                    ),
                }
                for m in self.models.values()
            ],
            "allowed_hosts": list(self.allowed_hosts),
            "guardrails": _policy_document(self.guardrails),
            "org_guardrails": {org: _policy_document(g) for org, g in sorted(self.org_guardrails.items())},
            "audit_retention_months": self.audit_retention_months,
            "key_cache_ttl_seconds": self.key_cache_ttl_seconds,
            "max_generation_seconds": self.max_generation_seconds,
            **(
                {"memory": {"embedding_model": self.memory.embedding_model, "dimensions": self.memory.dimensions}}
                if self.memory is not None
                else {}
            ),
        }

    def to_json(self) -> str:
        """The document as compact, sorted JSON (for an environment variable)."""
        return json.dumps(self.to_document(), sort_keys=True, separators=(",", ":"))

    # --- reading ----------------------------------------------------------------------------------------
    @classmethod
    def from_document(cls, doc: Any) -> RuntimeConfig:
        """Parse a document; raises ``DocumentError`` naming the first key that does not match the contract."""
        root = _Object(doc, "the region document", _DOCUMENT_KEYS, _DOCUMENT_OPTIONAL_KEYS)
        check_version(root.string("contract_version"))
        providers: dict[str, ProviderEntry] = {}
        for i, raw in enumerate(root.array("providers")):
            entry = _provider(raw, f"providers[{i}]")
            if entry.name in providers:
                raise DocumentError(f"providers[{i}].name: {entry.name!r} is used by another provider")
            providers[entry.name] = entry
        models: dict[str, ModelEntry] = {}
        for i, raw in enumerate(root.array("models")):
            model = _model(raw, f"models[{i}]")
            if model.name in models:
                raise DocumentError(f"models[{i}].name: {model.name!r} is listed twice")
            if model.provider not in providers:
                raise DocumentError(f"models[{i}].provider: {model.provider!r} is not one of the document's providers")
            models[model.name] = model
        orgs = root.get("org_guardrails", dict)
        return cls(
            code=root.string("code"),
            display_name=root.string("display_name"),
            aws_region=root.string("aws_region"),
            partition=root.string("partition"),
            geography=root.string("geography"),
            inference_regions=root.strings("inference_regions"),
            providers=providers,
            models=models,
            allowed_hosts=root.strings("allowed_hosts"),
            guardrails=_policy(root.get("guardrails", dict), "guardrails"),
            org_guardrails={
                _key(org, "org_guardrails"): _policy(policy, f"org_guardrails.{org}") for org, policy in orgs.items()
            },
            audit_retention_months=root.integer("audit_retention_months"),
            key_cache_ttl_seconds=root.integer("key_cache_ttl_seconds"),
            max_generation_seconds=_positive(root, "max_generation_seconds", DEFAULT_LAMBDA_GENERATION_SECONDS),
            memory=_memory(root.get("memory", dict), models) if "memory" in root.raw else None,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> RuntimeConfig:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise DocumentError(f"{source}: not JSON ({exc})") from None
        try:
            return cls.from_document(doc)
        except DocumentError as exc:
            raise DocumentError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str, expected_code: str | None = None) -> RuntimeConfig:
        """The document at ``path``, checked to be region ``expected_code``'s."""
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise DocumentError(f"{path}: file not found") from None
        config = cls.from_json(text, path)
        if expected_code and config.code != expected_code:
            raise DocumentError(f"{path} is the document of region {config.code}, but this runtime is {expected_code}")
        return config


def check_version(found: str) -> None:
    """Refuse a document this runtime cannot read: another major version, or a newer minor."""
    ours = _VERSION_RE.match(CONTRACT_VERSION)
    theirs = _VERSION_RE.match(found)
    assert ours is not None
    if theirs is None:
        raise DocumentError(f'contract_version: {found!r} is not a "major.minor" version')
    major, minor = int(theirs[1]), int(theirs[2])
    supported_major, supported_minor = int(ours[1]), int(ours[2])
    if major != supported_major or minor > supported_minor:
        raise DocumentError(
            f"contract_version: the document is version {found}, this runtime reads {supported_major}.0 to "
            f"{CONTRACT_VERSION}; deploy the runtime of the same regiongate release as the stack that wrote it "
            "(synthesize and deploy again, and mirror the console image of that release)"
        )


_DOCUMENT_KEYS = (
    "contract_version",
    "code",
    "display_name",
    "aws_region",
    "partition",
    "geography",
    "inference_regions",
    "providers",
    "models",
    "allowed_hosts",
    "guardrails",
    "org_guardrails",
    "audit_retention_months",
    "key_cache_ttl_seconds",
)
_DOCUMENT_OPTIONAL_KEYS = ("max_generation_seconds", "memory")  # 1.1, 1.2
_MODEL_KEYS = ("name", "provider", "target", "kind", "input_usd_per_mtok", "output_usd_per_mtok")
_MODEL_OPTIONAL_KEYS = (  # processing_area: 1.2; the cache prices: 1.3
    "deployment_type",
    "processing_area",
    "cache_read_usd_per_mtok",
    "cache_write_usd_per_mtok",
)
_AREA_KEYS = ("name", "regions")
_POLICY_KEYS = ("max_request_bytes", "max_input_tokens", "model_allowlist", "detectors")
_DETECTOR_KEYS = ("name", "type", "action")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _Object:
    """One JSON object of the document with exactly ``required`` (+ ``optional``) keys; values read by type."""

    def __init__(self, raw: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        self.where = where
        self._prefix = "" if where == "the region document" else f"{where}."
        if not isinstance(raw, dict):
            raise DocumentError(f"{where}: must be an object, got {_type_name(raw)}")
        unknown = [k for k in raw if k not in required and k not in optional]
        if unknown:
            raise DocumentError(
                f"{self._prefix}{unknown[0]}: unknown key (this runtime reads contract {CONTRACT_VERSION})"
            )
        missing = [k for k in required if k not in raw]
        if missing:
            raise DocumentError(f"{self._prefix}{missing[0]}: missing key")
        self.raw: dict[str, Any] = raw

    def name(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def get(self, key: str, kind: type) -> Any:
        value = self.raw[key]
        if not isinstance(value, kind) or isinstance(value, bool):  # JSON true is not an integer here
            raise DocumentError(f"{self.name(key)}: must be {_KIND_NAMES[kind]}, got {_type_name(value)}")
        return value

    def string(self, key: str) -> str:
        value: str = self.get(key, str)
        return value

    def optional_string(self, key: str) -> str | None:
        return self.string(key) if key in self.raw else None

    def integer(self, key: str) -> int:
        value: int = self.get(key, int)
        return value

    def array(self, key: str) -> list[Any]:
        value: list[Any] = self.get(key, list)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.array(key)
        for i, item in enumerate(values):
            if not isinstance(item, str):
                raise DocumentError(f"{self.name(key)}[{i}]: must be a string, got {_type_name(item)}")
        return tuple(values)

    def decimal(self, key: str) -> Decimal:
        text = self.string(key)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise DocumentError(f"{self.name(key)}: {text!r} is not a decimal number") from None
        if not value.is_finite():
            raise DocumentError(f"{self.name(key)}: {text!r} is not a finite decimal number")
        return value

    def choice(self, key: str, valid: tuple[str, ...]) -> str:
        value = self.string(key)
        if value not in valid:
            raise DocumentError(f"{self.name(key)}: {value!r} is not one of {', '.join(valid)}")
        return value


_KIND_NAMES: Mapping[type, str] = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


def _key(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DocumentError(f"{where}: keys must be strings, got {_type_name(value)}")
    return value


def _positive(obj: _Object, key: str, default: int) -> int:
    """An optional positive integer (absent in documents of an older minor version: ``default``)."""
    if key not in obj.raw:
        return default
    value = obj.integer(key)
    if value < 1:
        raise DocumentError(f"{obj.name(key)}: must be a positive number of seconds, got {value}")
    return value


def _provider(raw: Any, where: str) -> ProviderEntry:
    ptype = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(ptype, str) or ptype not in PROVIDER_KEYS:
        _Object(raw, where, ("name", "type"), tuple(k for keys in PROVIDER_KEYS.values() for k in keys))
        raise DocumentError(f"{where}.type: {ptype!r} is not one of {', '.join(PROVIDER_KEYS)}")
    obj = _Object(raw, where, PROVIDER_KEYS[ptype])
    return ProviderEntry(**{key: obj.string(key) for key in PROVIDER_KEYS[ptype]})


def _model(raw: Any, where: str) -> ModelEntry:
    obj = _Object(raw, where, _MODEL_KEYS, _MODEL_OPTIONAL_KEYS)
    return ModelEntry(
        name=obj.string("name"),
        provider=obj.string("provider"),
        target=obj.string("target"),
        kind=obj.choice("kind", MODEL_KINDS),
        input_usd_per_mtok=obj.decimal("input_usd_per_mtok"),
        output_usd_per_mtok=obj.decimal("output_usd_per_mtok"),
        deployment_type=obj.optional_string("deployment_type"),
        processing_area=_area(obj.raw["processing_area"], f"{where}.processing_area")
        if "processing_area" in obj.raw
        else None,
        cache_read_usd_per_mtok=obj.decimal("cache_read_usd_per_mtok")
        if "cache_read_usd_per_mtok" in obj.raw
        else None,
        cache_write_usd_per_mtok=obj.decimal("cache_write_usd_per_mtok")
        if "cache_write_usd_per_mtok" in obj.raw
        else None,
    )


def _area(raw: Any, where: str) -> ProcessingAreaEntry:
    obj = _Object(raw, where, _AREA_KEYS)
    regions = obj.strings("regions")
    if not regions:
        raise DocumentError(f"{where}.regions: must list at least one region")
    return ProcessingAreaEntry(name=obj.string("name"), regions=regions)


def _policy(raw: Any, where: str) -> GuardrailPolicy:
    obj = _Object(raw, where, _POLICY_KEYS)
    allowlist = obj.strings("model_allowlist") if obj.raw["model_allowlist"] is not None else None
    detectors = []
    for i, item in enumerate(obj.array("detectors")):
        detector = _Object(item, f"{where}.detectors[{i}]", _DETECTOR_KEYS, ("pattern",))
        kind = detector.choice("type", DETECTOR_TYPES)
        entry = {
            "name": detector.string("name"),
            "type": kind,
            "action": detector.choice("action", GUARDRAIL_ACTIONS),
        }
        if kind == "regex":
            if "pattern" not in detector.raw:
                raise DocumentError(f"{detector.name('pattern')}: missing key (a regex detector needs its pattern)")
            entry["pattern"] = detector.string("pattern")
        elif "pattern" in detector.raw:
            raise DocumentError(f"{detector.name('pattern')}: unknown key for a {kind} detector (only regex has one)")
        detectors.append(entry)
    return GuardrailPolicy(
        max_request_bytes=obj.integer("max_request_bytes"),
        max_input_tokens=obj.integer("max_input_tokens"),
        model_allowlist=allowlist,
        detectors=tuple(detectors),
    )


def _policy_document(g: GuardrailPolicy) -> dict[str, Any]:
    return {
        "max_request_bytes": g.max_request_bytes,
        "max_input_tokens": g.max_input_tokens,
        "model_allowlist": list(g.model_allowlist) if g.model_allowlist is not None else None,
        "detectors": [
            {k: d[k] for k in ("name", "type", "action", "pattern") if k in d and d[k] is not None} for d in g.detectors
        ],
    }


def _memory(raw: Any, models: Mapping[str, ModelEntry]) -> MemoryOffer:
    obj = _Object(raw, "memory", ("embedding_model", "dimensions"))
    name = obj.string("embedding_model")
    model = models.get(name)
    if model is None or model.kind != "embedding":
        raise DocumentError(f"memory.embedding_model: {name!r} is not one of the document's embedding models")
    return MemoryOffer(embedding_model=name, dimensions=obj.integer("dimensions"))
