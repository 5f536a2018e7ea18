"""``/iota/metrics`` scraped by a real Prometheus (issue 11 §1).

* :class:`TestMetricsRoute`: the bearer token (404 without one, 401 on a wrong
  one, never read from the database), against Odoo's test server.
* :class:`TestMetricsPrometheus`: known runs through the gateway and the
  queue, then Prometheus (Debian's package, started here on loopback) scrapes
  the test server and its HTTP API must show exactly those numbers. The test
  server is threaded: one process.
* :class:`TestMetricsWorkers`: the same against ``odoo --workers=2``, started
  here on the test database with committed data: runs served by both
  workers add up in one scrape, whichever worker answers it; a killed
  worker's live gauges are swept and its counters stay.

Nothing is faked: the engine, V8 runners, the gateway, PostgreSQL and
Prometheus are the real ones. Skipped, saying why, when ``prometheus`` is
not installed.
"""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from unittest import skipUnless
from unittest.mock import patch

import requests
from odoo.tests import HttpCase, TransactionCase, tagged
from prometheus_client.parser import text_string_to_metric_families

from ..run.request import RunRequest
from ..tools.sentinel import as_engine
from .common import RealCursorMixin
from .odoo_workers import start_workers
from .prometheus_server import BINARY, SKIP_REASON, PrometheusServer

TOKEN = "s3cret-metrics-token"  # noqa: S105 - a test token
OK = """export default async function (ctx) {
  await sdk.db.searchCount("res.partner", []);
  return {ok: true};
}"""
BOOM = "export default async function () { throw new Error('boom'); }"
PLAIN = "export default async function () { return {plain: true}; }"
LOOPS = "export default async function () { while (true) {} }"
# ~0.3 s of work: two calls at once need two workers
BUSY = """export default async function () {
  const t = Date.now(); while (Date.now() - t < 300) {}
  await sdk.db.searchCount("res.partner", []);
  return {busy: true};
}"""


