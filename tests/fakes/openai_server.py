"""A fake OpenAI-compatible server (vLLM's dialect) for tests, benchmarks and demos.

It is a real HTTP server speaking the real protocol: `GET /v1/models`, `POST /v1/chat/completions`
(tool calls in `choices[0].message.tool_calls`, JSON arguments as a string, `usage` tokens,
`prompt_tokens_details.cached_tokens` for a repeated system prompt). Behaviour knobs (latency,
error rate, garbage, no-tools, hangs, a script of canned replies) change at runtime through
`POST /_fake/config`; counters are at `GET /_fake/stats`, the requests answered by a script at
`GET /_fake/requests`. Every completion response carries `x-fake-server-ms`: the time the server
spent on it, so a client can separate its own overhead from the server's.

    python -m tests.fakes.openai_server --port 8000 --latency-ms 50:200

In tests: `with FakeOpenAIServer(FakeBehaviour(error_rate=0.2)) as fake: fake.url` (".../v1").
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes import openai_replies as replies

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class FakeBehaviour:
    """What the fake does. Rates are probabilities per request, drawn from a seeded RNG."""

    model: str = "fake/qwen3-tiny"
    latency_ms: tuple[float, float] = (0.0, 0.0)
    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (500, 429)
    garbage_rate: float = 0.0  # invalid JSON arguments or an unknown tool
    no_tools_rate: float = 0.0  # answers in prose, no tool call
    hang_rate: float = 0.0  # sleeps `hang_s` before answering (clients should time out first)
    hang_s: float = 600.0
    fail_models: bool = False  # GET /v1/models answers 503 (an endpoint still loading)
    seed: int = 1234
    # Scripted replies, answered in order before any chosen one: {"tool": name, "arguments": {...}}
    # (a tool call; arguments may also be a raw string) or {"content": "..."} (prose). While a script
    # is set, the requests' messages are recorded (GET /_fake/requests) so a test can read the dialogue.
    script: list[dict[str, Any]] = field(default_factory=list)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a JSON dict of changes; unknown keys are an error."""
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown behaviour field {key!r}")
            if key in ("latency_ms", "error_codes"):
                value = tuple(value)
            if key == "script":
                value = [dict(step) for step in value]
            setattr(self, key, value)


@dataclass
class FakeStats:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    garbage: int = 0
    no_tools: int = 0
    hangs: int = 0
    server_seconds: float = 0.0  # summed over completed requests
    in_flight: int = 0
    max_in_flight: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    system_prompts: set[str] = field(default_factory=set, repr=False)
    scripted: int = 0
    recorded: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["distinct_system_prompts"] = len(data.pop("system_prompts"))
        data.pop("recorded")
        return data


def _error(status: int, message: str) -> JSONResponse:
    body = {
        "error": {
            "message": message,
            "type": "server_error" if status >= 500 else "rate_limit",
            "code": status,
        }
    }
    headers = {"retry-after": "0"} if status == 429 else None
    return JSONResponse(body, status_code=status, headers=headers)


