"""The first-run guided tour (static/src/onboarding/onboarding_tour.js) in a real browser."""

from odoo.tests import HttpCase, common, new_test_user, tagged

from ..models.web_tour_tour import ONBOARDING_TOUR

DEVELOPER = "base.group_user,iota_scripts.iota_scripts_group_developer"


@tagged("post_install", "-at_install")
class TestOnboardingUi(HttpCase):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(common.websocket, "websocket-client is required for the UI tests")
        self.tour = self.env["web_tour.tour"].search([("name", "=", ONBOARDING_TOUR)])
        self.assertEqual(len(self.tour), 1, "the tour's record ships with the addon")

    def _pending(self, user):
        # what session_info() sends as iota_scripts_onboarding (the browser tests read it there)
        return self.env["web_tour.tour"].with_user(user)._iota_onboarding_pending()

    def test_offered_to_each_new_developer_until_finished(self):
        developer = new_test_user(self.env, "iota_onboard_dev", groups=DEVELOPER)
        plain = new_test_user(
            self.env,
            "iota_onboard_user",
            groups="base.group_user,iota_scripts.iota_scripts_group_user",
        )
        outsider = new_test_user(self.env, "iota_onboard_outsider", groups="base.group_user")
        # Odoo's own onboarding flag stays off: the tour does not depend on it
        self.assertFalse(developer.tour_enabled)
        self.assertTrue(self._pending(developer))
        self.assertFalse(self._pending(plain))  # cannot create scripts: nothing to walk through
        self.assertFalse(self._pending(outsider))
        self.env["web_tour.tour"].with_user(developer).consume(ONBOARDING_TOUR)
        self.assertFalse(self._pending(developer))
        self.assertIn(developer, self.tour.user_consumed_ids)

    def test_it_starts_by_itself_the_first_time_the_app_opens(self):
        new_test_user(self.env, "iota_onboard_first", groups=DEVELOPER)
        # no tour is running: the app's first screen starts the onboarding, in
        # manual mode, with its first step pointed at
        code = """
            const deadline = Date.now() + 20000;
            (function check() {
                const pointer = document.querySelector(".o_tour_pointer");
                const name = localStorage.getItem("current_tour");
                const mode = JSON.parse(localStorage.getItem("current_tour.config") || "{}").mode;
                if (pointer && name === "TOUR_NAME" && mode === "manual"
                        && pointer.textContent.includes("Welcome to IOTA Scripts")) {
                    console.log("test successful");
                } else if (Date.now() > deadline) {
                    console.error("no onboarding: " + name + " " + mode + " " + (pointer && pointer.textContent));
                } else {
                    setTimeout(check, 100);
                }
            })();
        """.replace("TOUR_NAME", ONBOARDING_TOUR)
        self.browser_js(
            "/odoo/action-iota_scripts.iota_script_action", code, login="iota_onboard_first"
        )

    def test_a_new_developer_walks_it_from_start_to_end(self):
        user = new_test_user(
            self.env, "iota_onboard_walk", groups=f"{DEVELOPER},base.group_system", tz="UTC"
        )
        self.start_tour(
            "/odoo/action-iota_scripts.iota_script_action",
            ONBOARDING_TOUR,
            login="iota_onboard_walk",
            timeout=180,
        )
        script = self.env["iota.script"].search([("create_uid", "=", user.id)])
        self.assertEqual(script.name, "Manual report")
        self.assertEqual(
            script.execution_ids.filtered(lambda e: e.trigger == "manual").state, "succeeded"
        )
        actions = self.env["ir.actions.server"].search([("iota_script_id", "=", script.id)])
        rule = self.env["base.automation"].search([("action_server_ids", "in", actions.ids)])
        self.assertEqual((rule.model_id.model, rule.trigger), ("res.partner", "on_create_or_write"))

    def test_guided_tour_menu_starts_it_again(self):
        menu = self.env.ref("iota_scripts.iota_scripts_menu_onboarding")
        self.assertEqual(menu.parent_id, self.env.ref("iota_scripts.iota_scripts_menu_root"))
        self.assertEqual(
            (menu.action._name, menu.action.tag), ("ir.actions.client", "iota_scripts.onboarding")
        )
        new_test_user(self.env, "iota_onboard_again", groups=DEVELOPER)
        self.env["web_tour.tour"].with_user(
            self.env["res.users"].search([("login", "=", "iota_onboard_again")])
        ).consume(ONBOARDING_TOUR)
        # finished: nothing starts by itself; the menu starts it
        code = """
            const deadline = Date.now() + 20000;
            setTimeout(() => {
                if (localStorage.getItem("current_tour")) {
                    console.error("started by itself after it was finished");
                    return;
                }
                document.querySelector(".o_main_navbar [data-menu-xmlid='iota_scripts.iota_scripts_menu_onboarding']").click();
                (function check() {
                    const pointer = document.querySelector(".o_tour_pointer");
                    if (pointer && localStorage.getItem("current_tour") === "TOUR_NAME") {
                        console.log("test successful");
                    } else if (Date.now() > deadline) {
                        console.error("the Guided Tour menu started nothing");
                    } else {
                        setTimeout(check, 100);
                    }
                })();
            }, 2000);
        """.replace("TOUR_NAME", ONBOARDING_TOUR)
        self.browser_js(
            "/odoo/action-iota_scripts.iota_script_action",
            code,
            ready="odoo.isReady",
            login="iota_onboard_again",
        )
