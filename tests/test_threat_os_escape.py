"""Threat: a script's runner reaches the network or the file system.

The runners' operating-system sandbox (issue 10 §6), tried from inside real runner processes.

Each layer is proven by doing the forbidden thing inside a real runner (the
runner's fixed ``probe``: a TCP connection to a loopback port that listens,
files written in /tmp and in the working directory, a file read) and
checking the errno, and by what the kernel says of the process (/proc).
The runners here are started without coverage measurement, which relaxes
the file-system and uid layers (see ``_sandbox``): they are the production
configuration.

Where this kernel refuses a layer, the engine must say so ("off: why") and
the test of that layer checks the report instead of the errno.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from iota_scripts_sdk import Engine, EngineConfig, ScriptError
from iota_scripts_sdk._pool import RunnerProcess
from iota_scripts_sdk._sandbox import LAYERS

IS_ROOT = os.geteuid() == 0


@pytest.fixture
def unmeasured(monkeypatch):
    """Runners started now are not measured by coverage (the production configuration)."""
    monkeypatch.delenv("COVERAGE_PROCESS_START", raising=False)
    monkeypatch.delenv("COVERAGE_FILE", raising=False)


@pytest.fixture
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def runner(unmeasured):
    started = RunnerProcess(EngineConfig())
    yield started
    started.kill()


def test_every_layer_is_reported_on_or_off_with_a_reason(runner):
    assert list(runner.sandbox) == list(LAYERS)
    for layer, state in runner.sandbox.items():
        # "on: how" or "off: why", never a bare word
        assert state.startswith(("on: ", "off: ")), (layer, state)
        assert len(state.split(": ", 1)[1]) > 1, (layer, state)


def test_no_tcp_connection_leaves_the_runner(runner, listener):
    assert runner.sandbox["network"].startswith("on"), runner.sandbox
    probed = runner.probe(listener)
    # a network namespace: no route; the seccomp fallback: socket() refused
    assert probed["tcp"] in ("ENETUNREACH", "EACCES"), probed


def test_the_seccomp_fallback_refuses_inet_sockets(unmeasured, listener):
    runner = RunnerProcess(EngineConfig(sandbox_network="seccomp"))
    try:
        if not runner.sandbox["network"].startswith("on"):
            pytest.skip(f"seccomp is not available here: {runner.sandbox['network']}")
        assert "seccomp" in runner.sandbox["network"]
        assert runner.probe(listener)["tcp"] == "EACCES"
    finally:
        runner.kill()


def test_no_file_can_be_written_or_read(runner, listener):
    probed = runner.probe(listener)
    if "Landlock off" in runner.sandbox["filesystem"]:
        # without Landlock: RLIMIT_FSIZE and the unprivileged uid still refuse writes
        assert probed["write_tmp"] in ("EFBIG", "EACCES"), probed
    else:
        assert probed["write_tmp"] == "EACCES", probed
        assert probed["write_cwd"] == "EACCES", probed
        assert probed["read_file"] == "EACCES", probed
    assert not [n for n in os.listdir("/tmp") if n.startswith("iota-runner-probe-")]


def test_the_working_directory_is_empty_and_read_only(runner):
    cwd = os.readlink(f"/proc/{runner.pid}/cwd")
    assert os.listdir(cwd) == []
    assert os.stat(cwd).st_mode & 0o777 == 0o555
    assert os.stat(cwd).st_uid == os.geteuid()


def test_a_planted_working_directory_is_not_used(tmp_path, monkeypatch, unmeasured):
    """/tmp is writable by all: a shared folder someone prepared (a symlink, a
    file inside) is refused for a private one; recycled processes leave none."""
    import tempfile

    from iota_scripts_sdk import _pool

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(_pool, "_empty_dir", None)
    shared = tmp_path / f"iota-runner-cwd-{os.geteuid()}"
    assert _pool._runner_cwd() == str(shared)  # made, then shared
    monkeypatch.setattr(_pool, "_empty_dir", None)
    assert _pool._runner_cwd() == str(shared)
    shared.chmod(0o755)
    (shared / "planted").write_text("x")
    monkeypatch.setattr(_pool, "_empty_dir", None)
    private = _pool._runner_cwd()
    assert private != str(shared) and os.listdir(private) == []
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o555)
    (shared / "planted").unlink()
    shared.rmdir()
    shared.symlink_to(target)
    monkeypatch.setattr(_pool, "_empty_dir", None)
    assert _pool._runner_cwd() not in (str(shared), str(target))
    # a folder removed under a running process (a /tmp cleaner) is made again
    shared.unlink()
    gone = _pool._runner_cwd()
    os.rmdir(gone)
    assert _pool._runner_cwd() == str(shared) and shared.is_dir()


@pytest.mark.skipif(not IS_ROOT, reason="the uid layer applies when the host runs as root")
def test_a_root_host_gets_runners_as_nobody(runner, listener):
    assert runner.sandbox["uid"] == "on: uid 65534"
    probed = runner.probe(listener)
    assert (probed["uid"], probed["euid"]) == (65534, 65534)
    with open(f"/proc/{runner.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    assert status["Uid"].split() == ["65534"] * 4
    assert status["Groups"].strip() == ""
    assert status["NoNewPrivs"].strip() == "1"


def test_no_new_privileges_and_few_descriptors(runner, listener):
    probed = runner.probe(listener)
    assert probed["no_new_privs"] == 1
    assert probed["nofile"] <= 64, probed
    assert runner.sandbox["nofile"] == f"on: {probed['nofile']}"


def test_the_hosts_secrets_never_reach_a_runner(unmeasured, monkeypatch, listener):
    monkeypatch.setenv("PGPASSWORD", "s3cret-db")
    monkeypatch.setenv("IOTA_SCRIPTS_METRICS_TOKEN", "s3cret-token")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    runner = RunnerProcess(EngineConfig())
    try:
        # what the runner was started with (the kernel keeps the initial block)...
        with open(f"/proc/{runner.pid}/environ", "rb") as f:
            names = {item.split(b"=", 1)[0].decode() for item in f.read().split(b"\0") if item}
        assert names <= {"PATH", "LANG", "LC_ALL", "PYTHONPATH", "PYTHONUNBUFFERED"}, names
        # ...and what it keeps once closed in: nothing
        assert runner.probe(listener)["env"] == 0
    finally:
        runner.kill()


def test_scripts_still_run_with_dates_intl_and_host_calls(unmeasured):
    engine = Engine(EngineConfig(runners=1))
    try:
        # ICU's data is mapped before the sandbox closes the file system:
        # formatting, collation and segmentation need no file afterwards.
        res = engine.run(
            "export default async () => ({"
            " date: new Date(0).toISOString(),"
            " local: new Intl.DateTimeFormat('fr', {timeZone: 'Asia/Tokyo', dateStyle: 'full',"
            "   timeStyle: 'long'}).format(0),"
            " yen: new Intl.NumberFormat('ja-JP', {style: 'currency', currency: 'JPY'}).format(5e6),"
            " collated: new Intl.Collator('de').compare('ä', 'z'),"
            " words: [...new Intl.Segmenter('th', {granularity: 'word'}).segment('สวัสดีครับ')].length,"
            " relative: new Intl.RelativeTimeFormat('es').format(-1, 'day'),"
            " cached: await sdk.cache.incr('n'),"
            "})"
        )
        assert res.error is None, res.error
        assert res.result == {
            "date": "1970-01-01T00:00:00.000Z",
            "local": "jeudi 1 janvier 1970 à 09:00:00 UTC+9",
            "yen": "￥5,000,000",
            "collated": -1,
            "words": 2,
            "relative": "hace 1 día",
            "cached": 1,
        }
        report = engine.sandbox()
        assert report["layers"]["network"].startswith("on")
    finally:
        engine.close()


def test_a_disabled_sandbox_says_so(unmeasured, listener):
    runner = RunnerProcess(EngineConfig(sandbox=False))
    try:
        assert all(state.startswith("off: disabled") for state in runner.sandbox.values())
        assert runner.probe(listener)["tcp"] == "ok"
    finally:
        runner.kill()


def test_bad_sandbox_settings_are_named_errors():
    with pytest.raises(ScriptError, match="sandbox_network must be 'auto' or 'seccomp'"):
        EngineConfig(sandbox_network="none")
    with pytest.raises(ScriptError, match="sandbox must be True or False"):
        EngineConfig(sandbox="yes")  # type: ignore[arg-type]


def test_the_command_line_reports_the_layers(unmeasured):
    done = subprocess.run(
        [sys.executable, "-m", "iota_scripts_sdk.cli", "sandbox", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout)
    assert set(report["layers"]) == set(LAYERS)
    off = [layer for layer, state in report["layers"].items() if not state.startswith("on")]
    assert done.returncode == (1 if off else 0), done.stderr
    assert report["probe"]["tcp"] != "ok"