def create_fake_app(behaviour: FakeBehaviour | None = None) -> Starlette:
    """The Starlette app; `app.state.behaviour` and `app.state.stats` are live and mutable."""
    behaviour = behaviour or FakeBehaviour()
    stats = FakeStats()
    rng = random.Random(behaviour.seed)

    async def models(_: Request) -> JSONResponse:
        if behaviour.fail_models:
            return _error(503, "model is loading")
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": behaviour.model,
                        "object": "model",
                        "created": 0,
                        "owned_by": "fake",
                        "max_model_len": 16384,
                    }
                ],
            }
        )

    async def completions(request: Request) -> JSONResponse:
        started = time.perf_counter()
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            response = await _complete(request)
        finally:
            stats.in_flight -= 1
        elapsed = time.perf_counter() - started
        stats.server_seconds += elapsed
        response.headers["x-fake-server-ms"] = f"{elapsed * 1000:.3f}"
        return response

    async def _complete(request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
            messages = body["messages"]
            assert isinstance(messages, list) and messages
        except (ValueError, KeyError, AssertionError, TypeError):
            return JSONResponse(
                {"error": {"message": "body must be JSON with a non-empty messages list", "code": 400}},
                status_code=400,
            )
        lo, hi = behaviour.latency_ms
        if hi > 0:
            await asyncio.sleep(rng.uniform(lo, hi) / 1000)
        if behaviour.hang_rate and rng.random() < behaviour.hang_rate:
            stats.hangs += 1
            await asyncio.sleep(behaviour.hang_s)
        if behaviour.error_rate and rng.random() < behaviour.error_rate:
            stats.errors += 1
            status = rng.choice(behaviour.error_codes)
            return _error(status, "injected failure")
        return _reply(body, messages)

    def _reply(body: dict[str, Any], messages: list[dict[str, Any]]) -> JSONResponse:
        tools = body.get("tools") or []
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if behaviour.script or stats.recorded:
            stats.recorded.append(
                {
                    "messages": messages,
                    "tools": [t.get("function", {}).get("name") for t in tools],
                    "tool_choice": body.get("tool_choice"),
                }
            )
        if behaviour.script:
            step = behaviour.script.pop(0)
            stats.scripted += 1
            if "tool" in step:
                arguments = step.get("arguments", {})
                message["tool_calls"] = [
                    {
                        "id": f"chatcmpl-tool-{uuid.uuid4().hex[:16]}",
                        "type": "function",
                        "function": {
                            "name": step["tool"],
                            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                        },
                    }
                ]
                finish = "tool_calls"
            else:
                message["content"] = str(step.get("content", ""))
        elif tools and behaviour.no_tools_rate and rng.random() < behaviour.no_tools_rate:
            stats.no_tools += 1
            message["content"] = "I would rather just watch for now."
        elif tools:
            if behaviour.garbage_rate and rng.random() < behaviour.garbage_rate:
                stats.garbage += 1
                name, arguments = replies.garbage_tool_call(tools, rng)
            else:
                name, args = replies.choose_tool_call(messages, tools, rng)
                arguments = json.dumps(args)
            message["tool_calls"] = [
                {
                    "id": f"chatcmpl-tool-{uuid.uuid4().hex[:16]}",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ]
            finish = "tool_calls"
        elif behaviour.garbage_rate and rng.random() < behaviour.garbage_rate:
            stats.garbage += 1
            message["content"] = '{"entities": [{"name": "broken'
        else:
            message["content"] = replies.json_reply(messages, body.get("response_format"), rng)
        stats.ok += 1
        prompt = replies.prompt_text(messages) + json.dumps(tools)
        completion = json.dumps(message)
        prompt_tokens = replies.estimate_tokens(prompt)
        completion_tokens = replies.estimate_tokens(completion)
        cached = 0
        system = messages[0].get("content") if messages[0].get("role") == "system" else None
        if isinstance(system, str):
            key = hashlib.sha256(system.encode()).hexdigest()
            if key in stats.system_prompts:
                cached = min(prompt_tokens, replies.estimate_tokens(system + json.dumps(tools)))
            stats.system_prompts.add(key)
        stats.prompt_tokens += prompt_tokens
        stats.completion_tokens += completion_tokens
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or behaviour.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            }
        )

    async def get_stats(_: Request) -> JSONResponse:
        return JSONResponse(stats.public())

    async def get_requests(_: Request) -> JSONResponse:
        return JSONResponse(stats.recorded)

    async def set_config(request: Request) -> JSONResponse:
        try:
            behaviour.update(json.loads(await request.body()))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(asdict(behaviour))

    app = Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/_fake/stats", get_stats, methods=["GET"]),
            Route("/_fake/requests", get_requests, methods=["GET"]),
            Route("/_fake/config", set_config, methods=["POST"]),
        ]
    )
    app.state.behaviour = behaviour
    app.state.stats = stats
    return app


def free_port() -> int:
    """A free loopback TCP port (racy in principle, fine for tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeOpenAIServer:
    """Runs the fake on a free loopback port: in a thread (default) or a subprocess.

    A subprocess keeps the server's CPU off the client's interpreter, which matters for benchmarks.
    """

    def __init__(self, behaviour: FakeBehaviour | None = None, *, subprocess_mode: bool = False) -> None:
        self.behaviour = behaviour or FakeBehaviour()
        self.subprocess_mode = subprocess_mode
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI base URL clients use (ends in /v1)."""
        return f"{self.base}/v1"

    def start(self) -> FakeOpenAIServer:
        if self.subprocess_mode:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.fakes.openai_server",
                    "--port",
                    str(self.port),
                    "--config",
                    json.dumps(asdict(self.behaviour)),
                ],
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            config = uvicorn.Config(
                create_fake_app(self.behaviour),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=1,
                backlog=4096,
            )
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._server.run, name="fake-openai", daemon=True)
            self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/_fake/stats", timeout=0.5)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"fake OpenAI server did not start on port {self.port}")

    def configure(self, **changes: Any) -> None:
        """Change the behaviour at runtime (works in both modes)."""
        self.behaviour.update(changes)
        httpx.post(f"{self.base}/_fake/config", json=changes, timeout=5).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base}/_fake/stats", timeout=5).json())

    def requests(self) -> list[dict[str, Any]]:
        """The requests recorded while a script was set: their messages and offered tool names."""
        return list(httpx.get(f"{self.base}/_fake/requests", timeout=5).json())

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """CLI: serve the fake until interrupted."""
    p = argparse.ArgumentParser(description="Fake OpenAI-compatible chat server (tool calls).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=FakeBehaviour.model)
    p.add_argument("--latency-ms", default="0:0", help="min:max latency per request, e.g. 50:200")
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--garbage-rate", type=float, default=0.0)
    p.add_argument("--no-tools-rate", type=float, default=0.0)
    p.add_argument("--hang-rate", type=float, default=0.0)
    p.add_argument("--config", help="a JSON object of behaviour fields (overrides the flags)")
    args = p.parse_args(argv)
    lo, _, hi = args.latency_ms.partition(":")
    behaviour = FakeBehaviour(
        model=args.model,
        latency_ms=(float(lo), float(hi or lo)),
        error_rate=args.error_rate,
        garbage_rate=args.garbage_rate,
        no_tools_rate=args.no_tools_rate,
        hang_rate=args.hang_rate,
    )
    if args.config:
        behaviour.update(json.loads(args.config))
    print(f"fake OpenAI server on http://{args.host}:{args.port}/v1 (model {behaviour.model})", flush=True)
    uvicorn.run(
        create_fake_app(behaviour),
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
