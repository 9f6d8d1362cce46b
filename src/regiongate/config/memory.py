"""``regions.<code>.gateway.memory``: whether the region offers Memory-as-a-Service, and with which of its own
embedding models facts are embedded. Off unless set; each org still enables it (``regiongate memory enable``).

The memory store's column holds ``MEMORY_DIMENSIONS`` (1024) values, so the model must give vectors of that
size: Titan Text Embeddings V2 is asked for 1024 (its default and most accurate size), Cohere Embed v3 and
DashScope's text-embedding-v3 give 1024 by themselves. A model not known to give 1024 is refused here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from regiongate.config.reader import Reader
from regiongate.contract.document import MemoryOffer
from regiongate.contract.limits import MEMORY_DIMENSIONS

MEMORY_KEYS = ("available", "embedding_model")
# Upstream model ids (a model's ``target``) known to give MEMORY_DIMENSIONS values (by request or by default).
DIMENSIONS_BY_TARGET_PREFIX: Mapping[str, int] = {
    "amazon.titan-embed-text-v2": MEMORY_DIMENSIONS,  # dimensions=1024 is sent (regiongate.gateway.runtime.routes.memory)
    "cohere.embed-english-v3": 1024,
    "cohere.embed-multilingual-v3": 1024,
    "text-embedding-v3": 1024,  # DashScope (Qwen): 1024 by default
}


class EmbeddingModel(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class MemoryConfig:
    available: bool = False
    embedding_model: str | None = None

    def offer(self) -> MemoryOffer | None:
        """What the region document says: an offer only where the region allows memory."""
        if not self.available or self.embedding_model is None:
            return None
        return MemoryOffer(embedding_model=self.embedding_model, dimensions=MEMORY_DIMENSIONS)


def target_dimensions(target: str) -> int | None:
    for prefix, size in DIMENSIONS_BY_TARGET_PREFIX.items():
        if target.startswith(prefix):
            return size
    return None


def parse_memory(reader: Reader, raw: Any, key: str, models: Mapping[str, EmbeddingModel]) -> MemoryConfig:
    if raw is None:
        return MemoryConfig()
    raw = reader.mapping(raw, key, MEMORY_KEYS, ("available",))
    available = reader.boolean(raw["available"], f"{key}.available")
    if not available:
        return MemoryConfig()
    embedding = [m for m in models.values() if m.kind == "embedding"]
    name = raw.get("embedding_model")
    if name is None:
        raise reader.fail(
            f"{key}.embedding_model",
            "required when memory is available: one of the region's embedding models "
            f"({', '.join(m.name for m in embedding) or 'none configured'})",
        )
    name = reader.string(name, f"{key}.embedding_model")
    model = models.get(name)
    if model is None or model.kind != "embedding":
        raise reader.fail(
            f"{key}.embedding_model",
            f"{name!r} is not one of the region's embedding models ({', '.join(m.name for m in embedding) or 'none'})",
        )
    if target_dimensions(model.target) != MEMORY_DIMENSIONS:
        raise reader.fail(
            f"{key}.embedding_model",
            f"{name} ({model.target}) is not known to give {MEMORY_DIMENSIONS}-dimension vectors, the size of the "
            f"memory store; use one of: {', '.join(DIMENSIONS_BY_TARGET_PREFIX)}",
        )
    return MemoryConfig(available=True, embedding_model=name)
