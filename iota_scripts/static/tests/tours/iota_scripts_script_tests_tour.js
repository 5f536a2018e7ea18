import { registry } from "@web/core/registry";
import { screenshot } from "./tour_helpers";

// The Tests tab: run a script's tests, one case fails and shows its diff
// (static/src/script_tests/, tests/test_ui_script_tests.py).
registry.category("web_tour.tours").add("iota_scripts_script_tests_tour", {
    steps: () => [
        {
            content: "Open the Tests page",
            trigger: ".o_form_view .o_notebook a[name=tests]",
            run: "click",
        },
        {
            content: "The tests are beside the script",
            trigger: ".o_form_view .o_field_widget[name=tests] textarea",
        },
        {
            content: "Run them",
            trigger: ".o_iota_scripts_tests_run:enabled",
            run: "click",
        },
        {
            content: "One passed, one failed",
            trigger: ".o_iota_scripts_tests_summary:contains('1 passed, 1 failed, 0 skipped')",
        },
        {
            content: "The passing case",
            trigger: ".o_iota_scripts_test_passed .o_iota_scripts_test_name:contains('greets Ada')",
        },
        {
            content: "The failing case names its line",
            trigger: ".o_iota_scripts_test_failed:contains('expects Bob') .o_iota_scripts_test_line:contains('line 6')",
        },
        {
            content: "Its diff: expected",
            trigger: ".o_iota_scripts_test_failed .o_iota_scripts_test_diff .o_iota_scripts_diff_expected:contains('\"hello\": \"Bob\"')",
        },
        {
            content: "Its diff: received",
            trigger: ".o_iota_scripts_test_failed .o_iota_scripts_test_diff .o_iota_scripts_diff_received:contains('\"hello\": \"Ada\"')",
        },
        screenshot("script_tests"),
    ],
});
