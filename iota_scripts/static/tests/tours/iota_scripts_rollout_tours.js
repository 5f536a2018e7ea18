import { registry } from "@web/core/registry";

// A gradual rollout in the browser (tests/test_ui_rollout.py makes the runs):
// the dashboard compares the candidate with the stable version, then the
// script's form rolls the candidate back in one click.

function row(channel, texts) {
    return {
        content: `The ${channel} row shows ${texts.join(", ")}`,
        trigger: `.o_iota_scripts_rollout_row[data-channel=${channel}]${texts
            .map((text) => `:contains("${text}")`)
            .join("")}`,
    };
}

registry.category("web_tour.tours").add("iota_scripts_rollout_dashboard_tour", {
    url: "/odoo/action-iota_scripts.iota_script_dashboard_action",
    steps: () => [
        {
            content: "The dashboard shows the rollouts",
            trigger: ".o_iota_scripts_rollouts:contains('candidate against stable')",
        },
        // 4 runs on each channel: the candidate failed all of its own
        row("stable", ["Rollout UI", "v1", "4", "0.0 %"]),
        row("candidate", ["v2", "100.0 %"]),
    ],
});

registry.category("web_tour.tours").add("iota_scripts_rollout_form_tour", {
    steps: () => [
        {
            content: "The form shows the candidate beside the current version",
            trigger: ".o_form_view .o_field_widget[name=candidate_version_id]:contains('v2')",
        },
        {
            content: "Open the Rollout tab",
            trigger: ".o_notebook .nav-link:contains('Rollout')",
            run: "click",
        },
        {
            content: "The share and the rollback threshold are shown",
            trigger: ".o_field_widget[name=rollout_percent] input",
        },
        {
            content: "Roll the candidate back",
            trigger: ".o_form_view .o_form_statusbar button[name=action_iota_rollback]",
            run: "click",
        },
        {
            content: "The candidate is gone, and the chatter says who rolled it back",
            trigger: ".o-mail-Message:contains('rolled back by')",
        },
        {
            content: "No candidate left to promote",
            trigger: ".o_form_view:not(:has(button[name=action_iota_promote]))",
        },
    ],
});
