"""Azure OpenAI and OpenAI-compatible upstreams over a small keep-alive HTTP client: stdlib ``http.client``, or
in the served gateway's request greenlets the event loop's own connections (``cooperative_http``)."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from regiongate.common.clock import Clock, utc_now
from regiongate.common.json_text import loads_text, unicode_json
from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.errors import UpstreamError, UpstreamRateLimited, UpstreamTimeout
from regiongate.gateway.runtime import cooperative
from regiongate.gateway.runtime.providers.base import UpstreamTimer, retry_after_seconds
from regiongate.gateway.runtime.providers.credentials import Credentials
from regiongate.gateway.runtime.translate import (
    ChatResult,
    Delta,
    EmbeddingResult,
    from_openai,
    from_openai_chunks,
    usage_tokens,
)

if TYPE_CHECKING:  # the served gateway's client (asyncio, httptools): imported where it is used, never in the Lambda
    from regiongate.gateway.runtime.providers.cooperative_http import CooperativeHttp, CooperativeResponse

_PASSTHROUGH = (
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "tools",
    "tool_choice",
    "stream",
    "user",
    "n",
    "seed",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
)
_pool_for: Callable[[str, str, int], CooperativeHttp] | None = None  # set by HttpClient._cooperative
_IDENT_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


# The answer a request's greenlet is reading (greenlets have a context each): what before_read/finish/abandon act on.
_current_answer: ContextVar[CooperativeResponse | None] = ContextVar("regiongate_upstream_answer", default=None)


class HttpClient:
    """One keep-alive connection per thread and host; in a request's greenlet, the loop's pool of them."""

    def __init__(self, base_url: str, timeouts: tuple[float, float]) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path.rstrip("/")
        self.connect_timeout, self.read_timeout = timeouts
        self._local = threading.local()
        self._ssl = ssl.create_default_context() if self.scheme == "https" else None

    def _cooperative(self) -> CooperativeHttp:
        """The running loop's connections to this upstream (``cooperative_http.pool_for``, imported on first use
        and kept: an import statement per request was 2 % of the served loop's time)."""
        global _pool_for
        pool_for = _pool_for
        if pool_for is None:
            from regiongate.gateway.runtime.providers.cooperative_http import pool_for as imported

            pool_for = _pool_for = imported
        return pool_for(self.scheme, self.host, self.port)

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._ssl is not None:
                conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.connect_timeout, context=self._ssl
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def post(
        self,
        path: str,
        body: dict[str, Any],
        headers: dict[str, str],
        stream: bool = False,
        timer: UpstreamTimer | None = None,
    ) -> http.client.HTTPResponse:
        """POST; connect and first read within the connect and read timeouts, each cut to what is left of
        ``timer``'s deadline."""
        payload = unicode_json(body).encode("utf-8")
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **headers,
        }
        if cooperative.active():
            connect = self.connect_timeout if timer is None else timer.read_timeout(self.connect_timeout)
            read = self.read_timeout if timer is None else timer.read_timeout(self.read_timeout)
            answer = self._cooperative().request("POST", self.path + path, headers, payload, connect, read)
            _current_answer.set(answer)
            return answer  # type: ignore[return-value]  # the part of HTTPResponse the providers read
        for attempt in (0, 1):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                if timer is not None:
                    conn.timeout = timer.read_timeout(self.connect_timeout)
                    if conn.sock is not None:
                        conn.sock.settimeout(conn.timeout)
                conn.request("POST", self.path + path, body=payload, headers=headers)
                if conn.sock is not None:
                    conn.sock.settimeout(self.read_timeout if timer is None else timer.read_timeout(self.read_timeout))
                response = conn.getresponse()
                return response
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop()
                if reused and attempt == 0:
                    continue  # a stale keep-alive connection: reconnect once
                raise UpstreamError(
                    f"the provider closed the connection ({type(exc).__name__})", retryable=True
                ) from None
            except TimeoutError:
                self._drop()
                raise UpstreamTimeout() from None
            except OSError as exc:
                self._drop()
                raise UpstreamError(
                    f"could not connect to the provider ({type(exc).__name__})", retryable=True
                ) from None
        raise AssertionError("unreachable")

    def before_read(self, timer: UpstreamTimer) -> None:
        """The next read waits at most the read timeout, cut to what is left of the deadline (the
        connection is dropped when nothing is left: ``UpstreamTimeout``)."""
        answer = _current_answer.get() if cooperative.active() else None
        try:
            timeout = timer.read_timeout(self.read_timeout)
        except UpstreamTimeout:
            self.abandon()
            raise
        if answer is not None:
            answer.timeout = timeout
            return
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and conn.sock.gettimeout() != timeout:
            conn.sock.settimeout(timeout)  # only when it changes: each call is a system call, once per read

    def finish(self, response: http.client.HTTPResponse) -> None:
        if cooperative.active():
            _current_answer.set(None)
            self._cooperative().finish(response)  # type: ignore[arg-type]  # a CooperativeResponse there
        elif response.will_close:
            self._drop()

    def abandon(self) -> None:
        answer = _current_answer.get() if cooperative.active() else None
        if answer is not None:
            _current_answer.set(None)
            self._cooperative().abandon(answer)
            return
        self._drop()


