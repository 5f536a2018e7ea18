import { markup } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { session } from "@web/session";
import { tourState } from "@web_tour/tour_service/tour_state";

/**
 * The first-run guided tour of IOTA Scripts: create a script from a template,
 * run it, read its output, and run it automatically with an automation rule.
 * Every step is a real screen of the app; in the automatic mode (the test,
 * tests/test_ui_onboarding.py) the same steps run by themselves.
 *
 * It starts by itself once per user: the first time an IOTA Scripts developer
 * who has not finished it opens a screen of the app (``session.iota_scripts_onboarding``,
 * models/web_tour_tour.py), unless another tour is running. "Guided Tour" in
 * the app's menu starts it again at any time.
 */
export const ONBOARDING_TOUR = "iota_scripts_onboarding";

const FORM = ".o_form_view";
const PANEL = `${FORM} .o_iota_scripts_run_panel`;
// The automation-rule steps need Odoo's "Settings" rights: without them the
// button is not there and the tour ends after the run's output.
const CAN_AUTOMATE = `${FORM} button[name=action_add_automation_rule]`;

function start(tourService) {
    tourService.startTour(ONBOARDING_TOUR, {
        mode: "manual",
        redirect: false,
        rainbowManMessage: _t("<b>Well done!</b> You wrote, ran and automated your first script."),
    });
}

registry.category("web_tour.tours").add(ONBOARDING_TOUR, {
    url: "/odoo/action-iota_scripts.iota_script_action",
    steps: () => [
        {
            trigger:
                ".o_main_navbar [data-menu-xmlid='iota_scripts.iota_scripts_menu_scripts_top']",
            content: markup(
                _t(
                    "Welcome to <b>IOTA Scripts</b>: JavaScript that runs safely inside Odoo. Your scripts live here."
                )
            ),
            tooltipPosition: "bottom",
            run: "click",
        },
        {
            trigger: ".dropdown-menu [data-menu-xmlid='iota_scripts.iota_scripts_menu_scripts']",
            content: _t("Open the list of scripts."),
            tooltipPosition: "right",
            run: "click",
        },
        {
            trigger: ".o_control_panel .o_list_button_add",
            content: _t("Create your first script."),
            tooltipPosition: "bottom",
            run: "click",
        },
        {
            trigger: ".o_iota_scripts_template_card[data-template=manual_report]",
            content: markup(
                _t(
                    "Start from a template. <i>Manual report</i> lists companies with the <code>sdk.db</code> API."
                )
            ),
            tooltipPosition: "bottom",
            run: "click",
        },
        {
            trigger: `${FORM} .o_form_button_save`,
            content: _t("Save it: the source becomes version 1 of the script."),
            tooltipPosition: "bottom",
            run: "click",
        },
        {
            trigger: `${FORM} .o_notebook a[name=run]`,
            content: _t("Saved. The Run page runs the script with an input of your choice."),
            tooltipPosition: "bottom",
            run: "click",
            // automatic runs (tests, videos): the save and the editor's typings can
            // take long on a loaded server
            timeout: 60000, // the most a step may ask for (web_tour)
        },
        {
            trigger: `${PANEL} .o_iota_scripts_run_button:enabled`,
            content: _t("Run it by hand. It runs in its own sandbox, as the script's run-as user."),
            tooltipPosition: "bottom",
            run: "click",
        },
        {
            trigger: `${PANEL}[data-status=done] .o_iota_scripts_run_result`,
            content: _t(
                "Its output: the result, the log lines and what the run used. Every run is kept under Recent Runs."
            ),
            tooltipPosition: "top",
        },
        {
            isActive: [CAN_AUTOMATE],
            trigger: CAN_AUTOMATE,
            content: _t("Now make it run by itself: when contacts are saved, for example."),
            tooltipPosition: "bottom",
            run: "click",
        },
        {
            isActive: [CAN_AUTOMATE],
            trigger: ".modal button[name=action_open_rule]",
            content: _t("Create the automation rule."),
            tooltipPosition: "top",
            run: "click",
        },
        {
            isActive: [".o_form_view .o_field_widget[name=action_server_ids]"],
            trigger:
                ".o_form_view .o_field_widget[name=action_server_ids]:contains('Manual report')",
            content: _t("Done: this rule runs your script whenever a contact is saved."),
            tooltipPosition: "top",
        },
    ],
});

/**
 * Starts the tour the first time a developer who has not finished it opens the app.
 * No dependencies: the action and tour services are looked up when needed, so
 * environments without them (unit tests) start this one as a no-op.
 */
export const onboardingService = {
    start(env) {
        if (!session.iota_scripts_onboarding) {
            return;
        }
        const onUpdate = () => {
            const { action, tour_service: tourService } = env.services;
            const controller = action?.currentController;
            const model = controller?.props?.resModel || controller?.action?.res_model || "";
            if (!tourService || !model.startsWith("iota.script")) {
                return;
            }
            env.bus.removeEventListener("ACTION_MANAGER:UI-UPDATED", onUpdate);
            // a tour already running (another onboarding, a test) keeps the stage
            if (!tourState.getCurrentTour()) {
                start(tourService);
            }
        };
        env.bus.addEventListener("ACTION_MANAGER:UI-UPDATED", onUpdate);
    },
};
registry.category("services").add("iota_scripts_onboarding", onboardingService);

/** "Guided Tour" in the app's menu: the tour again, from where the user is. */
function startOnboarding(env) {
    start(env.services.tour_service);
}
registry.category("actions").add("iota_scripts.onboarding", startOnboarding);
