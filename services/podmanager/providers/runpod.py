"""The RunPod provider: pods through RunPod's GraphQL API (the operations the `runpod` SDK sends).

We speak the API with httpx rather than through the SDK: the SDK is synchronous, reads its URL from a
process-wide variable and pastes values (our env, with the pod token) into the query text unescaped.
Here every value travels as a GraphQL variable. The worker is reached through RunPod's HTTPS proxy,
`https://<pod_id>-<port>.proxy.runpod.net`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.podmanager.naming import POD_PREFIX, pod_token
from services.podmanager.providers.base import (
    PodInfo,
    PodProvisionError,
    PodStatus,
    ProviderError,
    TerminationInfo,
    WorkerEndpoint,
)

log = logging.getLogger(__name__)

WORKER_PORT = 8081
TOKEN_ENV = "SIMSWARM_POD_TOKEN"

_POD_FIELDS = """
    id name desiredStatus costPerHr imageName
    machine { gpuDisplayName }
    runtime { uptimeInSeconds ports { ip isIpPublic privatePort publicPort type } }
"""
LIST_PODS = f"query myPods {{ myself {{ pods {{ {_POD_FIELDS} }} }} }}"
DEPLOY_POD = f"""
mutation deployPod($input: PodFindAndDeployOnDemandInput) {{
  podFindAndDeployOnDemand(input: $input) {{ {_POD_FIELDS} }}
}}
"""
TERMINATE_POD = """
mutation terminatePod($input: PodTerminateInput!) { podTerminate(input: $input) }
"""

# RunPod's answer when none of the requested GPU type is free: try the next type.
_NO_CAPACITY = ("no longer any instances available", "no instances available", "not enough free gpus")

_STATUS: dict[str, PodStatus] = {
    "CREATED": "starting",
    "RUNNING": "running",
    "RESTARTING": "starting",
    "EXITED": "exited",
    "TERMINATED": "terminated",
}


@dataclass(kw_only=True)
class RunPodProvider:
    """Pods on RunPod, found by name (our idempotency key) in `myself { pods }`."""

    name = "runpod"  # not a field: the provider's name (the PodProvider protocol)

    api_url: str
    api_key: str = field(repr=False)
    secret: str = field(repr=False)  # derives each pod's token
    image: str
    container_disk_gb: int = 60
    volume_gb: int = 0
    cloud_type: str = "SECURE"
    proxy_template: str = "https://{pod_id}-{port}.proxy.runpod.net"
    timeout_s: float = 30.0
    _http: httpx.AsyncClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._http = httpx.AsyncClient(timeout=self.timeout_s)

    async def _graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            resp = await self._http.post(
                self.api_url,
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.api_key}"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"RunPod API unreachable: {type(exc).__name__}: {exc}") from exc
        if resp.status_code in (401, 403):
            raise ProviderError("RunPod rejected the API key (check RUNPOD_API_KEY)")
        try:
            body = resp.json()
        except ValueError as exc:
            raise ProviderError(f"RunPod API answered HTTP {resp.status_code} with a non-JSON body") from exc
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            message = "; ".join(str(e.get("message", e)) for e in errors)
            raise ProviderError(f"RunPod API error: {message}")
        if resp.status_code >= 400 or not isinstance(body.get("data"), dict):
            raise ProviderError(f"RunPod API answered HTTP {resp.status_code}")
        return body["data"]

    def _info(self, raw: dict[str, Any]) -> PodInfo:
        runtime = raw.get("runtime") or {}
        uptime = runtime.get("uptimeInSeconds")
        created = datetime.now(UTC) - timedelta(seconds=float(uptime)) if uptime is not None else None
        status = _STATUS.get(str(raw.get("desiredStatus", "")).upper(), "unknown")
        if status == "running" and not runtime:
            status = "starting"
        return PodInfo(
            name=raw["name"],
            pod_id=raw["id"],
            provider=self.name,
            status=status,
            worker_url=self.proxy_template.format(pod_id=raw["id"], port=WORKER_PORT),
            gpu_type=(raw.get("machine") or {}).get("gpuDisplayName"),
            cost_per_hour=raw.get("costPerHr"),
            created_at=created,
        )

    async def _raw_pods(self) -> list[dict[str, Any]]:
        data = await self._graphql(LIST_PODS)
        pods = (data.get("myself") or {}).get("pods") or []
        return [p for p in pods if str(p.get("name", "")).startswith(POD_PREFIX)]

    async def list_pods(self) -> list[PodInfo]:
        """Our pods (name prefix `simswarm-`) that RunPod has not terminated."""
        return [info for info in map(self._info, await self._raw_pods()) if info.status != "terminated"]

    async def find(self, name: str) -> PodInfo | None:
        """The live pod with this name (RunPod has no lookup by name: we filter the list)."""
        for pod in await self.list_pods():
            if pod.name == name:
                return pod
        return None

    async def provision(self, name: str, *, gpu_types: list[str], env: dict[str, str]) -> PodInfo:
        """Return the pod named `name`, or deploy one on the first of `gpu_types` with capacity."""
        existing = await self.find(name)
        if existing is not None:
            return existing
        if not gpu_types:
            raise PodProvisionError("no GPU types requested")
        pod_env = {**env, TOKEN_ENV: pod_token(self.secret, name)}
        misses: list[str] = []
        for gpu in gpu_types:
            variables = {
                "input": {
                    "name": name,
                    "imageName": self.image,
                    "gpuTypeId": gpu,
                    "gpuCount": 1,
                    "cloudType": self.cloud_type,
                    "containerDiskInGb": self.container_disk_gb,
                    "volumeInGb": self.volume_gb,
                    "ports": f"{WORKER_PORT}/http",
                    "supportPublicIp": True,
                    "startSsh": False,
                    "env": [{"key": k, "value": v} for k, v in sorted(pod_env.items())],
                }
            }
            try:
                data = await self._graphql(DEPLOY_POD, variables)
            except ProviderError as exc:
                if any(marker in str(exc).lower() for marker in _NO_CAPACITY):
                    misses.append(gpu)
                    continue
                raise
            raw = data.get("podFindAndDeployOnDemand")
            if not raw:
                raise PodProvisionError(f"RunPod returned no pod for {gpu}")
            log.info("deployed RunPod pod %s (%s) on %s", name, raw["id"], gpu)
            return self._info(raw)
        raise PodProvisionError(f"no GPU available: none of {', '.join(misses)} has free capacity on RunPod")

    async def terminate(self, pod_id_or_name: str) -> TerminationInfo:
        """Terminate by pod id or name; a pod RunPod no longer lists counts as already gone."""
        pods = await self.list_pods()
        target = next((p for p in pods if pod_id_or_name in (p.name, p.pod_id)), None)
        if target is None:
            return TerminationInfo(name=pod_id_or_name, pod_id=None, existed=False)
        try:
            await self._graphql(TERMINATE_POD, {"input": {"podId": target.pod_id}})
        except ProviderError as exc:
            if "not found" in str(exc).lower():
                return TerminationInfo(name=target.name, pod_id=target.pod_id, existed=False)
            raise
        billed = None
        if target.created_at is not None:
            billed = max(0.0, (datetime.now(UTC) - target.created_at).total_seconds())
        cost = billed / 3600 * target.cost_per_hour if billed is not None and target.cost_per_hour else None
        log.info("terminated RunPod pod %s (%s)", target.name, target.pod_id)
        return TerminationInfo(
            name=target.name, pod_id=target.pod_id, existed=True, billed_seconds=billed, cost=cost
        )

    def endpoint(self, pod: PodInfo) -> WorkerEndpoint:
        """The worker behind RunPod's proxy and the pod's derived token."""
        url = pod.worker_url or self.proxy_template.format(pod_id=pod.pod_id, port=WORKER_PORT)
        return WorkerEndpoint(base_url=url, token=pod_token(self.secret, pod.name))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
