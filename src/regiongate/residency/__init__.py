"""Residency proof for CDK apps: the ``ResidencyChecks`` rule pack and the residency report.

- :class:`ResidencyChecks` (``regiongate.residency.pack``): a CDK policy-validation plugin that fails synthesis
  when data could leave a stack's home region (replication, foreign regions, partitions, edge services,
  Bedrock scope, encryption with the stack's own key). Acknowledge with :func:`acknowledge`.
- :func:`build_report` / :func:`write_report` (``regiongate.residency.report``): the residency report
  (Markdown and printable HTML) generated from a cloud assembly. The caller says what the templates cannot:
  each stack's policy and providers (:class:`StackContext`), how resources record what they hold
  (:class:`DataKinds`) and which run-time test results to quote (:func:`read_results`, JUnit XML).

Nothing here imports the rest of regiongate: the pack works in any CDK app.

Names are imported lazily, so the report (pure Python) does not start the CDK's jsii runtime.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ResidencyChecks": "regiongate.residency.pack",
    "acknowledge": "regiongate.residency.pack",
    "PLUGIN_NAME": "regiongate.residency.engine",
    "Finding": "regiongate.residency.engine",
    "evaluate_template": "regiongate.residency.engine",
    "ResidencyPolicy": "regiongate.residency.policy",
    "RULES": "regiongate.residency.rules",
    "RULES_BY_ID": "regiongate.residency.rules",
    "DataKinds": "regiongate.residency.report_data",
    "Provider": "regiongate.residency.report_data",
    "Report": "regiongate.residency.report_data",
    "StackContext": "regiongate.residency.report_data",
    "read_results": "regiongate.residency.junit",
    "build_report": "regiongate.residency.report",
    "write_report": "regiongate.residency.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
