"""The audit sinks' SQS client: the caller's factory (tests) or boto3's, for the region, with the sink's timeouts.

Each sink retries on its own terms, so it chooses botocore's ``retries`` and timeouts; the endpoint is botocore's
usual resolution (``AWS_ENDPOINT_URL_SQS`` reaches a loopback fake in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import _RetryDict  # the stubs' type of Config(retries=...)


def sqs_client(
    region_name: str,
    client_factory: Callable[[], Any] | None,
    *,
    connect_timeout: float,
    read_timeout: float,
    retries: _RetryDict,
) -> Any:
    """``client_factory()`` when given, else a boto3 SQS client for ``region_name`` with these timeouts and retries."""
    if client_factory is not None:
        return client_factory()
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sqs",
        region_name=region_name,
        config=Config(connect_timeout=connect_timeout, read_timeout=read_timeout, retries=retries),
    )
