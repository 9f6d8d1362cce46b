"""Amazon Bedrock through boto3 ``bedrock-runtime``: Converse / ConverseStream for chat, InvokeModel for embeddings.

boto3 is imported when the first client is built, never at module import. botocore's own retries are off:
the gateway's bounded retries apply to every provider alike.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from regiongate.contract.document import ModelEntry, ProviderEntry
from regiongate.contract.errors import InvalidRequest, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from regiongate.gateway.runtime.providers.base import UpstreamTimer, is_loopback_url
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


def _map_error(exc: Exception) -> UpstreamError:
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLED or status == 429:
            return UpstreamRateLimited()
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


class BedrockProvider:
    def __init__(self, entry: ProviderEntry, endpoint_url: str | None, timeouts: tuple[float, float]) -> None:
        self.name = entry.name
        self.entry = entry
        self.endpoint_url = endpoint_url
        self.timeouts = timeouts
        # Any: boto3-stubs types no bedrock-runtime client unless mypy-boto3-bedrock-runtime is installed.
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    kwargs: dict[str, Any] = {}
                    if self.endpoint_url:
                        kwargs["endpoint_url"] = self.endpoint_url
                        if is_loopback_url(self.endpoint_url):
                            # A local fake: sign with throw-away credentials, never an account's.
                            kwargs.update(
                                aws_access_key_id="local", aws_secret_access_key="local", aws_session_token=None
                            )
                    session = boto3.session.Session()
                    self._client = session.client(
                        "bedrock-runtime",
                        region_name=self.entry.aws_region,
                        config=Config(
                            connect_timeout=self.timeouts[0],
                            read_timeout=self.timeouts[1],
                            retries={"total_max_attempts": 1, "mode": "standard"},
                            max_pool_connections=64,
                            tcp_keepalive=True,
                        ),
                        **kwargs,
                    )
        return self._client

    def _call(self, timer: UpstreamTimer, fn: Callable[[], T]) -> T:
        try:
            return timer.timed(fn)
        except UpstreamError:
            raise
        except Exception as exc:
            raise _map_error(exc) from None

    def chat(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> ChatResult:
        request = to_converse(body)
        client = self.client()
        response = self._call(timer, lambda: client.converse(modelId=model.target, **request))
        return from_converse(response)

    def chat_stream(self, model: ModelEntry, body: dict[str, Any], timer: UpstreamTimer) -> Iterator[Delta]:
        request = to_converse(body)
        client = self.client()
        response = self._call(timer, lambda: client.converse_stream(modelId=model.target, **request))
        return from_converse_stream(self._events(response["stream"], timer))

    def _events(self, stream: Iterable[dict[str, Any]], timer: UpstreamTimer) -> Iterator[dict[str, Any]]:
        iterator = iter(stream)
        try:
            while True:
                try:
                    event = timer.timed(lambda: next(iterator))
                except StopIteration:
                    return
                except Exception as exc:
                    raise _map_error(exc) from None
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

    def embed(self, model: ModelEntry, inputs: list[str], timer: UpstreamTimer) -> EmbeddingResult:
        client = self.client()
        target = model.target
        if target.startswith("cohere.embed"):
            body = json.dumps({"texts": inputs, "input_type": "search_document"})
            answer = self._invoke(client, target, body, timer)
            vectors = answer.get("embeddings")
            if not isinstance(vectors, list):
                raise UpstreamError("Bedrock's embedding answer has an unexpected shape")
            tokens = sum((len(s) + 3) // 4 for s in inputs)  # Cohere on Bedrock reports no token count
            return EmbeddingResult(vectors=vectors, input_tokens=tokens)
        if target.startswith("amazon.titan-embed"):
            vectors, tokens = [], 0
            for text in inputs:
                answer = self._invoke(client, target, json.dumps({"inputText": text}), timer)
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
