"""Bundles (iota_scripts_sdk/bundle.py): write, read back, and every refusal.

Each bad bundle is a real zip file built here (or real bytes that are none),
and each refusal is a named code with a message that holds no traceback and
no host path.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import warnings
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from iota_scripts_sdk.bundle import (
    BUNDLE_CODES,
    FORMAT_VERSION,
    SCHEMA,
    BundleError,
    BundleLimits,
    read_bundle,
    write_bundle,
)

ROOT = Path(__file__).resolve().parent.parent
WHEN = datetime(2026, 12, 6, 1, 2, 3, tzinfo=timezone.utc)


def _script(key, current=2, **over):
    record = {
        "key": key,
        "name": key.title(),
        "description": None,
        "state": "active",
        "active": True,
        "timeout_sec": 5.0,
        "memory_mb": 64,
        "allowed_hosts": "api.example.com",
        "api_version": "1.0",
        "record_policy": "all",
        "record_sample_every": 100,
        "tags": ["sales"],
        "run_as": None,
        "responsible": "admin",
        "current_version": current,
    }
    record.update(over)
    return record


def _version(key, number, source):
    return {
        "script": key,
        "number": number,
        "source": source,
        "note": f"v{number}",
        "author": {"login": "admin", "name": "Mitchell Admin"},
        "saved_at": f"2026-01-0{number} 10:00:00",
        "capabilities_json": '{"http":["api.example.com"]}' if number > 1 else None,
        "tests": f"it('v{number}', () => expect({number}).toBe({number}));" if number > 1 else None,
    }


def _endpoint(key, pinned=None):
    return {
        "script": key,
        "api_version": "v1",
        "path": "/hello",
        "methods": "GET",
        "auth_mode": "api_key",
        "group": "base.group_user",
        "active": True,
        "rate_limit_per_min": 60,
        "rate_limit_algorithm": "sliding_window",
        "rate_limit_on_unavailable": "deny",
        "max_body_bytes": 1024,
        "body_schema": None,
        "query_schema": None,
        "response_schema": None,
        "cors_origins": None,
        "cors_allow_credentials": False,
        "deprecated": False,
        "sunset_date": None,
        "store_request_body": False,
        "hmac_max_skew_sec": 300,
        "pinned_version": pinned,
        "publish_openapi": True,
        "description": None,
        "record_policy": "all",
        "record_sample_every": 100,
    }


def _records(**over):
    records = {
        "tags": [{"name": "sales", "color": 3}],
        "scripts": [_script("hello"), _script("other", current=1)],
        "versions": [
            _version("hello", 1, "export default () => 1;\n"),
            _version("hello", 2, "export default () => 'é ✓';\n"),
            _version("other", 1, "export default () => 3;\n"),
        ],
        "endpoints": [_endpoint("hello", pinned=2)],
        "schedules": [
            {
                "script": "other",
                "cron": "*/5 * * * *",
                "tz": "UTC",
                "missed_policy": "skip",
                "active": True,
            }
        ],
        "subscriptions": [
            {
                "script": "other",
                "event_type": "partner.*",
                "payload_filter": None,
                "origin": None,
                "record_model": None,
                "record_domain": None,
                "max_attempts": 5,
                "active": True,
            }
        ],
        "alert_rules": [
            {
                "script": "hello",
                "name": "hello fails",
                "active": True,
                "kind": "failures",
                "window_min": 60,
                "error_rate_pct": 50.0,
                "min_runs": 5,
                "failure_count": 3,
                "cooldown_min": 60,
            }
        ],
        "signatures": [
            {
                "script": "hello",
                "number": 2,
                "version_id": 12,
                "company_id": 1,
                "approver_id": 7,
                "signed_at": "2026-12-06T01:00:00Z",
                "key_id": "ab" * 32,
                "signature": "c2ln",
                "capabilities_json": "",
            }
        ],
    }
    records.update(over)
    return records


def _good() -> bytes:
    return write_bundle({"id": 1, "name": "YourCompany"}, _records(), exported_at=WHEN)


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _zip(entries, *, fix=True, names=None) -> bytes:
    """A zip of ``entries``; with ``fix``, the manifest's counts and sha256s are recomputed."""
    entries = dict(entries)
    if fix and "manifest.json" in entries:
        manifest = json.loads(entries["manifest.json"])
        for spec in manifest.get("sections", {}).values():
            if spec.get("entry") in entries:
                raw = entries[spec["entry"]]
                spec["sha256"] = hashlib.sha256(raw).hexdigest()
                try:
                    spec["count"] = len(json.loads(raw))
                except ValueError:
                    pass
        entries["manifest.json"] = json.dumps(manifest).encode()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names, on purpose
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in names or entries.items():
                zf.writestr(name, data)
    return buffer.getvalue()