def scraped(text, name, **labels):
    """The sum of the samples ``name`` whose labels include ``labels`` (0.0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _metrics(base_url, token=TOKEN, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(f"{base_url}/iota/metrics", headers=headers, timeout=30, **kw)


@tagged("post_install", "-at_install")
class TestMetricsRoute(HttpCase):
    def test_no_token_no_route(self):
        # set in the database, which is not where a site secret comes from
        self.env["ir.config_parameter"].sudo().set_param("iota_scripts.metrics_token", TOKEN)
        with patch.dict(os.environ, {}, clear=False):
            os.environ.pop("IOTA_SCRIPTS_METRICS_TOKEN", None)
            self.assertEqual(_metrics(self.base_url()).status_code, 404)

    def test_the_bearer_token_is_checked(self):
        with patch.dict(os.environ, {"IOTA_SCRIPTS_METRICS_TOKEN": TOKEN}):
            for token in (None, "", "wrong", TOKEN + "x", TOKEN[:-1]):
                response = _metrics(self.base_url(), token)
                self.assertEqual(response.status_code, 401, token)
                self.assertEqual(
                    response.headers["WWW-Authenticate"], 'Bearer realm="iota_scripts"'
                )
                self.assertNotIn(TOKEN, response.text)
            basic = requests.get(f"{self.base_url()}/iota/metrics", auth=("x", TOKEN), timeout=30)
            self.assertEqual(basic.status_code, 401)
            response = _metrics(self.base_url())
            self.assertEqual(response.status_code, 200, response.text)
            self.assertTrue(
                response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            )
            self.assertNotIn("Set-Cookie", response.headers)  # no session
            company = str(self.env.company.id)
            self.assertEqual(
                scraped(response.text, "iota_scripts_queue_depth", company=company),
                self.env["iota.script.execution"].search_count(
                    [("state", "=", "queued"), ("company_id", "=", self.env.company.id)]
                ),
            )


@tagged("post_install", "-at_install")
@skipUnless(BINARY, SKIP_REASON)
class TestMetricsPrometheus(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.dict(os.environ, {"IOTA_SCRIPTS_METRICS_TOKEN": TOKEN}))
        cls.company = cls.env["res.company"].create({"name": "IOTA Metrics Company"})
        cls.scripts = {}
        for key, source in (("ok", OK), ("boom", BOOM), ("plain", PLAIN), ("loops", LOOPS)):
            cls.scripts[key] = cls.env["iota.script"].create(
                {
                    "name": f"metrics {key}",
                    "key": f"metrics_{key}",
                    "company_id": cls.company.id,
                    "state": "active",
                    "source": source,
                    "timeout_sec": 1 if key == "loops" else 5,
                }
            )

    def _endpoint(self, key, path, **values):
        return self.env["iota.script.endpoint"].create(
            {"script_id": self.scripts[key].id, "path": path, "auth_mode": "public", **values}
        )

    def _call(self, path):
        return self.opener.get(self.base_url() + "/iota/api/v1" + path, timeout=30)

    def test_prometheus_scrapes_known_runs(self):
        db = self.env.cr.dbname
        company = str(self.company.id)
        before = _metrics(self.base_url()).text
        ok = self._endpoint("ok", "/metrics/ok", record_policy="failures")
        boom = self._endpoint("boom", "/metrics/boom")
        limited = self._endpoint("plain", "/metrics/limited", rate_limit_per_min=1)
        loops = self._endpoint("loops", "/metrics/loops")
        statuses = [self._call(p).status_code for p in ["/metrics/ok"] * 3]
        statuses += [self._call(p).status_code for p in ("/metrics/boom", "/metrics/nothing")]
        statuses += [self._call("/metrics/limited").status_code for _i in range(2)]
        statuses.append(self._call("/metrics/loops").status_code)
        self.assertEqual(statuses, [200, 200, 200, 500, 404, 200, 429, 504])
        # two queued runs and a dead letter: the gauges read at scrape time
        Execution = self.env["iota.script.execution"]
        for _i in range(2):
            Execution._enqueue(RunRequest(self.scripts["plain"], {"type": "manual"}))
        # a claimed run whose worker died, too many times: dead, never recorded by a run
        lost = Execution._enqueue(RunRequest(self.scripts["plain"], {"type": "manual"}))
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE iota_script_execution SET state = 'running', attempt = 1, max_attempts = 1,"
            " lease_until = now() at time zone 'UTC' - interval '1 second' WHERE id = %s",
            [lost.id],
        )
        Execution.invalidate_model()
        with self.assertLogs("odoo.addons.iota_scripts.models.iota_script_queue", "WARNING"):
            self.assertEqual(Execution._queue_requeue_expired(), ([], [lost.id]))
        event = as_engine(self.env["iota.script.event"]).create(
            {"type": "metrics.test", "origin": "script", "company_id": self.company.id}
        )
        as_engine(self.env["iota.script.delivery"]).create(
            {
                "event_id": event.id,
                "script_id": self.scripts["plain"].id,
                "company_id": self.company.id,
                "state": "dead",
            }
        )
        # the successful "ok" runs were not kept (failures only) and count all the same
        self.assertFalse(Execution.search([("script_id", "=", self.scripts["ok"].id)]))

        prometheus = PrometheusServer(self.base_url().split("//", 1)[1], TOKEN)
        self.addCleanup(prometheus.stop)
        of_company = f'db="{db}",company="{company}"'
        calls_before = scraped(before, "iota_scripts_sdk_calls_total", namespace="db", outcome="ok")
        restarts_before = scraped(before, "iota_scripts_runner_restarts_total")
        not_found_before = scraped(
            before, "iota_scripts_endpoint_requests_total", db=db, endpoint="", status="404"
        )
        expected = {
            'up{job="odoo"}': 1.0,
            f'iota_scripts_runs_total{{{of_company},script="metrics_ok",trigger="endpoint",state="succeeded"}}': 3.0,
            f'iota_scripts_runs_total{{{of_company},script="metrics_boom",state="failed"}}': 1.0,
            f'iota_scripts_runs_total{{{of_company},script="metrics_loops",state="timed_out"}}': 1.0,
            f'iota_scripts_runs_total{{{of_company},script="metrics_plain",trigger="manual",state="dead"}}': 1.0,
            f'iota_scripts_run_duration_seconds_count{{{of_company},script="metrics_ok"}}': 3.0,
            f'iota_scripts_run_cpu_seconds_count{{{of_company},script="metrics_ok"}}': 3.0,
            f"sum(iota_scripts_runs_total{{{of_company}}})": 7.0,
            f'iota_scripts_endpoint_requests_total{{db="{db}",endpoint="{ok.id}",status="200"}}': 3.0,
            f'iota_scripts_endpoint_requests_total{{db="{db}",endpoint="{boom.id}",status="500"}}': 1.0,
            f'iota_scripts_endpoint_requests_total{{db="{db}",endpoint="{limited.id}",status="429"}}': 1.0,
            f'iota_scripts_endpoint_requests_total{{db="{db}",endpoint="{loops.id}",status="504"}}': 1.0,
            f'iota_scripts_endpoint_requests_total{{db="{db}",endpoint="",status="404"}}': not_found_before
            + 1,
            f'iota_scripts_ratelimit_refusals_total{{db="{db}",endpoint="{limited.id}",reason="limited"}}': 1.0,
            'iota_scripts_sdk_calls_total{namespace="db",outcome="ok"}': calls_before + 3,
            # the looping run's runner ended (its cap) and was replaced
            "sum(iota_scripts_runner_restarts_total)": restarts_before + 1,
            f"iota_scripts_queue_depth{{{of_company}}}": 2.0,
            f"iota_scripts_dead_letters{{{of_company}}}": 1.0,
        }
        prometheus.wait_for(expected)
        age = prometheus.value(f"iota_scripts_queue_oldest_age_seconds{{{of_company}}}")
        self.assertTrue(0 <= age < 600, age)
        alive = prometheus.value("iota_scripts_runners_alive")
        busy = prometheus.value("iota_scripts_runners_busy")
        self.assertGreaterEqual(alive, 1)
        self.assertLessEqual(busy, alive)
        self.assertGreaterEqual(prometheus.value("iota_scripts_runner_starts_total"), 1)
        # bounded labels: no execution id, no path, no header ever becomes one
        labels = {
            name
            for series in prometheus.query('{__name__=~"iota_scripts_.+"}')
            for name in series["metric"]
        }
        self.assertLessEqual(
            labels,
            {
                "__name__",
                "job",
                "instance",
                "db",
                "company",
                "script",
                "trigger",
                "state",
                "le",
                "namespace",
                "outcome",
                "reason",
                "endpoint",
                "status",
            },
        )
        paths = prometheus.query('{__name__=~"iota_scripts_.+", endpoint=~".*/.*"}')
        self.assertEqual(paths, [])


@tagged("post_install", "-at_install")
@skipUnless(BINARY, SKIP_REASON)
class TestMetricsWorkers(RealCursorMixin, TransactionCase):
    """``odoo --workers=2`` on this database, its data committed (deleted afterwards)."""

    def _start_server(self):
        return start_workers(
            self,
            env={"IOTA_SCRIPTS_METRICS_TOKEN": TOKEN, "IOTA_SCRIPTS_METRICS_DIR": None},
            drop_env_prefixes=("PROMETHEUS_",),
        )

    def test_two_workers_add_up_and_a_dead_workers_gauges_go(self):
        script_id = self._committed_script(BUSY, timeout_sec=10)
        with self._env() as env:
            key = env["iota.script"].browse(script_id).key
            endpoint = env["iota.script.endpoint"].create(
                {
                    "script_id": script_id,
                    "path": f"/metrics-workers/{script_id}",
                    "auth_mode": "public",
                }
            )
            endpoint_id = endpoint.id
        server, base, data_dir = self._start_server()
        url = f"{base}/iota/api/v1/metrics-workers/{script_id}"
        runs = 8
        with ThreadPoolExecutor(2) as pool:
            statuses = list(
                pool.map(lambda _i: requests.get(url, timeout=60).status_code, range(runs))
            )
        self.assertEqual(statuses, [200] * runs)

        folders = os.listdir(os.path.join(data_dir, "iota_scripts_metrics"))
        self.assertEqual(folders, [f"{server.pid}-{_ticks(server.pid)}"])
        folder = os.path.join(data_dir, "iota_scripts_metrics", folders[0])
        writers = {
            int(f.split("_")[-1][:-3]) for f in os.listdir(folder) if f.startswith("counter_")
        }
        self.assertEqual(len(writers), 2, "both workers ran scripts")

        # whichever worker answers, the scrape holds both workers' runs
        for _i in range(4):
            text = _metrics(base).text
            self.assertEqual(scraped(text, "iota_scripts_runs_total", script=key), runs)
        prometheus = PrometheusServer(base.split("//", 1)[1], TOKEN)
        self.addCleanup(prometheus.stop)
        db = self.env.cr.dbname
        expected = {
            f'sum(iota_scripts_runs_total{{db="{db}",script="{key}",state="succeeded"}})': float(
                runs
            ),
            f'sum(iota_scripts_endpoint_requests_total{{endpoint="{endpoint_id}",status="200"}})': float(
                runs
            ),
            'sum(iota_scripts_sdk_calls_total{namespace="db",outcome="ok"})': float(runs),
            f'sum(iota_scripts_run_duration_seconds_bucket{{script="{key}",le="0.25"}})': 0.0,
            f'sum(iota_scripts_run_duration_seconds_count{{script="{key}"}})': float(runs),
        }
        prometheus.wait_for(expected)
        alive = prometheus.value("iota_scripts_runners_alive")
        self.assertGreaterEqual(alive, 2)  # a runner in each worker, summed

        # a worker dies: its live gauges are swept at the next scrape, its counters stay
        victim = min(writers)
        victim_gauges = os.path.join(folder, f"gauge_livesum_{victim}.db")
        self.assertTrue(os.path.exists(victim_gauges))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while os.path.exists(victim_gauges) and time.monotonic() < deadline:
            _metrics(base)
            time.sleep(0.5)
        self.assertFalse(os.path.exists(victim_gauges), "the dead worker's gauges were swept")
        self.assertEqual(scraped(_metrics(base).text, "iota_scripts_runs_total", script=key), runs)
        prometheus.wait_for(
            {f'sum(iota_scripts_runs_total{{db="{db}",script="{key}"}})': float(runs)}
        )


def _ticks(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[19].decode()
