"""The Python SDK of SimSwarm: `Client` (blocking) and `AsyncClient` (asyncio), typed models, typed errors.

    from simswarm.client import Client

    with Client.from_env() as client:                   # SIMSWARM_API_URL/KEY, or `simswarm up`
        job = client.create(open("seed.txt").read(), "Will X happen within 60 days?")
        client.wait(job.job_id)                          # live over SSE, resumes after drops
        client.download(job.job_id, "./run")             # every file verified by SHA-256

The response models are the gateway's own (`services/gateway/api_models.py`): what the server
documents in its OpenAPI document is what the SDK parses. docs/sdk.md has the whole guide.
"""

from services.gateway.api_models import (
    DemoList,
    Draft,
    DraftList,
    FetchResult,
    GoalResult,
    Job,
    JobGraph,
    JobList,
    PublicConfig,
    Share,
    SharedJob,
    SimData,
    SimFile,
    Timeline,
    TimelineEvent,
)
from simswarm.client._common import Downloaded, RetryPolicy, resolve_endpoint
from simswarm.client.aio import AsyncClient
from simswarm.client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    IntegrityError,
    NotConfigured,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    StreamInterrupted,
    ValidationError,
    WaitTimeout,
)
from simswarm.client.sync import Client

StreamEvent = TimelineEvent  # the first SDK's name for a streamed event

__all__ = [
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "DemoList",
    "Downloaded",
    "Draft",
    "DraftList",
    "FetchResult",
    "GoalResult",
    "IntegrityError",
    "Job",
    "JobGraph",
    "JobList",
    "NotConfigured",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PublicConfig",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "Share",
    "SharedJob",
    "SimData",
    "SimFile",
    "StreamEvent",
    "StreamInterrupted",
    "Timeline",
    "TimelineEvent",
    "ValidationError",
    "WaitTimeout",
    "resolve_endpoint",
]