def _json_edit(data: bytes, entry: str, edit) -> bytes:
    entries = _entries(data)
    value = json.loads(entries[entry])
    value = edit(value) or value
    entries[entry] = json.dumps(value).encode()
    return _zip(entries)


def _refused(data, code, limits=None) -> BundleError:
    with pytest.raises(BundleError) as caught:
        read_bundle(data, limits=limits)
    error = caught.value
    assert error.code == code, error
    assert error.code in BUNDLE_CODES
    assert "Traceback" not in error.message and str(ROOT) not in error.message
    assert error.to_dict() == {"code": code, "message": error.message}
    return error


# ---- the format ------------------------------------------------------------------------
def test_round_trip_keeps_every_record_and_source():
    data = _good()
    bundle = read_bundle(data)
    assert bundle.format_version == FORMAT_VERSION == 2
    assert bundle.company == {"id": 1, "name": "YourCompany"}
    assert bundle.manifest["exported_at"] == "2026-12-06T01:02:03Z"
    assert bundle.script_keys == ["hello", "other"]
    expected = _records()
    for section in SCHEMA:
        got = bundle.records[section]
        if section == "versions":
            for row in got:
                assert row.pop("sha256") == hashlib.sha256(row["source"].encode()).hexdigest()
        assert got == expected[section], section
    assert [v["source"] for v in bundle.of_script("versions", "hello")][1] == (
        "export default () => 'é ✓';\n"
    )
    names = set(_entries(data))
    assert names == {
        "manifest.json",
        *(f"{s}.json" for s in SCHEMA),
        "sources/hello/1.js",
        "sources/hello/2.js",
        "sources/other/1.js",
    }


def test_the_same_records_give_the_same_bytes():
    assert _good() == _good()


def test_the_writer_refuses_what_the_reader_would():
    records = _records(scripts=[_script("hello"), _script("hello", current=1)])
    with pytest.raises(BundleError) as caught:
        write_bundle({"id": 1, "name": "X"}, records)
    assert caught.value.code == "duplicate_key"


# ---- not a zip, corrupt ----------------------------------------------------------------
@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_not_a_zip(data):
    _refused(data, "not_a_zip")


def test_a_truncated_zip_is_not_a_zip():
    data = _good()
    _refused(data[: len(data) // 2], "not_a_zip")


def test_corrupt_compressed_data():
    data = bytearray(_good())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("scripts.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start, start + info.compress_size):
        data[i] ^= 0x5A
    error = _refused(bytes(data), "corrupt_zip")
    assert "scripts.json" in error.message


def test_a_crc_mismatch_is_corrupt():
    # a stored entry whose bytes changed after its CRC was written
    entries = _entries(_good())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, raw in entries.items():
            zf.writestr(name, raw)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("sources/other/1.js")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start] ^= 0x01
    _refused(bytes(data), "corrupt_zip")


# ---- the manifest ----------------------------------------------------------------------
def test_a_manifest_version_from_the_future():
    data = _json_edit(
        _good(), "manifest.json", lambda m: m.update(format_version=FORMAT_VERSION + 1)
    )
    error = _refused(data, "future_version")
    assert "upgrade" in error.message


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(format="zip"),
        lambda m: m.update(format_version="1"),
        lambda m: m.update(format_version=0),
        lambda m: m.update(company="YourCompany"),
        lambda m: m["sections"].pop("versions") and None,
        lambda m: m.update(scripts=["other", "hello"]),
    ],
)
def test_a_bad_manifest(edit):
    _refused(_json_edit(_good(), "manifest.json", edit), "bad_manifest")


def test_no_manifest():
    entries = _entries(_good())
    del entries["manifest.json"]
    _refused(_zip(entries), "bad_manifest")


@pytest.mark.parametrize("section", ["capabilities", "secrets"])
def test_a_section_this_server_cannot_import(section):
    def add(manifest):
        manifest["sections"][section] = {"entry": f"{section}.json", "count": 0, "sha256": ""}

    _refused(_json_edit(_good(), "manifest.json", add), "unsupported_section")


