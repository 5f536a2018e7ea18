import { registry } from "@web/core/registry";
import { screenshot } from "./tour_helpers";

// The dashboard with data (see tests/test_ui_dashboard.py for the rows):
// charts drawn, KPI numbers shown, a failing script opens its failed runs,
// the queue card opens the queue.

function kpi(name, value) {
    return {
        content: `The ${name} card shows ${value}`,
        trigger: `.o_iota_scripts_kpi[data-kpi=${name}] .o_iota_scripts_kpi_value:contains("${value}")`,
    };
}

const CHARTS = ["runs", "error_rate", "duration", "resources"];

const chartsDrawn = {
    content: "Every chart is drawn on a canvas of non-zero size",
    trigger: ".o_iota_scripts_dashboard canvas[data-chart=resources]",
    run() {
        for (const name of CHARTS) {
            const canvas = document.querySelector(`canvas[data-chart=${name}]`);
            if (!canvas || !canvas.width || !canvas.height || !canvas.offsetHeight) {
                throw new Error(`chart ${name} is not drawn`);
            }
            if (!window.Chart || !window.Chart.getChart(canvas)) {
                throw new Error(`chart ${name} has no Chart.js instance`);
            }
        }
    },
};

registry.category("web_tour.tours").add("iota_scripts_dashboard_tour", {
    url: "/odoo/action-iota_scripts.iota_script_dashboard_action",
    steps: () => [
        {
            content: "The dashboard opens",
            trigger: ".o_iota_scripts_dashboard .o_iota_scripts_dashboard_periods",
        },
        chartsDrawn,
        kpi("runs", "7"),
        kpi("error_rate", "57.1 %"),
        kpi("queue", "2"),
        kpi("dead_letters", "0"),
        kpi("events_waiting", "5"),
        {
            content: "The events card says how many the quota holds",
            trigger: ".o_iota_scripts_kpi[data-kpi=events_waiting].border-warning:contains('2 held by the event quota')",
        },
        {
            content: "The failing scripts are listed, most failures first",
            trigger: ".o_iota_scripts_failing_row:first-child:contains('Dashboard failing'):contains('4')",
        },
        screenshot("dashboard"),
        {
            content: "Open the failed runs of the failing script",
            trigger: ".o_iota_scripts_failing_row:contains('Dashboard failing')",
            run: "click",
        },
        {
            content: "Its four failed runs are listed, and nothing else",
            trigger: ".o_list_view .o_data_row",
            run() {
                const rows = document.querySelectorAll(".o_list_view .o_data_row");
                const texts = [...rows].map((row) => row.textContent);
                if (rows.length !== 4 || texts.some((text) => !text.includes("Dashboard failing"))) {
                    throw new Error(`expected 4 failed runs, got: ${texts.join(" | ")}`);
                }
            },
        },
        {
            content: "Back to the dashboard",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Dashboard')",
            run: "click",
        },
        chartsDrawn,
        {
            content: "Show the last 24 hours",
            trigger: ".o_iota_scripts_dashboard_periods button[data-period='1']",
            run: "click",
        },
        {
            content: "The period is selected",
            trigger: ".o_iota_scripts_dashboard_periods button.btn-primary[data-period='1']",
        },
        kpi("runs", "5"),
        chartsDrawn,
        {
            content: "Open the waiting events",
            trigger: ".o_iota_scripts_kpi[data-kpi=events_waiting]",
            run: "click",
        },
        {
            content: "The five pending events are listed (3 storm.tick, 2 script.created)",
            trigger: ".o_list_view .o_data_row:contains('storm.tick')",
            run() {
                const rows = document.querySelectorAll(".o_list_view .o_data_row");
                if (rows.length !== 5) {
                    throw new Error(`expected 5 pending events, got ${rows.length}`);
                }
            },
        },
        {
            content: "Back to the dashboard",
            trigger: ".o_breadcrumb .breadcrumb-item a:contains('Dashboard')",
            run: "click",
        },
        {
            content: "Open the queue",
            trigger: ".o_iota_scripts_kpi[data-kpi=queue]",
            run: "click",
        },
        {
            content: "The queued runs are listed",
            trigger: ".o_list_view .o_data_row:contains('Dashboard steady')",
        },
        // The script list: filter on the last run, failing rows in red.
        {
            content: "Open the scripts",
            trigger: ".o_main_navbar",
            run: "goToUrl /odoo/action-iota_scripts.iota_script_action",
        },
        {
            content: "The failing script is shown in red, the other one is not",
            trigger:
                ".o_list_view .o_data_row.text-danger:contains('Dashboard failing')" +
                ":not(:contains('Dashboard steady'))",
        },
        {
            trigger: ".o_list_view .o_data_row:not(.text-danger):contains('Dashboard steady')",
        },
        {
            content: "Open the filters",
            trigger: ".o_control_panel .o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Filter on the last run failing",
            trigger: ".o_filter_menu .o_menu_item:contains('Last Run Failed')",
            run: "click",
        },
        {
            content: "Only the failing script is left",
            // matches once the list has reloaded without the steady script
            trigger:
                ".o_list_view:not(:has(.o_data_row:contains('Dashboard steady')))" +
                " .o_data_row:contains('Dashboard failing')",
            run() {
                const rows = document.querySelectorAll(".o_list_view .o_data_row");
                if (rows.length !== 1) {
                    throw new Error(`expected 1 script, got ${rows.length}`);
                }
            },
        },
        screenshot("scripts_filtered"),
    ],
});

registry.category("web_tour.tours").add("iota_scripts_dashboard_empty_tour", {
    url: "/odoo/action-iota_scripts.iota_script_dashboard_action",
    steps: () => [
        {
            content: "The dashboard says that nothing ran",
            trigger: ".o_iota_scripts_dashboard .o_iota_scripts_dashboard_empty",
        },
        kpi("runs", "0"),
        kpi("error_rate", "–"),
        {
            content: "No chart is drawn",
            trigger: ".o_iota_scripts_dashboard:not(:has(canvas))",
        },
        {
            content: "Users who may not read deliveries see no dead-letter card",
            trigger: ".o_iota_scripts_dashboard:not(:has([data-kpi=dead_letters]))",
        },
        {
            content: "...nor the events card",
            trigger: ".o_iota_scripts_dashboard:not(:has([data-kpi=events_waiting]))",
        },
        {
            content: "The other periods are empty too",
            trigger: ".o_iota_scripts_dashboard_periods button[data-period='30']",
            run: "click",
        },
        {
            trigger: ".o_iota_scripts_dashboard_periods button.btn-primary[data-period='30']",
        },
        {
            trigger: ".o_iota_scripts_dashboard .o_iota_scripts_dashboard_empty",
        },
    ],
});
