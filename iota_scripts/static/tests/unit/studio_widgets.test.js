import { expect, test } from "@odoo/hoot";
import { click, press, queryAllTexts } from "@odoo/hoot-dom";
import { animationFrame } from "@odoo/hoot-mock";
import {
    defineModels,
    getMockEnv,
    fields,
    models,
    mountView,
    onRpc,
    patchWithCleanup,
    preventResizeObserverError,
} from "@web/../tests/web_test_helpers";
import { defineMailModels } from "@mail/../tests/mail_test_helpers";

import { MonacoField } from "@iota_scripts/monaco_field/monaco_field";

// Issue 18: the template gallery of a new script, the editor's full-screen
// toggle, and peak heap in one human format.

class Script extends models.Model {
    _name = "iota.script";
    name = fields.Char();
    source = fields.Text();
    input_schema = fields.Text();
    template = fields.Selection({
        selection: [
            ["manual_report", "Manual report"],
            ["scheduled_job", "Scheduled job"],
        ],
    });
    _records = [{ id: 1, name: "s", source: "export default () => 1;\n" }];
    _onChanges = {
        template(record) {
            record.source = `// from ${record.template}\n`;
            record.name = record.template;
        },
    };
}

class Execution extends models.Model {
    _name = "iota.script.execution";
    state = fields.Selection({
        selection: [
            ["succeeded", "Succeeded"],
            ["cancelled", "Cancelled"],
        ],
    });
    heap_peak_bytes = fields.Integer();
    _records = [
        { id: 1, state: "succeeded", heap_peak_bytes: 3 * 1024 * 1024 + 1 },
        { id: 2, state: "cancelled", heap_peak_bytes: 0 },
    ];
}

defineMailModels();
defineModels([Script, Execution]);
preventResizeObserverError();

test("the gallery shows one card per template; a click chooses it", async () => {
    onRpc("iota.script", "iota_template_gallery", () => ({
        manual_report: "Manual report: run it from the Run button.",
        scheduled_job: "Scheduled job: add a line in its Schedules tab.",
    }));
    await mountView({
        resModel: "iota.script",
        type: "form",
        arch: `<form><field name="name"/><field name="template" widget="iota_scripts_template_gallery"/><field name="source"/></form>`,
    });
    expect(".o_iota_scripts_template_card").toHaveCount(2);
    expect(".o_iota_scripts_template_card[data-template=scheduled_job]").toHaveText(
        /Schedules tab/
    );
    expect(".o_iota_scripts_template_card[aria-pressed=true]").toHaveCount(0);
    await click(".o_iota_scripts_template_card[data-template=scheduled_job]");
    await animationFrame();
    expect(".o_iota_scripts_template_card[data-template=scheduled_job]").toHaveAttribute(
        "aria-pressed",
        "true"
    );
    expect(".o_field_widget[name=name] input").toHaveValue("scheduled_job");
    expect(".o_field_widget[name=source] textarea").toHaveValue("// from scheduled_job\n");
});

test("full screen: the editor covers the window until toggled back or Escape", async () => {
    patchWithCleanup(MonacoField.prototype, {
        get frameSrc() {
            return "about:blank";
        },
    });
    onRpc("/iota_scripts/editor/typings", () => ({ libs: [] }));
    await mountView({
        resModel: "iota.script",
        resId: 1,
        type: "form",
        arch: `<form><field name="source" widget="iota_scripts_monaco" options="{'diagnostics': false}"/></form>`,
    });
    expect(".o_iota_scripts_monaco_fullscreen").toHaveCount(0);
    // most of the viewport by default
    expect("iframe.o_iota_scripts_monaco_frame").toHaveAttribute("style", /calc\(100vh/);
    await click(".o_iota_scripts_monaco_fullscreen_toggle");
    await animationFrame();
    expect(".o_iota_scripts_monaco_fullscreen").toHaveCount(1);
    expect(".o_iota_scripts_monaco_fullscreen").toHaveStyle({ position: "fixed" });
    await press("Escape");
    await animationFrame();
    expect(".o_iota_scripts_monaco_fullscreen").toHaveCount(0);
    await click(".o_iota_scripts_monaco_fullscreen_toggle");
    await animationFrame();
    await click(".o_iota_scripts_monaco_fullscreen_toggle");
    await animationFrame();
    expect(".o_iota_scripts_monaco_fullscreen").toHaveCount(0);
});

test("peak heap: one human format, and not measured on a stopped run", async () => {
    await mountView({
        resModel: "iota.script.execution",
        type: "list",
        arch: `<list><field name="state"/><field name="heap_peak_bytes" widget="iota_scripts_bytes"/></list>`,
    });
    expect(queryAllTexts(".o_data_cell[name=heap_peak_bytes]")).toEqual(["3.0 MB", "not measured"]);
});

test("a reveal is the source's: the input schema's editor leaves it", async () => {
    patchWithCleanup(MonacoField.prototype, {
        get frameSrc() {
            return "about:blank";
        },
    });
    onRpc("/iota_scripts/editor/typings", () => ({ libs: [] }));
    await mountView({
        resModel: "iota.script",
        resId: 1,
        type: "form",
        arch: `<form><field name="input_schema" widget="iota_scripts_monaco" options="{'diagnostics': false, 'language': 'json'}"/></form>`,
    });
    // no Full screen or Compare on the schema's editor either
    expect(".o_iota_scripts_monaco_bar").toHaveCount(0);
    const detail = { resId: 1, line: 3, column: 4 };
    getMockEnv().bus.trigger("IOTA_SCRIPTS:REVEAL_POSITION", detail);
    // not handled: the run panel then opens the Source page
    expect(detail.handled).toBe(undefined);
});
