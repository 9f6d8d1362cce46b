"""Pre-call checks (model allowlists, input guardrails, budgets, their order) and provider edge cases: no I/O."""

from __future__ import annotations

import dataclasses
import io
import json
from decimal import Decimal

import pytest

from regiongate.contract.document import ProviderEntry
from regiongate.contract.errors import (
    BudgetExceeded,
    GuardrailViolation,
    ModelNotAllowed,
    ServiceUnavailable,
    UpstreamError,
)
from regiongate.gateway.runtime.checks import Call, run_checks
from regiongate.gateway.runtime.checks.budget import BudgetGuard
from regiongate.gateway.runtime.checks.input_guardrails import InputGuardrails
from regiongate.gateway.runtime.checks.model_allowlist import ModelAllowlist
from regiongate.gateway.runtime.context import RequestContext
from regiongate.gateway.runtime.providers.base import UpstreamTimer
from regiongate.gateway.runtime.providers.bedrock import BedrockProvider
from regiongate.gateway.runtime.providers.credentials import Credentials, file_loader
from regiongate.store import KeyRecord
from regiongate.store.memory import MemoryStore
from tests.fixtures.clock import NOW, pinned


def _key(**changes) -> KeyRecord:
    record = KeyRecord(
        key_id="k1",
        key_hash=b"h",
        display_prefix="rk-eu-abcdef",
        region="eu",
        org_id="acme",
        team_id=None,
        user_id=None,
        monthly_budget_usd=None,
        model_allowlist=None,
        expires_at=None,
        created_at=NOW,
        revoked_at=None,
    )
    return dataclasses.replace(record, **changes)


def _call(runtime, key: KeyRecord, texts=(("messages[0].content", "hello"),)) -> Call:
    model = next(m for m in runtime.models.values() if m.kind == "chat")
    return Call(RequestContext(pinned()), key, model, list(texts))


def test_model_allowlist_passes_a_listed_model_and_refuses_others(eu_runtime):
    call = _call(eu_runtime, _key())
    ModelAllowlist(eu_runtime)(dataclasses.replace(call, key=_key(model_allowlist=(call.model.name,))))
    with pytest.raises(ModelNotAllowed, match=r"is not allowed for this API key$"):
        ModelAllowlist(eu_runtime)(dataclasses.replace(call, key=_key(model_allowlist=("another-model",))))


def test_model_allowlist_of_the_organisation_comes_before_the_keys(eu_runtime):
    call = _call(eu_runtime, _key(model_allowlist=("another-model",)))
    policy = dataclasses.replace(eu_runtime.guardrails, model_allowlist=("yet-another",))
    runtime = dataclasses.replace(eu_runtime, org_guardrails={"acme": policy})
    with pytest.raises(ModelNotAllowed, match=r"is not allowed for this organisation$"):
        ModelAllowlist(runtime)(call)


def test_input_guardrails_pass_clean_text_and_block_too_many_tokens(eu_runtime):
    call = _call(eu_runtime, _key())
    InputGuardrails(eu_runtime)(call)
    assert (call.ctx.guardrail, call.ctx.violations) == ("pass", [])
    limit = eu_runtime.guardrails.max_input_tokens
    long = _call(eu_runtime, _key(), texts=[("messages[0].content", "x" * (4 * limit + 4))])
    with pytest.raises(GuardrailViolation, match=rf"; the limit is {limit}$"):
        InputGuardrails(eu_runtime)(long)
    assert long.ctx.guardrail == "block"
    assert [v["detector"] for v in long.ctx.violations] == ["max-input-tokens"]


def test_budget_check_refuses_a_key_over_its_budget_and_passes_one_under(eu_runtime):
    store = MemoryStore()
    guard = BudgetGuard(store, clock=pinned())
    under, spent = (
        _key(key_id="k1", monthly_budget_usd=Decimal("1")),
        _key(key_id="k2", monthly_budget_usd=Decimal("0")),
    )
    store.insert_key(under)
    store.insert_key(dataclasses.replace(spent, key_hash=b"h2"))
    guard(_call(eu_runtime, under))
    with pytest.raises(BudgetExceeded, match=r"monthly budget of 0 USD$"):
        guard(_call(eu_runtime, spent))


def test_budget_check_turns_a_store_outage_into_a_503(eu_runtime):
    class Broken(MemoryStore):
        def reserve_spend(self, hold):
            raise ConnectionError("down")

    guard = BudgetGuard(Broken(), clock=pinned())
    with pytest.raises(ServiceUnavailable, match=r"key store is unavailable"):
        guard(_call(eu_runtime, _key(monthly_budget_usd=Decimal("1"))))


def test_checks_run_in_order_and_stop_at_the_first_refusal(eu_runtime):
    seen = []

    def record(name):
        return lambda call: seen.append(name)

    def refuse(call):
        seen.append("refuse")
        raise ModelNotAllowed("no")

    with pytest.raises(ModelNotAllowed, match=r"^no$"):
        run_checks([record("first"), refuse, record("after")], _call(eu_runtime, _key()))
    assert seen == ["first", "refuse"]


def test_credentials_refuse_a_key_that_is_not_a_string():
    credentials = Credentials(lambda: {"azure": {"api_key": 123}}, env={})
    with pytest.raises(ServiceUnavailable, match=r"^no credentials are configured for provider azure$"):
        credentials.api_key("azure")


def test_credentials_file_that_is_not_a_json_object_is_a_503(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(["not", "an", "object"]), encoding="utf-8")
    with pytest.raises(ServiceUnavailable, match=r"^provider credentials could not be loaded \(ValueError\)$"):
        Credentials(file_loader(str(path)), env={}).api_key("azure")


def test_bedrock_embedding_answer_that_is_not_an_object_is_an_upstream_error():
    class Client:
        def invoke_model(self, **kwargs):
            return {"body": io.BytesIO(b"[1, 2, 3]")}

    entry = ProviderEntry(name="bedrock", type="bedrock", aws_region="eu-central-1")
    provider = BedrockProvider(entry, endpoint_url=None, timeouts=(1.0, 1.0))
    with pytest.raises(UpstreamError, match=r"^Bedrock's embedding answer has an unexpected shape$") as info:
        provider._invoke(Client(), "amazon.titan-embed-text-v2:0", "{}", UpstreamTimer())
    assert info.value.status == 502
