"""OpenTelemetry traces (issue 11 §2), exported to a FAKE collector on loopback.

No OpenTelemetry collector runs here: ``tracing_servers.FakeCollector`` is a
loopback HTTP server that receives what the real OTLP/HTTP exporter sends and
decodes it with ``opentelemetry-proto``. Everything else is real: the
engine's V8 runners, PostgreSQL, the queue and the event bus, and (for
:class:`TestTracingWorkers`) ``odoo --workers=2`` with a cron worker.

* :class:`TestTracingOff`: no exporter configured: no provider, no span, no
  trace context stored.
* :class:`TestTracingInProcess`: a run and its sdk calls in this process:
  names, kinds, semantic-convention attributes, error status, and the trace
  context stored with what the run queued and emitted.
* :class:`TestTracingWorkers`: ONE endpoint call sent with a ``traceparent``
  enqueues a run (``sdk.scripts.enqueue``), which emits an event
  (``sdk.events.emit``), whose subscribed handler calls ``sdk.http``: one
  trace id everywhere, each span under the right parent, across the HTTP
  worker and the cron worker, and the remote API receives the trace too.
"""

import json
import os
import time
from types import SimpleNamespace
from unittest.mock import patch

import requests
from odoo.tests import TransactionCase, tagged

from ..tools.observability import tracing
from .common import IotaScriptsCase, RealCursorMixin
from .odoo_workers import start_workers
from .tracing_servers import FakeCollector, RecordingApi, Tunnel

#: The environment a traced process gets (the batch is sent every 100 ms)
OTEL_KEYS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "IOTA_SCRIPTS_TRACING_ENDPOINT",
)
# a public address (sdk.http blocks loopback); the Tunnel proxy brings it back home
REMOTE = "93.184.215.14"
SPAN_SERVER, SPAN_INTERNAL, SPAN_CLIENT, SPAN_PRODUCER, SPAN_CONSUMER = 2, 1, 3, 4, 5
STATUS_ERROR = 2


