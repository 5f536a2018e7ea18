import { expect, test } from "@odoo/hoot";
import { queryOne } from "@odoo/hoot-dom";
import { advanceTime, animationFrame } from "@odoo/hoot-mock";
import {
    clickSave,
    defineModels,
    fields,
    getMockEnv,
    models,
    mountView,
    onRpc,
    pagerNext,
    pagerPrevious,
    patchWithCleanup,
    preloadBundle,
    preventResizeObserverError,
} from "@web/../tests/web_test_helpers";
import { browser } from "@web/core/browser/browser";
import { cookie } from "@web/core/browser/cookie";
import { defineMailModels } from "@mail/../tests/mail_test_helpers";

import { EventBus } from "@odoo/owl";
import { MonacoField } from "@iota_scripts/monaco_field/monaco_field";
import { requestReveal } from "@iota_scripts/monaco_field/reveal";

// The field's own logic, with the frame played by the test: messages come
// from the iframe's window, and what the field posts to it is recorded.

class Script extends models.Model {
    _name = "iota.script";
    source = fields.Text();
    _records = [
        { id: 1, source: "export default () => 1;\n" },
        { id: 2, source: "export default () => 'two';\n" },
    ];
}

defineMailModels(); // the addon depends on mail: its services start in every view
defineModels([Script]);
preloadBundle("web.ace_lib");
preventResizeObserverError();

async function mountEditor(options = "{}", viewParams = {}) {
    patchWithCleanup(MonacoField.prototype, {
        get frameSrc() {
            return "about:blank"; // no Monaco here: the test is the frame
        },
    });
    onRpc("/iota_scripts/editor/typings", () => ({ libs: [{ path: "file:///x.d.ts", content: "" }] }));
    await mountView({
        resModel: "iota.script",
        resId: 1,
        type: "form",
        arch: `<form><field name="source" widget="iota_scripts_monaco" options="${options}"/></form>`,
        ...viewParams,
    });
    const frameWindow = queryOne("iframe.o_iota_scripts_monaco_frame").contentWindow;
    const posted = [];
    frameWindow.postMessage = (message) => posted.push(message);
    const fromFrame = async (data) => {
        window.dispatchEvent(
            new MessageEvent("message", {
                data: { source: "iota_scripts_editor", ...data },
                origin: browser.location.origin,
                source: frameWindow,
            })
        );
        await animationFrame();
    };
    return { posted, fromFrame };
}

test("ready: the frame gets the value and the typings", async () => {
    const { posted, fromFrame } = await mountEditor("{'diagnostics': false}");
    expect(posted).toEqual([]);
    await fromFrame({ type: "ready" });
    const init = posted.filter((m) => m.type === "init").at(-1);
    expect(init.value).toBe("export default () => 1;\n");
    expect(init.readonly).toBe(false);
    expect(init.extraLibs.map((lib) => lib.path)).toEqual(["file:///x.d.ts"]);
});

test("an edit in the frame is saved by the form's Save (NEED_LOCAL_CHANGES)", async () => {
    onRpc("web_save", ({ args }) => {
        expect.step(args[1].source);
    });
    const { fromFrame } = await mountEditor("{'diagnostics': false}");
    await fromFrame({ type: "ready" });
    await fromFrame({ type: "change", value: "export default () => 2;\n" });
    expect(".o_form_status_indicator_buttons").not.toHaveClass("invisible");
    await clickSave();
    expect.verifySteps(["export default () => 2;\n"]);
});

test("server problems become markers after a pause", async () => {
    onRpc("/iota_scripts/editor/check", async (request) => {
        const { params } = await request.json();
        expect.step(params.source);
        return { markers: [{ message: "Unexpected token", line: 2, column: 13 }] };
    });
    const { posted, fromFrame } = await mountEditor();
    await fromFrame({ type: "ready" });
    await advanceTime(700);
    expect.verifySteps(["export default () => 1;\n"]);
    await fromFrame({ type: "change", value: "x\n  return 1 +;" });
    await fromFrame({ type: "change", value: "x\n  return 1 +;\n" });
    await advanceTime(700);
    expect.verifySteps(["x\n  return 1 +;\n"]); // debounced: one check for the last text
    await animationFrame();
    const markers = posted.filter((m) => m.type === "markers").at(-1);
    expect(markers.markers).toEqual([
        { line: 2, column: 13, message: "Unexpected token", severity: "error" },
    ]);
});

