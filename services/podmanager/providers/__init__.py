"""Pod providers: where a pod (the engine's worker API) runs. `make_provider` picks one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.podmanager.providers.base import (
    PodInfo,
    PodProvider,
    PodProvisionError,
    ProviderError,
    TerminationInfo,
    WorkerEndpoint,
)

if TYPE_CHECKING:
    from services.kit.settings import Settings

__all__ = [
    "PodInfo",
    "PodProvider",
    "PodProvisionError",
    "ProviderError",
    "TerminationInfo",
    "WorkerEndpoint",
    "make_provider",
]


def make_provider(settings: Settings) -> PodProvider:
    """The provider named by `settings.pod_provider` ("local" or "runpod")."""
    if settings.pod_provider == "local":
        from services.podmanager.providers.local import LocalProvider

        return LocalProvider(settings.home / "pods", secret=settings.podmanager_secret)
    if settings.pod_provider == "runpod":
        from services.podmanager.providers.runpod import RunPodProvider

        if not settings.runpod_api_key:
            raise ProviderError("pod_provider is 'runpod' but RUNPOD_API_KEY is not set")
        return RunPodProvider(
            api_url=settings.runpod_api_url,
            api_key=settings.runpod_api_key,
            secret=settings.podmanager_secret,
            image=settings.runpod_image,
        )
    raise ProviderError(f"unknown pod_provider {settings.pod_provider!r}; expected 'local' or 'runpod'")
