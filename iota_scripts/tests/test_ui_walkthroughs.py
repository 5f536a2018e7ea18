"""The documentation's walkthroughs, as browser tours on real Odoo.

Four walkthroughs: create and run a script (the onboarding tour), automate
on record save (``iota_scripts_automation_tour``), publish an endpoint and
debug a failed event run (``iota_scripts_walkthrough_tours.js``).

``TestWalkthroughs`` runs the two that no other test runs, in the normal suite.
``TestWalkthroughVideos`` runs all four slowly and keeps Chromium's screencast
of each (Odoo keeps it only when a tour fails); it is tagged ``iota_videos``
and not ``standard``, so only ``scripts/make-videos`` runs it, with Odoo's
``--screencasts DIR`` option. The videos are encoded with ffmpeg.
"""

import contextlib
import json
import time
from unittest.mock import patch

from odoo.tests import HttpCase, common, new_test_user, tagged
from odoo.tools import config

from ..models.web_tour_tour import ONBOARDING_TOUR
from .common import emit_on_create, work_queue

DEVELOPER = "base.group_user,iota_scripts.iota_scripts_group_developer"

HELLO = """\
// GET /greet/{name}: a greeting, as JSON.
export default async function (ctx) {
  const name = ctx.request.params.name;
  sdk.log.info("greeting", { name });
  return { status: 200, json: { greeting: `Hello, ${name}!` } };
}
"""

TAGGER = """\
// partner.created: mark each new contact for a welcome call.
export default async function (ctx) {
  const { id } = ctx.event.payload;
  await sdk.db.write("res.partner", [id], { comment: "Welcome call to do" });
  return { tagged: id };
}
"""

GREETER = """\
export default async function (ctx) {
  const rows = await sdk.db.read(ctx.records.model, ctx.records.ids, ["name"]);
  for (const row of rows) sdk.log.info(`new contact: ${row.name}`);
  return { seen: rows.length };
}
"""


class Walkthroughs:
    """Each walkthrough: its data, its tour, and what it must have done."""

    #: milliseconds between tour steps (0 in tests; the videos are slower)
    step_delay = 0

    def _tour(self, url, name, login, timeout=300):
        # the editor's typings, computed once per user (ormcached), before the tour
        # waits for them behind the test server's one-request-at-a-time lock
        user = self.env["res.users"].search([("login", "=", login)])
        self.env["iota.script"].with_user(user)._iota_editor_typings()
        self.start_tour(url, name, login=login, step_delay=self.step_delay, timeout=timeout)

    def walk_create_and_run(self):
        user = new_test_user(
            self.env, "iota_walk_new", groups=f"{DEVELOPER},base.group_system", tz="UTC"
        )
        self._tour("/odoo/action-iota_scripts.iota_script_action", ONBOARDING_TOUR, "iota_walk_new")
        script = self.env["iota.script"].search([("create_uid", "=", user.id)])
        self.assertEqual(
            script.execution_ids.filtered(lambda e: e.trigger == "manual").state, "succeeded"
        )

    def walk_automate_on_save(self):
        script = self.env["iota.script"].create(
            {"name": "Tour greeter", "state": "active", "source": GREETER}
        )
        self._tour("/odoo", "iota_scripts_automation_tour", "admin")
        self.assertEqual(script.execution_ids.state, "succeeded")

    def walk_publish_endpoint(self):
        self.env["iota.script"].create(
            {"name": "Greeting endpoint", "state": "active", "source": HELLO}
        )
        self._tour("/odoo", "iota_scripts_endpoint_tour", "admin")
        endpoint = self.env["iota.script.endpoint"].search([("path", "=", "/greet/{name}")])
        self.assertEqual(
            (endpoint.auth_mode, endpoint.methods, endpoint.rate_limit_per_min),
            ("public", "GET", 10),
        )
        run = endpoint.script_id.execution_ids
        self.assertEqual((run.trigger, run.state, run.http_status), ("endpoint", "succeeded", 200))
        self.assertEqual(json.loads(run.result_json)["json"], {"greeting": "Hello, Ada!"})

    def walk_debug_failed_event(self):
        # the handler runs as a user who may not write contacts: its delivery fails
        reader = new_test_user(
            self.env, "iota_walk_reader", groups="base.group_user", name="Read-only bot"
        )
        writer = new_test_user(
            self.env,
            "iota_walk_writer",
            groups="base.group_user,base.group_partner_manager",
            name="Contacts bot",
        )
        handler = self.env["iota.script"].create(
            {
                "name": "Tag new contacts",
                "state": "active",
                "source": TAGGER,
                "run_as_user_id": reader.id,
            }
        )
        self.env["iota.script.subscription"].create(
            {"event_type": "partner.created", "script_id": handler.id, "max_attempts": 1}
        )
        emit_on_create(self.env, "partner.created")
        partner = self.env["res.partner"].create({"name": "Grace Walkthrough"})
        work_queue(self)
        delivery = self.env["iota.script.delivery"].search([("script_id", "=", handler.id)])
        self.assertEqual(delivery.state, "dead")
        self.assertTrue(delivery.last_error.startswith("access_denied"), delivery.last_error)
        self._tour("/odoo", "iota_scripts_dead_letter_tour", "admin")
        self.assertEqual(
            (handler.run_as_user_id, delivery.state, delivery.replay_count), (writer, "queued", 1)
        )
        work_queue(self)
        self.assertEqual(delivery.state, "done")
        self.assertIn("Welcome call to do", partner.comment)
        self.assertEqual(delivery.execution_id.user_id, writer)


