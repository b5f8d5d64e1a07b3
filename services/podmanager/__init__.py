"""The pod manager: pod providers (local, RunPod), provisioning, health, runs, teardown, the reaper."""