def test_a_bundle_without_signatures_reads_as_unsigned():
    # bundles written before the signatures section existed
    entries = _entries(_good())
    del entries["signatures.json"]
    manifest = json.loads(entries["manifest.json"])
    del manifest["sections"]["signatures"]
    entries["manifest.json"] = json.dumps(manifest).encode()
    assert read_bundle(_zip(entries)).records["signatures"] == []


def test_a_signature_of_a_missing_version():
    signature = dict(_records()["signatures"][0], number=9)
    data = _zip(_entries(write_bundle({"id": 1}, _records(signatures=[]), exported_at=WHEN)))
    entries = _entries(data)
    entries["signatures.json"] = json.dumps([signature]).encode()
    _refused(_zip(entries), "missing_version")


def test_a_section_that_differs_from_its_sha256():
    entries = _entries(_good())
    entries["scripts.json"] = entries["scripts.json"].replace(b'"Hello"', b'"Evil"')
    _refused(_zip(entries, fix=False), "checksum_mismatch")


def test_a_source_that_differs_from_its_version():
    entries = _entries(_good())
    entries["sources/hello/1.js"] = b"export default () => 666;\n"
    _refused(_zip(entries), "checksum_mismatch")


# ---- names -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "../evil.js",
        "sources/../../etc/passwd",
        "/etc/passwd",
        "C:/windows/evil.js",
        "sources\\..\\evil.js",
        "sources//hello/1.js",
        "./manifest.json",
    ],
)
def test_a_path_traversal_or_absolute_name(name):
    entries = _entries(_good())
    entries[name] = b"x"
    error = _refused(_zip(entries), "unsafe_path")
    assert "unsafe entry name" in error.message


def test_duplicate_entry_names():
    entries = _entries(_good())
    names = [*entries.items(), ("sources/hello/1.js", b"export default () => 2;\n")]
    _refused(_zip(entries, names=names), "duplicate_entry")


def test_an_entry_outside_the_format():
    entries = _entries(_good())
    entries["notes.txt"] = b"hello"
    _refused(_zip(entries), "unexpected_entry")


def test_a_missing_source():
    entries = _entries(_good())
    del entries["sources/other/1.js"]
    _refused(_zip(entries), "missing_entry")


# ---- sizes -------------------------------------------------------------------------------
def test_an_oversized_entry_by_its_declared_size():
    big = "export default () => '" + "x" * 5000 + "';\n"
    data = write_bundle(
        {"id": 1, "name": "X"},
        _records(
            versions=[
                *_records()["versions"][:1],
                _version("hello", 2, big),
                _records()["versions"][2],
            ]
        ),
    )
    error = _refused(data, "entry_too_large", BundleLimits(max_entry_bytes=4096))
    assert "sources/hello/2.js declares" in error.message


