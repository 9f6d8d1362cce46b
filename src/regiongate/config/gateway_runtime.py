"""How a deployment runs its gateway: ``gateway.runtime`` and ``gateway.max_generation_seconds``.

- ``lambda`` (the default): the Lambda behind the HTTPS ALB. Answers are whole (no streaming, 1 MB), and a
  generation may take at most ``UPSTREAM_DEADLINE_SECONDS`` (the function's timeout stays 120 s).
- ``container``: the same service code in the ``regiongate/gateway`` image on ECS Fargate behind the same ALB;
  server-sent events are relayed as they arrive, and a generation may take up to
  ``CONTAINER_MAX_GENERATION_SECONDS``. The ALB idle timeout, the target group's deregistration delay and the
  task's SIGTERM drain follow the limit (:func:`drain_seconds`).

Both keys are read from ``regions.<code>.gateway`` in regions.yaml and from ``gateway`` in a tenant file (where
they are the only keys: the catalogue is the geography's), with the catalogue's ``Reader``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regiongate.config.reader import Choice, Reader
from regiongate.contract.limits import (
    CONTAINER_MAX_GENERATION_SECONDS,
    DEFAULT_CONTAINER_GENERATION_SECONDS,
    DEFAULT_LAMBDA_GENERATION_SECONDS,
    GATEWAY_ANSWER_MARGIN_SECONDS,
    MIN_GENERATION_SECONDS,
    UPSTREAM_DEADLINE_SECONDS,
)

LAMBDA = "lambda"
CONTAINER = "container"
RUNTIMES = (LAMBDA, CONTAINER)
RUNTIME_KEYS = ("runtime", "max_generation_seconds")
DEFAULT_GENERATION_SECONDS = {
    LAMBDA: DEFAULT_LAMBDA_GENERATION_SECONDS,
    CONTAINER: DEFAULT_CONTAINER_GENERATION_SECONDS,
}
MAX_GENERATION_SECONDS = {LAMBDA: UPSTREAM_DEADLINE_SECONDS, CONTAINER: CONTAINER_MAX_GENERATION_SECONDS}
RUNTIME = Choice(RUNTIMES, "a gateway runtime")


@dataclass(frozen=True)
class GatewayRuntime:
    runtime: str = LAMBDA
    max_generation_seconds: int = DEFAULT_LAMBDA_GENERATION_SECONDS

    @property
    def container(self) -> bool:
        return self.runtime == CONTAINER

    @property
    def drain_seconds(self) -> int:
        """ALB idle timeout, deregistration delay and SIGTERM drain: the longest generation, then time to answer."""
        return drain_seconds(self.max_generation_seconds)


def drain_seconds(max_generation_seconds: int) -> int:
    return max_generation_seconds + GATEWAY_ANSWER_MARGIN_SECONDS


def parse_runtime(reader: Reader, raw: dict[str, Any], key: str) -> GatewayRuntime:
    """The two keys of ``raw`` (already checked to be a mapping with known keys); defaults per runtime."""
    runtime = LAMBDA if raw.get("runtime") is None else RUNTIME.parse(reader, raw["runtime"], f"{key}.runtime")
    limit = MAX_GENERATION_SECONDS[runtime]
    if raw.get("max_generation_seconds") is None:
        return GatewayRuntime(runtime, DEFAULT_GENERATION_SECONDS[runtime])
    value = raw["max_generation_seconds"]
    name = f"{key}.max_generation_seconds"
    if runtime == LAMBDA and isinstance(value, int) and not isinstance(value, bool) and value > limit:
        raise reader.fail(
            name,
            f"{value} is above what the Lambda runtime allows ({limit} s: its timeout is "
            f"{limit + GATEWAY_ANSWER_MARGIN_SECONDS} s and answers are not streamed); set runtime: container "
            f"for generations up to {CONTAINER_MAX_GENERATION_SECONDS} s",
        )
    return GatewayRuntime(runtime, reader.integer(value, name, MIN_GENERATION_SECONDS, limit))


def runtime_schema() -> dict[str, Any]:
    """The JSON Schema of the two keys (the parser also checks the limit of the chosen runtime)."""
    return {
        "runtime": {
            **RUNTIME.schema(),
            "description": "lambda (default: whole answers) or container (ECS Fargate behind the ALB: streams)",
        },
        "max_generation_seconds": {
            "type": "integer",
            "minimum": MIN_GENERATION_SECONDS,
            "maximum": CONTAINER_MAX_GENERATION_SECONDS,
            "description": f"the longest generation allowed (lambda: at most {UPSTREAM_DEADLINE_SECONDS}; default "
            f"{DEFAULT_LAMBDA_GENERATION_SECONDS} with lambda, {DEFAULT_CONTAINER_GENERATION_SECONDS} with container)",
        },
    }
