"""Projection rows and events into the API's JSON shapes (pure; no I/O)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from contracts.events import Event
from contracts.spec import TERMINAL_STATUSES

_JSON_COLUMNS = ("markets", "prices", "final_prices", "pod", "artifacts", "timings")
_TERMINAL = {s.value for s in TERMINAL_STATUSES}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _json(value: Any) -> Any:
    """jsonb arrives as text unless the pool has a codec; accept both."""
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _timings(raw: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(raw, dict):
        return out
    for phase, span in raw.items():
        if not isinstance(span, dict):
            continue
        start, end = _parse_time(span.get("start")), _parse_time(span.get("end"))
        seconds = round((end - start).total_seconds(), 3) if start and end else None
        out[phase] = {"start": _iso(span.get("start")), "end": _iso(span.get("end")), "seconds": seconds}
    return out


def _pod(raw: Any) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or not raw:
        return None
    return {
        "provider": raw.get("provider"),
        "pod_name": raw.get("pod_name"),
        "gpu_type": raw.get("gpu_type"),
        "cost_per_hour": raw.get("cost_per_hour"),
        "cost": raw.get("cost"),
    }


def artifact_availability(row: dict[str, Any]) -> dict[str, Any]:
    files = _json(row.get("artifacts")) or []
    names = [a.get("name") for a in files if isinstance(a, dict)]
    return {
        "count": len(names),
        "files": names,
        "sim_data": bool(names),
        "report": bool(row.get("report_key")),
        "graph": bool(row.get("graph_key")),
    }


def shape_job(row: dict[str, Any]) -> dict[str, Any]:
    """A projection row (asyncpg record as dict, or the orchestrator's reply dict) as the API's job."""
    job_id = str(row.get("job_id"))
    status = row.get("status") or "created"
    rounds = row.get("rounds")
    rnd = row.get("round") or 0
    percent = round(100.0 * rnd / rounds, 1) if rounds else (100.0 if status == "completed" else 0.0)
    base = f"/api/jobs/{job_id}"
    return {
        "job_id": job_id,
        "status": status,
        "stage": row.get("stage") or status,
        "terminal": status in _TERMINAL,
        "tier": row.get("tier"),
        "goal": row.get("goal"),
        "policy": row.get("policy"),
        "agents": row.get("agents"),
        "rounds": rounds,
        "attempt": row.get("attempt"),
        "progress": {"round": rnd, "rounds": rounds, "percent": min(percent, 100.0)},
        "created_at": _iso(row.get("created_at")),
        "updated_at": _iso(row.get("updated_at")),
        "finished_at": _iso(row.get("finished_at")),
        "timings": _timings(_json(row.get("timings"))),
        "pod": _pod(_json(row.get("pod"))),
        "markets": _json(row.get("markets")) or [],
        "prices": _json(row.get("prices")) or {},
        "final_prices": _json(row.get("final_prices")) or {},
        "verdict": row.get("verdict"),
        "error": row.get("error"),
        "retry_of": row.get("retry_of"),
        "artifacts": artifact_availability(row),
        "links": {
            "self": base,
            "events": f"{base}/events",
            "stream": f"{base}/stream",
            "sim_data": f"{base}/sim-data",
            "report": f"{base}/report",
        },
    }


def artifact_list(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The projection's ArtifactRef dicts that are well-formed enough to presign."""
    files = _json(row.get("artifacts")) or []
    return [a for a in files if isinstance(a, dict) and a.get("key") and a.get("name")]


def shape_event(seq: int, event: Event) -> dict[str, Any]:
    """One timeline entry: the stream sequence, the type, when, and the event's own fields."""
    data = msgspec.to_builtins(event)
    return {"seq": seq, "type": event.type, "occurred_at": _iso(event.occurred_at), "data": data}
