"""Drafts: job specs being written, stored partial in `<gateway>.drafts`, private to their owner.

A draft holds any subset of a job spec's fields, each checked with the spec's own types (so a draft
refuses control characters and oversize text the moment it is saved). Completeness and the tier's
caps are checked on launch, by the create path itself, so a launch fails exactly as a create would.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

from contracts.spec import DraftSpec, Tier, TierConfig
from services.gateway.schema import check_ident
from services.gateway.spec_input import InputError, translate_msgspec_error

if TYPE_CHECKING:
    from services.gateway.paging import Page

MAX_DRAFTS_PER_USER = 200
REQUIRED_TO_LAUNCH = ("seed_text", "goal")


def parse_draft(body: bytes) -> dict[str, Any]:
    """A draft's fields from a JSON body (null clears a field); InputError naming the field otherwise."""
    if not body.strip():
        return {}
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InputError(400, "invalid_json", f"body: is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise InputError(422, "json_too_deep", "body: JSON is nested too deeply") from exc
    if not isinstance(raw, dict):
        raise InputError(422, "invalid_draft", "body: must be a JSON object of job spec fields")
    return raw


def merge_draft(
    current: dict[str, Any], patch: dict[str, Any], tiers: dict[Tier, TierConfig]
) -> dict[str, Any]:
    """`current` with `patch` applied as a JSON merge patch (a null removes the field), then checked
    field by field with the spec's types: InputError 422 `invalid_draft` naming the field."""
    merged = {**current}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    encoded = msgspec.json.encode(merged)
    try:
        draft = msgspec.json.decode(encoded, type=DraftSpec)
    except msgspec.ValidationError as exc:
        field, problem = translate_msgspec_error(str(exc), tiers, encoded)
        raise InputError(422, "invalid_draft", f"{field}: {problem}") from exc
    out: dict[str, Any] = msgspec.to_builtins(draft)
    return out


def missing_fields(spec: dict[str, Any]) -> list[str]:
    """What a draft still needs before it can be launched."""
    return [f for f in REQUIRED_TO_LAUNCH if not spec.get(f)]


def draft_dict(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A drafts row as the API's Draft."""
    spec = row["spec"]
    if isinstance(spec, str):
        spec = json.loads(spec)
    base = f"/api/jobs/draft/{row['id']}"
    launched = row["launched_job_id"]
    return {
        "draft_id": row["id"],
        "spec": spec,
        "missing": missing_fields(spec),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "launched_job_id": launched,
        "links": {
            "self": base,
            "launch": f"{base}/launch",
            **({"job": f"/api/jobs/{launched}"} if launched else {}),
        },
    }


class DraftLimit(Exception):
    """The owner has MAX_DRAFTS_PER_USER drafts already."""


class DraftsStore:
    """Owner-scoped CRUD over `<schema>.drafts`; another owner's draft is simply not found."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.s = check_ident(schema)

    async def create(self, owner_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"gw-drafts:{owner_id}")
            count = await conn.fetchval(f"SELECT count(*) FROM {self.s}.drafts WHERE owner_id = $1", owner_id)
            if int(count or 0) >= MAX_DRAFTS_PER_USER:
                raise DraftLimit()
            row = await conn.fetchrow(
                f"INSERT INTO {self.s}.drafts (id, owner_id, spec) VALUES ($1, $2, $3::jsonb) RETURNING *",
                uuid.uuid4().hex,
                owner_id,
                json.dumps(spec),
            )
        assert row is not None
        return draft_dict(row)

    async def get(self, owner_id: str, draft_id: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            f"SELECT * FROM {self.s}.drafts WHERE id = $1 AND owner_id = $2", draft_id, owner_id
        )

    async def update(self, owner_id: str, draft_id: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        """Replace an unlaunched draft's spec; None when there is no such unlaunched draft."""
        row = await self.pool.fetchrow(
            f"""UPDATE {self.s}.drafts SET spec = $3::jsonb, updated_at = now()
                 WHERE id = $1 AND owner_id = $2 AND launched_job_id IS NULL RETURNING *""",
            draft_id,
            owner_id,
            json.dumps(spec),
        )
        return draft_dict(row) if row is not None else None

    async def list(self, owner_id: str, page: Page) -> tuple[list[dict[str, Any]], int]:
        """A page of the owner's drafts, most recently changed first, and how many there are."""
        total = await self.pool.fetchval(
            f"SELECT count(*) FROM {self.s}.drafts WHERE owner_id = $1", owner_id
        )
        rows = await self.pool.fetch(
            f"""SELECT * FROM {self.s}.drafts WHERE owner_id = $1
                 ORDER BY updated_at DESC, id DESC LIMIT $2 OFFSET $3""",
            owner_id,
            page.size,
            page.offset,
        )
        return [draft_dict(r) for r in rows], int(total or 0)

    async def mark_launched(self, owner_id: str, draft_id: str, job_id: str) -> None:
        await self.pool.execute(
            f"UPDATE {self.s}.drafts SET launched_job_id = $3, updated_at = now() WHERE id = $1 AND owner_id = $2",
            draft_id,
            owner_id,
            job_id,
        )

    async def delete(self, owner_id: str, draft_id: str) -> bool:
        status = await self.pool.execute(
            f"DELETE FROM {self.s}.drafts WHERE id = $1 AND owner_id = $2", draft_id, owner_id
        )
        return status.endswith(" 1")
