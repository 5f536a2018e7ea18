import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";
import { screenshot } from "./tour_helpers";

// What a new user does first, through the UI only: open the Scripts app, run
// the demo scripts from the "Run" dialog, then hook a script to an automation
// rule on contacts, create a contact and read the run's logs.
//
// screenshot(NAME) asks the test (see tests/test_ui.py) for a screenshot of
// the page at that point.

function openScriptsApp() {
    return [
        stepUtils.showAppsMenuItem(),
        {
            content: "Open the Scripts app",
            trigger: '.o_app[data-menu-xmlid="iota_scripts.iota_scripts_menu_root"]',
            run: "click",
        },
        {
            content: "The scripts are listed",
            trigger: ".o_list_view .o_data_row",
        },
    ];
}

function runFromDialog(name, { result, log, shot }) {
    return [
        {
            content: `Open the script ${name}`,
            trigger: `.o_list_view .o_data_cell[name=name]:contains("${name}")`,
            run: "click",
        },
        {
            // the Run page comes first (static/src/run_panel/)
            content: "Open the Source page",
            trigger: ".o_form_view .o_notebook a[name=source]",
            run: "click",
        },
        {
            content: "The source is shown in the code editor",
            trigger: ".o_form_view .o_field_widget[name=source] .o_iota_scripts_monaco_frame:iframe .monaco-editor .view-lines",
        },
        ...(shot ? [screenshot(`${shot}_form`)] : []),
        {
            content: "Open the Run dialog",
            trigger: ".o_form_view button[name=action_open_run_wizard]",
            run: "click",
        },
        {
            content: "Run it",
            trigger: ".modal button[name=action_run]",
            run: "click",
        },
        {
            content: "The run succeeded",
            trigger: ".modal .o_field_widget[name=state]:contains('Succeeded')",
        },
        {
            content: "The result is shown",
            trigger: `.modal .o_field_widget[name=result_json]:contains('${result}')`,
        },
        ...(shot ? [screenshot(`${shot}_result`)] : []),
        ...(log
            ? [
                  {
                      content: "Show the logs",
                      trigger: ".modal .o_notebook a:contains('Logs')",
                      run: "click",
                  },
                  {
                      content: "The log line is shown",
                      trigger: `.modal .o_field_widget[name=log_text]:contains('${log}')`,
                  },
                  ...(shot ? [screenshot(`${shot}_logs`)] : []),
              ]
            : []),
        {
            content: "Close the dialog",
            trigger: ".modal .modal-footer button:contains('Close')",
            run: "click",
        },
        {
            content: "The dialog is closed",
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "Back to the list",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Scripts')",
            run: "click",
        },
        {
            trigger: ".o_list_view .o_data_row",
        },
    ];
}

registry.category("web_tour.tours").add("iota_scripts_demo_scripts_tour", {
    url: "/odoo",
    steps: () => [
        ...openScriptsApp(),
        ...runFromDialog("Normalise contact e-mails", { result: '"checked": 0' }),
        ...runFromDialog("Today's contacts", { result: '"count"', log: "contacts created on" }),
        ...runFromDialog("Top companies by contacts", {
            result: '"top"',
            log: "report ready",
            shot: "demo_top_companies",
        }),
    ],
});

registry.category("web_tour.tours").add("iota_scripts_automation_tour", {
    url: "/odoo",
    steps: () => [
        // 1. An automation rule "On save" on contacts that runs the script
        //    (Odoo 18 offers "On save" for creation; "On creation" is deprecated).
        {
            content: "Open the automation rules",
            trigger: ".o_main_navbar",
            run: "goToUrl /odoo/action-base_automation.base_automation_act",
        },
        {
            content: "Create a rule",
            trigger: ".o_control_panel button.o-kanban-button-new, .o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Name the rule",
            trigger: ".o_form_renderer .oe_title .o_input",
            run: "edit Greet new contacts",
        },
        {
            content: "Choose the model",
            trigger: '.o_form_renderer .o_group div[name="model_id"] input',
            run: "edit res.partner",
        },
        {
            content: "Pick Contact",
            trigger: ".dropdown-menu li a:contains(Contact):not(:has(.fa-spin))",
            run: "click",
        },
        {
            content: "Trigger: On save",
            trigger: ".o_form_renderer #trigger_0",
            run: `select "on_create_or_write"`,
        },
        {
            content: "Add an action",
            trigger: '.o_form_renderer div[name="action_server_ids"] button',
            run: "click",
        },
        {
            content: "Action type: Run JavaScript script",
            trigger: ".modal .o_form_renderer [name='state'] span[value*='iota_script']",
            run: "click",
        },
        {
            content: "Choose the script",
            trigger: ".modal .o_form_renderer div[name='iota_script_id'] input",
            run: "edit Tour greeter",
        },
        {
            // issue 18: triggers run active scripts only, so only those are offered
            content: "The Draft script of the same name is not offered",
            trigger: ".dropdown-menu:has(li a:contains('Tour greeter')):not(:has(li a:contains('Tour greeter (draft)')))",
        },
        {
            content: "Pick it",
            trigger: ".dropdown-menu li a:contains('Tour greeter'):not(:contains('draft')):not(:has(.fa-spin))",
            run: "click",
        },
        {
            content: "Save the action",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            trigger: "body:not(:has(.modal))",
        },
        {
            content: "The action is listed on the rule, with its script",
            trigger: '.o_form_renderer div[name="action_server_ids"]:contains("Run script: Tour greeter")',
        },
        ...stepUtils.saveForm(),
        screenshot("automation_rule"),
        // 2. Create a contact.
        {
            content: "Open the contacts",
            trigger: ".o_form_saved, .o_form_readonly",
            run: "goToUrl /odoo/action-base.action_partner_form",
        },
        {
            content: "New contact",
            trigger: ".o_control_panel button.o-kanban-button-new, .o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_form_view .o_field_widget[name=name] input",
            run: "edit Ada Tour Lovelace",
        },
        ...stepUtils.saveForm(),
        // 3. The script ran: its execution shows the log line.
        ...openScriptsApp(),
        {
            content: "Open the script",
            trigger: ".o_list_view .o_data_cell[name=name]:contains('Tour greeter')",
            run: "click",
        },
        {
            // one run: the contact was saved once (see ir_actions_server.py)
            content: "Open its runs",
            trigger: ".o_form_view button[name=action_view_executions] .o_stat_value:contains('1')",
            run: "click",
        },
        {
            content: "Open the run of the automation rule",
            trigger: ".o_list_view .o_data_row .o_data_cell:contains('Automation Rule')",
            run: "click",
            // the test server answers one request at a time: on a loaded machine the
            // editor's typings request (the form above) can hold the list for seconds
            timeout: 60000, // the most a step may ask for (web_tour)
        },
        {
            content: "The run succeeded",
            trigger: ".o_form_view .o_field_widget[name=state] .o_arrow_button_current:contains('Succeeded')",
        },
        {
            content: "It ran for the new contact",
            trigger: ".o_form_view .o_field_widget[name=res_model]:contains('res.partner')",
        },
        {
            content: "The log line names the contact",
            trigger: ".o_form_view .o_field_widget[name=log_json] .o_iota_scripts_log_message:contains('new contact: Ada Tour Lovelace')",
        },
        screenshot("automation_execution"),
    ],
});
