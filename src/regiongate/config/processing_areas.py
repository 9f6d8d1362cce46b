"""Named processing areas: an operator's explicit opt-in to a wider area than a region's ``inference_regions``.

``regions.<code>.processing_areas`` names each area and lists its AWS regions::

    processing_areas:
      europe-uk-ch:
        name: Europe incl. UK and Switzerland
        regions: [eu-central-1, eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-2, eu-west-3]

and a Bedrock model entry opts in with ``processing_area: europe-uk-ch``. Only then may the model use a
geography profile whose destinations leave ``inference_regions`` (each destination must be in the area); the
key, ``/v1/models``, the console and the residency report then state the area by its name and regions. Without
the opt-in such a model is refused at synth time with a message naming the opt-in.

An area is wider than the region's promise, never narrower: it contains every inference region, and stays in the
stack's partition. Defining an area offers nothing by itself; only the models that name it are widened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regiongate.config.reader import Reader, key_path

KEY = "processing_areas"
AREA_KEYS = ("name", "regions")
AREA_ID_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_REGION_RE = re.compile(r"^(?:[a-z]{2}(?:-gov)?)-[a-z]+-\d$")


@dataclass(frozen=True)
class ProcessingArea:
    """A named set of regions an opted-in model may be processed in."""

    id: str
    name: str
    regions: tuple[str, ...]

    def describe(self) -> str:
        """``Europe incl. UK and Switzerland (eu-central-1, eu-central-2, ...)``: computed, never a literal."""
        return f"{self.name} ({', '.join(self.regions)})"


def _partition(aws_region: str) -> str:
    if aws_region.startswith("cn-"):
        return "aws-cn"
    if aws_region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def parse_processing_areas(
    reader: Reader, raw: Any, key: str, *, partition: str, inference_regions: tuple[str, ...]
) -> dict[str, ProcessingArea]:
    """``regions.<code>.processing_areas`` (absent: no area, nothing can be widened)."""
    if raw is None:
        return {}
    where = key_path(key, KEY)
    if not isinstance(raw, dict) or not raw:
        raise reader.fail(where, "must be a mapping of area id to {name, regions}")
    areas: dict[str, ProcessingArea] = {}
    for area_id, entry in raw.items():
        k = f"{where}.{area_id}"
        if not isinstance(area_id, str) or not AREA_ID_RE.match(area_id):
            raise reader.fail(k, "an area id is lower-case letters, digits and dashes, such as europe-uk-ch")
        entry = reader.mapping(entry, k, AREA_KEYS, AREA_KEYS)
        name = reader.string(entry["name"], f"{k}.name")
        regions = reader.string_list(entry["regions"], f"{k}.regions")
        for i, region in enumerate(regions):
            if not _REGION_RE.match(region):
                raise reader.fail(f"{k}.regions[{i}]", f"{region!r} is not an AWS region such as eu-west-2")
            if _partition(region) != partition:
                raise reader.fail(
                    f"{k}.regions[{i}]",
                    f"{region!r} is in partition {_partition(region)}, not {partition}; an area stays in the stack's partition",
                )
        if len(set(regions)) != len(regions):
            raise reader.fail(f"{k}.regions", "lists a region twice; list each region once")
        missing = [r for r in inference_regions if r not in regions]
        if missing:
            raise reader.fail(
                f"{k}.regions",
                f"must contain every inference region (an area widens the promise, it never replaces it); "
                f"missing: {', '.join(missing)}",
            )
        if set(regions) == set(inference_regions):
            raise reader.fail(
                f"{k}.regions",
                "lists exactly inference_regions: that is no wider area; remove the area, or list the regions it adds",
            )
        areas[area_id] = ProcessingArea(area_id, name, tuple(sorted(regions)))
    names = [a.name for a in areas.values()]
    if len(set(names)) != len(names):
        raise reader.fail(where, "two areas share a name; each area's name is what keys and reports state")
    return areas


def area_schema() -> dict[str, Any]:
    """The JSON Schema of ``processing_areas`` (kept beside the parser)."""
    return {
        "type": "object",
        "description": "Named processing areas a model may opt into with processing_area: <id> (wider than "
        "inference_regions; stated in keys, /v1/models, the console and the residency report).",
        "propertyNames": {"pattern": AREA_ID_RE.pattern},
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "required": list(AREA_KEYS),
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "regions": {"type": "array", "items": {"type": "string", "pattern": _REGION_RE.pattern}},
            },
        },
    }


def areas_of(models: Any) -> Mapping[str, ProcessingArea]:
    """Model name -> the area it opted into, for the models of a gateway configuration that opted in."""
    return {m.name: m.area for m in models if getattr(m, "area", None) is not None}
