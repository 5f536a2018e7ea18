import { expect, test } from "@odoo/hoot";
import { click } from "@odoo/hoot-dom";
import { animationFrame } from "@odoo/hoot-mock";
import { defineModels, fields, models, mountView, onRpc } from "@web/../tests/web_test_helpers";
import { defineMailModels } from "@mail/../tests/mail_test_helpers";

// The Run panel mounted in a form, with action_run_live answered by the test:
// the error's position is a link to the editor only where the form has one.

class Script extends models.Model {
    _name = "iota.script";
    name = fields.Char();
    source = fields.Text();
    input_schema = fields.Text();
    state = fields.Selection({ selection: [["draft", "Draft"], ["active", "Active"]] });
    active = fields.Boolean();
    _records = [{ id: 1, name: "s", source: "x", state: "draft", active: true }];
}

defineMailModels();
defineModels([Script]);

async function runWithError(arch) {
    onRpc("iota.script", "action_run_live", () => ({
        id: 7,
        state: "failed",
        result: null,
        error: { code: "script_error", message: "boom", line: 3, column: 5 },
        logs: [],
        logs_dropped: 0,
        wall_ms: 1,
        cpu_ms: 1,
        heap_peak_bytes: 0,
        host_calls: 0,
    }));
    await mountView({ resModel: "iota.script", resId: 1, type: "form", arch });
    await click(".o_iota_scripts_run_panel button:contains(Run)");
    await animationFrame();
}

test("the error position links to the editor when the form shows the source", async () => {
    await runWithError(
        `<form><widget name="iota_scripts_run_panel"/><field name="source"/></form>`
    );
    expect(".o_iota_scripts_run_error_position").toHaveText("Line 3, column 5");
    expect(".o_iota_scripts_run_error_position_text").toHaveCount(0);
});

test("without the source (a plain user), the position is text, not a dead link", async () => {
    // like the server's get_views, the view describes only the fields its arch uses
    await runWithError(`<form><widget name="iota_scripts_run_panel"/></form>`);
    expect(".o_iota_scripts_run_error_position").toHaveCount(0);
    expect(".o_iota_scripts_run_error_position_text").toHaveText("Line 3, column 5");
});

test("a cancelled run shows the CPU it used, and its heap as not measured", async () => {
    onRpc("iota.script", "action_run_live", () => ({
        id: 8,
        state: "cancelled",
        result: null,
        error: { code: "cancelled", message: "the run was cancelled" },
        logs: [],
        logs_dropped: 0,
        wall_ms: 812.5,
        cpu_ms: 640.25,
        heap_peak_bytes: 0,
        host_calls: 0,
    }));
    await mountView({
        resModel: "iota.script",
        resId: 1,
        type: "form",
        arch: `<form><widget name="iota_scripts_run_panel"/></form>`,
    });
    await click(".o_iota_scripts_run_panel button:contains(Run)");
    await animationFrame();
    expect(".o_iota_scripts_run_usage_cpu").toHaveText("640.3 ms");
    expect(".o_iota_scripts_run_usage_memory").toHaveText("not measured");
});