test("REVEAL_POSITION for this record reaches the frame", async () => {
    const { posted, fromFrame } = await mountEditor("{'diagnostics': false}");
    await fromFrame({ type: "ready" });
    getMockEnv().bus.trigger("IOTA_SCRIPTS:REVEAL_POSITION", { resId: 2, line: 9, column: 9 });
    getMockEnv().bus.trigger("IOTA_SCRIPTS:REVEAL_POSITION", { resId: 1, line: 3, column: 4 });
    expect(posted.filter((m) => m.type === "reveal")).toEqual([
        { type: "reveal", source: "iota_scripts_field", line: 3, column: 4 },
    ]);
});

test("no ready in time: Ace takes over, with a notice, and still saves", async () => {
    onRpc("web_save", ({ args }) => {
        expect.step(args[1].source);
    });
    await mountEditor("{'diagnostics': false}");
    await advanceTime(16000);
    await animationFrame();
    expect(".o_iota_scripts_monaco_fallback").toHaveText(/not available/);
    expect(".o_iota_scripts_monaco .ace_editor").toHaveCount(1);
    window.ace.edit(queryOne(".o_iota_scripts_monaco .ace_editor")).setValue("export default () => 3;\n");
    await animationFrame();
    await clickSave();
    expect.verifySteps(["export default () => 3;\n"]);
});

test("Ctrl+S / Alt+S in the frame (a save message) commits the edit and saves", async () => {
    onRpc("web_save", ({ args }) => {
        expect.step(args[1].source);
    });
    const { fromFrame } = await mountEditor("{'diagnostics': false}");
    await fromFrame({ type: "ready" });
    await fromFrame({ type: "change", value: "export default () => 4;\n" });
    await fromFrame({ type: "save" }); // before the 1 s commit: nothing is lost
    await animationFrame();
    expect.verifySteps(["export default () => 4;\n"]);
    expect(".o_form_status_indicator_buttons").toHaveClass("invisible");
});

test("a position asked for before the editor is mounted is revealed when it is ready", async () => {
    // the Run page is shown: nobody handles the jump, it waits for the editor
    expect(requestReveal(new EventBus(), { resId: 1, line: 6, column: 9 })).toBe(false);
    const { posted, fromFrame } = await mountEditor("{'diagnostics': false}");
    await fromFrame({ type: "ready" });
    expect(posted.map((m) => m.type)).toEqual(["init", "reveal"]);
    expect(posted[1]).toEqual({ type: "reveal", source: "iota_scripts_field", line: 6, column: 9 });
    // once only
    await fromFrame({ type: "ready" });
    expect(posted.filter((m) => m.type === "reveal")).toHaveLength(1);
});

test("a mounted editor takes the position at once", async () => {
    const { posted, fromFrame } = await mountEditor("{'diagnostics': false}");
    await fromFrame({ type: "ready" });
    expect(requestReveal(getMockEnv().bus, { resId: 1, line: 2, column: 1 })).toBe(true);
    expect(posted.filter((m) => m.type === "reveal")).toEqual([
        { type: "reveal", source: "iota_scripts_field", line: 2, column: 1 },
    ]);
});

test("pager: an edited record, then another, then back: the editor shows each record's source", async () => {
    onRpc("web_save", ({ args }) => {
        expect.step(`save ${args[0]}: ${args[1].source}`);
    });
    const { posted, fromFrame } = await mountEditor("{'diagnostics': false}", { resIds: [1, 2] });
    await fromFrame({ type: "ready" });
    await fromFrame({ type: "change", value: "export default () => 'edited';\n" });
    await pagerNext(); // Odoo saves the edit first
    expect.verifySteps(["save 1: export default () => 'edited';\n"]);
    expect(posted.filter((m) => m.type === "init").at(-1).value).toBe("export default () => 'two';\n");
    await pagerPrevious();
    // not record 2's text: an edit now would otherwise overwrite record 1 with it
    expect(posted.filter((m) => m.type === "init").at(-1).value).toBe("export default () => 'edited';\n");
});

test("Odoo's dark mode (color_scheme cookie) gives a dark editor, light otherwise", async () => {
    patchWithCleanup(cookie, { get: (name) => (name === "color_scheme" ? "dark" : undefined) });
    const { posted, fromFrame } = await mountEditor("{'diagnostics': false}");
    await fromFrame({ type: "ready" });
    expect(posted.find((m) => m.type === "init").theme).toBe("vs-dark");
});

test("the light theme by default", async () => {
    const { posted, fromFrame } = await mountEditor("{'diagnostics': false}");
    await fromFrame({ type: "ready" });
    expect(posted.find((m) => m.type === "init").theme).toBe("vs");
});
