"""The runtime platform of the ECS Fargate tasks (container gateway, console): Linux on the CPU architecture of
``sizing.container_architecture``. Synth checks first that the pinned image holds that platform
(``ImagesLock.require_platform``), so a task never starts on an architecture its image lacks."""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs

CPU_ARCHITECTURES = {"x86_64": ecs.CpuArchitecture.X86_64, "arm64": ecs.CpuArchitecture.ARM64}


def runtime_platform(architecture: str) -> ecs.RuntimePlatform:
    """Linux tasks of ``architecture`` (``x86_64`` or ``arm64``, as in regions.yaml)."""
    return ecs.RuntimePlatform(
        cpu_architecture=CPU_ARCHITECTURES[architecture],
        operating_system_family=ecs.OperatingSystemFamily.LINUX,
    )
