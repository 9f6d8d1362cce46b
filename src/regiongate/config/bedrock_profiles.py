"""The Bedrock geography inference profiles regiongate knows: ``bedrock-profiles.yaml`` beside this module.

Each profile id maps to the regions a prompt sent to it may be processed in, with where and when that was read.
The gateway configuration refuses a profile that is not listed or whose destinations leave the region's
``inference_regions``; `regiongate profiles check` compares the file with ``GetInferenceProfile`` in an account.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from regiongate.config.reader import Reader, read_yaml_file

PROFILES_PATH = Path(__file__).with_name("bedrock-profiles.yaml")
PROFILES_VERSION = 1

_PROFILE_ID_RE = re.compile(r"^(eu|us|apac|jp|au|ca|us-gov)\.[a-z0-9-]+\.[a-zA-Z0-9.:_-]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")
_SOURCE_RE = re.compile(r"^https://\S+$")
_ENTRY_KEYS = ("destinations", "source", "checked", "note", "retired")
_REQUIRED_ENTRY_KEYS = ("destinations", "source", "checked")
_MODEL_ID_RE = re.compile(r"^[a-z0-9-]+\.[a-zA-Z0-9.:_-]+$")
_MODEL_KEYS = ("in_region", "source", "checked", "note", "retired")
_REQUIRED_MODEL_KEYS = ("in_region", "source", "checked")


@dataclass(frozen=True)
class FoundationModel:
    """Where a model id is offered on demand in one region (no inference profile)."""

    model_id: str
    in_region: tuple[str, ...]
    source: str
    checked: datetime.date
    note: str | None = None
    retired: datetime.date | None = None  # retired by its provider: never offered


@dataclass(frozen=True)
class Table:
    profiles: Mapping[str, InferenceProfile]
    foundation_models: Mapping[str, FoundationModel]

    def offered_in(self, model_id: str) -> tuple[str, ...]:
        """The regions ``model_id`` is offered on demand in (empty: unknown, so nowhere)."""
        entry = self.foundation_models.get(model_id)
        return entry.in_region if entry else ()

    def retired(self, target: str) -> datetime.date | None:
        """When the model behind ``target`` (a model id or a geography profile id) was retired, if it was."""
        profile = self.profiles.get(target)
        if profile is not None and profile.retired is not None:
            return profile.retired
        model = self.foundation_models.get(profile.foundation_model if profile is not None else target)
        return model.retired if model is not None else None


@dataclass(frozen=True)
class InferenceProfile:
    profile_id: str
    destinations: tuple[str, ...]
    source: str  # where the destinations were read
    checked: datetime.date  # when
    note: str | None = None
    retired: datetime.date | None = None  # retired by its provider: never offered

    @property
    def foundation_model(self) -> str:
        """``eu.amazon.nova-pro-v1:0`` → ``amazon.nova-pro-v1:0``."""
        return self.profile_id.split(".", 1)[1]


def _regions(reader: Reader, value: Any, key: str) -> tuple[str, ...]:
    regions = reader.string_list(value, key)
    for i, region in enumerate(regions):
        if not _REGION_RE.match(region):
            raise reader.fail(f"{key}[{i}]", f"{region!r} is not an AWS region such as eu-west-3")
    if not regions or len(set(regions)) != len(regions):
        raise reader.fail(key, "must list at least one region, each once")
    return tuple(sorted(regions))


def _provenance(reader: Reader, entry: Mapping[str, Any], key: str) -> tuple[str, datetime.date, str | None]:
    source = reader.string(entry["source"], f"{key}.source", _SOURCE_RE, "the https:// page the regions were read on")
    checked_text = reader.string(str(entry["checked"]), f"{key}.checked")
    try:
        checked = datetime.date.fromisoformat(checked_text)
    except ValueError:
        raise reader.fail(f"{key}.checked", f"{checked_text!r} is not a date such as 2026-12-01") from None
    note = reader.string(entry["note"], f"{key}.note") if entry.get("note") is not None else None
    return source, checked, note


def _retired(reader: Reader, entry: Mapping[str, Any], key: str) -> datetime.date | None:
    if entry.get("retired") is None:
        return None
    text = reader.string(str(entry["retired"]), f"{key}.retired")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise reader.fail(f"{key}.retired", f"{text!r} is not a date such as 2026-02-19") from None


def parse_table(data: Any, path: Path) -> Table:
    reader = Reader(path)
    raw = data if isinstance(data, dict) else {}
    models: dict[str, FoundationModel] = {}
    for model_id, entry in (raw.get("foundation_models") or {}).items():
        key = f"foundation_models.{model_id}"
        if not isinstance(model_id, str) or not _MODEL_ID_RE.match(model_id) or _PROFILE_ID_RE.match(model_id):
            raise reader.fail(key, "not a single-region model id such as amazon.titan-embed-text-v2:0")
        entry = reader.mapping(entry, key, _MODEL_KEYS, _REQUIRED_MODEL_KEYS)
        in_region = _regions(reader, entry["in_region"], f"{key}.in_region")
        source, checked, note = _provenance(reader, entry, key)
        models[model_id] = FoundationModel(model_id, in_region, source, checked, note, _retired(reader, entry, key))
    return Table(profiles=parse_profiles(data, path), foundation_models=models)


def parse_profiles(data: Any, path: Path) -> dict[str, InferenceProfile]:
    reader = Reader(path)
    top = reader.mapping(
        data if data is not None else {}, "", ("version", "foundation_models", "profiles"), ("version", "profiles")
    )
    if top["version"] != PROFILES_VERSION:
        raise reader.fail("version", f"{top['version']!r} is not supported; this regiongate reads version 1")
    raw = top["profiles"]
    if not isinstance(raw, dict) or not raw:
        raise reader.fail("profiles", "must be a mapping of inference profile id to its entry")
    profiles: dict[str, InferenceProfile] = {}
    for profile_id, entry in raw.items():
        key = f"profiles.{profile_id}"
        if not isinstance(profile_id, str) or not _PROFILE_ID_RE.match(profile_id):
            raise reader.fail(key, "not a geography inference profile id such as eu.amazon.nova-pro-v1:0")
        entry = reader.mapping(entry, key, _ENTRY_KEYS, _REQUIRED_ENTRY_KEYS)
        destinations = _regions(reader, entry["destinations"], f"{key}.destinations")
        source, checked, note = _provenance(reader, entry, key)
        profiles[profile_id] = InferenceProfile(
            profile_id=profile_id,
            destinations=destinations,
            source=source,
            checked=checked,
            note=note,
            retired=_retired(reader, entry, key),
        )
    return profiles


def load_table(path: Path | str = PROFILES_PATH) -> Table:
    path = Path(path)
    return parse_table(read_yaml_file(path, "it ships with regiongate (src/regiongate/config/)"), path)


@cache
def shipped_table() -> Table:
    """The table shipped with regiongate, read once per process."""
    return load_table(PROFILES_PATH)


def shipped_profiles() -> Mapping[str, InferenceProfile]:
    return shipped_table().profiles


def destinations() -> dict[str, tuple[str, ...]]:
    """Profile id → destination regions (the table the gateway configuration checks models against)."""
    return {profile_id: profile.destinations for profile_id, profile in shipped_profiles().items()}


@dataclass(frozen=True)
class ProfileCheck:
    """One profile as the file lists it beside what an account's ``GetInferenceProfile`` returned."""

    profile_id: str
    called_from: str
    listed: tuple[str, ...]  # bedrock-profiles.yaml
    live: tuple[str, ...]  # the account
    allowed: tuple[str, ...]  # the region's inference_regions

    @property
    def outside(self) -> tuple[str, ...]:
        """Live destinations outside the region's inference regions: prompts could leave the promise."""
        return tuple(r for r in self.live if r not in self.allowed)

    @property
    def drifted(self) -> bool:
        """The account routes somewhere the file does not list (the gateway is not granted it, and the file's
        promise is out of date). Fewer destinations than listed is not drift: the file lists, per profile, the
        regions a call from any listed region may reach, and one calling region often reaches fewer."""
        return bool(set(self.live) - set(self.listed))

    @property
    def narrower(self) -> tuple[str, ...]:
        """Listed destinations this calling region is not routed to (informational)."""
        return tuple(sorted(set(self.listed) - set(self.live)))

    def lines(self) -> list[str]:
        head = f"{self.profile_id} (called from {self.called_from}): the account routes to {', '.join(self.live)}"
        out = [head]
        if self.outside:
            out.append(
                f"  FAIL: {', '.join(self.outside)} outside inference_regions ({', '.join(self.allowed)}); "
                "prompts sent to this profile may leave the region: remove the model or use a single-region model id"
            )
        if self.drifted:
            added = sorted(set(self.live) - set(self.listed))
            out.append(
                f"  DRIFT: {PROFILES_PATH.name} lists {', '.join(self.listed)} (not in the file: {', '.join(added)}); "
                f"add them to profiles.{self.profile_id}.destinations (only if inside the region's promise) and set "
                "checked to today's date"
            )
        if self.narrower:
            out.append(
                f"  note: from {self.called_from} the account routes to fewer regions than the file lists (not: "
                f"{', '.join(self.narrower)}); the file lists what a call from any of its regions may reach"
            )
        if not self.outside and not self.drifted:
            out.append("  ok: within the file's destinations and inside inference_regions")
        return out


def destination_regions(model_arns: list[str]) -> tuple[str, ...]:
    """The regions of the foundation-model ARNs ``GetInferenceProfile`` lists under ``models``."""
    regions = set()
    for arn in model_arns:
        parts = arn.split(":")
        if len(parts) < 6 or parts[0] != "arn" or not _REGION_RE.match(parts[3]):
            raise ValueError(f"{arn!r} is not a foundation-model ARN with a region")
        regions.add(parts[3])
    return tuple(sorted(regions))