def _parent(traceparent):
    """``(trace id, parent span id)`` of a sampled W3C traceparent (flags 01, or 03:
    sampled and random trace id)."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1, traceparent
    return trace_id, span_id


def _no_otel_env():
    return {k: v for k, v in os.environ.items() if k not in OTEL_KEYS}


@tagged("post_install", "-at_install")
class TestTracingOff(IotaScriptsCase):
    def test_no_exporter_no_provider_no_spans(self):
        collector = FakeCollector()
        self.addCleanup(collector.stop)
        with patch.dict(os.environ, _no_otel_env(), clear=True):
            tracing.reset_for_tests()
            self.addCleanup(tracing.reset_for_tests)
            target = self._script("export default () => 1;", key="otel_off_target")
            script = self._script(
                """export default async () => {
                  await sdk.db.searchCount("res.partner", []);
                  await sdk.events.emit("otel.off", {n: 1});
                  await sdk.scripts.enqueue("otel_off_target", {n: 2});
                  return 1;
                }""",
            )
            execution = script.action_run()
            self.assertEqual(execution.state, "succeeded", execution.error_message)
            self.assertIsNone(tracing.tracer())
            self.assertIsNone(tracing._provider, "no provider was set up")
            self.assertIsNone(tracing.current_trace_id())
            self.assertEqual(tracing.carrier(), (False, False))
            event = self.env["iota.script.event"].search([("type", "=", "otel.off")])
            queued = self.env["iota.script.execution"].search([("script_id", "=", target.id)])
            self.assertEqual(len(event), 1)
            self.assertEqual(len(queued), 1)
            self.assertEqual((event.trace_parent, queued.trace_parent), (False, False))
        time.sleep(0.5)
        self.assertEqual((collector.requests, collector.spans), (0, []))


@tagged("post_install", "-at_install")
class TestTracingInProcess(IotaScriptsCase):
    def setUp(self):
        super().setUp()
        self.collector = FakeCollector()
        self.addCleanup(self.collector.stop)
        env = {**_no_otel_env(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": self.collector.endpoint}
        self.startPatcher(patch.dict(os.environ, env, clear=True))
        tracing.reset_for_tests()
        # after every test: this process traces nothing more
        self.addCleanup(tracing.reset_for_tests)

    def _spans(self, *names):
        self.assertTrue(tracing.flush())
        return self.collector.wait_for(list(names), timeout_sec=10)

    def test_a_run_and_its_sdk_calls(self):
        target = self._script("export default () => 1;", key="otel_target")
        script = self._script(
            """export default async () => {
              await sdk.db.search("res.partner", [["id", ">", 0]], {limit: 1});
              await sdk.events.emit("otel.inproc", {n: 1});
              await sdk.scripts.enqueue("otel_target", {n: 2});
              try { await sdk.http.get("http://127.0.0.1:9/x?token=s3cret"); } catch (e) {}
              return 1;
            }""",
            key="otel_source",
        )
        execution = script.action_run()
        self.assertEqual(execution.state, "succeeded", execution.error_message)
        spans = self._spans(
            "iota_scripts.run otel_source",
            "db.search res.partner",
            "events.emit otel.inproc",
            "scripts.enqueue otel_target",
            "http GET 127.0.0.1",
        )
        run = spans["iota_scripts.run otel_source"]
        self.assertEqual(run.kind, SPAN_INTERNAL)
        self.assertEqual(run.parent_span_id, "")  # a run by hand starts its trace
        self.assertEqual(
            {k: run.attributes[k] for k in run.attributes if k.startswith("iota_scripts.")},
            {
                "iota_scripts.script.key": "otel_source",
                "iota_scripts.script.id": script.id,
                "iota_scripts.company.id": self.company_a.id,
                "iota_scripts.trigger": "manual",
                "iota_scripts.execution.id": execution.id,
                "iota_scripts.version": execution.version_id.number,
                "iota_scripts.state": "succeeded",
            },
        )
        self.assertEqual(run.resource["service.name"], "odoo-iota-scripts")
        for name, span in spans.items():
            self.assertEqual(span.trace_id, run.trace_id, name)
            if span is not run:
                self.assertEqual(span.parent_span_id, run.span_id, name)
        db = spans["db.search res.partner"]
        self.assertEqual(db.kind, SPAN_CLIENT)
        self.assertEqual(
            {k: db.attributes.get(k) for k in ("db.system", "db.operation", "db.collection.name")},
            {
                "db.system": "postgresql",
                "db.operation": "search",
                "db.collection.name": "res.partner",
            },
        )
        emit = spans["events.emit otel.inproc"]
        self.assertEqual(emit.kind, SPAN_PRODUCER)
        self.assertEqual(emit.attributes["messaging.destination.name"], "otel.inproc")
        http = spans["http GET 127.0.0.1"]
        self.assertEqual(http.kind, SPAN_CLIENT)
        self.assertEqual(http.attributes["url.full"], "http://127.0.0.1:9/x?token=REDACTED")
        self.assertEqual(http.attributes["server.address"], "127.0.0.1")
        self.assertEqual(http.attributes["http.request.method"], "GET")
        self.assertEqual(http.attributes["error.type"], "destination_blocked")
        self.assertEqual(
            (http.status_code, http.status_message), (STATUS_ERROR, "destination_blocked")
        )
        self.assertNotIn("s3cret", json.dumps([s.attributes for s in self.collector.spans]))

        # what the run queued and emitted carries the span that did it
        event = self.env["iota.script.event"].search([("type", "=", "otel.inproc")])
        self.assertEqual(_parent(event.trace_parent), (run.trace_id, emit.span_id))
        queued = self.env["iota.script.execution"].search([("script_id", "=", target.id)])
        enqueue = spans["scripts.enqueue otel_target"]
        self.assertEqual(_parent(queued.trace_parent), (run.trace_id, enqueue.span_id))
        # the worker resumes that trace (run here, as the cron job would)
        queued._queue_run_one(cancel=None)
        resumed = self._spans("iota_scripts.run otel_target")["iota_scripts.run otel_target"]
        self.assertEqual(resumed.kind, SPAN_CONSUMER)
        self.assertEqual(
            (resumed.trace_id, resumed.parent_span_id), (run.trace_id, enqueue.span_id)
        )

    def test_a_failed_run_is_an_error_with_its_code(self):
        script = self._script("export default () => { throw new TypeError('nope'); };")
        execution = script.action_run()
        self.assertEqual(execution.state, "failed")
        run = self._spans("iota_scripts.run ")["iota_scripts.run "]
        self.assertEqual(run.status_code, STATUS_ERROR)
        self.assertEqual(run.status_message, execution.error_code)
        self.assertEqual(run.attributes["error.type"], execution.error_code)
        self.assertEqual(run.attributes["iota_scripts.state"], "failed")

    def test_current_trace_id_for_log_lines(self):
        self.assertIsNone(tracing.current_trace_id())
        caller = "00-" + "c" * 32 + "-" + "d" * 16 + "-01"
        hreq = SimpleNamespace(method="GET", path="/x", headers={"traceparent": caller})
        with tracing.endpoint_span(hreq) as span:
            self.assertEqual(tracing.current_trace_id(), "c" * 32)
            span.answered(503)
        self.assertIsNone(tracing.current_trace_id())
        server = self._spans("GET /iota/api")["GET /iota/api"]
        self.assertEqual((server.trace_id, server.parent_span_id), ("c" * 32, "d" * 16))
        self.assertEqual((server.kind, server.status_code), (SPAN_SERVER, STATUS_ERROR))
        self.assertEqual(server.attributes["error.type"], "503")

    def test_a_broken_traceparent_starts_a_new_trace(self):
        self.assertIsNone(tracing._extract("00-zz-00-01"))
        self.assertIsNone(tracing._extract("00-" + "a" * 32 + "-" + "b" * 16 + "-01\nX: y"))
        self.assertIsNotNone(tracing._extract("00-" + "a" * 32 + "-" + "b" * 16 + "-01"))


@tagged("post_install", "-at_install")
class TestTracingWorkers(RealCursorMixin, TransactionCase):
    """``odoo --workers=2`` and a cron worker on this database, its data committed."""

    def _start_server(self, extra_env):
        """``odoo --workers=2`` and one cron worker (it runs the queue and the
        event dispatcher), with no OTEL_* of this process; returns its URL."""
        env = dict.fromkeys(OTEL_KEYS)  # None: removed
        env.update(extra_env)
        _server, base, _data_dir = start_workers(self, env=env, workers=2, cron_threads=1)
        return base

    def _cleanup_events(self, event_type):
        with self._env() as env:
            env["iota.script.event"].search([("type", "=", event_type)]).unlink()

    def test_one_trace_from_the_endpoint_through_queue_and_event_to_http(self):
        event_type = f"otel.flow.{os.getpid()}"
        self.addCleanup(self._cleanup_events, event_type)
        # the handler: called for the event, calls the remote API
        handler_id = self._committed_script(
            f"""export default async () => {{
              const r = await sdk.http.get("http://{REMOTE}/hook", {{timeoutSec: 10}});
              return r.status;
            }}""",
            allowed_hosts=REMOTE,
            timeout_sec=15,
        )
        emitter_id = self._committed_script(
            f"""export default async () => {{
              await sdk.events.emit("{event_type}", {{n: 1}});
              return 1;
            }}"""
        )
        with self._env() as env:
            emitter_key = env["iota.script"].browse(emitter_id).key
            handler_key = env["iota.script"].browse(handler_id).key
            env["iota.script.subscription"].create(
                {"event_type": event_type, "script_id": handler_id}
            )
        caller_id = self._committed_script(
            f"""export default async () => {{
              await sdk.scripts.enqueue("{emitter_key}", {{n: 2}});
              return {{queued: true}};
            }}"""
        )
        with self._env() as env:
            caller_key = env["iota.script"].browse(caller_id).key
            env["iota.script.endpoint"].create(
                {
                    "script_id": caller_id,
                    "path": f"/otel-flow/{caller_id}",
                    "auth_mode": "public",
                    "methods": "POST",
                }
            )

        collector, api = FakeCollector(), RecordingApi()
        tunnel = Tunnel(api.port)
        for server in (collector, api, tunnel):
            self.addCleanup(server.stop)
        base = self._start_server(
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.endpoint,
                "OTEL_SERVICE_NAME": "odoo-under-test",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "IOTA_SCRIPTS_HTTP_PROXY": tunnel.url,
            }
        )
        caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        response = requests.post(
            f"{base}/iota/api/v1/otel-flow/{caller_id}",
            json={},
            headers={"traceparent": f"00-{caller_trace}-{caller_span}-01", "tracestate": "k=v"},
            timeout=60,
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json(), {"queued": True})

        spans = collector.wait_for(
            [
                f"POST /iota/api/v1/otel-flow/{caller_id}",
                f"iota_scripts.run {caller_key}",
                f"scripts.enqueue {emitter_key}",
                f"iota_scripts.run {emitter_key}",
                f"events.emit {event_type}",
                f"iota_scripts.run {handler_key}",
                f"http GET {REMOTE}",
            ],
            timeout_sec=120,
        )
        (server_span, caller, enqueue, emitter, emit, handler, http) = spans.values()
        # one trace: the caller's
        self.assertEqual({s.trace_id for s in spans.values()}, {caller_trace})
        # each span under the right parent
        parents = [
            (server_span, caller_span),
            (caller, server_span.span_id),
            (enqueue, caller.span_id),
            (emitter, enqueue.span_id),
            (emit, emitter.span_id),
            (handler, emit.span_id),
            (http, handler.span_id),
        ]
        for span, parent in parents:
            self.assertEqual(span.parent_span_id, parent, span.name)
        kinds = (SPAN_SERVER, SPAN_INTERNAL, SPAN_PRODUCER, SPAN_CONSUMER)
        kinds += (SPAN_PRODUCER, SPAN_CONSUMER, SPAN_CLIENT)
        self.assertEqual(tuple(s.kind for s, _p in parents), kinds)
        self.assertEqual(server_span.attributes["http.response.status_code"], 200)
        self.assertEqual(
            server_span.attributes["http.route"], f"/iota/api/v1/otel-flow/{caller_id}"
        )
        self.assertEqual(http.attributes["http.response.status_code"], 200)
        self.assertEqual(http.attributes["url.full"], f"http://{REMOTE}/hook")
        self.assertEqual(handler.attributes["iota_scripts.trigger"], "event")
        self.assertEqual(server_span.resource["service.name"], "odoo-under-test")
        # the endpoint ran in an HTTP worker, the queued runs in the cron worker
        self.assertNotEqual(server_span.resource["process.pid"], handler.resource["process.pid"])
        # the remote API got the trace, under the http span
        self.assertEqual(tunnel.connects, [f"{REMOTE}:80"])
        [received] = api.received
        self.assertEqual(_parent(received["traceparent"]), (caller_trace, http.span_id))
        self.assertEqual(received.get("tracestate"), "k=v")
        # stored on the way: the queued runs, the event and its delivery
        with self._env() as env:
            event = env["iota.script.event"].search([("type", "=", event_type)])
            delivery = env["iota.script.delivery"].search([("event_id", "=", event.id)])
            self.assertEqual(_parent(event.trace_parent), (caller_trace, emit.span_id))
            self.assertEqual(delivery.trace_parent, event.trace_parent)
            self.assertEqual(delivery.execution_id.trace_parent, event.trace_parent)
            self.assertEqual(delivery.execution_id.state, "succeeded")
            self.assertEqual(event.trace_state, "k=v")
