"""JSON Schema of the contract, written under contracts/schema/ for systems that don't speak Python.

`simswarm contracts schema` regenerates the files; a test fails when they are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from contracts import artifacts, commands, results, worker
from contracts.events import AnyEvent
from contracts.spec import JobSpec, ResolvedRun, TierConfig

SCHEMA_DIR = Path(__file__).parent / "schema"

GROUPS: dict[str, list[Any]] = {
    "events": [AnyEvent],
    "job_spec": [JobSpec],
    "resolved_run": [ResolvedRun],
    "tier_config": [TierConfig],
    "commands": [
        commands.CreateJob,
        commands.CancelJob,
        commands.LiveJobsQuery,
        commands.CommandReply,
        commands.HealthQuery,
        commands.HealthReply,
    ],
    "artifacts": [artifacts.ArtifactRef, *artifacts.ARTIFACT_TYPES.values()],
    "worker_api": [worker.RunSubmission, worker.RunStatusBody, worker.ProgressPage],
    "result": [results.JobResult],
}


def render() -> dict[str, str]:
    """File name -> JSON text, deterministic."""
    out: dict[str, str] = {}
    for name, types in GROUPS.items():
        schemas, components = msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
        doc: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://simswarm.dev/schema/{name}.schema.json",
            "title": f"SimSwarm {name.replace('_', ' ')}",
            "$defs": components,
        }
        doc.update(schemas[0] if len(schemas) == 1 else {"anyOf": list(schemas)})
        out[f"{name}.schema.json"] = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return out


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, text in render().items():
        path = directory / fname
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written.append(path)
    return written


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing or differ from the code."""
    return [
        f
        for f, text in render().items()
        if not (directory / f).exists() or (directory / f).read_text() != text
    ]
