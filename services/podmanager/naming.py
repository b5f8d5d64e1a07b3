"""Pod names, run ids and per-pod tokens: the idempotency keys of provisioning (pure, no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import re

POD_PREFIX = "simswarm-"
_POD_NAME = re.compile(r"^simswarm-(?P<job_id>.+)-a(?P<attempt>\d+)$")


def pod_name(job_id: str, attempt: int) -> str:
    """`simswarm-<job_id>-a<attempt>`: a repeated request for the same attempt names the same pod."""
    return f"{POD_PREFIX}{job_id}-a{attempt}"


def run_id(job_id: str, attempt: int) -> str:
    """`<job_id>-a<attempt>`: the worker treats a resubmission with this id as the same run."""
    return f"{job_id}-a{attempt}"


def parse_pod_name(name: str) -> tuple[str, int] | None:
    """(job_id, attempt) from a pod name, or None for a name this platform did not make."""
    m = _POD_NAME.match(name)
    if not m:
        return None
    return m.group("job_id"), int(m.group("attempt"))


def pod_token(secret: str, name: str) -> str:
    """The pod's bearer token: HMAC-SHA256(secret, pod name), hex.

    Derived rather than stored, so a restarted podmanager can talk to the pods it made without any
    secret ever being written to an event or a table.
    """
    if not secret:
        raise ValueError("podmanager_secret is empty: cannot derive pod tokens")
    return hmac.new(secret.encode(), name.encode(), hashlib.sha256).hexdigest()
