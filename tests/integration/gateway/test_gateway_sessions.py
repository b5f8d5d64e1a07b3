"""Sessions and keys end on the real servers: logout, password change and account deletion revoke
at once; API keys may expire. The attack: a stolen token or key that keeps working after its owner
logged out, changed the password or deleted the account.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from contracts.commands import CancelJob

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _register(gw) -> tuple[str, str]:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    r = await gw.client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return email, r.json()["token"]


async def _works(gw, token: str) -> bool:
    r = await gw.client.get("/api/keys", headers=_bearer(token))
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


async def test_logout_ends_the_session_at_once(gw):
    email, first = await _register(gw)
    r = await gw.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    second = r.json()["token"]
    assert await _works(gw, first) and await _works(gw, second)

    r = await gw.client.post("/api/auth/logout", headers=_bearer(first))
    assert r.status_code == 204, r.text
    assert not await _works(gw, first)
    r = await gw.client.get("/api/jobs", headers=_bearer(first))
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"
    assert await _works(gw, second)  # only that session ended
    assert (await gw.client.post("/api/auth/logout", headers=_bearer(first))).status_code == 401


async def test_logout_with_an_api_key_is_refused(gw):
    r = await gw.client.post("/api/auth/logout", headers=gw.as_alice)
    assert r.status_code == 400 and r.json()["code"] == "not_a_session"
    assert (await gw.client.get("/api/keys", headers=gw.as_alice)).status_code == 200


async def test_password_change_revokes_every_session_and_key(gw):
    email, session = await _register(gw)
    other = (await gw.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).json()[
        "token"
    ]
    key = (await gw.client.post("/api/keys", json={"name": "ci"}, headers=_bearer(session))).json()["key"]
    assert await _works(gw, key)

    r = await gw.client.put(
        "/api/profile/password",
        headers=_bearer(session),
        json={"current_password": "not the password", "new_password": "a brand new one"},
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_password"
    assert await _works(gw, other)
    r = await gw.client.put(
        "/api/profile/password",
        headers=_bearer(session),
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert r.status_code == 422 and r.json()["code"] == "weak_password"

    r = await gw.client.put(
        "/api/profile/password",
        headers=_bearer(session),
        json={"current_password": PASSWORD, "new_password": "a brand new one"},
    )
    assert r.status_code == 200, r.text
    fresh = r.json()["token"]
    for old in (session, other, key):
        assert not await _works(gw, old)
    assert await _works(gw, fresh)
    assert (
        await gw.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    ).status_code == 401
    r = await gw.client.post("/api/auth/login", json={"email": email, "password": "a brand new one"})
    assert r.status_code == 200


async def test_account_deletion_revokes_everything_and_frees_the_address(gw):
    email, session = await _register(gw)
    key = (await gw.client.post("/api/keys", json={"name": "ci"}, headers=_bearer(session))).json()["key"]
    r = await gw.client.request(
        "DELETE", "/api/profile/account", headers=_bearer(key), json={"password": "wrong!!!"}
    )
    assert r.status_code == 403 and r.json()["code"] == "wrong_password"
    r = await gw.client.request("DELETE", "/api/profile/account", headers=_bearer(key), json={})
    assert r.status_code == 422

    r = await gw.client.request(
        "DELETE", "/api/profile/account", headers=_bearer(key), json={"password": PASSWORD}
    )
    assert r.status_code == 204, r.text
    assert not await _works(gw, session) and not await _works(gw, key)
    assert (
        await gw.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    ).status_code == 401
    # the address is released (no personal data kept) and can be registered again
    row = await gw.pool.fetchrow(
        f"SELECT count(*) AS n FROM {gw.app.state.ctx.accounts.s}.users WHERE lower(email) = lower($1)", email
    )
    assert row["n"] == 0
    r = await gw.client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201


async def test_account_deletion_cancels_live_jobs_first(gw):
    _, session = await _register(gw)
    spec = {
        "seed_text": "The central bank meets on Thursday.",
        "goal": "Will the bank cut rates?",
        "tier": "small",
        "policy": "heuristic",
    }
    r = await gw.client.post("/api/jobs", json=spec, headers=_bearer(session))
    assert r.status_code == 201, r.text
    live = r.json()["job_id"]
    done = await gw.put_job(owner_id=gw.commands[-1].owner_id, status="completed", stage="completed")

    r = await gw.client.request(
        "DELETE", "/api/profile/account", headers=_bearer(session), json={"password": PASSWORD}
    )
    assert r.status_code == 204, r.text
    cancelled = [c.job_id for c in gw.commands if isinstance(c, CancelJob)]
    assert cancelled == [live] and done not in cancelled
    assert gw.commands[-1].reason == "account deleted"


async def test_account_deletion_is_kept_when_the_cancel_cannot_be_delivered(gw_no_orchestrator):
    gw = gw_no_orchestrator
    gw.app.state.ctx.command_timeout_s = 0.5
    r = await gw.client.post(
        "/api/auth/register", json={"email": f"u-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
    )
    session, owner = r.json()["token"], r.json()["user"]["id"]
    await gw.put_job(owner_id=owner, status="running", stage="running")
    r = await gw.client.request(
        "DELETE", "/api/profile/account", headers=_bearer(session), json={"password": PASSWORD}
    )
    assert r.status_code == 503 and r.json()["code"] == "orchestrator_unavailable", r.text
    assert await _works(gw, session)  # nothing revoked: a retry can finish the deletion


async def test_an_account_without_password_confirms_deletion_with_its_address(gw):
    """The local user of `simswarm up` has no password: a bare DELETE (a client bug, a fuzzer) must not
    delete it."""
    for body in (None, {}, {"confirm_email": "someone-else@example.com"}):
        r = await gw.client.request("DELETE", "/api/profile/account", headers=gw.as_alice, json=body)
        assert r.status_code == 422 and r.json()["code"] == "confirmation_required", r.text
    assert await _works(gw, gw.alice_key)
    email = await gw.pool.fetchval(
        f"SELECT email FROM {gw.app.state.ctx.accounts.s}.users WHERE id = $1", gw.alice
    )
    r = await gw.client.request(
        "DELETE", "/api/profile/account", headers=gw.as_alice, json={"confirm_email": email.upper()}
    )
    assert r.status_code == 204, r.text
    assert not await _works(gw, gw.alice_key)
    assert await _works(gw, gw.bob_key)  # nobody else's account is touched


async def test_api_keys_may_expire(gw):
    r = await gw.client.post("/api/keys", json={"name": "week", "expires_in_days": 7}, headers=gw.as_alice)
    assert r.status_code == 201, r.text
    body = r.json()
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert await _works(gw, body["key"])
    listed = {k["id"]: k for k in (await gw.client.get("/api/keys", headers=gw.as_alice)).json()}
    assert listed[body["id"]]["expires_at"] == body["expires_at"]

    # a week later (moved in the database: tests do not wait on the clock)
    await gw.pool.execute(
        f"UPDATE {gw.app.state.ctx.accounts.s}.api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
        body["id"],
    )
    r = await gw.client.get("/api/jobs", headers=_bearer(body["key"]))
    assert r.status_code == 401 and r.json()["code"] == "invalid_credentials"

    at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    r = await gw.client.post("/api/keys", json={"name": "at", "expires_at": at}, headers=gw.as_alice)
    assert r.status_code == 201 and datetime.fromisoformat(r.json()["expires_at"]) == datetime.fromisoformat(
        at
    )
    r = await gw.client.post("/api/keys", json={"name": "none"}, headers=gw.as_alice)
    assert r.status_code == 201 and r.json()["expires_at"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in_days": 0},
        {"expires_in_days": 100000},
        {"expires_at": "2001-01-01T00:00:00+00:00"},
        {"expires_at": "2999-01-01T00:00:00"},  # no time zone: ambiguous
        {"expires_at": "2999-01-01T00:00:00+00:00", "expires_in_days": 3},
    ],
)
async def test_bad_key_expiry_is_a_422(gw, body):
    r = await gw.client.post("/api/keys", json={"name": "k", **body}, headers=gw.as_alice)
    assert r.status_code == 422, r.text
    assert "expires" in r.json()["detail"]


async def test_openapi_lists_the_new_routes_with_their_errors(gw):
    doc = (await gw.client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    assert {"401", "429"} <= set(paths["/api/auth/login"]["post"]["responses"])
    assert {"429"} <= set(paths["/api/auth/register"]["post"]["responses"])
    assert {"204", "400", "401"} <= set(paths["/api/auth/logout"]["post"]["responses"])
    assert {"200", "401", "403", "422", "429"} <= set(paths["/api/profile/password"]["put"]["responses"])
    assert {"204", "401", "403", "422"} <= set(paths["/api/profile/account"]["delete"]["responses"])
    assert "429" in paths["/api/jobs"]["post"]["responses"]
