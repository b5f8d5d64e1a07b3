"""The orchestrator: the Job aggregate (event-sourced), the saga, the outbox relay and the jobs projection."""
