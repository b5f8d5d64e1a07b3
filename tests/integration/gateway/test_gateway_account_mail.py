"""E-mail verification and password reset on the real servers, mail delivered to a real SMTP server
(aiosmtpd, in-process) or, without one, to the gateway's log."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from email import message_from_bytes
from email.message import Message

import httpx
import pytest
from aiosmtpd.controller import Controller

from services.gateway.app import create_app
from simswarm.stack import free_port

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 OK"

    async def wait_for(self, to: str, mark: str, count: int = 1, timeout: float = 10.0) -> Message:
        """The `count`-th mail to `to` carrying a `mark` token (`sev_` verification, `spr_` reset): mails
        are sent after the answer, so a verification and a reset mail may arrive in either order."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            mine = [m for m in self.messages if m["To"] == to and f"token={mark}" in _body(m)]
            if len(mine) >= count:
                return mine[count - 1]
            assert asyncio.get_running_loop().time() < deadline, f"no mail #{count} to {to}"
            await asyncio.sleep(0.05)


@pytest.fixture
def smtp(gw):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    gw.app.state.ctx.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    try:
        yield inbox
    finally:
        gw.app.state.ctx.settings.smtp_url = ""
        controller.stop()


def _body(mail: Message) -> str:
    return mail.get_payload(decode=True).decode()


def token_in(mail: Message, mark: str) -> str:
    found = re.search(rf"token=({mark}[A-Za-z0-9_-]+)", _body(mail))
    assert found, mail.get_payload()
    return found.group(1)


async def register(gw, email: str) -> dict:
    r = await gw.client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()


