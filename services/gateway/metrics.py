"""A few Prometheus counters in text format, without a client library (the gateway needs only these)."""

from __future__ import annotations

import time
from collections import defaultdict

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    """Request counts and latency sums by method, route template and status; open SSE streams."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.open_streams = 0
        self.jobs_created = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        self.seconds[(method, route)] += seconds

    def render(self) -> str:
        lines = [
            "# HELP simswarm_gateway_requests_total HTTP requests by method, route and status.",
            "# TYPE simswarm_gateway_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            lines.append(f'simswarm_gateway_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
        lines += [
            "# HELP simswarm_gateway_request_seconds_total Time spent answering, by method and route.",
            "# TYPE simswarm_gateway_request_seconds_total counter",
        ]
        for (method, route), s in sorted(self.seconds.items()):
            lines.append(f'simswarm_gateway_request_seconds_total{{method="{method}",route="{route}"}} {s:.6f}')
        lines += [
            "# HELP simswarm_gateway_open_streams SSE streams open now.",
            "# TYPE simswarm_gateway_open_streams gauge",
            f"simswarm_gateway_open_streams {self.open_streams}",
            "# HELP simswarm_gateway_jobs_created_total Jobs accepted by the orchestrator.",
            "# TYPE simswarm_gateway_jobs_created_total counter",
            f"simswarm_gateway_jobs_created_total {self.jobs_created}",
        ]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Pure ASGI (so SSE streams pass through untouched): counts each HTTP request when it ends."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            self.metrics.observe(scope.get("method", "?"), route, status, time.perf_counter() - start)


def _route_template(scope: Scope) -> str:
    """The matched path template (bounded label cardinality): the router leaves the route in the scope."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else "unmatched"
