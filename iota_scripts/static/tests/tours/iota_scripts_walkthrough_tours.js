import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_service/tour_utils";

// Two walkthroughs of the documentation's videos (scripts/make-videos), run as
// tests by tests/test_ui_walkthroughs.py: publish a script as an HTTP
// endpoint and call it; find a failed event run in Dead Letters, fix its
// cause and replay it.

registry.category("web_tour.tours").add("iota_scripts_endpoint_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open the endpoints",
            trigger: ".o_main_navbar",
            run: "goToUrl /odoo/action-iota_scripts.iota_script_endpoint_action",
        },
        {
            content: "New endpoint",
            trigger: ".o_control_panel .o_list_button_add",
            run: "click",
        },
        {
            content: "Choose the script",
            trigger: ".o_form_view div[name='script_id'] input",
            run: "edit Greeting endpoint",
        },
        {
            content: "Pick it",
            trigger: ".dropdown-menu li a:contains('Greeting endpoint'):not(:has(.fa-spin))",
            run: "click",
        },
        {
            content: "Its path, with a parameter",
            trigger: ".o_form_view div[name='path'] input",
            run: "edit /greet/{name}",
        },
        {
            content: "GET only",
            trigger: ".o_form_view div[name='methods'] input",
            run: "edit GET",
        },
        // before the auth mode: choosing Public re-renders the form (the group
        // fields hide), and on a busy machine an edit typed meanwhile was lost
        {
            content: "At most 10 calls a minute per client",
            trigger: ".o_form_view div[name='rate_limit_per_min'] input",
            run: "edit 10",
        },
        {
            content: "Anybody may call it",
            trigger: ".o_form_view div[name='auth_mode'] select",
            run: "selectByLabel Public",
        },
        ...stepUtils.saveForm(),
        {
            content: "Its URL is shown",
            trigger: ".o_form_view .o_field_widget[name=url]:contains('/iota/api/v1/greet/{name}')",
        },
        {
            content: "Call it over HTTP",
            trigger: ".o_form_view .o_field_widget[name=curl_example]",
            async run() {
                const res = await fetch("/iota/api/v1/greet/Ada");
                const body = await res.json();
                if (res.status !== 200 || body.greeting !== "Hello, Ada!") {
                    throw new Error(`unexpected answer ${res.status} ${JSON.stringify(body)}`);
                }
            },
        },
        {
            content: "Open the runs",
            trigger: ".o_main_navbar",
            run: "goToUrl /odoo/action-iota_scripts.iota_script_execution_action",
        },
        {
            content: "Open the run of the endpoint",
            trigger: ".o_list_view .o_data_row .o_data_cell:contains('Endpoint')",
            run: "click",
        },
        {
            content: "The run succeeded",
            trigger: ".o_form_view .o_field_widget[name=state] .o_arrow_button_current:contains('Succeeded')",
        },
        {
            content: "Its log line",
            trigger: ".o_form_view .o_field_widget[name=log_json] .o_iota_scripts_log_message:contains('greeting')",
        },
        {
            content: "Open its result",
            trigger: ".o_form_view .o_notebook a[name=result]",
            run: "click",
        },
        {
            content: "The answer it gave",
            trigger: ".o_form_view .o_field_widget[name=result_json]:contains('Hello, Ada!')",
        },
    ],
});

registry.category("web_tour.tours").add("iota_scripts_dead_letter_tour", {
    url: "/odoo",
    steps: () => [
        {
            content: "Open Dead Letters",
            trigger: ".o_main_navbar",
            run: "goToUrl /odoo/action-iota_scripts.iota_script_delivery_action_dead",
        },
        {
            content: "Open the failed delivery",
            trigger: ".o_list_view .o_data_row .o_data_cell[name=event_type]:contains('partner.created')",
            run: "click",
        },
        {
            content: "Its last error says why: the run-as user may not write contacts",
            trigger: ".o_form_view .o_field_widget[name=last_error]:contains('access_denied')",
        },
        {
            content: "Open the handler",
            trigger: ".o_form_view .o_field_widget[name=script_id] a.o_form_uri",
            run: "click",
        },
        {
            content: "Run it as a user who may",
            trigger: ".o_form_view div[name='run_as_user_id'] input",
            run: "edit Contacts bot",
            // after the script's form and its editor: slow on a loaded machine
            timeout: 60000, // the most a step may ask for (web_tour)
        },
        {
            content: "Pick it",
            trigger: ".dropdown-menu li a:contains('Contacts bot'):not(:has(.fa-spin))",
            run: "click",
            timeout: 60000, // the most a step may ask for (web_tour)
        },
        ...stepUtils.saveForm(),
        {
            content: "Back to the delivery",
            trigger: ".o_breadcrumb .o_back_button a",
            run: "click",
        },
        {
            content: "Replay it",
            trigger: ".o_form_view .o_form_statusbar button[name=action_replay]",
            run: "click",
            // after the script's form and its editor: slow on a loaded machine
            timeout: 60000, // the most a step may ask for (web_tour)
        },
        {
            content: "Queued again, for the same event",
            trigger: ".o_form_view .o_field_widget[name=state] .o_arrow_button_current:contains('Queued')",
        },
        {
            content: "The replay is counted",
            trigger: ".o_form_view .o_field_widget[name=replay_count]:contains('1')",
        },
    ],
});
