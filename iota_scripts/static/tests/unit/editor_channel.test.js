import { describe, expect, getFixture, test } from "@odoo/hoot";
import { advanceTime } from "@odoo/hoot-mock";

import {
    EditorChannel,
    parseFrameMessage,
    toMarkers,
} from "@iota_scripts/monaco_field/editor_channel";

describe.current.tags("headless");

const ORIGIN = window.location.origin;

function makeFrame() {
    const iframe = document.createElement("iframe");
    getFixture().append(iframe);
    const frameWindow = iframe.contentWindow;
    const posted = [];
    frameWindow.postMessage = (message, targetOrigin) => posted.push([message, targetOrigin]);
    return { frameWindow, posted };
}

function fromFrame(frameWindow, data, origin = ORIGIN) {
    window.dispatchEvent(new MessageEvent("message", { data, origin, source: frameWindow }));
}

test("parseFrameMessage accepts only the frame's own messages from this origin", () => {
    const { frameWindow } = makeFrame();
    const other = makeFrame().frameWindow;
    const ctx = { origin: ORIGIN, frameWindow };
    const ok = { source: "iota_scripts_editor", type: "change", value: "x" };
    const event = (data, origin = ORIGIN, source = frameWindow) => ({ data, origin, source });

    expect(parseFrameMessage(event(ok), ctx)).toEqual({ type: "change", value: "x" });
    expect(parseFrameMessage(event(ok, "https://evil.example"), ctx)).toBe(null);
    expect(parseFrameMessage(event(ok, ORIGIN, other), ctx)).toBe(null);
    expect(parseFrameMessage(event({ ...ok, source: "someone" }), ctx)).toBe(null);
    expect(parseFrameMessage(event({ ...ok, type: "eval" }), ctx)).toBe(null);
    expect(parseFrameMessage(event({ ...ok, value: 42 }), ctx)).toBe(null);
    expect(parseFrameMessage(event("ready"), ctx)).toBe(null);
    expect(
        parseFrameMessage(event({ source: "iota_scripts_editor", type: "error", message: "x".repeat(900) }), ctx)
            .message.length
    ).toBe(500);
});

test("parseFrameMessage: a margin click carries a positive line number only", () => {
    const { frameWindow } = makeFrame();
    const ctx = { origin: ORIGIN, frameWindow };
    const gutter = (line) => ({
        data: { source: "iota_scripts_editor", type: "gutter", line },
        origin: ORIGIN,
        source: frameWindow,
    });
    expect(parseFrameMessage(gutter(5), ctx)).toEqual({ type: "gutter", line: 5 });
    expect(parseFrameMessage(gutter(0), ctx)).toBe(null);
    expect(parseFrameMessage(gutter("5"), ctx)).toBe(null);
    expect(parseFrameMessage(gutter(1.5), ctx)).toBe(null);
});

test("toMarkers keeps 1-based positions and puts position-less problems on line 1", () => {
    expect(
        toMarkers([
            { message: "Unexpected token", line: 3, column: 7 },
            { message: "too big", line: null, column: null },
        ])
    ).toEqual([
        { line: 3, column: 7, message: "Unexpected token", severity: "error" },
        { line: 1, column: 1, message: "too big", severity: "error" },
    ]);
    expect(toMarkers(undefined)).toEqual([]);
});

test("toMarkers keeps warnings (unknown field names) as warnings, anything else is an error", () => {
    expect(
        toMarkers([
            { message: 'res.partner has no field "nme"', line: 2, column: 40, severity: "warning" },
            { message: "odd", line: 1, column: 1, severity: "fatal" },
        ]).map((m) => m.severity)
    ).toEqual(["warning", "error"]);
});

test("messages wait for ready, then go to this origin only, in order", async () => {
    const { frameWindow, posted } = makeFrame();
    const received = [];
    const channel = new EditorChannel({
        origin: ORIGIN, // Hoot mocks browser.location
        getFrameWindow: () => frameWindow,
        onMessage: (msg) => received.push(msg.type),
        onFail: () => expect.step("fail"),
    });
    channel.start();
    channel.send("markers", { markers: [] });
    channel.send("reveal", { line: 2, column: 1 });
    expect(posted).toEqual([]);
    fromFrame(frameWindow, { source: "iota_scripts_editor", type: "ready" });
    expect(received).toEqual(["ready"]);
    expect(posted.map(([m, o]) => [m.type, o])).toEqual([
        ["markers", ORIGIN],
        ["reveal", ORIGIN],
    ]);
    channel.send("init", { value: "a" });
    expect(posted.at(-1)[0]).toEqual({ value: "a", type: "init", source: "iota_scripts_field" });
    await advanceTime(60000);
    expect.verifySteps([]); // ready in time: no fallback
    channel.stop();
});

test("no ready within the timeout: fall back once", async () => {
    const { frameWindow } = makeFrame();
    const channel = new EditorChannel({
        origin: ORIGIN, // Hoot mocks browser.location
        getFrameWindow: () => frameWindow,
        readyTimeoutMs: 5000,
        onMessage: () => expect.step("message"),
        onFail: (reason) => expect.step(`fail: ${reason}`),
    });
    channel.start();
    await advanceTime(4900);
    expect.verifySteps([]);
    await advanceTime(200);
    expect.verifySteps(["fail: the editor did not start in time"]);
    fromFrame(frameWindow, { source: "iota_scripts_editor", type: "ready" });
    expect.verifySteps([]); // a failed channel ignores the frame
});

test("an error from the frame falls back; forged errors do not", async () => {
    const { frameWindow } = makeFrame();
    const channel = new EditorChannel({
        origin: ORIGIN, // Hoot mocks browser.location
        getFrameWindow: () => frameWindow,
        onMessage: (msg) => expect.step(msg.type),
        onFail: (reason) => expect.step(`fail: ${reason}`),
    });
    channel.start();
    fromFrame(frameWindow, { source: "iota_scripts_editor", type: "error", message: "x" }, "https://evil.example");
    window.dispatchEvent(
        new MessageEvent("message", {
            data: { source: "iota_scripts_editor", type: "error", message: "y" },
            origin: ORIGIN,
            source: window,
        })
    );
    expect.verifySteps([]);
    fromFrame(frameWindow, { source: "iota_scripts_editor", type: "ready" });
    fromFrame(frameWindow, { source: "iota_scripts_editor", type: "error", message: "CSP refused worker-src" });
    fromFrame(frameWindow, { source: "iota_scripts_editor", type: "error", message: "again" });
    expect.verifySteps(["ready", "fail: CSP refused worker-src"]);
});
