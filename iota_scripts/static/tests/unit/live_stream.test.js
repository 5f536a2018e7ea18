import { describe, expect, test } from "@odoo/hoot";
import { onDone, onLog, onStarted } from "@iota_scripts/run_panel/live_stream";

// The Run panel's reading of the bus stream (no server, no DOM).
// Run by tests/test_studio_ui.py (the whole @iota_scripts suite).
describe.current.tags("iota_scripts");

function running() {
    return { status: "running", executionId: null, lines: [], dropped: 0, units: 0 };
}

const line = (message) => ({ level: "info", message, t_ms: 0 });

describe("iota_scripts run panel: live stream", () => {
    test("lines of another token or before started are ignored", () => {
        const state = running();
        expect(onLog(state, "t", { token: "t", execution_id: 7, lines: [line("early")] })).toBe(
            false
        );
        expect(onStarted(state, "t", { token: "other", execution_id: 9 })).toBe(false);
        expect(onStarted(state, "t", { token: "t", execution_id: 7 })).toBe(true);
        onLog(state, "t", { token: "other", execution_id: 7, lines: [line("theirs")] });
        onLog(state, "t", { token: "t", execution_id: 7, lines: [line("a"), line("b")] });
        expect(state.lines.map((l) => l.message)).toEqual(["a", "b"]);
        onDone(state, "t", { token: "t", execution_id: 7, dropped: 3 });
        expect(state.dropped).toBe(3);
    });

    test("a replayed RPC (serialization failure) starts the stream over", () => {
        const state = running();
        onStarted(state, "t", { token: "t", execution_id: 7 });
        onLog(state, "t", { token: "t", execution_id: 7, lines: [line("first try")] });
        // the first attempt ends (rolled back), its done may come late
        onStarted(state, "t", { token: "t", execution_id: 8 });
        expect(state.lines).toEqual([]);
        onDone(state, "t", { token: "t", execution_id: 7, dropped: 5 });
        onLog(state, "t", { token: "t", execution_id: 7, lines: [line("late first try")] });
        onLog(state, "t", { token: "t", execution_id: 8, lines: [line("first try")] });
        expect(state.lines.map((l) => l.message)).toEqual(["first try"]);
        expect(state.dropped).toBe(0);
        expect(state.executionId).toBe(8);
    });

    test("the units meter follows the current run's messages", () => {
        const state = running();
        onStarted(state, "t", { token: "t", execution_id: 7 });
        onLog(state, "t", { token: "t", execution_id: 7, lines: [line("a")], units: 11 });
        expect(state.units).toBe(11);
        // a meter message without lines (the run made sdk calls, logged nothing)
        onLog(state, "t", { token: "t", execution_id: 7, lines: [], units: 31 });
        expect(state.units).toBe(31);
        expect(state.lines.map((l) => l.message)).toEqual(["a"]);
        onLog(state, "t", { token: "other", execution_id: 7, lines: [], units: 999 });
        expect(state.units).toBe(31);
        onDone(state, "t", { token: "t", execution_id: 7, dropped: 0, units: 40 });
        expect(state.units).toBe(40);
        // a replayed RPC starts the meter over
        onStarted(state, "t", { token: "t", execution_id: 8 });
        expect(state.units).toBe(0);
    });
});
