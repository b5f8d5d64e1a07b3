"""The body of `POST /api/jobs` into a validated JobSpec, with errors that name the field (pure)."""

from __future__ import annotations

import hashlib
import re

import msgspec

from contracts.spec import (
    JobSpec,
    Policy,
    SpecError,
    Tier,
    TierCapError,
    TierConfig,
    check_tier_caps,
    validate_spec,
)
from contracts.text import control_character_problem
from services.gateway.errors import ApiError
from services.kit.settings import Settings

MAX_BODY_BYTES = 1_000_000  # a 50,000-character seed is at most ~200 kB of JSON even fully escaped


class InputError(ApiError, ValueError):
    """Client input that cannot become a job; `status` is 400 (not JSON), 413 or 422 (not a valid spec).

    An ApiError, so a route lets it through to the client as it is.
    """


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_MISSING_FIELD = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_TOO_LONG = re.compile(r"^Expected `(?:str|array)` of length <= (?P<limit>\d+)$")
_PATH_PART = re.compile(r"\.(?P<key>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>\d+)\]")


def _expected(tiers: dict[Tier, TierConfig]) -> str:
    return f"expected one of {', '.join(t.value for t in tiers)}"


def _field_from_path(path: str) -> str:
    """msgspec's `$.markets[0].question` -> `markets[0].question`."""
    return path.lstrip(".") or "body"


def _value_at(body: bytes, path: str) -> object:
    """The JSON value at a msgspec path such as `.markets[0].question` (None if it cannot be found)."""
    try:
        value: object = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    for part in _PATH_PART.finditer(path):
        if part.group("key") is not None and isinstance(value, dict):
            value = value.get(part.group("key"))
        elif (
            part.group("index") is not None
            and isinstance(value, list)
            and int(part.group("index")) < len(value)
        ):
            value = value[int(part.group("index"))]
        else:
            return None
    return value


def _string_problem(msg: str, value: object) -> str | None:
    """A plain sentence for msgspec's length and pattern errors, from the offending value itself."""
    if (t := _TOO_LONG.match(msg)) is not None and isinstance(value, (str, list)):
        unit = "characters" if isinstance(value, str) else "items"
        return f"is {len(value):,} {unit}; the limit is {int(t.group('limit')):,}"
    if msg.startswith("Expected `str` matching regex") and isinstance(value, str):
        # msgspec quotes the pattern's repr; only the one-line pattern has a look-ahead.
        return control_character_problem(value, multiline="(?!" not in msg)
    return None


def translate_msgspec_error(
    message: str, tiers: dict[Tier, TierConfig], body: bytes = b""
) -> tuple[str, str]:
    """(field, problem) for a msgspec ValidationError message (`body` lets it quote lengths)."""
    m = _AT.match(message)
    msg = m.group("msg") if m else message
    path = _field_from_path(m.group("path") or "") if m else "body"
    if m and m.group("path") and (plain := _string_problem(msg, _value_at(body, m.group("path")))):
        return path, plain
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
        raise InputError(
            413, "body_too_large", f"body: is {len(body):,} bytes; the limit is {MAX_BODY_BYTES:,}"
        )
    if not body.strip():
        raise InputError(400, "invalid_json", "body: a JSON object with seed_text and goal is required")
    try:
        spec = msgspec.json.decode(body, type=JobSpec)
    except msgspec.ValidationError as exc:
        field, problem = translate_msgspec_error(str(exc), tiers, body)
        raise InputError(422, "invalid_spec", f"{field}: {problem}") from exc
    except msgspec.DecodeError as exc:
        raise InputError(400, "invalid_json", f"body: is not valid JSON ({exc})") from exc
    except RecursionError as exc:  # the body-limit middleware refuses deep JSON first; this is a backstop
        raise InputError(422, "json_too_deep", "body: JSON is nested too deeply") from exc
    if spec.tier not in tiers:  # a tier the operator removed from the routing table
        raise InputError(422, "invalid_spec", f"tier: unknown tier {spec.tier.value!r}; {_expected(tiers)}")
    try:
        check_tier_caps(spec, tiers)
        return validate_spec(spec, tiers)
    except TierCapError as exc:
        raise InputError(422, "tier_cap_exceeded", str(exc)) from exc
    except SpecError as exc:
        raise InputError(422, "invalid_spec", str(exc)) from exc


def check_policy_runnable(spec: JobSpec, tiers: dict[Tier, TierConfig], *, llm_available: bool) -> None:
    """Refuse a spec whose policy (given, or its tier's default) needs a model server there is none of.

    Without this check the pod would start, fail on its first LLM call, and bill for the attempt.
    """
    policy = spec.policy or tiers[spec.tier].default_policy
    if policy is Policy.LLM and not llm_available:
        given = "policy: llm" if spec.policy else f"policy: the {spec.tier.value} tier's default is llm"
        raise InputError(
            422,
            "llm_unavailable",
            f"{given}, but this platform has no model server (set SIMSWARM_LLM_URL, or use a pod provider "
            "that runs one); ask for policy heuristic instead",
        )


def runnable_spec(body: bytes, settings: Settings) -> JobSpec:
    """A body (a request's, a draft's, a retried job's) as a spec this platform can run: the one
    check of a create, a draft's launch and a retry, so that they refuse alike."""
    spec = parse_job_spec(body, settings.tiers)
    llm = llm_available(settings.llm_url, settings.pod_provider)
    check_policy_runnable(spec, settings.tiers, llm_available=llm)
    return spec


def llm_available(llm_url: str | None, pod_provider: str) -> bool:
    """Whether runs can use an LLM: the platform's own server, or pods that bring theirs (RunPod runs vLLM)."""
    return bool(llm_url) or pod_provider != "local"


def spec_fingerprint(spec: JobSpec) -> str:
    """Identical specs (after decoding, so JSON spacing and key order do not matter) hash alike."""
    canonical = msgspec.json.encode(msgspec.to_builtins(spec), order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def job_spec_schema() -> dict[str, object]:
    """The JSON schema of the request body, for the OpenAPI document."""
    schema, components = msgspec.json.schema_components([JobSpec], ref_template="#/components/schemas/{name}")
    return {"schema": schema[0], "components": components}
