"""Amazon Bedrock through boto3 ``bedrock-runtime``: Converse / ConverseStream for chat, InvokeModel for embeddings.

boto3 is imported when the first client is built, never at module import. botocore's own retries are off:
the gateway's bounded retries apply to every provider alike. In the served gateway's request greenlets a client's
requests go out on the event loop's connections (``cooperative_http.aws_send``), so no thread waits for Bedrock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from regiongate.common.clock import Clock, utc_now
from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.errors import InvalidRequest, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from regiongate.gateway.runtime import converse_params, cooperative, structured_output
from regiongate.gateway.runtime.providers.base import UpstreamTimer, is_loopback_url, retry_after_seconds
from regiongate.gateway.runtime.translate import (
    ChatResult,
    Delta,
    EmbeddingResult,
    from_converse,
    from_converse_stream,
    to_converse,
)

T = TypeVar("T")

_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_RETRYABLE = {"ServiceUnavailableException", "InternalServerException", "ModelNotReadyException", "InternalFailure"}
_TIMEOUT = {"ModelTimeoutException"}
_CLIENT = {"ValidationException", "ModelErrorException", "ResourceNotFoundException"}


def _map_error(exc: Exception, clock: Clock = utc_now) -> UpstreamError:
    """The gateway's error for a botocore one; ``clock`` (the request's) measures an HTTP-date ``Retry-After``
    that comes without a ``Date``."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLED or (status == 429 and code not in _RETRYABLE):
            return UpstreamRateLimited(
                retry_after=retry_after_seconds(exc.response.get("ResponseMetadata", {}).get("HTTPHeaders"), clock)
            )
        if code in _TIMEOUT:
            return UpstreamTimeout("the model did not answer in time")
        if code in _RETRYABLE or status >= 500:
            return UpstreamError(f"Bedrock failed ({code or status})", retryable=True)
        if code in _CLIENT or status in (400, 404, 422):
            return UpstreamError(
                f"Bedrock rejected the request ({code or status})", status=400, type="upstream_invalid_request"
            )
        if code == "AccessDeniedException" or status in (401, 403):
            return UpstreamError(
                "the gateway is not allowed to invoke this model in this region (AccessDeniedException)"
            )
        return UpstreamError(f"Bedrock failed ({code or status})")
    if isinstance(exc, (bx.ReadTimeoutError,)):
        return UpstreamTimeout()
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ConnectionClosedError)):
        return UpstreamError(f"could not reach Bedrock ({type(exc).__name__})", retryable=True)
    if isinstance(exc, bx.BotoCoreError):
        return UpstreamError(f"Bedrock call failed ({type(exc).__name__})")
    return UpstreamError(f"Bedrock call failed ({type(exc).__name__})")


def _stream_read_error(exc: Exception, clock: Clock = utc_now) -> UpstreamError:
    """The gateway's error for a failure while reading an event stream that had started: the raw urllib3 error
    of a connection that broke (or stalled) mid-stream says so, as a cut ConverseStream does; anything else
    as ``_map_error``."""
    from botocore import exceptions as bx
    from urllib3 import exceptions as ux

    if isinstance(exc, (ux.ReadTimeoutError, TimeoutError)):
        return UpstreamTimeout()
    if isinstance(exc, (ux.ProtocolError, bx.ResponseStreamingError, bx.ConnectionClosedError, ConnectionError)):
        return UpstreamError(f"the connection to Bedrock broke while streaming ({type(exc).__name__})")
    return _map_error(exc, clock)


