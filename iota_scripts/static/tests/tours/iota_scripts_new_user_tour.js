import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { screenshot, waitUntil } from "./tour_helpers";

// A new integrator's path through the studio, with menus and buttons only
// (no debug mode), as issue 18 describes it: check the settings, create a
// script from a template, run it, schedule it (and meet the Draft warning),
// add an automation rule from the script, publish it as an endpoint.
// tests/test_ui_new_user.py checks what the path left in the database.

const FRAME = ".o_field_widget[name=source] .o_iota_scripts_monaco_frame";
const PANEL = ".o_form_view .o_iota_scripts_run_panel";
const SCHEDULES = ".o_form_view .o_field_widget[name=schedule_ids]";

function menu(xmlid, content) {
    return {
        content,
        trigger: `.o_main_navbar [data-menu-xmlid='iota_scripts.${xmlid}']`,
        run: "click",
    };
}

function subMenu(parent, child, content) {
    return [
        menu(parent, `Open the ${parent} menu`),
        {
            content,
            trigger: `.dropdown-menu [data-menu-xmlid='iota_scripts.${child}']`,
            run: "click",
        },
    ];
}

registry.category("web_tour.tours").add("iota_scripts_new_user_tour", {
    url: "/odoo",
    steps: () => [
        // 0. The app, under a name of its own
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the IOTA Scripts app",
            trigger: '.o_app[data-menu-xmlid="iota_scripts.iota_scripts_menu_root"]:contains("IOTA Scripts")',
            run: "click",
        },
        // 1. Settings: the site switch shows its effective state and its source
        ...subMenu("iota_scripts_menu_configuration", "iota_scripts_menu_settings", "Open the settings"),
        {
            content: "Scripts are enabled, by default, and the switch is read-only",
            trigger:
                ".o_setting_box#iota_scripts_enabled:has(.o_field_boolean input:checked:disabled) .o_iota_scripts_site_switch:contains('Enabled'):contains('default')",
        },
        screenshot("settings_site_switch"),
        // 5. A new script opens on its Source page with the template gallery
        ...subMenu("iota_scripts_menu_scripts_top", "iota_scripts_menu_scripts", "Open the scripts"),
        {
            content: "Create a script",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "The Source page is open (no Run page before the script exists)",
            trigger: ".o_form_view .o_notebook:not(:has(a[name=run])) a[name=source].active",
        },
        {
            content: "The template gallery is shown",
            trigger: ".o_iota_scripts_template_gallery .o_iota_scripts_template_card[data-template=manual_report]:contains('Run button')",
        },
        {
            content: "Monaco is ready",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines`,
        },
        screenshot("template_gallery"),
        {
            content: "Start from the manual report",
            trigger: ".o_iota_scripts_template_card[data-template=manual_report]",
            run: "click",
        },
        {
            content: "The card is chosen and the script named after it",
            trigger: ".o_iota_scripts_template_card[data-template=manual_report][aria-pressed=true]",
            async run() {
                await waitUntil(
                    () => document.querySelector(".o_field_widget[name=name] input")?.value === "Manual report",
                    "the name from the template"
                );
            },
        },
        {
            content: "The editor shows the template's source",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines:contains('companies')`,
        },
        ...stepUtils.saveForm(),
        // 8. Room for code
        {
            content: "Saved: the Run page appears; the editor takes most of the window",
            trigger: ".o_form_view .o_notebook a[name=run]",
            run() {
                const frame = document.querySelector(`${FRAME}`);
                if (frame.offsetHeight < 0.6 * window.innerHeight) {
                    throw new Error(`the editor is ${frame.offsetHeight}px high in a ${window.innerHeight}px window`);
                }
            },
        },
        {
            content: "Full screen",
            trigger: ".o_iota_scripts_monaco_fullscreen_toggle",
            run: "click",
        },
        {
            content: "The editor covers the window",
            trigger: ".o_iota_scripts_monaco_fullscreen .o_iota_scripts_monaco_frame",
            run() {
                const frame = document.querySelector(".o_iota_scripts_monaco_fullscreen .o_iota_scripts_monaco_frame");
                if (frame.offsetHeight < 0.85 * window.innerHeight) {
                    throw new Error(`full screen is ${frame.offsetHeight}px of ${window.innerHeight}px`);
                }
            },
        },
        screenshot("editor_fullscreen"),
        {
            content: "Back from full screen",
            trigger: ".o_iota_scripts_monaco_fullscreen .o_iota_scripts_monaco_fullscreen_toggle",
            run: "click",
        },
        // Run it from the Run page
        {
            content: "Open the Run page",
            trigger: ".o_form_view:not(:has(.o_iota_scripts_monaco_fullscreen)) .o_notebook a[name=run]",
            run: "click",
        },
        {
            content: "Run",
            trigger: `${PANEL} .o_iota_scripts_run_button:enabled`,
            run: "click",
        },
        {
            content: "The result is shown",
            trigger: `${PANEL}[data-status=done] .o_iota_scripts_run_result:contains('companies')`,
        },
        {
            // 10. one unit for peak heap, human-readable
            content: "The peak heap reads in B, KB or MB",
            trigger: `${PANEL} .o_iota_scripts_run_usage_memory`,
            run() {
                const text = document.querySelector(`${PANEL} .o_iota_scripts_run_usage_memory`).textContent;
                if (!/^\d+(\.\d)? (B|KB|MB)$/.test(text.trim())) {
                    throw new Error(`peak heap shown as "${text}"`);
                }
            },
        },
        // 8. Room for code: back on the Source page, the editor comes to the top
        {
            content: "Back to the Source page",
            trigger: ".o_form_view .o_notebook a[name=source]",
            run: "click",
        },
        {
            content: "The editor starts near the top of the window and fills it",
            trigger: `${FRAME}:iframe .monaco-editor .view-lines:contains('companies')`,
            run() {
                const box = document.querySelector(FRAME).getBoundingClientRect();
                const visible = Math.min(box.bottom, window.innerHeight) - box.top;
                if (box.top > 0.3 * window.innerHeight || visible < 0.6 * window.innerHeight) {
                    throw new Error(
                        `the editor starts ${box.top}px down and shows ${visible}px of ${window.innerHeight}px`
                    );
                }
            },
        },
        screenshot("editor_layout"),
        // 2/3. Schedule it: one way, the Schedules tab; the Draft warning
        {
            content: "Open the Schedules page",
            trigger: ".o_form_view .o_notebook a[name=schedules]",
            run: "click",
        },
        {
            content: "The page explains cron, timezone and missed slots",
            trigger: ".o_form_view .o_notebook .tab-pane.active:contains('missed slots')",
        },
        {
            content: "No Schedule button that would make an Odoo scheduled action",
            trigger: ".o_form_view .o_form_statusbar:not(:has(button[name=action_schedule]))",
        },
        {
            content: "Add a schedule",
            trigger: `${SCHEDULES} .o_field_x2many_list_row_add a`,
            run: "click",
        },
        {
            content: "Every five minutes",
            trigger: `${SCHEDULES} .o_data_row .o_field_widget[name=cron] input`,
            run: "edit */5 * * * *",
        },
        ...stepUtils.saveForm(),
        {
            content: "The form warns: a Draft script skips its slots",
            trigger: ".o_form_view .o_iota_scripts_waiting_schedules:contains('not active'):has(button[name=action_activate])",
        },
        screenshot("draft_schedule_warning"),
        // The dashboard counts it, and offers Activate right there
        menu("iota_scripts_menu_dashboard", "Open the dashboard"),
        {
            content: "The missed-slots card says a schedule waits for its script",
            trigger: ".o_iota_scripts_kpi[data-kpi=missed_slots]:contains('wait for an inactive script')",
            run: "click",
        },
        {
            content: "The waiting schedule is listed, with Activate Script",
            trigger: ".o_list_view .o_data_row:contains('Manual report') button[name=action_activate_script]",
            run: "click",
        },
        {
            content: "The script is active: nothing waits any more",
            trigger: ".o_list_view:not(:has(button[name=action_activate_script]))",
        },
        // 4. An automation rule from the script form
        ...subMenu("iota_scripts_menu_scripts_top", "iota_scripts_menu_scripts", "Back to the scripts"),
        {
            content: "Open the script",
            trigger: ".o_list_view .o_data_cell[name=name]:contains('Manual report')",
            run: "click",
        },
        {
            content: "A script with source opens on its Run page; no warning left",
            trigger: ".o_form_view:not(:has(.o_iota_scripts_waiting_schedules:visible)) .o_notebook a[name=run].active",
        },
        {
            content: "Its triggers: none yet",
            trigger: ".o_form_view button[name=action_view_server_actions]",
            run: "click",
        },
        {
            content: "The empty list says how to add one",
            trigger: ".o_view_nocontent:contains('Add Automation Rule'):contains('Schedules')",
        },
        {
            content: "Back to the script",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Manual report')",
            run: "click",
        },
        {
            content: "Add an automation rule",
            trigger: ".o_form_view button[name=action_add_automation_rule]",
            run: "click",
        },
        {
            content: "The dialog proposes contacts, on save",
            trigger: ".modal .o_field_widget[name=model_id] input",
            run() {
                const input = document.querySelector(".modal .o_field_widget[name=model_id] input");
                if (input.value !== "Contact") {
                    throw new Error(`model proposed: ${input.value}`);
                }
            },
        },
        {
            trigger: ".modal .o_field_widget[name=trigger] input[data-value=on_create_or_write]:checked",
        },
        screenshot("automation_rule_shortcut"),
        {
            content: "Create the rule",
            trigger: ".modal button[name=action_open_rule]",
            run: "click",
        },
        {
            content: "The rule opens: contacts, on save, with the action that runs this script",
            trigger: ".o_form_view .o_field_widget[name=action_server_ids]:contains('Manual report')",
        },
        {
            trigger: ".o_form_view .oe_title input",
            run() {
                const name = document.querySelector(".o_form_view .oe_title input").value;
                if (!name.includes("Manual report")) {
                    throw new Error(`rule named "${name}"`);
                }
            },
        },
        screenshot("automation_rule_created"),
        {
            content: "Back to the script",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Manual report')",
            run: "click",
        },
        // Publish an endpoint
        {
            content: "Publish it as an endpoint",
            trigger: ".o_form_view button[name=action_publish_endpoint]",
            run: "click",
        },
        {
            content: "The path",
            trigger: ".o_form_view .o_field_widget[name=path] input",
            run: "edit /new-user/report",
        },
        {
            content: "Public",
            trigger: ".o_form_view .o_field_widget[name=auth_mode] select",
            run: 'select "public"',
        },
        ...stepUtils.saveForm(),
        // 9. A copyable URL, the OpenAPI entry and a ready curl line
        {
            content: "The form shows the full URL, to copy",
            trigger: ".o_iota_scripts_endpoint_try .o_field_widget[name=full_url]:contains('/iota/api/v1/new-user/report') button",
        },
        {
            content: "... its OpenAPI entry",
            trigger: ".o_iota_scripts_endpoint_try .o_field_widget[name=openapi_url] a[href*='/iota/api/openapi.json?version=v1']",
        },
        {
            content: "... and a curl line",
            trigger: ".o_iota_scripts_endpoint_try .o_field_widget[name=curl_example]:contains('curl -X GET')",
        },
        screenshot("endpoint_try_it"),
        // 9. Subscriptions: an empty list that says what to do
        ...subMenu("iota_scripts_menu_scripts_top", "iota_scripts_menu_subscriptions", "Open the subscriptions"),
        {
            content: "The empty list explains event types and handlers",
            trigger: ".o_view_nocontent:contains('sdk.events.emit'):contains('Event handler')",
        },
    ],
});
