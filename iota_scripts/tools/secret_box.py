"""Encryption of ``sdk.secrets`` values, with keys that live outside the database.

The keys come from the site setting ``secret_keys`` (``IOTA_SCRIPTS_SECRET_KEYS``
or ``secret_keys`` in the ``[iota_scripts]`` section of the configuration
file; never from the database): Fernet keys (``Fernet.generate_key()``,
32 bytes, url-safe base64), comma-separated. The first one encrypts; every
one decrypts (``MultiFernet``), so rotation is: put the new key first, keep the
old ones after it, re-encrypt every secret (:func:`rotate`, the *Rotate keys*
action), then drop the old keys.

A key's id is the start of its SHA-256: stored with each secret, it names
the key a secret needs without revealing anything about it.

Errors are :class:`SecretUnreadable` (code ``secret_unreadable``): no key
configured, a malformed key, or no configured key decrypts the token. They
never carry a key or a value.
"""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .settings import get_setting

__all__ = ["SecretUnreadable", "current_key_id", "decrypt", "encrypt", "key_ids", "rotate"]


class SecretUnreadable(Exception):
    """The keys cannot do what was asked; ``str()`` is safe to show."""

    code = "secret_unreadable"


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def _keys() -> list[bytes]:
    text = get_setting(None, "secret_keys") or ""
    keys = [k.strip().encode() for k in text.split(",") if k.strip()]
    if not keys:
        raise SecretUnreadable(
            "no secret key is configured on this server (IOTA_SCRIPTS_SECRET_KEYS)"
        )
    return keys


def _box() -> tuple[MultiFernet, list[bytes]]:
    keys = _keys()
    try:
        return MultiFernet([Fernet(k) for k in keys]), keys
    except (ValueError, TypeError):
        raise SecretUnreadable(
            "a key of IOTA_SCRIPTS_SECRET_KEYS is not a Fernet key (32 url-safe base64 bytes)"
        ) from None


def key_ids() -> list[str]:
    """The ids of the configured keys, the current one first."""
    return [_key_id(k) for k in _keys()]


def current_key_id() -> str:
    return key_ids()[0]


def encrypt(value: str) -> tuple[str, str]:
    """``(token, key id)``: ``value`` encrypted with the current key."""
    box, keys = _box()
    return box.encrypt(value.encode("utf-8")).decode("ascii"), _key_id(keys[0])


def decrypt(token: str, key_id: str = "") -> str:
    """The value of ``token``; :class:`SecretUnreadable` when no configured key opens it."""
    box = _box()[0]
    try:
        return box.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError, UnicodeError):
        needed = f" (it was encrypted with key {key_id})" if key_id else ""
        raise SecretUnreadable(
            f"no configured key decrypts this secret{needed}: the key was lost or removed"
        ) from None


def rotate(token: str, key_id: str = "") -> tuple[str, str]:
    """``(token, key id)``: ``token`` re-encrypted with the current key."""
    box, keys = _box()
    try:
        return box.rotate(token.encode("ascii")).decode("ascii"), _key_id(keys[0])
    except (InvalidToken, ValueError):
        needed = f" (it was encrypted with key {key_id})" if key_id else ""
        raise SecretUnreadable(
            f"no configured key decrypts this secret{needed}: the key was lost or removed"
        ) from None
