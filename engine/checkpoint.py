"""Checkpoints: the whole run state as msgpack bytes (no pickle), numpy arrays as extension types.

Resuming from a checkpoint continues the run exactly: every random draw is derived from
(random_seed, round), so the state of the world is all there is to save.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import msgspec
import numpy as np

from contracts.worker import RunSpec

FORMAT = 1
_ND = 1
_MAGIC = b"SSCK"


class CheckpointError(ValueError):
    """Checkpoint bytes that cannot be resumed (corrupt, another format, or another spec)."""


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        header = msgspec.msgpack.encode([arr.dtype.str, list(arr.shape)])
        return msgspec.msgpack.Ext(_ND, len(header).to_bytes(4, "little") + header + arr.tobytes())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    raise NotImplementedError(f"cannot checkpoint {type(obj).__name__}")


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != _ND:
        raise CheckpointError(f"unknown extension type {code}")
    size = int.from_bytes(data[:4], "little")
    dtype, shape = msgspec.msgpack.decode(data[4 : 4 + size])
    return np.frombuffer(data[4 + size :], dtype=np.dtype(dtype)).reshape(shape).copy()


def spec_fingerprint(spec: RunSpec) -> str:
    """What must match for a checkpoint to resume a run (the spec minus transport details)."""
    d = msgspec.to_builtins(spec)
    d.pop("llm_url", None)
    d.pop("checkpoint_every", None)
    return hashlib.sha256(msgspec.json.encode(d, order="sorted")).hexdigest()


def encode_checkpoint(
    spec: RunSpec, world_state: dict[str, Any], extra: dict[str, Any] | None = None
) -> bytes:
    payload = {"format": FORMAT, "spec": spec_fingerprint(spec), "world": world_state, "extra": extra or {}}
    raw = msgspec.msgpack.Encoder(enc_hook=_enc_hook).encode(payload)
    return _MAGIC + zlib.compress(raw, 1)


def decode_checkpoint(data: bytes, spec: RunSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """(world state, extra) from checkpoint bytes; CheckpointError when they do not fit the spec."""
    if not data.startswith(_MAGIC):
        raise CheckpointError("not a SimSwarm checkpoint")
    try:
        payload = msgspec.msgpack.Decoder(ext_hook=_ext_hook).decode(zlib.decompress(data[len(_MAGIC) :]))
    except (zlib.error, msgspec.DecodeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"corrupt checkpoint: {exc}") from exc
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint format {payload.get('format')} is not {FORMAT}")
    if payload.get("spec") != spec_fingerprint(spec):
        raise CheckpointError("checkpoint was written for a different run spec")
    return payload["world"], payload.get("extra", {})
