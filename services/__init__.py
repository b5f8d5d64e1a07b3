"""SimSwarm's long-lived services. They talk only through events on NATS JetStream."""
