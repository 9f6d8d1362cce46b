"""What `regiongate keys create` and `keys show` say about where a key's models may be processed: the region's
promise, and an opted-in wider area by its name and regions (computed from regions.yaml)."""

from __future__ import annotations

import re

import pytest

from tests.fixtures.processing_area import AREA_NAME, MODEL, opted_in_eu, write_opted_in_catalogue

pytestmark = pytest.mark.postgres


def _key_id(err: str) -> str:
    return re.search(r"key id (key_[0-9a-f]{16})", err).group(1)


def test_a_key_with_an_opted_in_model_states_the_wider_area(cli, tmp_path):
    config = str(write_opted_in_catalogue(tmp_path))
    area_regions = ", ".join(next(m for m in opted_in_eu().gateway.models if m.name == MODEL).area.regions)
    code, out, err = cli("keys", "create", "--region", "eu", "--org", "acme", "--config", config)
    assert code == 0 and re.fullmatch(r"rk-eu-\S+\n", out)  # stdout is the key alone
    assert f"WIDER AREA, opted in by the operator: {AREA_NAME} ({area_regions})" in err and MODEL in err
    assert "inside region EU's promise (inference_regions eu-central-1" in err

    code, out, _ = cli("keys", "show", _key_id(err), "--config", config)
    assert code == 0 and f"{AREA_NAME} ({area_regions})" in out and "processed" in out


def test_a_key_limited_to_models_inside_the_promise_states_no_wider_area(cli, tmp_path):
    config = str(write_opted_in_catalogue(tmp_path))
    code, _, err = cli("keys", "create", "--region", "eu", "--org", "acme", "--models", "gpt-4o", "--config", config)
    assert code == 0 and "WIDER AREA" not in err and AREA_NAME not in err
    code, out, _ = cli("keys", "show", _key_id(err), "--config", config)
    assert code == 0 and "inside region EU's promise" in out and "gpt-4o" in out and "WIDER AREA" not in out


def test_keys_show_of_an_unknown_key_fails(cli):
    assert cli("keys", "show", "key_0000000000000000")[0] == 1
