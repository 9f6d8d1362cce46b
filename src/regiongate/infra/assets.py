"""What synthesis hands to the functions as files, written under the cloud assembly (never into the source tree).

- the functions' code: the runtime parts of the installed ``regiongate`` package, nothing that imports the CDK;
- one region document per deployment (``regiongate.contract.document``), in a layer at
  ``regiongate.contract.limits.REGION_DOCUMENT_PATH``.
Content is deterministic, so asset hashes change only when code or configuration does.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import regiongate

PACKAGE_DIR = Path(regiongate.__file__).resolve().parent
BUILD_DIR_NAME = "regiongate-build"
# The runtime side of each capability, and the leaf packages they share (contract, common, store).
FUNCTION_TREES = ("common", "contract", "store", "audit/runtime", "gateway/runtime", "rotation/runtime")
FUNCTION_PACKAGE_INITS = ("__init__.py", "audit/__init__.py", "gateway/__init__.py", "rotation/__init__.py")
# Construct modules inside those trees (the database construct sits beside the store it creates).
CONSTRUCT_MODULES = ("infrastructure.py",)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", *CONSTRUCT_MODULES)


# The Lambda architectures `make` builds a dependency layer for (gateway/lambda-requirements.txt, binary wheels of
# CPython 3.13 into <deps>/<architecture>/python), and the machine their compiled modules are built for.
LAYER_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}


def dependency_layer_dir(deps_dir: str | Path, architecture: str) -> Path:
    """The layer directory of ``architecture`` (it holds ``python/``): a layer of another architecture's compiled
    wheels would fail only at the first import in Lambda, so there is no fallback to any other."""
    if architecture not in LAYER_MACHINES:
        raise ValueError(
            f"no Lambda dependency layer for architecture {architecture!r}; built: {', '.join(LAYER_MACHINES)}"
        )
    path = Path(deps_dir) / architecture
    if not (path / "python").is_dir():
        raise FileNotFoundError(
            f"{path / 'python'} is missing: run `make setup` (it builds the Lambda dependency layer of each architecture)"
        )
    return path


def build_dir(outdir: str | Path) -> Path:
    return Path(outdir) / BUILD_DIR_NAME


def stage_function_code(outdir: str | Path) -> Path:
    """The directory the functions' asset is made from: ``regiongate/`` with only its runtime modules."""
    root = build_dir(outdir) / "functions"
    if root.exists():
        shutil.rmtree(root)
    target = root / "regiongate"
    for tree in FUNCTION_TREES:
        shutil.copytree(PACKAGE_DIR / tree, target / tree, ignore=_IGNORED)
    for init in FUNCTION_PACKAGE_INITS:
        shutil.copy2(PACKAGE_DIR / init, target / init)
    return root


def stage_region_document(
    outdir: str | Path, deployment_id: str, document: Mapping[str, Any], relative_path: str
) -> Path:
    """A layer directory holding the deployment's region document at ``relative_path`` (under /opt)."""
    root = build_dir(outdir) / "region-documents" / deployment_id
    target = root / relative_path
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    return root
