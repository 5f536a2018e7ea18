import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { Component, useState } from "@odoo/owl";

/** One line of a failure's diff, classed by its first character ("-" expected, "+" received). */
export function diffLines(diff) {
    return (diff || "").split("\n").map((text, index) => ({
        index,
        text,
        kind: text.startsWith("- ") ? "expected" : text.startsWith("+ ") ? "received" : "same",
    }));
}

/**
 * The Tests tab of the script form (``<widget name="iota_scripts_script_tests"/>``).
 *
 * "Run tests" sends the editor's source and tests as they are (saved or not:
 * running tests creates no version) to ``action_run_tests``, which runs them
 * in a runner as a dry-run (models/iota_script_tests.py), and shows one row
 * per case: passed, failed (message, line, expected and received, the diff)
 * or skipped.
 */
export class ScriptTests extends Component {
    static template = "iota_scripts.ScriptTests";
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.state = useState({ running: false, report: null });
    }

    get canRun() {
        const data = this.props.record.data;
        return !this.state.running && !this.props.record.isNew && !!(data.tests || "").trim();
    }

    async runTests() {
        const record = this.props.record;
        this.state.running = true;
        try {
            this.state.report = await this.orm.call("iota.script", "action_run_tests", [[record.resId]], {
                source: record.data.source || "",
                tests: record.data.tests || "",
            });
        } finally {
            this.state.running = false;
        }
    }

    diffLines(diff) {
        return diffLines(diff);
    }

    statusLabel(status) {
        return { passed: _t("passed"), failed: _t("failed"), skipped: _t("skipped") }[status] || status;
    }
}

registry.category("view_widgets").add("iota_scripts_script_tests", {
    component: ScriptTests,
    fieldDependencies: [
        { name: "source", type: "text" },
        { name: "tests", type: "text" },
    ],
});