def _patch_sizes(data: bytes, name: str, size: int) -> bytes:
    """Rewrites the uncompressed size of ``name`` in its local and central headers."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
        central = zf.start_dir
    struct.pack_into("<I", out, info.header_offset + 22, size)
    pos = central
    while out[pos : pos + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", out, pos + 28)
        if out[pos + 46 : pos + 46 + n].decode() == name:
            struct.pack_into("<I", out, pos + 24, size)
        pos += 46 + n + m + k
    return bytes(out)


def test_a_zip_bomb_that_lies_about_its_size():
    # 64 MiB of zeros deflate to ~64 KiB; the headers claim 100 bytes
    entries = _entries(_good())
    entries["sources/other/1.js"] = b"\x00" * (64 * 1024 * 1024)
    bomb = _patch_sizes(_zip(entries), "sources/other/1.js", 100)
    assert len(bomb) < 1024 * 1024
    error = _refused(bomb, "entry_too_large", BundleLimits(max_entry_bytes=1024 * 1024))
    assert "sources/other/1.js inflates to more than 1048576 bytes" in error.message
    assert "declares 100" in error.message


def test_an_entry_larger_than_it_declares_within_the_cap():
    entries = _entries(_good())
    bomb = _patch_sizes(_zip(entries), "scripts.json", 10)
    error = _refused(bomb, "entry_too_large")
    assert "its header declares 10" in error.message


def test_too_many_bytes_together():
    data = _good()
    _refused(data, "bundle_too_large", BundleLimits(max_total_bytes=1000))


def test_too_many_entries():
    _refused(_good(), "too_many_entries", BundleLimits(max_entries=5))


# ---- records -----------------------------------------------------------------------------
def test_duplicate_script_keys():
    entries = _entries(_good())
    scripts = json.loads(entries["scripts.json"])
    entries["scripts.json"] = json.dumps([*scripts, scripts[0]]).encode()
    entries["manifest.json"] = entries["manifest.json"].replace(
        b'"other"\n ]', b'"other",\n  "hello"\n ]'
    )
    error = _refused(_zip(entries), "duplicate_key")
    assert "hello" in error.message


def test_duplicate_version_numbers():
    def dup(versions):
        versions.append(dict(versions[0]))

    _refused(_json_edit(_good(), "versions.json", dup), "duplicate_key")


def test_an_endpoint_running_a_missing_version():
    def pin(endpoints):
        endpoints[0]["pinned_version"] = 7

    error = _refused(_json_edit(_good(), "endpoints.json", pin), "missing_version")
    assert "version 7 of hello" in error.message


def test_a_current_version_that_is_missing():
    def current(scripts):
        scripts[1]["current_version"] = 4

    _refused(_json_edit(_good(), "scripts.json", current), "missing_version")


def test_a_record_of_a_missing_script():
    def orphan(schedules):
        schedules[0]["script"] = "ghost"

    _refused(_json_edit(_good(), "schedules.json", orphan), "missing_script")


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s[0].update(memory_mb="64"),
        lambda s: s[0].update(timeout_sec=True),
        lambda s: s[0].update(unknown_field="x"),
        lambda s: s[0].pop("state") and None,
        lambda s: s[0].update(key="../x"),
        lambda s: s.append("hello"),
    ],
)
def test_a_record_of_the_wrong_shape(edit):
    _refused(_json_edit(_good(), "scripts.json", edit), "invalid_record")


@pytest.mark.parametrize(
    "raw",
    [b"[{", b'[{"key": "a", "key": "b"}]', b"[NaN]", b"\xff\xfe"],
)
def test_bad_json(raw):
    entries = _entries(_good())
    entries["scripts.json"] = raw
    _refused(_zip(entries), "bad_json")


# ---- the command line --------------------------------------------------------------------
def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_cli_bundle_check(tmp_path):
    good = tmp_path / "good.zip"
    good.write_bytes(_good())
    done = _cli("bundle", "check", str(good), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["scripts"] == ["hello", "other"]
    assert summary["counts"]["versions"] == 3
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_json_edit(_good(), "manifest.json", lambda m: m.update(format_version=99)))
    done = _cli("bundle", "check", str(bad))
    assert done.returncode == 1
    assert "error[future_version]" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_import_checks_the_bundle_before_sending(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    # no server listens there: the refusal comes before any connection
    done = _cli("import", str(bad), "--url", "http://127.0.0.1:9", "--api-key", "k", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "not_a_zip"


def test_cli_export_names_an_unreachable_server(tmp_path):
    done = _cli(
        "export", "-o", str(tmp_path / "x.zip"), "--url", "http://127.0.0.1:9", "--api-key", "k"
    )
    assert done.returncode == 1
    assert "error[http_error]: cannot reach http://127.0.0.1:9" in done.stderr
    assert not (tmp_path / "x.zip").exists()


def test_cli_export_needs_a_server():
    done = _cli("export", "-o", "x.zip")
    assert done.returncode == 2
    assert "--url and --api-key" in done.stderr


def test_a_format_1_bundle_reads_with_no_capabilities_nor_tests():
    """Format 2 added each version's declaration and tests: a bundle written by
    format 1 (without them) still reads, with them null; a format 2 bundle
    that lacks them is refused."""

    def as_format_1(entries):
        rows = json.loads(entries["versions.json"])
        for row in rows:
            del row["capabilities_json"], row["tests"]
        raw = json.dumps(rows).encode()
        entries["versions.json"] = raw
        manifest = json.loads(entries["manifest.json"])
        manifest["sections"]["versions"]["sha256"] = hashlib.sha256(raw).hexdigest()
        return entries, manifest

    entries, manifest = as_format_1(_entries(_good()))
    entries["manifest.json"] = json.dumps({**manifest, "format_version": 1}).encode()
    old = read_bundle(_zip(entries))
    assert old.format_version == 1
    assert {(v["capabilities_json"], v["tests"]) for v in old.records["versions"]} == {(None, None)}
    entries, manifest = as_format_1(_entries(_good()))
    entries["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(BundleError) as e:
        read_bundle(_zip(entries))
    assert e.value.code == "invalid_record" and "capabilities_json" in str(e.value)
