"""The orchestrator's domain: the Job aggregate and its errors. No I/O, no NATS, no Postgres."""
