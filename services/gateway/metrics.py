"""The gateway's metrics on prometheus_client: request histograms by route template, open SSE streams,
jobs created. Rendered at `/metrics` (operators only) together with every other family of the process
(services/kit/metrics.py)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.kit import metrics as families


class Metrics:
    """This app's view of the process-wide families (several apps in one process share them)."""

    def __init__(self) -> None:
        self._open_streams = 0
        self._jobs_created = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        families.HTTP_REQUEST_SECONDS.labels("gateway", method, route, str(status)).observe(seconds)

    @property
    def open_streams(self) -> int:
        return self._open_streams

    @open_streams.setter
    def open_streams(self, value: int) -> None:
        families.OPEN_STREAMS.inc(value - self._open_streams)
        self._open_streams = value

    @property
    def jobs_created(self) -> int:
        return self._jobs_created

    @jobs_created.setter
    def jobs_created(self, value: int) -> None:
        families.JOBS_CREATED.inc(max(0, value - self._jobs_created))
        self._jobs_created = value

    def render(self) -> str:
        return families.render().decode()


class MetricsMiddleware:
    """Pure ASGI (so SSE streams pass through untouched): times each HTTP request when it ends."""

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
