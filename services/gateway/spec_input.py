"""The body of `POST /api/jobs` into a validated JobSpec, with errors that name the field (pure)."""

from __future__ import annotations

import hashlib
import re

import msgspec

from contracts.spec import JobSpec, SpecError, Tier, TierConfig, validate_spec

MAX_BODY_BYTES = 1_000_000  # a 50,000-character seed is at most ~200 kB of JSON even fully escaped


class InputError(ValueError):
    """Client input that cannot become a job; `status` is 400 (not JSON) or 422 (not a valid spec)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_MISSING_FIELD = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def _expected(tiers: dict[Tier, TierConfig]) -> str:
    return f"expected one of {', '.join(t.value for t in tiers)}"


def _field_from_path(path: str) -> str:
    """msgspec's `$.markets[0].question` -> `markets[0].question`."""
    return path.lstrip(".") or "body"


def translate_msgspec_error(message: str, tiers: dict[Tier, TierConfig]) -> tuple[str, str]:
    """(field, problem) for a msgspec ValidationError message."""
    m = _AT.match(message)
    msg = m.group("msg") if m else message
    path = _field_from_path(m.group("path") or "") if m else "body"
    if (u := _UNKNOWN_FIELD.search(msg)) is not None:
        field = u.group("field") if path == "body" else f"{path}.{u.group('field')}"
        return field, "unknown field"
    if (r := _MISSING_FIELD.search(msg)) is not None:
        field = r.group("field") if path == "body" else f"{path}.{r.group('field')}"
        return field, "is required"
    if path == "tier" and msg.startswith("Invalid enum value"):
        value = msg.removeprefix("Invalid enum value").strip()
        return "tier", f"unknown tier {value}; {_expected(tiers)}"
    if path == "policy" and msg.startswith("Invalid enum value"):
        value = msg.removeprefix("Invalid enum value").strip()
        return "policy", f"unknown policy {value}; expected llm or heuristic"
    problem = msg[:1].lower() + msg[1:] if msg else "is invalid"
    return path, problem


def parse_job_spec(body: bytes, tiers: dict[Tier, TierConfig]) -> JobSpec:
    """Decode and validate; raise InputError with `field: problem` in its detail."""
    if len(body) > MAX_BODY_BYTES:
        raise InputError(413, "body_too_large", f"body: is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}")
    if not body.strip():
        raise InputError(400, "invalid_json", "body: a JSON object with seed_text and goal is required")
    try:
        spec = msgspec.json.decode(body, type=JobSpec)
    except msgspec.ValidationError as exc:
        field, problem = translate_msgspec_error(str(exc), tiers)
        raise InputError(422, "invalid_spec", f"{field}: {problem}") from exc
    except msgspec.DecodeError as exc:
        raise InputError(400, "invalid_json", f"body: is not valid JSON ({exc})") from exc
    if spec.tier not in tiers:  # a tier the operator removed from the routing table
        raise InputError(422, "invalid_spec", f"tier: unknown tier {spec.tier.value!r}; {_expected(tiers)}")
    try:
        return validate_spec(spec, tiers)
    except SpecError as exc:
        raise InputError(422, "invalid_spec", str(exc)) from exc


def spec_fingerprint(spec: JobSpec) -> str:
    """Identical specs (after decoding, so JSON spacing and key order do not matter) hash alike."""
    canonical = msgspec.json.encode(msgspec.to_builtins(spec), order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def job_spec_schema() -> dict[str, object]:
    """The JSON schema of the request body, for the OpenAPI document."""
    schema, components = msgspec.json.schema_components([JobSpec], ref_template="#/components/schemas/{name}")
    return {"schema": schema[0], "components": components}
