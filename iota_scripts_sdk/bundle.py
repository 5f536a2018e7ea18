"""Script bundles: the backup and restore format of IOTA Scripts (write, read, validate).

What a bundle is
----------------
A zip file holding everything that defines how a company's scripts behave,
so that they can be restored into the same or another Odoo database:

* ``manifest.json``: the format (``iota-scripts-bundle``), its version
  (:data:`FORMAT_VERSION`), when and from which company it was exported, the
  script keys, and one entry per *section* (kind of record) with its file,
  record count and sha256;
* one JSON file per section (``scripts.json``, ``versions.json``,
  ``endpoints.json``, ...): a list of records whose fields :data:`SCHEMA`
  declares; records refer to their script by ``key`` and to versions by
  ``number``, never by database id;
* ``sources/<key>/<number>.js``: the source of every version, checked
  against the version's sha256.

Never in a bundle: secrets' values (an HMAC endpoint gets a new secret when
imported), executions, queued runs, events and deliveries.

Extensible by section: a later format adds a section and raises
:data:`FORMAT_VERSION`. A reader refuses sections it does not know rather
than drop them silently. Format 2 added each version's capabilities
declaration and tests (:data:`ADDED_FIELDS`): a bundle of format 1 reads with
them null.

``signatures`` is *optional* (:data:`OPTIONAL_SECTIONS`): a bundle written
before it reads as one without signatures. Each record is the signature of
one version, as ``iota_scripts_sdk.signing`` checks it (``iota-scripts
verify``): the source company's version id, company id, approver id, the
signing time, the key id, the signature and the signed capabilities
(canonical JSON text). Public keys are never in a bundle: a verifier brings
its own.

How it is checked
-----------------
:func:`read_bundle` validates everything before returning, and raises a
:class:`BundleError` with a stable code (:data:`BUNDLE_CODES`) otherwise:
not a zip or a corrupt one, a format version from the future, too many
entries, an entry larger than allowed (by its declared size *and* by the
bytes actually inflated: a zip bomb may lie in its header), an absolute
name or ``..`` in a name, duplicate names, duplicate script keys, versions
or endpoints that name a missing version, bad JSON (duplicate members,
NaN), records of the wrong shape. It has no side effects: callers validate
first, then apply. No ``odoo`` import; the Odoo addon maps records to models.
The zip-level checks (names, sizes, capped inflation) live in ``_bundle_zip.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._bundle_zip import Archive

__all__ = [
    "BUNDLE_CODES",
    "FORMAT",
    "FORMAT_VERSION",
    "OPTIONAL_SECTIONS",
    "RESERVED_SECTIONS",
    "SCHEMA",
    "SECTIONS",
    "Bundle",
    "BundleError",
    "BundleLimits",
    "read_bundle",
    "write_bundle",
]

FORMAT = "iota-scripts-bundle"
#: The version this engine writes and the newest it reads.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"

#: Every code :class:`BundleError` may carry, with its meaning.
BUNDLE_CODES: dict[str, str] = {
    "not_a_zip": "the file is not a zip archive",
    "corrupt_zip": "the zip archive is damaged (CRC or compressed data)",
    "bad_json": "an entry is not valid JSON (or has a member twice)",
    "bad_manifest": "manifest.json is missing or does not describe a bundle",
    "future_version": "the bundle was written by a newer format version than this server reads",
    "unsupported_section": "the bundle has a section this server cannot import",
    "too_many_entries": "the archive has more entries than allowed",
    "entry_too_large": "an entry inflates to more bytes than allowed (declared or actual)",
    "bundle_too_large": "the entries together inflate to more bytes than allowed",
    "unsafe_path": "an entry name is absolute or leaves the archive (..)",
    "duplicate_entry": "two entries have the same name",
    "unexpected_entry": "an entry is not part of the bundle format",
    "missing_entry": "an entry the manifest names is missing",
    "checksum_mismatch": "an entry's sha256 differs from the one recorded",
    "invalid_record": "a record lacks a field or has a value of the wrong type",
    "duplicate_key": "two records have the same key (script key, version number)",
    "missing_script": "a record refers to a script key the bundle does not hold",
    "missing_version": "a record refers to a version number the bundle does not hold",
}

#: Field types of :data:`SCHEMA`: a trailing ``?`` allows null.
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "num": (int, float),
    "bool": (bool,),
    "list": (list,),
    "obj": (dict,),
}

#: The fields of every record, per section, in the order of import: the one
#: declaration the writer, the reader and the Odoo addon share. Every field is
#: written; a reader refuses missing and unknown fields.
SCHEMA: dict[str, dict[str, str]] = {
    "tags": {"name": "str", "color": "int"},
    "scripts": {
        "key": "str",
        "name": "str",
        "description": "str?",
        "state": "str",
        "active": "bool",
        "timeout_sec": "num",
        "memory_mb": "int",
        "allowed_hosts": "str?",
        "api_version": "str",
        "record_policy": "str",
        "record_sample_every": "int",
        "tags": "list",
        "run_as": "str?",  # a login; null: the company's scripts user
        "responsible": "str?",  # a login
        "current_version": "int?",
    },
    "versions": {
        "script": "str",
        "number": "int",
        "sha256": "str",
        "note": "str?",
        "author": "obj?",  # {"login", "name"}
        "saved_at": "str?",  # UTC, "YYYY-MM-DD HH:MM:SS"
        "capabilities_json": "str?",  # format 2: the declaration the version runs with
        "tests": "str?",  # format 2: the version's tests (docs/guide/script-tests.md)
    },
    "endpoints": {
        "script": "str",
        "api_version": "str",
        "path": "str",
        "methods": "str",
        "auth_mode": "str",
        "group": "str?",  # an XML id, e.g. base.group_user
        "active": "bool",
        "rate_limit_per_min": "int",
        "rate_limit_algorithm": "str",
        "rate_limit_on_unavailable": "str",
        "max_body_bytes": "int",
        "body_schema": "str?",
        "query_schema": "str?",
        "response_schema": "str?",
        "cors_origins": "str?",
        "cors_allow_credentials": "bool",
        "deprecated": "bool",
        "sunset_date": "str?",
        "store_request_body": "bool",
        "hmac_max_skew_sec": "int",
        "pinned_version": "int?",
        "publish_openapi": "bool",
        "description": "str?",
        "record_policy": "str",
        "record_sample_every": "int",
    },
    "schedules": {
        "script": "str",
        "cron": "str",
        "tz": "str",
        "missed_policy": "str",
        "active": "bool",
    },
    "subscriptions": {
        "script": "str",
        "event_type": "str",
        "payload_filter": "str?",
        "origin": "str?",
        "record_model": "str?",
        "record_domain": "str?",
        "max_attempts": "int",
        "active": "bool",
    },
    "alert_rules": {
        "script": "str",
        "name": "str",
        "active": "bool",
        "kind": "str",
        "window_min": "int",
        "error_rate_pct": "num",
        "min_runs": "int",
        "failure_count": "int",
        "cooldown_min": "int",
    },
    "signatures": {
        "script": "str",
        "number": "int",
        "version_id": "int",
        "company_id": "int",
        "approver_id": "int",
        "signed_at": "str",
        "key_id": "str",
        "signature": "str",
        "capabilities_json": "str",
    },
}
SECTIONS: tuple[str, ...] = tuple(SCHEMA)
#: Sections a later format will add.
RESERVED_SECTIONS: tuple[str, ...] = ()
#: Fields a format version added: a bundle of an earlier format lacks them,
#: and they read as null (``{section: {field: format version}}``).
ADDED_FIELDS: dict[str, dict[str, int]] = {
    "versions": {"capabilities_json": 2, "tests": 2},
}
#: Sections a bundle may lack (written before they existed): read as empty.
OPTIONAL_SECTIONS: tuple[str, ...] = ("signatures",)

_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# zip entries get a fixed date: the same records give the same bytes
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class BundleError(Exception):
    """A bundle was refused. ``code`` is one of :data:`BUNDLE_CODES`; ``message``
    names the entry or record at fault and never holds a host path."""

    def __init__(self, code: str, message: str) -> None:
        assert code in BUNDLE_CODES, code  # noqa: S101 - a programming error: every raise names a code of BUNDLE_CODES
        super().__init__(message)
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class BundleLimits:
    """What :func:`read_bundle` accepts. Sizes are inflated (decompressed) bytes."""

    max_entries: int = 20_000
    max_entry_bytes: int = 16 * 1024 * 1024
    max_total_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    """A validated bundle: the manifest and the records of each section.

    ``records["versions"]`` carry their ``source`` (read from
    ``sources/<key>/<number>.js`` and checked against ``sha256``).
    """

    manifest: dict[str, Any]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def format_version(self) -> int:
        return int(self.manifest["format_version"])

    @property
    def company(self) -> dict[str, Any]:
        return dict(self.manifest["company"])

    @property
    def script_keys(self) -> list[str]:
        return [s["key"] for s in self.records["scripts"]]

    def of_script(self, section: str, key: str) -> list[dict[str, Any]]:
        """The records of ``section`` that belong to the script ``key``."""
        return [r for r in self.records[section] if r.get("script") == key]


# ---- writing ---------------------------------------------------------------------------
def _dumps(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode()


def source_entry(key: str, number: int) -> str:
    """The name of a version's source in the archive."""
    return f"sources/{key}/{number}.js"


