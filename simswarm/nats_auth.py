"""nats-server users and permissions, rendered from contracts.subjects.nats_permissions.

The embedded stack writes one password per user into `$SIMSWARM_HOME/nats-credentials.json` (0600)
and the server's `authorization` block next to its data (0600). `simswarm nats-config` prints the
same block for a production server, with each password read from the server's environment.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import msgspec

from contracts.subjects import NATS_USERS, nats_permissions
from services.kit.secretfiles import write_secret
from services.kit.settings import nats_credentials_file


def password_env_var(user: str) -> str:
    """The environment variable a production nats-server reads `user`'s password from."""
    return f"SIMSWARM_NATS_PASSWORD_{user.upper()}"


def ensure_credentials(home: Path) -> dict[str, str]:
    """Every NATS user's password for this home: kept ones, and new random ones for new users."""
    path = nats_credentials_file(home)
    try:
        creds = msgspec.json.decode(path.read_bytes(), type=dict[str, str])
    except FileNotFoundError:
        creds = {}
    missing = [u for u in NATS_USERS if not creds.get(u)]
    if missing or path.stat().st_mode & 0o777 != 0o600:
        for user in missing:
            creds[user] = secrets.token_urlsafe(32)
        write_secret(path, json.dumps(creds, indent=2) + "\n")
    return creds


def render_config(passwords: dict[str, str] | None = None) -> str:
    """nats-server's `authorization` block for every user of contracts.subjects.NATS_USERS.

    With `passwords`, they are written in (the embedded stack's private config); without, each
    password is a reference to the environment variable `password_env_var(user)` of the server.
    """
    users = []
    for user in NATS_USERS:
        perms = nats_permissions(user)
        if passwords is None:
            password = f"${password_env_var(user)}"  # unquoted: a variable the server resolves
        else:
            password = json.dumps(passwords[user])
        entry = {
            "publish": {"allow": perms.publish},
            "subscribe": {"allow": perms.subscribe},
        }
        if perms.allow_responses:
            entry["allow_responses"] = True  # type: ignore[assignment]
        users.append(
            f"    {{user: {json.dumps(user)}, password: {password},\n     permissions: {json.dumps(entry)}}}"
        )
    return (
        "# SimSwarm NATS users: one per service, each allowed only its own subjects.\n"
        "# Generated from contracts/subjects.py (nats_permissions); see docs/security.md.\n"
        "authorization {\n  users: [\n" + ",\n".join(users) + "\n  ]\n}\n"
    )
