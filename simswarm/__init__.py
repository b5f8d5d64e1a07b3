"""SimSwarm: the SDK client, the embedded stack and the `simswarm` CLI."""

__version__ = "0.1.0"
