"""The Lambda dependency layer carries compiled wheels (cryptography, cffi) since #16: one layer per architecture
(`make` builds build/lambda-deps/<arch>/python), and every stack ships the one of its functions' architecture.
A layer of the wrong machine would synthesize and deploy fine and fail only at the first import in Lambda, so the
compiled modules' ELF headers are read here."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from regiongate.infra import assets
from regiongate.infra.region_stack import LAMBDA_DEPS_DIR
from tests.fixtures.synth import SYNTHESIZED_STACKS

REPO_ROOT = Path(__file__).resolve().parents[3]
# ELF e_machine of each Lambda architecture's compiled modules.
E_MACHINE = {"arm64": 0xB7, "x86_64": 0x3E}  # EM_AARCH64, EM_X86_64
RUST_MODULE = Path("python/cryptography/hazmat/bindings/_rust.abi3.so")


def pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower(): version for name, _, version in (line.partition("==") for line in lines if line)}


def elf_machine(path: Path) -> int:
    """e_machine of a 64-bit little-endian ELF file (what Linux on Lambda's two architectures loads)."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    assert header[4] == 2 and header[5] == 1, f"{path} is not a 64-bit little-endian ELF file"
    return struct.unpack_from("<H", header, 18)[0]


def test_the_architectures_are_those_the_config_allows():
    from regiongate.config.regions import LAMBDA_ARCHITECTURES

    assert set(assets.LAYER_MACHINES) == set(LAMBDA_ARCHITECTURES) == set(E_MACHINE)


@pytest.mark.parametrize("architecture", sorted(E_MACHINE))
def test_each_built_layer_holds_cryptography_compiled_for_its_machine(architecture):
    layer = assets.dependency_layer_dir(LAMBDA_DEPS_DIR, architecture)
    assert elf_machine(layer / RUST_MODULE) == E_MACHINE[architecture]
    machine = assets.LAYER_MACHINES[architecture]
    (cffi_backend,) = (layer / "python").glob("_cffi_backend.*.so")
    assert cffi_backend.name == f"_cffi_backend.cpython-313-{machine}-linux-gnu.so"  # CPython 3.13, as the runtime
    assert elf_machine(cffi_backend) == E_MACHINE[architecture]
    # Every compiled module of the layer is for this machine (none of the build machine's slipped in).
    modules = sorted((layer / "python").rglob("*.so"))
    assert modules and {elf_machine(m) for m in modules} == {E_MACHINE[architecture]}, modules


@pytest.mark.parametrize("architecture", sorted(E_MACHINE))
def test_each_built_layer_has_the_pinned_versions_and_no_scripts(architecture):
    layer = assets.dependency_layer_dir(LAMBDA_DEPS_DIR, architecture) / "python"
    wanted = pins(REPO_ROOT / "src/regiongate/gateway/lambda-requirements.txt")
    for name in ("cryptography", "cffi", "pycparser"):
        assert (layer / f"{name}-{wanted[name]}.dist-info").is_dir(), name
        assert pins(REPO_ROOT / "requirements.txt")[name] == wanted[name]  # the version the tests run
    # manylinux_2_28 (glibc 2.28) for cryptography: Lambda's Python 3.13 runs on Amazon Linux 2023 (glibc 2.34).
    wheel = (layer / f"cryptography-{wanted['cryptography']}.dist-info" / "WHEEL").read_text()
    assert f"Tag: cp311-abi3-manylinux_2_28_{assets.LAYER_MACHINES[architecture]}" in wheel
    # Console scripts would name the build machine's interpreter (#!): the layer is the same on any machine.
    assert not (layer / "bin").exists()
    assert not [p for p in layer.glob("*.dist-info/RECORD") if "../../bin/" in p.read_text()]


def test_an_unknown_or_missing_layer_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no Lambda dependency layer for architecture 'riscv64'"):
        assets.dependency_layer_dir(LAMBDA_DEPS_DIR, "riscv64")
    with pytest.raises(FileNotFoundError, match="run `make setup`"):
        assets.dependency_layer_dir(tmp_path, "arm64")
    (tmp_path / "x86_64" / "python").mkdir(parents=True)
    assert assets.dependency_layer_dir(tmp_path, "x86_64") == tmp_path / "x86_64"


def test_the_gateway_handler_imports_without_loading_cryptography():
    """cryptography is imported on the first org credential only, so the handler's cold import (the benchmark's
    `cold import of regiongate.gateway.runtime.handler`, bench/bench_gateway.py) does not grow with it."""
    code = (
        "import sys, regiongate.gateway.runtime.handler; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cryptography', '_cffi_backend')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("stack_name", SYNTHESIZED_STACKS)
def test_every_stack_ships_the_layer_of_its_functions_architecture(synthesized_app, stack_name):
    template = synthesized_app.template_json(stack_name)
    resources = template["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    (architecture,) = {a for f in functions for a in f["Properties"]["Architectures"]}
    (layer_id,) = [
        k for k, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion" and k.startswith("Dependencies")
    ]
    layer = resources[layer_id]["Properties"]
    assert layer["CompatibleArchitectures"] == [architecture]
    assert architecture in layer["Description"]
    for function in functions:
        assert {"Ref": layer_id} in function["Properties"]["Layers"]
    asset_hash = layer["Content"]["S3Key"].removesuffix(".zip")
    staged = synthesized_app.outdir / f"asset.{asset_hash}"
    assert elf_machine(staged / RUST_MODULE) == E_MACHINE[architecture]