def _demo_actions_off(env):
    # the demo rule on contacts would run on the contacts the tours create
    demo = env["ir.actions.server"].search([("state", "=", "iota_script")])
    demo.base_automation_id.active = False


@tagged("post_install", "-at_install")
class TestWalkthroughs(Walkthroughs, HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        _demo_actions_off(self.env)

    def test_publish_an_endpoint(self):
        self.walk_publish_endpoint()

    def test_debug_a_failed_event_run(self):
        self.walk_debug_failed_event()


def _cap_pauses(frames, longest=2.5):
    """Shortens every still stretch of a screencast to ``longest`` seconds.

    Chromium sends a frame when the page changes; a page that waits for the
    server (one request at a time in tests, slow on a loaded machine) would
    stand still for as long in the video. Frames before a long gap move later;
    the last frame keeps its time (Odoo's encoder ends it at "now").
    """
    original = [frame["timestamp"] for frame in frames]
    shift = 0.0
    for i in range(len(frames) - 1, 0, -1):
        gap = original[i] - original[i - 1]
        if gap > longest:
            shift += gap - longest
        frames[i - 1]["timestamp"] = original[i - 1] + shift


@contextlib.contextmanager
def _keep_screencast(name):
    """Saves the tour's screencast as ``<name>_screencast_<time>.mp4`` when it passes."""
    stop = common.ChromeBrowser.stop

    def stop_and_save(browser):
        if browser.screencasts_dir and browser.screencast_frames and not browser.had_failure:
            browser.stop_screencast()
            # the frames still in flight are written before Odoo decodes them all
            time.sleep(1.0)
            _cap_pauses(browser.screencast_frames)
            browser._save_screencast(prefix=name)
        stop(browser)

    with patch.object(common.ChromeBrowser, "stop", stop_and_save):
        yield


@tagged("post_install", "-at_install", "-standard", "iota_videos")
class TestWalkthroughVideos(Walkthroughs, HttpCase):
    step_delay = 700

    def setUp(self):
        super().setUp()
        self.assertTrue(
            config["screencasts"], "run by scripts/make-videos (Odoo's --screencasts DIR)"
        )
        _demo_actions_off(self.env)

    def test_create_and_run_a_script(self):
        with _keep_screencast("create-and-run"):
            self.walk_create_and_run()

    def test_automate_on_record_save(self):
        with _keep_screencast("automate-on-save"):
            self.walk_automate_on_save()

    def test_publish_an_endpoint(self):
        with _keep_screencast("publish-an-endpoint"):
            self.walk_publish_endpoint()

    def test_debug_a_failed_event_run(self):
        with _keep_screencast("debug-a-failed-event"):
            self.walk_debug_failed_event()
