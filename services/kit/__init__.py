"""The small shared kit: settings, the bus (all NATS calls), the object store (all S3 calls), db, telemetry."""
