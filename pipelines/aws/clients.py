"""boto3 clients from the standard AWS environment, with retries suited to a long-running job.

Endpoint, region and credentials come only from the standard chain (``AWS_ENDPOINT_URL``,
``AWS_REGION`` / ``AWS_DEFAULT_REGION``, profiles, instance roles), so pointing the whole
pipeline at a local AWS endpoint needs nothing project-specific.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"


def region_name() -> str:
    """The region from ``AWS_REGION`` (which boto3 itself ignores) or ``AWS_DEFAULT_REGION``."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


@dataclass(frozen=True)
class AwsEndpoint:
    """What executors need to build their own clients: captured on the driver, shipped as values.

    Spark's Python workers inherit the environment the JVM started with, which may predate a
    local endpoint; passing these explicitly keeps the driver and executors on the same endpoint.
    """

    region: str
    endpoint_url: str | None = None

    @classmethod
    def from_environment(cls) -> AwsEndpoint:
        return cls(region=region_name(), endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def client(service: str, endpoint: AwsEndpoint | None = None, **config: Any) -> Any:
    """A boto3 client for ``service`` with adaptive retries; ``config`` adds botocore Config options."""
    where = endpoint or AwsEndpoint.from_environment()
    settings: dict[str, Any] = {"retries": {"max_attempts": 10, "mode": "adaptive"}, "max_pool_connections": 32}
    settings.update(config)
    service_endpoint = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or where.endpoint_url
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=where.region,
        endpoint_url=service_endpoint,
        config=Config(**settings),
    )
