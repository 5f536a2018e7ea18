"""Signed versions: the Ed25519 signature of an approved script version.

What is signed
--------------
The *payload* is canonical JSON (keys sorted, no spaces, UTF-8, ``ensure_ascii``
off) of exactly these fields::

    {"approver_id": 7, "capabilities": "<canonical JSON text>", "company_id": 1,
     "signed_at": "2026-12-06T05:00:00Z", "source_sha256": "<hex>", "version_id": 42}

``capabilities`` is the version's capabilities declaration as its canonical
JSON *text* (the addon's ``capabilities_json``; ``""`` where none is
declared), so a change of one capability changes the payload.
``source_sha256`` is recomputed from the source at each check: a source
edited after approval (in SQL, say) no longer matches.

Keys
----
The private key is 32 raw bytes, base64 (``iota-scripts keygen`` makes one),
kept outside the database (the ``signing_key`` setting: environment or Odoo
configuration file). A public key is known by its *key id*: the sha256 hex of
its 32 raw bytes. Public keys are kept by id, so a rotated key's old
signatures still verify as long as its public key is kept.

Pure Python (``cryptography``), no Odoo: the addon, the command line
(``iota-scripts verify``) and any auditor's script check the same thing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .errors import ScriptError

__all__ = [
    "VERSION_FORMAT",
    "generate_private_key",
    "key_id",
    "load_public_keys",
    "payload",
    "public_key_of",
    "sign",
    "source_sha256",
    "verify",
    "verify_export",
    "verify_version",
]


def _b64decode(text: str, what: str, size: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(str(text).strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ScriptError("invalid_argument", f"{what} is not base64") from None
    if size is not None and len(raw) != size:
        raise ScriptError("invalid_argument", f"{what} must be {size} bytes, not {len(raw)}")
    return raw


def source_sha256(source: str) -> str:
    """The sha256 hex of ``source`` as UTF-8 (lone surrogates kept, as versions store them)."""
    return hashlib.sha256((source or "").encode("utf-8", "surrogatepass")).hexdigest()


def payload(
    *,
    source_sha256: str,
    capabilities: str,
    version_id: int,
    company_id: int,
    approver_id: int,
    signed_at: str,
) -> bytes:
    """The canonical bytes that are signed (see the module docstring)."""
    body = {
        "approver_id": int(approver_id),
        "capabilities": capabilities or "",
        "company_id": int(company_id),
        "signed_at": str(signed_at),
        "source_sha256": str(source_sha256),
        "version_id": int(version_id),
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def generate_private_key() -> str:
    """A new Ed25519 private key: 32 raw bytes, base64."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return base64.b64encode(_raw_private(Ed25519PrivateKey.generate())).decode()


