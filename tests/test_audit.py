"""The audit chain (iota_scripts_sdk.audit) and ``iota-scripts audit verify --file``."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

from iota_scripts_sdk import audit


def _chain(n=5):
    pending = [
        {
            "id": 100 + i,
            "logged_at": f"2026-12-06 02:0{i}:00",
            "user_id": 2,
            "user_name": "Mitchell Admin",
            "company_id": 1,
            "action": "edit",
            "res_model": "iota.script",
            "res_id": 7,
            "res_name": "Nightly sync",
            "changes": json.dumps({"fields": ["name"]}),
        }
        for i in range(n)
    ]
    entries = []
    for entry, (entry_id, seq, prev, digest) in zip(
        pending, audit.seal(pending, 0, audit.GENESIS), strict=True
    ):
        assert entry_id == entry["id"]
        entries.append({**entry, "seq": seq, "prev_hash": prev, "hash": digest})
    head = (entries[-1]["seq"], entries[-1]["hash"])
    return entries, head


def test_an_intact_chain_verifies():
    entries, head = _chain()
    report = audit.verify(list(reversed(entries)), head=head)
    assert report.ok and report.count == 5 and report.head_seq == 5
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(entries))


def test_an_edited_entry_is_a_hash_mismatch():
    entries, head = _chain()
    entries[2]["action"] = "create"
    broken = audit.verify(entries, head=head).first_break
    assert (broken.id, broken.seq, broken.reason) == (102, 3, audit.HASH_MISMATCH)
    assert broken.at == "2026-12-06 02:02:00"
    assert "entry 102 (seq 3, 2026-12-06 02:02:00): hash mismatch" in str(broken)


def test_a_rehashed_entry_breaks_the_next_link():
    entries, head = _chain()
    entries[2]["res_name"] = "Other"
    entries[2]["hash"] = audit.entry_hash(entries[2], entries[2]["prev_hash"])
    broken = audit.verify(entries, head=head).first_break
    assert (broken.id, broken.reason) == (103, audit.BROKEN_LINK)


def test_a_deleted_entry_is_a_gap_and_so_is_a_cut_tail():
    entries, head = _chain()
    broken = audit.verify(entries[:2] + entries[3:], head=head).first_break
    assert (broken.id, broken.seq, broken.reason) == (103, 4, audit.GAP)
    broken = audit.verify(entries[:4], head=head).first_break
    assert (broken.id, broken.reason) == (103, audit.GAP)
    assert "head is at seq 5" in broken.detail
    # without the head, a cut tail cannot be seen (documented)
    assert audit.verify(entries[:4]).ok


def test_pending_entries_are_counted_apart():
    entries, head = _chain()
    report = audit.verify([*entries, {"id": 200, "seq": None}], head=head)
    assert report.ok and report.pending == 1 and report.count == 5


def test_the_canonical_form_is_fixed():
    # a change of the canonical form breaks every stored chain: this pins it
    entry = {"seq": 1, "logged_at": "2026-01-01 00:00:00", "action": "create", "changes": "{}"}
    assert audit.canonical(entry, audit.GENESIS) == (
        b'["iota-audit-1",1,"2026-01-01 00:00:00",null,null,null,"create",null,null,null,"{}",'
        + json.dumps(audit.GENESIS).encode()
        + b"]"
    )


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", "audit", "verify", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_verifies_an_export(tmp_path):
    entries, head = _chain()
    path = tmp_path / "audit.jsonl"
    lines = [json.dumps({"head": {"seq": head[0], "hash": head[1]}})]
    lines += [json.dumps(e) for e in entries]
    path.write_text("\n".join(lines) + "\n")
    ok = _cli("--file", str(path))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok: 5 entries")
    entries[1]["action"] = "delete"
    lines[2] = json.dumps(entries[1])
    path.write_text("\n".join(lines) + "\n")
    bad = _cli("--file", str(path), "--json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["first_break"]["id"] == 101 and report["first_break"]["reason"] == "hash mismatch"


def test_cli_errors_are_clear(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n")
    bad = _cli("--file", str(path))
    assert bad.returncode == 3 and "bad.jsonl:1: not a JSON object" in bad.stderr
    usage = _cli()
    assert usage.returncode == 2 and "--db NAME or --file FILE" in usage.stderr
    nodb = _cli("--db", "iota_no_such_database_x", "--db-port", "5432")
    assert (
        nodb.returncode == 3
        and "cannot connect to database 'iota_no_such_database_x'" in nodb.stderr
    )
