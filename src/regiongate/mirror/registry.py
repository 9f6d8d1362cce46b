"""A small Docker Registry HTTP API v2 / OCI Distribution client on the standard library.

Authentication follows what registries ask for in ``WWW-Authenticate``:
- none (anonymous pulls);
- ``Bearer realm=…,service=…``: a token is fetched from the realm for ``repository:<name>:<actions>``,
  anonymously or with basic credentials, cached per scope and fetched again once when it expires;
- ``Basic``: the credentials are sent directly.

Credentials come from ``REGIONGATE_SOURCE_USERNAME`` / ``REGIONGATE_SOURCE_PASSWORD`` (or a token in
``REGIONGATE_SOURCE_PASSWORD``), else from ``auths`` in ``$DOCKER_CONFIG/config.json``
(``~/.docker/config.json``); credential helpers are not run.

Redirects (blob downloads often go to object storage) are followed by hand so the registry's
Authorization header is never sent to another host.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO

from regiongate.mirror.digest import ACCEPT_MANIFESTS, manifest_media_type
from regiongate.mirror.errors import AuthError, MirrorError, RepositoryNotFoundError

USER_AGENT = "regiongate-mirror/1"
CHUNK_SIZE = 1024 * 1024
ENV_USERNAME = "REGIONGATE_SOURCE_USERNAME"
ENV_PASSWORD = "REGIONGATE_SOURCE_PASSWORD"


@dataclass
class Response:
    status: int
    headers: Message
    body: IO[bytes]
    url: str

    def read(self) -> bytes:
        try:
            return self.body.read()
        finally:
            self.body.close()

    def close(self) -> None:
        self.body.close()

    def iter_chunks(self, size: int = CHUNK_SIZE) -> Iterator[bytes]:
        try:
            while True:
                chunk = self.body.read(size)
                if not chunk:
                    return
                yield chunk
        finally:
            self.body.close()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="x",service="y"`` → ``("bearer", {"realm": "x", "service": "y"})``."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    for k, v in re.findall(r'(\w+)=([^",\s]+)', rest):
        params.setdefault(k.lower(), v)
    return scheme.lower(), params


def credentials_from_environment(registry: str) -> tuple[str, str] | None:
    user, password = os.environ.get(ENV_USERNAME), os.environ.get(ENV_PASSWORD)
    if password:
        return (user or "", password)
    config_dir = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        auths = json.loads((config_dir / "config.json").read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    keys = [registry, f"https://{registry}", f"http://{registry}"]
    if registry == "registry-1.docker.io":
        keys += ["https://index.docker.io/v1/", "docker.io", "index.docker.io"]
    for key in keys:
        encoded = (auths.get(key) or {}).get("auth")
        if encoded:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
            return (user, password)
    return None


def _error_text(status: int, body: bytes) -> str:
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or f"HTTP {status}"
    except (ValueError, AttributeError):
        return f"HTTP {status}"


class RegistryClient:
    """One registry host; ``scheme`` is ``https`` except for loopback registries (see ImageReference)."""

    def __init__(
        self,
        registry: str,
        *,
        scheme: str = "https",
        credentials: tuple[str, str] | None = None,
        timeout: float = 60.0,
        credential_hint: str = f"set {ENV_USERNAME} and {ENV_PASSWORD} (or `docker login`)",
    ) -> None:
        self.registry = registry
        self.base_url = f"{scheme}://{registry}"
        self.credentials = credentials
        self.timeout = timeout
        self.credential_hint = credential_hint
        self._tokens: dict[str, str] = {}
        self._basic = False

    # -- transport ---------------------------------------------------------------------------------

    def _open(self, method: str, url: str, headers: dict[str, str], data: bytes | Iterable[bytes] | None) -> Response:
        for _ in range(6):
            request = urllib.request.Request(url, data=data, method=method, headers=headers)  # type: ignore[arg-type]
            try:
                raw = _OPENER.open(request, timeout=self.timeout)
                return Response(raw.status, raw.headers, raw, raw.url)
            except urllib.error.HTTPError as exc:
                if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                    exc.close()
                    new_url = urllib.parse.urljoin(url, exc.headers["Location"])
                    if urllib.parse.urlsplit(new_url).netloc != urllib.parse.urlsplit(url).netloc:
                        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                    url = new_url
                    if exc.code == 303:
                        method, data = "GET", None
                    continue
                return Response(exc.code, exc.headers, exc, url)
            except urllib.error.URLError as exc:
                raise MirrorError(f"cannot reach registry {self.registry} ({url}): {exc.reason}") from None
            except OSError as exc:
                raise MirrorError(f"cannot reach registry {self.registry} ({url}): {exc}") from None
        raise MirrorError(f"registry {self.registry}: too many redirects for {url}")

    def _auth_header(self, scope: str) -> dict[str, str]:
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic and self.credentials:
            return {"Authorization": "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()}
        return {}

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"registry {self.registry} asked for a Bearer token without a realm")
        query = {"scope": scope}
        if params.get("service"):
            query["service"] = params["service"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"User-Agent": USER_AGENT}
        if self.credentials:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        response = self._open("GET", url, headers, None)
        body = response.read()
        if response.status in (401, 403):
            who = f"user {self.credentials[0]!r}" if self.credentials else "anonymous access"
            raise AuthError(
                f"registry {self.registry} refused {who} for {scope} (token service {realm} answered "
                f"HTTP {response.status}). Check the credentials: {self.credential_hint}."
            )
        if response.status != 200:
            raise AuthError(f"token service {realm} for {self.registry} answered {_error_text(response.status, body)}")
        try:
            document = json.loads(body)
            return document.get("token") or document["access_token"]
        except (ValueError, KeyError):
            raise AuthError(f"token service {realm} for {self.registry} returned no token") from None

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        repository: str,
        push: bool = False,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Response:
        """Send a request, answering one authentication challenge; 401/403 afterwards is an :class:`AuthError`."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        base_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        response = self._open(method, url, {**base_headers, **self._auth_header(scope)}, data)
        if response.status == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            response.read()
            scheme, params = parse_challenge(challenge)
            if scheme == "bearer":
                self._tokens[scope] = self._fetch_token(params, scope)
            elif scheme == "basic" and self.credentials and not self._basic:
                self._basic = True
            else:
                raise AuthError(
                    f"registry {self.registry} requires authentication for {repository} "
                    f"({challenge or 'no challenge'}): {self.credential_hint}."
                )
            response = self._open(method, url, {**base_headers, **self._auth_header(scope)}, data)
        if response.status in (401, 403):
            text = _error_text(response.status, response.read())
            who = f"user {self.credentials[0]!r}" if self.credentials else "anonymous access"
            raise AuthError(
                f"registry {self.registry} denied {who} {'push' if push else 'pull'} on {repository} ({text}): "
                f"{self.credential_hint}."
            )
        return response

    # -- API -----------------------------------------------------------------------------------------

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str, str | None]:
        """(body, media type, Docker-Content-Digest header or None)."""
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            headers={"Accept": ACCEPT_MANIFESTS},
        )
        body = response.read()
        if response.status == 404:
            raise RepositoryNotFoundError(
                f"{self.registry}/{repository}:{reference} not found in the source registry "
                f"({_error_text(404, body)}). Check the repository path and tag (e.g. `docker manifest inspect`)."
            )
        if response.status != 200:
            raise MirrorError(
                f"GET manifest {self.registry}/{repository}:{reference}: {_error_text(response.status, body)}"
            )
        what = f"{self.registry}/{repository}@{reference}"
        media_type = manifest_media_type(body, response.headers.get("Content-Type"), what)
        return body, media_type, response.headers.get("Docker-Content-Digest")

    def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest ``reference`` points to, or None when it does not exist."""
        response = self.request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            headers={"Accept": ACCEPT_MANIFESTS},
        )
        response.read()
        if response.status == 404:
            return None
        if response.status != 200:
            raise MirrorError(f"HEAD manifest {self.registry}/{repository}:{reference}: HTTP {response.status}")
        return response.headers.get("Docker-Content-Digest")

    def blob_chunks(self, repository: str, digest: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}", repository=repository)
        if response.status != 200:
            text = _error_text(response.status, response.read())
            raise MirrorError(f"GET blob {digest} from {self.registry}/{repository}: {text}")
        return response.iter_chunks(chunk_size)

    def blob_exists(self, repository: str, digest: str, *, push: bool = False) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", repository=repository, push=push)
        response.read()
        if response.status == 404:
            return False
        if response.status == 200:
            return True
        raise MirrorError(f"HEAD blob {digest} on {self.registry}/{repository}: HTTP {response.status}")

    def push_blob(self, repository: str, digest: str, chunks: Iterable[bytes]) -> None:
        """Chunked upload (POST, PATCH…, PUT ?digest=). ``chunks`` may raise before the final PUT."""
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/", repository=repository, push=True, data=b"")
        body = response.read()
        if response.status != 202:
            raise MirrorError(f"start upload to {self.registry}/{repository}: {_error_text(response.status, body)}")
        location = urllib.parse.urljoin(self.base_url + "/", response.headers["Location"])
        offset = 0
        for chunk in chunks:
            response = self.request(
                "PATCH",
                location,
                repository=repository,
                push=True,
                data=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                },
            )
            body = response.read()
            if response.status != 202:
                raise MirrorError(
                    f"upload {digest} to {self.registry}/{repository}: {_error_text(response.status, body)}"
                )
            offset += len(chunk)
            location = urllib.parse.urljoin(self.base_url + "/", response.headers["Location"])
        sep = "&" if "?" in location else "?"
        response = self.request(
            "PUT",
            f"{location}{sep}digest={urllib.parse.quote(digest)}",
            repository=repository,
            push=True,
            data=b"",
            headers={"Content-Type": "application/octet-stream"},
        )
        body = response.read()
        if response.status != 201:
            raise MirrorError(
                f"finish upload of {digest} to {self.registry}/{repository}: {_error_text(response.status, body)}"
            )

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str | None:
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            repository=repository,
            push=True,
            data=body,
            headers={"Content-Type": media_type},
        )
        text = response.read()
        if response.status != 201:
            raise MirrorError(
                f"PUT manifest {self.registry}/{repository}:{reference}: {_error_text(response.status, text)}"
            )
        return response.headers.get("Docker-Content-Digest")
