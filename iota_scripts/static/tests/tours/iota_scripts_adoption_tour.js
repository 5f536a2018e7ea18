import { registry } from "@web/core/registry";

// The Adoption screen (static/src/adoption): this company's figures, then
// every company's for an administrator. tests/test_adoption.py prepares the data.
registry.category("web_tour.tours").add("iota_scripts_adoption_tour", {
    url: "/odoo/iota-scripts-adoption",
    steps: () => [
        {
            content: "This company's top scripts",
            trigger: ".o_iota_scripts_adoption_top_by_runs td:contains('Adoption tour script')",
        },
        {
            content: "Its schedule counts under Schedules",
            trigger:
                ".o_iota_scripts_adoption_triggers tr[data-kind=schedule] .o_value:contains('1')",
        },
        {
            content: "Nothing of the other company yet",
            trigger: ".o_iota_scripts_adoption:not(:has(td:contains('Adoption tour other')))",
        },
        {
            content: "Every company",
            trigger: ".o_iota_scripts_adoption_scopes button[data-scope=system]",
            run: "click",
        },
        {
            content: "The other company's script and badge",
            trigger: ".o_iota_scripts_adoption_top_by_runs td:contains('Adoption tour other')",
        },
        {
            trigger: ".o_iota_scripts_adoption_companies .badge:contains('IOTA Company B')",
        },
    ],
});
