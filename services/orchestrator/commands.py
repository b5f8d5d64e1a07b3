"""Request/reply command handlers (CreateJob, CancelJob, LiveJobsQuery): bytes in, CommandReply out.

Every outcome is a CommandReply; a caller never gets a traceback. A CreateJob reply is sent only once
the job is durably recorded AND the `jobs` projection includes it, so the gateway can read it back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any, TypeVar

import msgspec

from contracts.commands import CancelJob, CommandReply, CreateJob, LiveJobsQuery
from contracts.spec import SpecError, Tier, TierConfig
from services.orchestrator.application import JobResult, OrchestratorApplication
from services.orchestrator.domain.errors import OwnerMismatch
from services.orchestrator.projection import JobsProjection

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
C = TypeVar("C", CancelJob, LiveJobsQuery)


def _reply(**fields: Any) -> bytes:
    return _encode(CommandReply(**fields))


def _decode(data: bytes, kind: type[C]) -> C | bytes:
    """The command, or the `invalid_request` reply that says why these bytes are not one."""
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _reply(ok=False, error=f"not a {kind.__name__} message: {exc}", code="invalid_request")


@dataclass
class CommandHandlers:
    """The orchestrator's side of the gateway's commands."""

    app: OrchestratorApplication
    projection: JobsProjection
    _: KW_ONLY
    tiers: dict[Tier, TierConfig] | None = None
    on_saved: Callable[[], None] = lambda: None
    read_your_writes_timeout: float = 5.0

    async def _settled(self, result: JobResult) -> dict[str, Any] | None:
        """After a command: wake the relay and projection if it wrote, then the job as shown."""
        if result.changed:
            self.on_saved()
        return await self._visible(result)

    async def _visible(self, result: JobResult) -> dict[str, Any] | None:
        """The job as the projection shows it, once it includes this command's events."""
        target = result.notification_id
        if target is None:  # nothing new was written: wait for what was already there
            target = await asyncio.to_thread(self.app.max_notification_id)
        if not await self.projection.wait_for(target, self.read_your_writes_timeout):
            log.warning(
                "projection did not reach %s within %.1fs; replying from the event store",
                target,
                self.read_your_writes_timeout,
            )
            return result.row
        return await self.projection.read_row(result.row["job_id"]) if result.row else None

    async def create_job(self, data: bytes) -> bytes:
        """CreateJob: idempotent on job_id; an invalid spec is `invalid_spec` with the field and problem."""
        try:
            cmd = msgspec.json.decode(data, type=CreateJob)
        except msgspec.ValidationError as exc:
            return _reply(ok=False, error=f"invalid job: {exc}", code="invalid_spec")
        except msgspec.DecodeError as exc:
            return _reply(ok=False, error=f"not a CreateJob message: {exc}", code="invalid_request")
        try:
            result = await asyncio.to_thread(
                self.app.create_job,
                cmd.job_id,
                cmd.owner_id,
                cmd.spec,
                retry_of=cmd.retry_of,
                tiers=self.tiers,
            )
        except SpecError as exc:
            return _reply(ok=False, error=str(exc), code="invalid_spec")
        except OwnerMismatch as exc:
            return _reply(ok=False, error=str(exc), code="conflict")
        except Exception:
            log.exception("CreateJob %s failed", cmd.job_id)
            return _reply(ok=False, error="the job could not be recorded; try again", code="internal")
        return _reply(ok=True, job=await self._settled(result))

    async def cancel_job(self, data: bytes) -> bytes:
        """CancelJob: a live job starts cancelling; a finished one is returned with code `already_finished`."""
        cmd = _decode(data, CancelJob)
        if isinstance(cmd, bytes):
            return cmd
        try:
            result = await asyncio.to_thread(self.app.cancel_job, cmd.job_id, cmd.requested_by, cmd.reason)
        except Exception:
            log.exception("CancelJob %s failed", cmd.job_id)
            return _reply(
                ok=False, error="the cancellation could not be recorded; try again", code="internal"
            )
        if result.row is None:
            return _reply(ok=False, error=f"no job {cmd.job_id}", code="not_found")
        job = await self._settled(result)
        if not result.changed and job and job["status"] in ("completed", "failed", "cancelled"):
            return _reply(ok=True, job=job, code="already_finished")
        return _reply(ok=True, job=job)

    async def live_jobs(self, data: bytes) -> bytes:
        """LiveJobsQuery (the pod reaper): which of these job ids are not finished."""
        query = _decode(data, LiveJobsQuery)
        if isinstance(query, bytes):
            return query
        try:
            live = await asyncio.to_thread(self.app.live_jobs, query.job_ids)
        except Exception:
            log.exception("LiveJobsQuery failed")
            return _reply(ok=False, error="could not read the jobs; try again", code="internal")
        return _reply(ok=True, live=live)

    def routes(self) -> dict[str, Callable[[bytes], Awaitable[bytes]]]:
        from contracts.subjects import CMD_CANCEL_JOB, CMD_CREATE_JOB, CMD_LIVE_JOBS

        return {
            CMD_CREATE_JOB: self.create_job,
            CMD_CANCEL_JOB: self.cancel_job,
            CMD_LIVE_JOBS: self.live_jobs,
        }
