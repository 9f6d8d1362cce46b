"""`regiongate profiles check` against a loopback fake of the Bedrock control plane (GetInferenceProfile)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from regiongate.cli import main as cli
from regiongate.cli.commands.profiles import used_profiles
from regiongate.config.bedrock_profiles import shipped_profiles
from regiongate.config.regions import load_catalogue


class FakeBedrockControlPlane:
    """Answers ``GET /inference-profiles/{id}`` like bedrock.<region>.amazonaws.com, from ``destinations``."""

    def __init__(self, destinations: dict[str, list[str]], partition: str = "aws") -> None:
        self.destinations = destinations
        self.requests: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_GET(self) -> None:
                path = unquote(self.path.split("?", 1)[0])
                fake.requests.append({"path": path, "authorization": self.headers.get("authorization", "")})
                profile_id = path.removeprefix("/inference-profiles/")
                if not path.startswith("/inference-profiles/") or profile_id not in fake.destinations:
                    self._send(
                        404,
                        {"message": f"Inference profile {profile_id} not found"},
                        {"x-amzn-ErrorType": "ResourceNotFoundException"},
                    )
                    return
                model = profile_id.split(".", 1)[1]
                self._send(
                    200,
                    {
                        "inferenceProfileName": f"EU {model}",
                        "inferenceProfileArn": f"arn:{partition}:bedrock:eu-central-1:111111111111:inference-profile/{profile_id}",
                        "inferenceProfileId": profile_id,
                        "status": "ACTIVE",
                        "type": "SYSTEM_DEFINED",
                        "models": [
                            {"modelArn": f"arn:{partition}:bedrock:{region}::foundation-model/{model}"}
                            for region in fake.destinations[profile_id]
                        ],
                    },
                )

            def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def offline_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.fixture
def eu_profiles():
    used = used_profiles(load_catalogue().region("eu"))
    assert used, "the shipped EU catalogue uses geography profiles"
    return {profile_id: list(shipped_profiles()[profile_id].destinations) for profile_id, _ in used}


def check(fake: FakeBedrockControlPlane) -> int:
    return cli.main(["profiles", "check", "--region", "eu", "--endpoint-url", fake.url])


def test_matching_profiles_pass_and_each_is_asked_in_the_region_it_is_called_from(eu_profiles, capsys):
    fake = FakeBedrockControlPlane(eu_profiles)
    try:
        code = check(fake)
    finally:
        fake.close()
    out = capsys.readouterr().out
    assert code == 0, out
    assert sorted(r["path"] for r in fake.requests) == sorted(f"/inference-profiles/{p}" for p in eu_profiles)
    # SigV4-signed for the Bedrock control plane of the provider's region (eu-central-1 in regions.yaml).
    assert all("/eu-central-1/bedrock/aws4_request" in r["authorization"] for r in fake.requests)
    assert out.count("  ok: within the file's destinations and inside inference_regions") == len(eu_profiles)
    assert "All profiles stay within the file's destinations and inside inference_regions." in out


def test_a_destination_outside_inference_regions_fails_and_names_the_region(eu_profiles, capsys):
    widened = dict(eu_profiles)
    widened["eu.amazon.nova-pro-v1:0"] = [*eu_profiles["eu.amazon.nova-pro-v1:0"], "eu-west-2"]
    fake = FakeBedrockControlPlane(widened)
    try:
        code = check(fake)
    finally:
        fake.close()
    out = capsys.readouterr().out
    assert code == 1
    assert "  FAIL: eu-west-2 outside inference_regions (eu-central-1, eu-west-1, eu-west-3, eu-north-1" in out
    assert "(not in the file: eu-west-2); add them to profiles.eu.amazon.nova-pro-v1:0.destinations" in out
    assert out.rstrip().endswith("FAILED")


def test_a_narrower_answer_is_a_note_and_the_check_passes(eu_profiles, capsys):
    narrowed = dict(eu_profiles)
    narrowed["eu.amazon.nova-pro-v1:0"] = ["eu-central-1", "eu-west-1"]
    fake = FakeBedrockControlPlane(narrowed)
    try:
        code = check(fake)
    finally:
        fake.close()
    out = capsys.readouterr().out
    assert code == 0
    assert "FAIL:" not in out and "DRIFT:" not in out
    assert "fewer regions than the file lists (not: eu-north-1, eu-south-1, eu-south-2, eu-west-3)" in out


def test_a_new_destination_inside_the_region_is_drift_with_what_to_add(eu_profiles, capsys, monkeypatch):
    import dataclasses

    from regiongate.config import bedrock_profiles

    shipped = dict(bedrock_profiles.shipped_profiles())
    nova = shipped["eu.amazon.nova-pro-v1:0"]
    # The file as if written before AWS added eu-west-3 (inside the EU's inference regions) to the profile.
    shipped["eu.amazon.nova-pro-v1:0"] = dataclasses.replace(
        nova, destinations=tuple(r for r in nova.destinations if r != "eu-west-3")
    )
    monkeypatch.setattr(bedrock_profiles, "shipped_profiles", lambda: shipped)
    fake = FakeBedrockControlPlane(eu_profiles)
    try:
        code = check(fake)
    finally:
        fake.close()
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL:" not in out
    assert "(not in the file: eu-west-3); add them to profiles.eu.amazon.nova-pro-v1:0.destinations" in out


def test_a_profile_the_account_does_not_have_fails_with_the_service_error(eu_profiles, capsys):
    missing = dict(eu_profiles)
    del missing["eu.amazon.nova-pro-v1:0"]
    fake = FakeBedrockControlPlane(missing)
    try:
        code = check(fake)
    finally:
        fake.close()
    captured = capsys.readouterr()
    assert code == 1
    assert (
        "eu.amazon.nova-pro-v1:0 (called from eu-central-1): GetInferenceProfile failed (ResourceNotFoundException: "
        "Inference profile eu.amazon.nova-pro-v1:0 not found)" in captured.err
    )