def sha256_text(text: str) -> str:
    """The sha256 of a source as IOTA Scripts computes it (UTF-8, lone surrogates kept)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def write_bundle(
    company: Mapping[str, Any],
    records: Mapping[str, Iterable[Mapping[str, Any]]],
    *,
    exported_at: datetime | None = None,
    generator: str = "iota_scripts_sdk",
) -> bytes:
    """The zip bytes of a bundle of ``records`` (``{section: [record, ...]}``).

    ``company`` is ``{"id", "name"}`` of the source company. Version records
    carry their ``source``; it goes to its own entry and ``sha256`` is
    computed here. The result is validated with :func:`read_bundle` before it
    is returned, so a writer bug never produces a bundle that cannot be read
    back (:class:`BundleError` otherwise).
    """
    unknown = set(records) - set(SECTIONS)
    if unknown:
        raise BundleError("unsupported_section", f"unknown sections: {', '.join(sorted(unknown))}")
    entries: dict[str, bytes] = {}
    sections: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        rows = []
        for record in records.get(section, ()):
            row = dict(record)
            if section == "versions":
                source = row.pop("source", None)
                if not isinstance(source, str):
                    raise BundleError(
                        "invalid_record",
                        f"version {row.get('number')} of {row.get('script')}: no source",
                    )
                row["sha256"] = sha256_text(source)
                entries[source_entry(row["script"], row["number"])] = source.encode(
                    "utf-8", "surrogatepass"
                )
            rows.append(row)
        data = _dumps(rows)
        entries[f"{section}.json"] = data
        sections[section] = {
            "entry": f"{section}.json",
            "count": len(rows),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    when = (exported_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generator": generator,
        "company": {"id": company.get("id"), "name": company.get("name")},
        "scripts": [r["key"] for r in records.get("scripts", ())],
        "sections": sections,
    }
    entries[MANIFEST] = _dumps(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in [MANIFEST, *sorted(n for n in entries if n != MANIFEST)]:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, entries[name])
    data = buffer.getvalue()
    read_bundle(data)
    return data


# ---- reading ---------------------------------------------------------------------------
def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the member {key!r} appears twice")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(name: str, data: bytes) -> Any:
    try:
        return json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except (ValueError, RecursionError) as e:
        raise BundleError("bad_json", f"{name} is not valid JSON: {str(e)[:200]}") from None


def _check_record(section: str, index: int, record: Any) -> None:
    where = f"{section}.json record {index + 1}"
    if not isinstance(record, dict):
        raise BundleError("invalid_record", f"{where} is not an object")
    fields = SCHEMA[section]
    missing = [f for f in fields if f not in record]
    extra = [f for f in record if f not in fields]
    if missing or extra:
        raise BundleError(
            "invalid_record",
            f"{where}: "
            + "; ".join(
                part
                for part in (
                    missing and f"missing {', '.join(missing)}",
                    extra and f"unknown {', '.join(sorted(extra)[:10])}",
                )
                if part
            ),
        )
    for name, spec in fields.items():
        value = record[name]
        if value is None and spec.endswith("?"):
            continue
        types = _TYPES[spec.rstrip("?")]
        if isinstance(value, bool) and bool not in types:
            ok = False  # JSON true is no number
        else:
            ok = isinstance(value, types)
        if not ok:
            raise BundleError(
                "invalid_record", f"{where}: {name} must be {spec.rstrip('?')}, not {value!r:.60}"
            )


def _fill_added_fields(section: str, row: Any, format_version: int) -> None:
    """Fields of a later format than the bundle's read as null (a record of a
    bundle of that format must have them: :func:`_check_record` says so)."""
    if not isinstance(row, dict):
        return
    for name, added in ADDED_FIELDS.get(section, {}).items():
        if format_version < added:
            row.setdefault(name, None)


def _check_manifest(manifest: Any) -> dict[str, Any]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError("bad_manifest", f"manifest.json does not describe an {FORMAT}")
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise BundleError("bad_manifest", "manifest.json: format_version must be an integer >= 1")
    if version > FORMAT_VERSION:
        raise BundleError(
            "future_version",
            f"the bundle has format version {version}; this server reads up to "
            f"{FORMAT_VERSION}: upgrade IOTA Scripts first",
        )
    company = manifest.get("company")
    if not isinstance(company, dict) or not isinstance(company.get("name"), str | None):
        raise BundleError("bad_manifest", "manifest.json: company must be {id, name}")
    sections = manifest.get("sections")
    if not isinstance(sections, dict):
        raise BundleError("bad_manifest", "manifest.json: sections must be an object")
    for name in sections:
        if name in RESERVED_SECTIONS:
            raise BundleError(
                "unsupported_section",
                f"the bundle holds {name}, which this server cannot import yet",
            )
        if name not in SCHEMA:
            raise BundleError("unsupported_section", f"unknown section {name!r:.60}")
    for name in SECTIONS:
        spec = sections.get(name)
        if spec is None and name in OPTIONAL_SECTIONS:
            continue
        if (
            not isinstance(spec, dict)
            or spec.get("entry") != f"{name}.json"
            or type(spec.get("count")) is not int
            or not isinstance(spec.get("sha256"), str)
        ):
            raise BundleError("bad_manifest", f"manifest.json: section {name} is missing or bad")
    if not isinstance(manifest.get("scripts"), list):
        raise BundleError("bad_manifest", "manifest.json: scripts must be a list of keys")
    return manifest


def _check_references(records: dict[str, list[dict[str, Any]]]) -> None:
    keys: set[str] = set()
    for script in records["scripts"]:
        key = script["key"]
        if not _KEY.match(key):
            raise BundleError("invalid_record", f"{key[:80]!r} is not a script key")
        if key in keys:
            raise BundleError("duplicate_key", f"the script key {key} appears twice")
        keys.add(key)
    versions: set[tuple[str, int]] = set()
    for version in records["versions"]:
        ident = (version["script"], version["number"])
        if version["script"] not in keys:
            raise BundleError(
                "missing_script", f"a version names the script {version['script']!r:.80}"
            )
        if version["number"] < 1:
            raise BundleError("invalid_record", f"version numbers start at 1: {ident}")
        if ident in versions:
            raise BundleError("duplicate_key", f"version {ident[1]} of {ident[0]} appears twice")
        if not _SHA256.match(version["sha256"]):
            raise BundleError("invalid_record", f"version {ident[1]} of {ident[0]}: bad sha256")
        versions.add(ident)
    for script in records["scripts"]:
        current = script["current_version"]
        if current is not None and (script["key"], current) not in versions:
            raise BundleError(
                "missing_version",
                f"the script {script['key']} names version {current} as current, "
                "which the bundle does not hold",
            )
    for section in SECTIONS[3:]:
        for record in records[section]:
            if record["script"] not in keys:
                raise BundleError(
                    "missing_script",
                    f"a record of {section} names the script {record['script']!r:.80}",
                )
    for signature in records["signatures"]:
        if (signature["script"], signature["number"]) not in versions:
            raise BundleError(
                "missing_version",
                f"a signature names version {signature['number']} of "
                f"{signature['script']!r:.80}, which the bundle does not hold",
            )
    for endpoint in records["endpoints"]:
        pinned = endpoint["pinned_version"]
        if pinned is not None and (endpoint["script"], pinned) not in versions:
            raise BundleError(
                "missing_version",
                f"the endpoint {endpoint['api_version']}{endpoint['path']} runs version "
                f"{pinned} of {endpoint['script']}, which the bundle does not hold",
            )


def read_bundle(data: bytes, *, limits: BundleLimits | None = None) -> Bundle:
    """Validates ``data`` (zip bytes) and returns its :class:`Bundle`.

    Raises :class:`BundleError` at the first problem (see the module
    docstring); reads nothing but ``data`` and changes nothing.
    """
    if not isinstance(data, bytes | bytearray):
        raise BundleError("not_a_zip", "a bundle is bytes")
    archive = Archive(bytes(data), limits or BundleLimits())
    if MANIFEST not in archive.infos:
        raise BundleError("bad_manifest", "the archive has no manifest.json")
    manifest = _check_manifest(_loads(MANIFEST, archive.read(MANIFEST)))
    expected = {MANIFEST}
    records: dict[str, list[dict[str, Any]]] = {}
    for section in SECTIONS:
        spec = manifest["sections"].get(section)
        if spec is None:  # an optional section (_check_manifest)
            records[section] = []
            continue
        raw = archive.read(spec["entry"])
        expected.add(spec["entry"])
        if hashlib.sha256(raw).hexdigest() != spec["sha256"]:
            raise BundleError("checksum_mismatch", f"{spec['entry']} differs from its sha256")
        rows = _loads(spec["entry"], raw)
        if not isinstance(rows, list) or len(rows) != spec["count"]:
            raise BundleError(
                "bad_manifest", f"{spec['entry']} must be a list of {spec['count']} records"
            )
        for index, row in enumerate(rows):
            _fill_added_fields(section, row, manifest["format_version"])
            _check_record(section, index, row)
        records[section] = rows
    _check_references(records)
    if manifest["scripts"] != [s["key"] for s in records["scripts"]]:
        raise BundleError("bad_manifest", "manifest.json: scripts differ from scripts.json")
    for version in records["versions"]:
        name = source_entry(version["script"], version["number"])
        expected.add(name)
        raw = archive.read(name)
        try:
            source = raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise BundleError("invalid_record", f"{name} is not UTF-8 text") from None
        if sha256_text(source) != version["sha256"]:
            raise BundleError("checksum_mismatch", f"{name} differs from its version's sha256")
        version["source"] = source
    extra = sorted(set(archive.infos) - expected)
    if extra:
        raise BundleError("unexpected_entry", f"{extra[0][:200]!r} is not part of the bundle")
    return Bundle(manifest=manifest, records=records)
