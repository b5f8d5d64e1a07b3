"""API keys and session tokens: generation and hashing (pure; no I/O).

A key is shown to its owner once; at rest only its SHA-256 and a short prefix are kept, so a
leaked database does not leak working keys and a key can still be recognised in a listing.
"""

from __future__ import annotations

import hashlib
import secrets

API_KEY_MARK = "ssk_"
SESSION_MARK = "sst_"
PREFIX_LEN = 12  # "ssk_" + 8 random characters: enough to tell keys apart, useless to an attacker


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a key or session token: what is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_prefix(token: str) -> str:
    """The displayable part of a key."""
    return token[:PREFIX_LEN]


def new_api_key() -> str:
    return API_KEY_MARK + secrets.token_urlsafe(32)


def new_session_token() -> str:
    return SESSION_MARK + secrets.token_urlsafe(32)


def looks_like_token(value: str) -> bool:
    """Cheap shape check before touching the database."""
    return value.startswith((API_KEY_MARK, SESSION_MARK)) and 20 <= len(value) <= 200