def _upstream_status_error(status: int, raw: bytes, headers: Any = None, clock: Clock = utc_now) -> UpstreamError:
    """An error for a non-2xx upstream answer. Only short identifiers from the upstream body are passed on;
    ``clock`` (the request's) measures an HTTP-date ``Retry-After`` that comes without a ``Date``."""
    detail = ""
    try:
        err = json.loads(raw).get("error") or {}
        code = err.get("code") if isinstance(err, dict) else None
        if isinstance(code, str) and len(code) <= 64 and set(code) <= _IDENT_OK:
            detail = f" ({code})"
    except Exception:
        pass
    if status == 429:
        return UpstreamRateLimited(retry_after=retry_after_seconds(headers, clock))
    if status >= 500:
        return UpstreamError(f"the provider failed with HTTP {status}", status=502, retryable=True)
    if status in (408,):
        return UpstreamTimeout()
    if status in (401, 403):
        return UpstreamError(f"the provider refused the gateway's credentials (HTTP {status})", status=502)
    if status in (400, 404, 413, 422):
        return UpstreamError(
            f"the provider rejected the request (HTTP {status}){detail}", status=400, type="upstream_invalid_request"
        )
    return UpstreamError(f"the provider answered HTTP {status}", status=502)


class _OpenAIHttpProvider:
    name: str

    def __init__(
        self, entry: ProviderEntry, credentials: Credentials, base_url: str, timeouts: tuple[float, float]
    ) -> None:
        self.name = entry.name
        self.entry = entry
        self.credentials = credentials
        self.http = HttpClient(base_url, timeouts)

    # Subclasses define the paths, auth header and body.
    def _chat_path(self, model: ModelEntry) -> str:
        raise NotImplementedError

    def _embed_path(self, model: ModelEntry) -> str:
        raise NotImplementedError

    def _auth(self) -> dict[str, str]:
        raise NotImplementedError

    def _model_field(self, model: ModelEntry) -> dict[str, Any]:
        return {}

    def _request(
        self, path: str, body: dict[str, Any], timer: UpstreamTimer, stream: bool = False
    ) -> http.client.HTTPResponse:
        headers = self._auth()
        response = timer.timed(lambda: self.http.post(path, body, headers, stream=stream, timer=timer))
        if response.status >= 300:
            try:
                self.http.before_read(timer)
                raw = timer.timed(lambda: response.read(65536))
            except (TimeoutError, OSError):
                self.http.abandon()
                raw = b""
            else:
                self.http.finish(response)
            raise _upstream_status_error(response.status, raw, response.headers, timer.clock)
        return response

    def _read_json(self, response: http.client.HTTPResponse, timer: UpstreamTimer) -> dict[str, Any]:
        try:
            raw = self._read_all(response, timer)
        except TimeoutError:
            self.http.abandon()
            raise UpstreamTimeout() from None
        except OSError:
            self.http.abandon()
            raise UpstreamError("the provider connection broke while answering", retryable=True) from None
        self.http.finish(response)
        try:
            value = json.loads(raw)
        except ValueError:
            raise UpstreamError("the provider answered with something that is not JSON") from None
        if not isinstance(value, dict):
            raise UpstreamError("the provider answered with an unexpected JSON shape")
        return value

    def _read_all(self, response: http.client.HTTPResponse, timer: UpstreamTimer) -> bytes:
        """The whole body, in pieces, each read within what is left of the deadline (a body trickled in
        byte by byte cannot outlast it)."""
        pieces: list[bytes] = []
        while True:
            self.http.before_read(timer)
            piece = timer.timed(lambda: response.read(65536))
            if not piece:
                if response.length:  # the connection closed before the Content-Length it announced
                    raise ConnectionResetError("the provider's answer ended early")
                return b"".join(pieces)
            pieces.append(piece)

    def _body(self, model: ModelEntry, body: dict[str, Any], stream: bool) -> dict[str, Any]:
        upstream = {k: body[k] for k in _PASSTHROUGH if k in body}
        upstream.update(self._model_field(model))
        upstream["stream"] = stream
        if stream:
            upstream["stream_options"] = {"include_usage": True}  # the gateway needs usage for the audit
        return upstream

    def chat(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> ChatResult:
        response = self._request(self._chat_path(model), self._body(model, body, False), timer)
        try:
            return from_openai(self._read_json(response, timer))
        except ValueError:
            raise UpstreamError("the provider's answer has no choices") from None

    def chat_stream(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> Iterator[Delta]:
        response = self._request(self._chat_path(model), self._body(model, body, True), timer, stream=True)
        return from_openai_chunks(self._sse(response, timer))

    def _sse(self, response: http.client.HTTPResponse, timer: UpstreamTimer) -> Iterator[dict[str, Any]]:
        """The stream's ``data:`` payloads as JSON objects, up to ``[DONE]``.

        Reads whatever the connection has (``read1``: one HTTP chunk, usually one event) and splits it into
        lines here; ``readline`` on a chunked response costs two reads and a peek per event, the largest part
        of the gateway's CPU per relayed chunk (measured in bench/bench_streams.py)."""
        done = False
        buffer = b""
        try:
            while not done:
                self.http.before_read(timer)
                try:
                    data = timer.timed(response.read1, 65536)
                except TimeoutError:
                    raise UpstreamTimeout() from None
                except (OSError, http.client.IncompleteRead):
                    raise UpstreamError("the provider connection broke while streaming") from None
                if data:
                    lines = (buffer + data).split(b"\n")
                    buffer = lines.pop()  # an incomplete line waits for the rest
                elif buffer:  # the connection closed after a last line without its newline
                    lines, buffer = [buffer], b""
                else:  # the connection closed before [DONE]: the answer is incomplete
                    raise UpstreamError("the provider connection broke while streaming")
                for raw in lines:
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        done = True
                        break
                    try:
                        chunk = loads_text(payload.decode())  # str: json's encoding detection is Python code
                    except ValueError:  # UnicodeDecodeError included: SSE is UTF-8
                        raise UpstreamError("the provider streamed something that is not JSON") from None
                    if isinstance(chunk, dict) and chunk.get("error"):
                        raise UpstreamError("the provider reported an error while streaming")
                    yield chunk
        finally:
            if done:
                response.read()
                self.http.finish(response)
            else:
                self.http.abandon()

    def embed(
        self,
        model: ModelEntry,
        inputs: list[str] | list[list[int]],
        timer: UpstreamTimer,
        *,
        dimensions: int | None = None,
    ) -> EmbeddingResult:
        body: dict[str, Any] = {"input": inputs, **self._model_field(model)}  # strings or token arrays alike
        if dimensions is not None:
            body["dimensions"] = dimensions
        answer = self._read_json(self._request(self._embed_path(model), body, timer), timer)
        try:
            data = sorted(answer["data"], key=lambda d: d["index"])
            vectors = [list(map(float, d["embedding"])) for d in data]
        except (KeyError, TypeError, ValueError):
            raise UpstreamError("the provider's embedding answer has an unexpected shape") from None
        usage = answer.get("usage") or {}
        return EmbeddingResult(vectors=vectors, input_tokens=usage_tokens(usage, "prompt_tokens"))


class AzureOpenAIProvider(_OpenAIHttpProvider):
    def __init__(
        self, entry: ProviderEntry, credentials: Credentials, endpoint: str | None, timeouts: tuple[float, float]
    ) -> None:
        super().__init__(entry, credentials, endpoint or entry.endpoint or "", timeouts)

    def _query(self) -> str:
        return "?" + urlencode({"api-version": self.entry.api_version or "2024-10-21"})

    def _chat_path(self, model: ModelEntry) -> str:
        return f"/openai/deployments/{quote(model.target, safe='')}/chat/completions{self._query()}"

    def _embed_path(self, model: ModelEntry) -> str:
        return f"/openai/deployments/{quote(model.target, safe='')}/embeddings{self._query()}"

    def _auth(self) -> dict[str, str]:
        return {"api-key": self.credentials.api_key(self.name)}


class OpenAICompatibleProvider(_OpenAIHttpProvider):
    def __init__(
        self, entry: ProviderEntry, credentials: Credentials, base_url: str | None, timeouts: tuple[float, float]
    ) -> None:
        super().__init__(entry, credentials, base_url or entry.base_url or "", timeouts)

    def _chat_path(self, model: ModelEntry) -> str:
        return "/chat/completions"

    def _embed_path(self, model: ModelEntry) -> str:
        return "/embeddings"

    def _auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.credentials.api_key(self.name)}"}

    def _model_field(self, model: ModelEntry) -> dict[str, Any]:
        return {"model": model.target}
