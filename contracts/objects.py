"""Where a job's objects live in the bucket: `jobs/<job id>/<area>/<name>`, the one place it is spelled out.

The orchestrator names the artifact prefix of a run, the pod manager presigns the engine's uploads under
it, the reporter and the graph service write beside it and the gateway reads it all back
(docs/development.md#object-keys-and-names).
"""

from __future__ import annotations


def _key(job_id: str, area: str, name: str = "") -> str:
    """The key of `name` in one of a job's areas; with no name, the area's prefix (ending in "/")."""
    return f"jobs/{job_id}/{area}/{name}"


def artifact_prefix(job_id: str) -> str:
    """Where a run's engine artifacts go (RunRequested.artifact_prefix)."""
    return _key(job_id, "artifacts")


def artifact_key(job_id: str, name: str) -> str:
    return _key(job_id, "artifacts", name)


def report_key(job_id: str, name: str = "report.md") -> str:
    return _key(job_id, "report", name)


def graph_key(job_id: str) -> str:
    return _key(job_id, "graph", "graph.json")


def checkpoint_key(job_id: str) -> str:
    """The latest checkpoint of a job's run: a later attempt resumes from it."""
    return _key(job_id, "checkpoints", "latest.ckpt")