def _whole_converse_stream(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The events of a ConverseStream answer, refusing one that ends before its ``messageStop`` and its
    ``metadata`` (the usage) events: a connection closed mid-stream leaves botocore's parser without an error
    (a partial last message is dropped), and would otherwise pass for a complete, unbilled answer."""
    stopped = metered = False
    for event in events:
        stopped = stopped or "messageStop" in event
        metered = metered or "metadata" in event
        yield event
    if not (stopped and metered):
        missing = "messageStop" if not stopped else "metadata"
        raise UpstreamError(f"the connection to Bedrock broke while streaming (the stream ended before {missing})")


class BedrockProvider:
    def __init__(
        self,
        entry: ProviderEntry,
        endpoint_url: str | None,
        timeouts: tuple[float, float],
        aws_credentials: dict[str, str] | None = None,  # an org's assumed role (providers.org_credentials)
    ) -> None:
        self.name = entry.name
        self.aws_credentials = aws_credentials
        self.entry = entry
        self.endpoint_url = endpoint_url
        self.timeouts = timeouts
        # Any: boto3-stubs types no bedrock-runtime client unless mypy-boto3-bedrock-runtime is installed.
        self._client: Any = None
        self._short: dict[float, Any] = {}  # clients with shorter read timeouts, for late attempts
        self._lock = threading.Lock()

    def client(self, timer: UpstreamTimer | None = None) -> Any:
        """The client whose read timeout fits in what is left of ``timer``'s deadline: botocore fixes a
        client's timeouts, so shorter ones are separate clients (10-second steps, rounded down), built when
        a late attempt first needs one."""
        read = self.timeouts[1] if timer is None else timer.read_timeout(self.timeouts[1])
        if read < self.timeouts[1]:
            step = float(int(read // 10) * 10) if read >= 10 else max(float(int(read)), 0.5)
            client = self._short.get(step)
            if client is None:
                built = self._built_off_loop(min(self.timeouts[0], step), step)
                with self._lock:
                    client = self._short.setdefault(step, built)  # two built at once: the first one stays
            return client
        if self._client is None:
            built = self._built_off_loop(*self.timeouts)
            with self._lock:
                if self._client is None:
                    self._client = built
        return self._client

    def _built_off_loop(self, connect_timeout: float, read_timeout: float) -> Any:
        """``_build`` on a blocking-call thread in a request's greenlet: building a client resolves credentials
        (in ECS an HTTP call to the container's endpoint) and loads the service model, tens of milliseconds that
        would stop the event loop. Never under ``_lock``: no lock is held across a cooperative wait."""
        return cooperative.blocking(self._build, connect_timeout, read_timeout)

    def _build(self, connect_timeout: float, read_timeout: float) -> Any:
        import boto3
        from botocore.config import Config

        kwargs: dict[str, Any] = dict(self.aws_credentials or {})
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
            if is_loopback_url(self.endpoint_url) and not self.aws_credentials:
                # A local fake: sign with throw-away credentials, never an account's.
                kwargs.update(aws_access_key_id="local", aws_secret_access_key="local", aws_session_token=None)
        session = boto3.session.Session()
        client = session.client(
            "bedrock-runtime",
            region_name=self.entry.aws_region,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"total_max_attempts": 1, "mode": "standard"},
                max_pool_connections=64,
                tcp_keepalive=True,
            ),
            **kwargs,
        )
        if cooperative.available():
            # In the served gateway's request greenlets every call goes out on the event loop's connections, signed
            # and parsed by botocore as always (providers.cooperative_http.aws_send); elsewhere botocore sends it.
            from regiongate.gateway.runtime.providers.cooperative_http import aws_refresh_credentials, aws_send

            client.meta.events.register("before-sign.bedrock-runtime", aws_refresh_credentials)
            client.meta.events.register("before-send.bedrock-runtime", aws_send(connect_timeout, read_timeout))
        return client

    def _call(self, timer: UpstreamTimer, fn: Callable[[], T]) -> T:
        try:
            return timer.timed(fn)
        except UpstreamError:
            raise
        except Exception as exc:
            raise _map_error(exc, timer.clock) from None

    def chat(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> ChatResult:
        converse_params.check_chat(body, self.name)
        request = to_converse(body)
        forced = structured_output.apply(request, body)  # response_format: a forced tool
        client = self.client(timer)
        response = self._call(timer, lambda: client.converse(modelId=model.target, **request))
        return structured_output.result(from_converse(response), forced)

    def chat_stream(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> Iterator[Delta]:
        converse_params.check_chat(body, self.name)
        request = to_converse(body)
        forced = structured_output.apply(request, body)
        client = self.client(timer)
        response = self._call(timer, lambda: client.converse_stream(modelId=model.target, **request))
        events = _whole_converse_stream(self._events(response["stream"], timer))
        return structured_output.deltas(from_converse_stream(events), forced)

    def _events(self, stream: Iterable[dict[str, Any]], timer: UpstreamTimer) -> Iterator[dict[str, Any]]:
        iterator = iter(stream)
        try:
            while True:
                timer.read_timeout(0)  # past the deadline: UpstreamTimeout
                try:
                    event = timer.timed(lambda: next(iterator))
                except StopIteration:
                    return
                except Exception as exc:
                    raise _stream_read_error(exc, timer.clock) from None
                for name in (
                    "internalServerException",
                    "modelStreamErrorException",
                    "validationException",
                    "throttlingException",
                    "serviceUnavailableException",
                ):
                    if name in event:
                        raise UpstreamError(f"Bedrock stream failed ({name})")
                yield event
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()

    # --- Claude's native body (the Anthropic Messages API): InvokeModel, its response stream, CountTokens ---
    def invoke_json(self, target: str, body: dict[str, Any], timer: UpstreamTimer) -> Any:
        """InvokeModel with a JSON body; the decoded JSON answer (shape checks are the caller's)."""
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        client = self.client(timer)
        response = self._call(
            timer,
            lambda: client.invoke_model(
                modelId=target, body=raw, contentType="application/json", accept="application/json"
            ),
        )
        answer = self._call(timer, lambda: response["body"].read())
        try:
            return json.loads(answer)
        except ValueError:
            raise UpstreamError("Bedrock answered with something that is not JSON") from None

    def invoke_json_stream(self, target: str, body: dict[str, Any], timer: UpstreamTimer) -> Iterator[Any]:
        """InvokeModelWithResponseStream: the call is made now; the decoded JSON chunks are read as iterated."""
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        client = self.client(timer)
        response = self._call(
            timer,
            lambda: client.invoke_model_with_response_stream(
                modelId=target, body=raw, contentType="application/json", accept="application/json"
            ),
        )
        return self._chunks(response["body"], timer)

    def _chunks(self, stream: Iterable[dict[str, Any]], timer: UpstreamTimer) -> Iterator[Any]:
        for event in self._events(stream, timer):
            if "modelTimeoutException" in event:
                raise UpstreamTimeout("the model did not answer in time")
            chunk = event.get("chunk")
            if not isinstance(chunk, dict) or not isinstance(chunk.get("bytes"), bytes):
                raise UpstreamError("Bedrock streamed an event that is not a chunk")
            try:
                yield json.loads(chunk["bytes"])
            except ValueError:
                raise UpstreamError("Bedrock streamed a chunk that is not JSON") from None

    def count_tokens(self, target: str, body: dict[str, Any], timer: UpstreamTimer) -> int:
        """CountTokens for an InvokeModel body (free; foundation model ids only)."""
        raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
        client = self.client(timer)
        answer = self._call(timer, lambda: client.count_tokens(modelId=target, input={"invokeModel": {"body": raw}}))
        tokens = answer.get("inputTokens") if isinstance(answer, dict) else None
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens < 2**31:
            raise UpstreamError("Bedrock's token count has an unexpected shape")
        return tokens

    def embed(
        self,
        model: ModelEntry,
        inputs: list[str] | list[list[int]],
        timer: UpstreamTimer,
        *,
        dimensions: int | None = None,
    ) -> EmbeddingResult:
        texts = converse_params.embedding_texts(inputs, self.name)
        target = model.target
        dimensions = converse_params.embedding_dimensions(target, dimensions, self.name)
        client = self.client(timer)
        if target.startswith("cohere.embed"):
            body = json.dumps({"texts": texts, "input_type": "search_document"})
            answer = self._invoke(client, target, body, timer)
            vectors = answer.get("embeddings")
            if not isinstance(vectors, list):
                raise UpstreamError("Bedrock's embedding answer has an unexpected shape")
            tokens = sum((len(s) + 3) // 4 for s in texts)  # Cohere on Bedrock reports no token count
            return EmbeddingResult(vectors=vectors, input_tokens=tokens)
        if target.startswith("amazon.titan-embed"):
            vectors, tokens = [], 0
            for text in texts:
                request: dict[str, Any] = {"inputText": text}
                if dimensions is not None:
                    request["dimensions"] = dimensions
                answer = self._invoke(client, target, json.dumps(request), timer)
                if not isinstance(answer.get("embedding"), list):
                    raise UpstreamError("Bedrock's embedding answer has an unexpected shape")
                vectors.append(answer["embedding"])
                tokens += int(answer.get("inputTextTokenCount", 0))
            return EmbeddingResult(vectors=vectors, input_tokens=tokens)
        raise InvalidRequest(f"model {model.name} does not support embeddings through this gateway")

    def _invoke(self, client: Any, target: str, body: str, timer: UpstreamTimer) -> dict[str, Any]:
        response = self._call(
            timer,
            lambda: client.invoke_model(
                modelId=target, body=body, contentType="application/json", accept="application/json"
            ),
        )
        raw = self._call(timer, lambda: response["body"].read())
        try:
            value = json.loads(raw)
        except ValueError:
            raise UpstreamError("Bedrock answered with something that is not JSON") from None
        if not isinstance(value, dict):
            raise UpstreamError("Bedrock's embedding answer has an unexpected shape")
        return value
