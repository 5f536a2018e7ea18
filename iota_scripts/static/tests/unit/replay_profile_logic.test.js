import { describe, expect, test } from "@odoo/hoot";
import { makeMockEnv } from "@web/../tests/web_test_helpers";
import { layoutRows } from "@iota_scripts/waterfall/waterfall_field";
import { layoutFlame } from "@iota_scripts/flame_graph/flame_graph";
import { describeDivergence } from "@iota_scripts/replay_panel/replay_panel";

// The waterfall's, the flame graph's and the replay report's own logic (no server, no DOM).
// Run by tests/test_studio_ui.py (the whole @iota_scripts suite).
describe.current.tags("iota_scripts");

describe("iota_scripts waterfall", () => {
    test("bars are placed on the run's time line; errors are red", () => {
        const rows = layoutRows(
            [
                { seq: 1, call: "db.read", namespace: "db", start_ms: 0, duration_ms: 50, outcome: "ok" },
                { seq: 2, call: "http.fetch", namespace: "http", start_ms: 50, duration_ms: 0, outcome: "http_error" },
            ],
            100
        );
        expect(rows.map((r) => [r.left, r.width, r.tone])).toEqual([
            [0, 50, "primary"],
            [50, 0.4, "danger"],
        ]);
    });

    test("a call ending after the recorded wall time widens the span", () => {
        const [row] = layoutRows([{ seq: 1, call: "db.read", namespace: "db", start_ms: 100, duration_ms: 100, outcome: "ok" }], 50);
        expect([row.left, row.width]).toEqual([50, 50]);
    });
});

describe("iota_scripts flame graph", () => {
    test("children share their parent's width by time", () => {
        const boxes = layoutFlame({
            name: "(run)",
            value: 100,
            children: [
                {
                    name: "main",
                    value: 100,
                    children: [
                        { name: "a", value: 75, children: [] },
                        { name: "b", value: 25, children: [] },
                    ],
                },
            ],
        });
        expect(boxes.map((b) => [b.name, b.depth, b.left, b.width])).toEqual([
            ["(run)", 0, 0, 100],
            ["main", 1, 0, 100],
            ["a", 2, 0, 75],
            ["b", 2, 75, 25],
        ]);
        expect(layoutFlame(null)).toEqual([]);
    });
});

describe("iota_scripts replay report", () => {
    test("each divergence kind reads as one line", async () => {
        await makeMockEnv(); // the translations (_t) are loaded
        const line = (d) => String(describeDivergence(d));
        expect(line({ kind: "extra_call", call: "db.write" })).toInclude("sdk.db.write");
        expect(line({ kind: "missing_calls", count: 1, calls: [{ seq: 2, call: "events.emit" }] })).toInclude(
            "sdk.events.emit"
        );
        expect(
            line({ kind: "different_result", recorded: { state: "failed" }, replayed: { state: "succeeded" } })
        ).toInclude("succeeded");
    });
});
