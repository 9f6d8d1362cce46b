"""Which Bedrock targets are Claude, under which Anthropic id, and of which generation (thinking needs 3.7+).

Targets with a version suffix (``-v1:0``) and without one (the newer models, ``us.anthropic.claude-sonnet-4-6``)
alike; ``global.`` profiles never (they may process anywhere)."""

from __future__ import annotations

import pytest

from regiongate.gateway.runtime.reasoning import generation
from regiongate.gateway.runtime.translate_messages import anthropic_id


@pytest.mark.parametrize(
    ("target", "model_id", "version"),
    [
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929", (4, 5)),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001", (4, 5)),
        ("us.anthropic.claude-sonnet-4-6", "claude-sonnet-4-6", (4, 6)),
        ("anthropic.claude-sonnet-4-6", "claude-sonnet-4-6", (4, 6)),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307", (3, 0)),
        ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219", (3, 7)),
        ("apac.anthropic.claude-sonnet-4-20250514-v1", "claude-sonnet-4-20250514", (4, 0)),
    ],
)
def test_claude_targets_with_and_without_a_version_suffix(target, model_id, version):
    assert anthropic_id(target) == model_id
    assert generation(target) == version


@pytest.mark.parametrize(
    "target",
    [
        "global.anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "eu.amazon.nova-pro-v1:0",
    ],
)
def test_global_profiles_and_other_models_are_not_claude_here(target):
    assert anthropic_id(target) is None and generation(target) is None
