"""Commands to the orchestrator over NATS request/reply, with failures as ApiErrors."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import nats.errors

from contracts.commands import CancelJob, CommandReply, CreateJob
from contracts.subjects import CMD_CANCEL_JOB, CMD_CREATE_JOB
from services.gateway.errors import ApiError
from services.kit.bus import BusUnavailable

log = logging.getLogger(__name__)

_REPLY_STATUS = {"invalid_spec": 422, "not_found": 404, "conflict": 409}


def _unavailable(what: str, exc: BaseException) -> ApiError:
    log.warning("%s: orchestrator unavailable: %s", what, exc)
    return ApiError(
        503,
        "orchestrator_unavailable",
        f"{what}: the orchestrator did not answer; the job service may be starting or down — retry shortly",
        {"Retry-After": "5"},
    )


async def send(bus: Any, subject: str, command: msgspec.Struct, what: str, timeout: float) -> CommandReply:
    """Request/reply; 503 when nobody answers, and a non-ok reply mapped to its HTTP status."""
    try:
        reply: CommandReply = await bus.request(subject, command, CommandReply, timeout=timeout)
    except (BusUnavailable, nats.errors.Error, TimeoutError, ConnectionError) as exc:
        raise _unavailable(what, exc) from exc
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.error("%s: malformed reply from orchestrator: %s", what, exc)
        raise ApiError(
            502, "orchestrator_error", f"{what}: the orchestrator sent an unreadable reply"
        ) from exc
    if not reply.ok:
        code = reply.code or "orchestrator_error"
        status = _REPLY_STATUS.get(code, 502)
        raise ApiError(status, code, reply.error or f"{what} failed ({code})")
    return reply


async def create_job(bus: Any, cmd: CreateJob, timeout: float) -> CommandReply:
    return await send(bus, CMD_CREATE_JOB, cmd, "create job", timeout)


async def cancel_job(bus: Any, cmd: CancelJob, timeout: float) -> CommandReply:
    return await send(bus, CMD_CANCEL_JOB, cmd, "cancel job", timeout)


async def cancel_before_removal(bus: Any, job_id: str, user_id: str, reason: str, timeout: float) -> None:
    """Cancel a live job whose record is about to go (the job or its owner's account is deleted), so
    that no pod keeps billing with nobody left to stop it.

    A refusal (4xx: the job finished meanwhile, or the orchestrator has no such job) leaves nothing to
    cancel. A command not delivered or failed (5xx) raises: the caller then keeps the record, and a
    retry cancels the job.
    """
    try:
        await cancel_job(bus, CancelJob(job_id=job_id, requested_by=user_id, reason=reason), timeout)
    except ApiError as exc:
        if exc.status >= 500:
            raise
        log.info("%s: job %s not cancelled: %s", reason, job_id, exc.code)