async def test_registration_mails_a_verification_link_that_works_once(gw, smtp):
    email = f"vera-{gw.alice[:6]}@example.com"
    account = await register(gw, email)
    assert account["user"]["email_verified"] is False
    token = token_in(await smtp.wait_for(email, "sev_"), "sev_")
    r = await gw.client.post("/api/auth/verify-email", json={"token": token})
    assert r.status_code == 200 and r.json()["email_verified"] is True
    again = await gw.client.post("/api/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"
    assert again.json()["detail"].startswith("token:")
    auth = {"Authorization": f"Bearer {account['token']}"}
    r = await gw.client.post("/api/auth/verify-email/request", headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "already_verified"


async def test_a_new_verification_link_replaces_the_old_one(gw, smtp):
    email = f"vic-{gw.alice[:6]}@example.com"
    account = await register(gw, email)
    first = token_in(await smtp.wait_for(email, "sev_"), "sev_")
    r = await gw.client.post(
        "/api/auth/verify-email/request", headers={"Authorization": f"Bearer {account['token']}"}
    )
    assert r.status_code == 202, r.text
    second = token_in(await smtp.wait_for(email, "sev_", 2), "sev_")
    assert (await gw.client.post("/api/auth/verify-email", json={"token": first})).status_code == 400
    assert (await gw.client.post("/api/auth/verify-email", json={"token": second})).status_code == 200


async def test_password_reset_revokes_every_session_and_key_and_works_once(gw, smtp):
    email = f"rosa-{gw.alice[:6]}@example.com"
    account = await register(gw, email)
    session = {"Authorization": f"Bearer {account['token']}"}
    key = (await gw.client.post("/api/keys", json={"name": "ci"}, headers=session)).json()["key"]
    r = await gw.client.post("/api/auth/forgot-password", json={"email": email.upper()})
    assert r.status_code == 200, r.text
    token = token_in(await smtp.wait_for(email, "spr_"), "spr_")

    weak = await gw.client.post("/api/auth/reset-password", json={"token": token, "new_password": "short"})
    assert weak.status_code == 422 and weak.json()["detail"].startswith("new_password:")
    r = await gw.client.post(
        "/api/auth/reset-password", json={"token": token, "new_password": "a new long password"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"]["email_verified"] is True  # the mailbox answered
    for old in (account["token"], key):
        got = await gw.client.get("/api/jobs", headers={"Authorization": f"Bearer {old}"})
        assert got.status_code == 401, old[:4]
    fresh = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await gw.client.get("/api/jobs", headers=fresh)).status_code == 200
    login = await gw.client.post("/api/auth/login", json={"email": email, "password": "a new long password"})
    assert login.status_code == 200
    again = await gw.client.post(
        "/api/auth/reset-password", json={"token": token, "new_password": "yet another one!"}
    )
    assert again.status_code == 400 and again.json()["code"] == "invalid_token"


async def test_an_expired_reset_token_is_refused(gw, smtp):
    email = f"exp-{gw.alice[:6]}@example.com"
    await register(gw, email)
    await gw.client.post("/api/auth/forgot-password", json={"email": email})
    token = token_in(await smtp.wait_for(email, "spr_"), "spr_")
    schema = gw.app.state.ctx.accounts.s
    await gw.pool.execute(f"UPDATE {schema}.account_tokens SET expires_at = now() - interval '1 second'")
    r = await gw.client.post(
        "/api/auth/reset-password", json={"token": token, "new_password": "a new long password"}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_token"
    stored = await gw.pool.fetch(f"SELECT hash FROM {schema}.account_tokens")
    assert stored and all(token not in s["hash"] for s in stored)


async def test_forgot_password_answers_alike_for_unknown_addresses_and_sends_nothing(gw, smtp):
    email = f"known-{gw.alice[:6]}@example.com"
    await register(gw, email)
    await smtp.wait_for(email, "sev_")
    known = await gw.client.post("/api/auth/forgot-password", json={"email": email})
    unknown = await gw.client.post(
        "/api/auth/forgot-password", json={"email": f"nobody-{gw.alice[:6]}@example.com"}
    )
    assert known.status_code == unknown.status_code == 200 and known.json() == unknown.json()
    await smtp.wait_for(email, "spr_")
    assert not [m for m in smtp.messages if m["To"].startswith("nobody-")]


async def test_bad_input_names_the_field(gw):
    for path, body, field in [
        ("/api/auth/forgot-password", {"email": "a\x00@example.com"}, "email"),
        ("/api/auth/verify-email", {"token": "x" * 201}, "token"),
        ("/api/auth/reset-password", {"token": "spr_x", "new_password": "p\x1b[2Jassword"}, "new_password"),
        ("/api/auth/reset-password", {"new_password": "long enough pw"}, "token"),
    ]:
        r = await gw.client.post(path, json=body)
        assert r.status_code == 422 and r.json()["detail"].startswith(f"{field}:"), (path, r.text)
    r = await gw.client.post("/api/auth/verify-email", json={"token": "sev_guessed-000000000000000000000"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_token"


async def test_without_smtp_the_mail_goes_to_the_log(gw, caplog):
    email = f"logged-{gw.alice[:6]}@example.com"
    with caplog.at_level(logging.INFO, logger="services.gateway.mailer"):
        await register(gw, email)
        for _ in range(100):  # the mail is sent after the answer
            logged = [r.getMessage() for r in caplog.records if email in r.getMessage()]
            if logged:
                break
            await asyncio.sleep(0.05)
    assert logged and re.search(r"token=sev_[A-Za-z0-9_-]+", logged[0])


async def test_mail_routes_are_rate_limited(gw):
    gw.app.state.ctx.settings.rate_limits = "mail_account=2/3600"
    try:
        codes = [
            (
                await gw.client.post("/api/auth/forgot-password", json={"email": "same@example.com"})
            ).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
    finally:
        gw.app.state.ctx.settings.rate_limits = ""


class SlowInbox(Inbox):
    """A mail server that takes its time to accept each message."""

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        await asyncio.sleep(1.0)
        return await super().handle_DATA(server, session, envelope)


async def test_a_gateway_stopping_right_after_a_registration_still_sends_its_mail(
    settings, bus, store, pg_pool
):
    """Mails go out after the answer; a gateway told to stop then must finish them before it closes its
    connections (else the verification mail is lost, and its token write races the closing pool)."""
    inbox = SlowInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    app = create_app(
        settings,
        bus=bus,
        store=store,
        pool=pg_pool,
        gateway_schema=f"gw_{uuid.uuid4().hex[:10]}",
        projection_schema=f"proj_{uuid.uuid4().hex[:10]}",
    )
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                r = await client.post(
                    "/api/auth/register", json={"email": "late@example.com", "password": PASSWORD}
                )
                assert r.status_code == 201, r.text
        # the lifespan has ended: the mail is delivered, not still on its way
        assert [m["To"] for m in inbox.messages] == ["late@example.com"]
    finally:
        settings.smtp_url = ""
        controller.stop()
