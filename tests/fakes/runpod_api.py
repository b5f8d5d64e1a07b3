"""A test double of RunPod's GraphQL API: a real HTTP server on loopback speaking the same protocol.

POST /graphql with `{"query", "variables"}` (executed by graphql-core against the subset of RunPod's
schema the platform uses: `myself { pods }`, `pod`, `podFindAndDeployOnDemand`, `podTerminate`), auth
by `Authorization: Bearer <key>` or the `api_key` query parameter, 401 otherwise. Pods live in memory.
GPU capacity is per type, so tests can make "no instances available" happen as it does on RunPod.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from typing import Any

import uvicorn
from graphql import build_schema, graphql

SDL = """
type Query { myself: User, pod(input: PodFilter): Pod }
type Mutation {
  podFindAndDeployOnDemand(input: PodFindAndDeployOnDemandInput): Pod
  podTerminate(input: PodTerminateInput!): Void
  podStop(input: PodStopInput!): Pod
}
scalar Void
enum CloudTypeEnum { ALL SECURE COMMUNITY }
type User { id: String, pods: [Pod] }
type Pod {
  id: String!  name: String  desiredStatus: String  costPerHr: Float  imageName: String
  gpuCount: Int  env: [String]  machineId: String  machine: PodMachineInfo  runtime: PodRuntime
  uptimeSeconds: Int  lastStatusChange: String  containerDiskInGb: Int  volumeInGb: Float
  volumeMountPath: String  dockerArgs: String  dockerId: String  memoryInGb: Float  vcpuCount: Float
  podType: String  port: Int  ports: String
}
type PodMachineInfo { gpuDisplayName: String, podHostId: String }
type PodRuntime { uptimeInSeconds: Int, ports: [PodRuntimePorts] }
type PodRuntimePorts { ip: String, isIpPublic: Boolean, privatePort: Int, publicPort: Int, type: String }
input PodFilter { podId: String! }
input PodTerminateInput { podId: String! }
input PodStopInput { podId: String! }
input EnvironmentVariableInput { key: String!, value: String! }
input PodFindAndDeployOnDemandInput {
  name: String  imageName: String  gpuTypeId: String  gpuCount: Int  cloudType: CloudTypeEnum
  containerDiskInGb: Int  volumeInGb: Int  volumeMountPath: String  ports: String
  supportPublicIp: Boolean  startSsh: Boolean  env: [EnvironmentVariableInput]  templateId: String
  dataCenterId: String  dockerArgs: String  minVcpuCount: Int  minMemoryInGb: Int
  networkVolumeId: String  countryCode: String  allowedCudaVersions: [String]
}
"""

NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)


class FakeRunPodAPI:
    """In-memory RunPod. `capacity[gpu]` free GPUs per type; `pods` by id; `requests` counts calls."""

    def __init__(self, api_key: str = "rp-test-key", capacity: dict[str, int] | None = None) -> None:
        self.api_key = api_key
        self.capacity: dict[str, int] = dict(capacity or {"NVIDIA L40S": 4, "NVIDIA H100 80GB HBM3": 4})
        self.cost: dict[str, float] = {"NVIDIA L40S": 0.86, "NVIDIA H100 80GB HBM3": 2.99}
        self.pods: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._schema = build_schema(SDL)
        self._root = {
            "myself": lambda info: {"id": "user-1", "pods": [self._view(p) for p in self.pods.values()]},
            "pod": self._pod,
            "podFindAndDeployOnDemand": self._deploy,
            "podTerminate": self._terminate,
            "podStop": self._stop,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    # -- resolvers ---------------------------------------------------------------------------------

    def _view(self, pod: dict[str, Any]) -> dict[str, Any]:
        running = pod["desiredStatus"] == "RUNNING"
        uptime = int(time.time() - pod["started"]) if running else 0
        return {
            **pod,
            "machine": {"gpuDisplayName": pod["gpu"], "podHostId": f"{pod['id']}-host"},
            "runtime": {
                "uptimeInSeconds": uptime,
                "ports": [
                    {
                        "ip": "100.65.0.2",
                        "isIpPublic": False,
                        "privatePort": 8081,
                        "publicPort": 8081,
                        "type": "http",
                    }
                ],
            }
            if running
            else None,
            "uptimeSeconds": uptime,
        }

    def _pod(self, info: Any, input: dict[str, Any] | None = None) -> dict[str, Any] | None:  # noqa: A002
        pod = self.pods.get((input or {}).get("podId", ""))
        return self._view(pod) if pod else None

    def _deploy(self, info: Any, input: dict[str, Any] | None = None) -> dict[str, Any]:  # noqa: A002
        spec = input or {}
        gpu = spec.get("gpuTypeId")
        if not gpu or self.capacity.get(gpu, 0) < int(spec.get("gpuCount") or 1):
            raise ValueError(NO_CAPACITY)
        self.capacity[gpu] -= int(spec.get("gpuCount") or 1)
        pod_id = uuid.uuid4().hex[:14]
        self.pods[pod_id] = {
            "id": pod_id,
            "name": spec.get("name"),
            "desiredStatus": "RUNNING",
            "costPerHr": self.cost.get(gpu, 1.0),
            "imageName": spec.get("imageName"),
            "gpu": gpu,
            "gpuCount": spec.get("gpuCount") or 1,
            "env": [f"{e['key']}={e['value']}" for e in spec.get("env") or []],
            "machineId": "m-1",
            "started": time.time(),
            "lastStatusChange": "Rented by User",
        }
        return self._view(self.pods[pod_id])

    def _terminate(self, info: Any, input: dict[str, Any]) -> None:  # noqa: A002
        pod = self.pods.pop(input["podId"], None)
        if pod is None:
            raise ValueError("pod not found")
        self.capacity[pod["gpu"]] = self.capacity.get(pod["gpu"], 0) + int(pod["gpuCount"])

    def _stop(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
        pod = self.pods[input["podId"]]
        pod["desiredStatus"] = "EXITED"
        return self._view(pod)

    # -- HTTP --------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        status, payload = await self._handle(scope, body)
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _handle(self, scope: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]]:
        if scope["path"] != "/graphql" or scope["method"] != "POST":
            return 404, {"error": "not found"}
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query_string = scope.get("query_string", b"").decode()
        params = dict(p.split("=", 1) for p in query_string.split("&") if "=" in p)
        key = params.get("api_key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key != self.api_key:
            return 401, {"errors": [{"message": "Unauthorized"}]}
        try:
            req = json.loads(body)
        except ValueError:
            return 400, {"errors": [{"message": "body is not JSON"}]}
        self.requests.append(req.get("query", ""))
        result = await graphql(
            self._schema,
            req.get("query", ""),
            root_value=self._root,
            variable_values=req.get("variables"),
            field_resolver=_resolve,
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [{"message": e.message, "path": e.path} for e in result.errors]
        return 200, out

    async def start(self) -> FakeRunPodAPI:
        """Serve on a free loopback port until `stop`."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        for _ in range(1000):
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if not self._server.started:
            raise RuntimeError("the fake RunPod API did not start")
        return self

    async def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    async def __aenter__(self) -> FakeRunPodAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _resolve(source: Any, info: Any, **args: Any) -> Any:
    """Root fields call our resolvers; nested fields read dict keys."""
    value = (
        source.get(info.field_name) if isinstance(source, dict) else getattr(source, info.field_name, None)
    )
    return value(info, **args) if callable(value) else value
