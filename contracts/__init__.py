"""SimSwarm's shared language: events, commands, the job spec, artifacts, subjects.

Pure data (msgspec Structs) and names. No I/O, so other systems can import it to read the job
events from JetStream.
"""

from contracts.spec import (  # noqa: F401
    DEFAULT_TIERS,
    JobSpec,
    JobStatus,
    MarketSpec,
    Policy,
    ResolvedRun,
    SpecError,
    Tier,
    TierConfig,
    resolve_run,
    validate_spec,
)