def _raw_private(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _private(private_key: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = _b64decode(private_key, "the signing key", 32)
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_of(private_key: str) -> str:
    """The public key (32 raw bytes, base64) of a private key."""
    from cryptography.hazmat.primitives import serialization

    raw = (
        _private(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


def key_id(public_key: str) -> str:
    """The id of a public key: the sha256 hex of its 32 raw bytes."""
    return hashlib.sha256(_b64decode(public_key, "the public key", 32)).hexdigest()


def sign(private_key: str, data: bytes) -> tuple[str, str]:
    """``(key id, signature base64)`` of ``data`` with ``private_key``."""
    signature = _private(private_key).sign(data)
    return key_id(public_key_of(private_key)), base64.b64encode(signature).decode()


def verify(public_key: str, signature: str, data: bytes) -> bool:
    """True when ``signature`` (base64) is ``public_key``'s signature of ``data``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(_b64decode(public_key, "the public key", 32))
        key.verify(_b64decode(signature, "the signature", 64), data)
    except (InvalidSignature, ScriptError, ValueError):
        return False
    return True


def verify_version(version: Mapping[str, Any], public_keys: Mapping[str, str]) -> None:
    """Raises ``signature_invalid`` unless ``version`` carries a valid signature.

    ``version`` is the exported shape: ``id``, ``company_id``, ``source``,
    ``capabilities_json`` (may be absent: ``""``) and ``signature``:
    ``{"key_id", "signature", "approver_id", "signed_at"}`` (absent or None:
    unsigned). ``public_keys`` maps key ids to public keys (base64). The
    message says what does not match, never the key or the source.
    """
    sig = version.get("signature") or None
    if not isinstance(sig, Mapping) or not sig.get("signature"):
        raise ScriptError("signature_invalid", "the version is not signed (not approved)")
    public_key = public_keys.get(str(sig.get("key_id") or ""))
    if not public_key:
        raise ScriptError(
            "signature_invalid", f"the signing key {sig.get('key_id')!r} is not a known public key"
        )
    try:
        data = payload(
            source_sha256=source_sha256(version.get("source") or ""),
            capabilities=version.get("capabilities_json") or "",
            version_id=int(version["id"]),
            company_id=int(version["company_id"]),
            approver_id=int(sig["approver_id"]),
            signed_at=str(sig["signed_at"]),
        )
    except (KeyError, TypeError, ValueError):
        raise ScriptError("signature_invalid", "the signature record is incomplete") from None
    if not verify(public_key, str(sig["signature"]), data):
        raise ScriptError(
            "signature_invalid",
            "the source, capabilities or approval do not match the signature "
            "(changed after approval)",
        )


# ---- offline checks (``iota-scripts verify``) ---------------------------------------------
#: The ``format`` of one exported version (``iota.script.version`` "Export Signed").
VERSION_FORMAT = "iota-scripts-version"


def load_public_keys(text: str) -> dict[str, str]:
    """``{key id: public key}`` from a keys file.

    Either JSON (``{"keys": [{"key_id", "public_key"}, ...]}``, a list of such
    objects, or ``{key_id: public_key}``), or text: one base64 public key per
    line, ``#`` comments. Key ids are recomputed from the keys: a file that
    names a key by another id is refused (``invalid_argument``).
    """
    keys: list[tuple[str | None, str]] = []
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        data = json.loads(stripped)
        if isinstance(data, dict) and "keys" in data:
            data = data["keys"]
        if isinstance(data, dict):
            keys = [(str(k), str(v)) for k, v in data.items()]
        elif isinstance(data, list):
            keys = [(row.get("key_id"), str(row.get("public_key"))) for row in data]
    else:
        for line in stripped.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                keys.append((None, line))
    out: dict[str, str] = {}
    for claimed, public_key in keys:
        ident = key_id(public_key)
        if claimed is not None and claimed != ident:
            raise ScriptError(
                "invalid_argument", f"the key named {claimed[:16]}… has the id {ident[:16]}…"
            )
        out[ident] = public_key
    return out


def verify_export(data: bytes, public_keys: Mapping[str, str]) -> list[dict[str, Any]]:
    """Checks an exported version (JSON) or bundle (zip) offline.

    Returns one line per version: ``{"script", "number", "status", "message"}``
    with ``status`` ``valid``, ``invalid`` or ``unsigned`` (a bundle's
    versions that carry no signature). Raises ``invalid_argument`` when
    ``data`` is neither; a refused bundle raises its ``BundleError``.
    """
    if data[:2] == b"PK":
        return _verify_bundle(data, public_keys)
    try:
        version = json.loads(data)
    except ValueError:
        raise ScriptError("invalid_argument", "the file is neither a bundle nor JSON") from None
    if not isinstance(version, dict) or version.get("format") != VERSION_FORMAT:
        raise ScriptError("invalid_argument", f"the JSON is not an {VERSION_FORMAT} export")
    return [_line(version.get("script"), version.get("number"), version, public_keys)]


def _line(script: Any, number: Any, version: Mapping[str, Any], keys: Mapping[str, str]) -> dict:
    try:
        verify_version(version, keys)
    except ScriptError as e:
        status = "unsigned" if not version.get("signature") else "invalid"
        return {"script": script, "number": number, "status": status, "message": e.message}
    return {"script": script, "number": number, "status": "valid", "message": "signature valid"}


def _verify_bundle(data: bytes, public_keys: Mapping[str, str]) -> list[dict[str, Any]]:
    from .bundle import read_bundle

    bundle = read_bundle(data)
    signatures = {(s["script"], s["number"]): s for s in bundle.records["signatures"]}
    lines = []
    for version in bundle.records["versions"]:
        ident = (version["script"], version["number"])
        sig = signatures.get(ident)
        shaped = {
            "source": version["source"],
            "id": sig and sig["version_id"],
            "company_id": sig and sig["company_id"],
            "capabilities_json": sig["capabilities_json"] if sig else "",
            "signature": sig
            and {k: sig[k] for k in ("key_id", "signature", "approver_id", "signed_at")},
        }
        lines.append(_line(ident[0], ident[1], shaped, public_keys))
    return lines
