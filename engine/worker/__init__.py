"""The pod worker API: runs the engine on a GPU pod and reports progress (docs/worker-api.md)."""

from engine.worker.app import create_app
from engine.worker.settings import WorkerSettings, settings_from_env

__all__ = ["WorkerSettings", "create_app", "settings_from_env"]
