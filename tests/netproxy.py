"""A TCP proxy on loopback that really breaks connections, for testing clients' retries and resumes.

It forwards bytes between a client and a real server (in threads, so it serves blocking and
asyncio clients alike) and, by rule, cuts a connection at a chosen point:

* `cut_responses(match, after_bytes, times)`: for the next `times` requests whose head contains
  `match`, forward `after_bytes` bytes of the answer and then close both sides (a stream dropped
  mid-way; `after_bytes=0` loses the whole answer after the server has acted on the request).

Every request head that passes is recorded in `heads` (for assertions on headers such as
Last-Event-ID or Idempotency-Key).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass
class _Rule:
    match: bytes
    after_bytes: int
    times: int


class DroppingProxy:
    """`with DroppingProxy(host, port) as proxy: proxy.url` -> a URL that reaches the server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.heads: list[bytes] = []
        self.cuts = 0
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._socks: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_responses(self, match: bytes, after_bytes: int, times: int = 1) -> None:
        with self._lock:
            self._rules.append(_Rule(match, after_bytes, times))

    def heads_with(self, match: bytes) -> list[bytes]:
        with self._lock:
            return [h for h in self.heads if match in h]

    def __enter__(self) -> DroppingProxy:
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._socks.update((client, upstream))
            conn = _Conn(self, client, upstream)
            threading.Thread(target=conn.pump_up, daemon=True).start()
            threading.Thread(target=conn.pump_down, daemon=True).start()

    def _rule_for(self, head: bytes) -> _Rule | None:
        with self._lock:
            self.heads.append(head)
            for rule in self._rules:
                if rule.times > 0 and rule.match in head:
                    rule.times -= 1
                    return _Rule(rule.match, rule.after_bytes, 1)
        return None


class _Conn:
    """One proxied connection; the client's side decides (per request) whether the answer is cut."""

    def __init__(self, proxy: DroppingProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.budget: int | None = None  # bytes of the current answer still to forward, None: all
        self.lock = threading.Lock()

    def close(self) -> None:
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def pump_up(self) -> None:
        """Client to server: spot request heads (keep-alive carries several) and arm a cut."""
        try:
            while data := self.client.recv(65536):
                if data[:8].split(b" ")[0] in (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD"):
                    head = data.split(b"\r\n\r\n", 1)[0]
                    rule = self.proxy._rule_for(head)
                    with self.lock:
                        self.budget = rule.after_bytes if rule is not None else None
                self.upstream.sendall(data)
        except OSError:
            pass
        self.close()

    def pump_down(self) -> None:
        """Server to client: forward, or forward up to the budget and then cut both sides."""
        try:
            while data := self.upstream.recv(65536):
                with self.lock:
                    budget = self.budget
                if budget is not None and len(data) >= budget:
                    if budget:
                        self.client.sendall(data[:budget])
                    self.proxy.cuts += 1
                    break
                if budget is not None:
                    with self.lock:
                        self.budget = budget - len(data)
                self.client.sendall(data)
        except OSError:
            pass
        self.close()
