"""Threat: a signed version or bundle is altered after export, or signed by an unknown key.

Signed versions, offline: the payload, keys and rotation, and ``iota-scripts verify``.

No Odoo: what the addon signs at approval is checked here exactly as an
auditor checks an export (``iota_scripts_sdk/signing.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iota_scripts_sdk import ScriptError, signing
from iota_scripts_sdk.bundle import SCHEMA, write_bundle

SOURCE = "export default () => 1;\n"
CAPS = '{"db":{"res.partner":["read"]}}'


def _signed(private, source=SOURCE, caps=CAPS, version_id=42, company_id=1, approver_id=7):
    at = "2026-12-06T05:00:00Z"
    data = signing.payload(
        source_sha256=signing.source_sha256(source),
        capabilities=caps,
        version_id=version_id,
        company_id=company_id,
        approver_id=approver_id,
        signed_at=at,
    )
    key_id, signature = signing.sign(private, data)
    return {
        "format": signing.VERSION_FORMAT,
        "script": "hello",
        "number": 3,
        "id": version_id,
        "company_id": company_id,
        "source": source,
        "capabilities_json": caps,
        "signature": {
            "key_id": key_id,
            "signature": signature,
            "approver_id": approver_id,
            "signed_at": at,
        },
    }


@pytest.fixture(scope="module")
def key():
    private = signing.generate_private_key()
    public = signing.public_key_of(private)
    return private, {signing.key_id(public): public}


def test_the_payload_is_canonical_json():
    data = signing.payload(
        source_sha256="ab",
        capabilities="",
        version_id=1,
        company_id=2,
        approver_id=3,
        signed_at="t",
    )
    assert data == (
        b'{"approver_id":3,"capabilities":"","company_id":2,"signed_at":"t",'
        b'"source_sha256":"ab","version_id":1}'
    )


def test_a_signed_version_verifies(key):
    private, keys = key
    signing.verify_version(_signed(private), keys)


@pytest.mark.parametrize(
    "change",
    [
        {"source": SOURCE + "// edited in SQL\n"},
        {"capabilities_json": '{"db":{"res.partner":["read","write"]}}'},
        {"id": 43},
        {"company_id": 2},
    ],
)
def test_any_change_after_signing_is_refused(key, change):
    private, keys = key
    with pytest.raises(ScriptError) as info:
        signing.verify_version({**_signed(private), **change}, keys)
    assert info.value.code == "signature_invalid"
    assert "changed after approval" in info.value.message


def test_unsigned_and_unknown_keys_are_refused(key):
    private, keys = key
    with pytest.raises(ScriptError, match="not signed"):
        signing.verify_version({**_signed(private), "signature": None}, keys)
    other = signing.generate_private_key()
    with pytest.raises(ScriptError, match="not a known public key"):
        signing.verify_version(_signed(other), keys)


def test_rotation_keeps_old_signatures_valid(key):
    old_private, keys = key
    new_private = signing.generate_private_key()
    new_public = signing.public_key_of(new_private)
    both = {**keys, signing.key_id(new_public): new_public}
    signing.verify_version(_signed(old_private), both)
    signing.verify_version(_signed(new_private, version_id=44), both)


def test_a_keys_file_may_not_lie_about_key_ids(key):
    _private, keys = key
    (key_id, public) = next(iter(keys.items()))
    assert signing.load_public_keys(f"# ours\n{public}\n") == keys
    assert (
        signing.load_public_keys(json.dumps({"keys": [{"key_id": key_id, "public_key": public}]}))
        == keys
    )
    with pytest.raises(ScriptError) as info:
        signing.load_public_keys(json.dumps({"0" * 64: public}))
    assert info.value.code == "invalid_argument"


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_keygen_then_verify_a_version_and_a_bundle(tmp_path):
    made = _cli("keygen", "--json")
    assert made.returncode == 0, made.stderr
    generated = json.loads(made.stdout)
    assert generated["key_id"] == signing.key_id(generated["public_key"])
    keys = tmp_path / "keys.txt"
    keys.write_text(generated["public_key"] + "\n")
    version = _signed(generated["private_key"])
    good = tmp_path / "v3.json"
    good.write_text(json.dumps(version))
    out = _cli("verify", str(good), "--keys", str(keys), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["versions"][0]["status"] == "valid"
    bad = tmp_path / "v3-tampered.json"
    bad.write_text(json.dumps({**version, "source": "export default () => 666;\n"}))
    out = _cli("verify", str(bad), "--keys", str(keys))
    assert out.returncode == 1 and "hello v3: invalid" in out.stdout

    sig = version["signature"]
    records = {section: [] for section in SCHEMA}
    records["scripts"] = [
        {
            "key": "hello",
            "name": "Hello",
            "description": None,
            "state": "active",
            "active": True,
            "timeout_sec": 5.0,
            "memory_mb": 64,
            "allowed_hosts": None,
            "api_version": "1",
            "record_policy": "all",
            "record_sample_every": 1,
            "tags": [],
            "run_as": None,
            "responsible": None,
            "current_version": 3,
        }
    ]
    records["versions"] = [
        {
            "script": "hello",
            "number": n,
            "source": SOURCE if n == 3 else "export default () => 0;\n",
            "note": None,
            "author": None,
            "saved_at": None,
            "capabilities_json": None,
            "tests": None,
        }
        for n in (2, 3)
    ]
    records["signatures"] = [
        {
            "script": "hello",
            "number": 3,
            "version_id": 42,
            "company_id": 1,
            "capabilities_json": CAPS,
            **sig,
        }
    ]
    bundle = tmp_path / "b.zip"
    bundle.write_bytes(write_bundle({"id": 1, "name": "C"}, records))
    out = _cli("verify", str(bundle), "--keys", str(keys), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert [v["status"] for v in json.loads(out.stdout)["versions"]] == ["unsigned", "valid"]
    records["signatures"][0]["capabilities_json"] = "{}"
    bundle.write_bytes(write_bundle({"id": 1, "name": "C"}, records))
    out = _cli("verify", str(bundle), "--keys", str(keys), "--json")
    assert out.returncode == 1
    assert [v["status"] for v in json.loads(out.stdout)["versions"]] == ["unsigned", "invalid"]
