"""Where a key's models may be processed: computed from the region document, never a literal sentence.

A model is processed inside the region's promise (``inference_regions``; Azure and in-country providers were checked
against the same promise at synth time) unless the operator opted it into a wider, named processing area
(``processing_areas`` in regions.yaml), which the document carries per model. The CLI (`keys create`, `keys show`),
the console's key pages and ``/v1/models`` state the same thing from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from regiongate.contract.document import ModelEntry, RuntimeConfig


@dataclass(frozen=True)
class ProcessingGroup:
    """Models processed in the same place: the region's promise (``area`` None) or one named, wider area."""

    area: str | None
    regions: tuple[str, ...]
    models: tuple[str, ...]

    @property
    def widened(self) -> bool:
        return self.area is not None


def visible_models(runtime: RuntimeConfig, model_allowlist: tuple[str, ...] | None) -> list[ModelEntry]:
    """The region's models a key with ``model_allowlist`` (None: every model) may call, in catalogue order."""
    return [m for m in runtime.models.values() if model_allowlist is None or m.name in model_allowlist]


def processing_groups(runtime: RuntimeConfig, model_allowlist: tuple[str, ...] | None = None) -> list[ProcessingGroup]:
    """The places a key's models may be processed: the promise first, then each opted-in area (by name)."""
    models = visible_models(runtime, model_allowlist)
    groups = []
    inside = tuple(m.name for m in models if m.processing_area is None)
    if inside:
        groups.append(ProcessingGroup(None, tuple(runtime.inference_regions), inside))
    areas: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for m in models:
        if m.processing_area is not None:
            areas.setdefault((m.processing_area.name, m.processing_area.regions), []).append(m.name)
    groups += [ProcessingGroup(name, regions, tuple(names)) for (name, regions), names in areas.items()]
    return groups


def describe_group(runtime: RuntimeConfig, group: ProcessingGroup) -> str:
    """One line: where, and which models. Every word about a place comes from the document."""
    models = ", ".join(group.models)
    if group.area is None:
        return (
            f"inside region {runtime.display_name}'s promise (inference_regions {', '.join(group.regions)}): {models}"
        )
    return (
        f"WIDER AREA, opted in by the operator: {group.area} ({', '.join(group.regions)}), beyond "
        f"{runtime.display_name}'s inference_regions: {models}"
    )


def describe_key(runtime: RuntimeConfig, model_allowlist: tuple[str, ...] | None = None) -> list[str]:
    """What a key states about processing, one line per place its models may be processed in."""
    groups = processing_groups(runtime, model_allowlist)
    if not groups:
        return [f"no model of region {runtime.display_name} is open to this key"]
    return [describe_group(runtime, g) for g in groups]


def model_extension(model: ModelEntry) -> dict[str, object]:
    """The ``/v1/models`` extension fields of ``model``: its opted-in processing area, when it has one."""
    if model.processing_area is None:
        return {}
    return {
        "regiongate_processing_area": {
            "name": model.processing_area.name,
            "regions": list(model.processing_area.regions),
        }
    }
