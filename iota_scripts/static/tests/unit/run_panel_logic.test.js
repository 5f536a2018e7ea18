import { describe, expect, test } from "@odoo/hoot";
import {
    buildInput,
    initialValues,
    parseJsonInput,
    parseSchema,
    schemaFields,
} from "@iota_scripts/run_panel/input_schema";
import { filterLines, formatOffset, LEVELS, parseLogJson } from "@iota_scripts/log_viewer/log_list";

// The Run panel's and the log viewer's own logic (no server, no DOM).
// Run by tests/test_studio_ui.py (the whole @iota_scripts suite).
describe.current.tags("iota_scripts");

const SCHEMA = {
    type: "object",
    properties: {
        n: { type: "integer", title: "Count", default: 2 },
        x: { type: "number" },
        who: { type: "string", description: "a name" },
        unit: { enum: ["kg", 3] },
        loud: { type: "boolean" },
        extra: { type: "object" },
    },
    required: ["n", "who"],
};

describe("iota_scripts run panel: input schema", () => {
    test("parseSchema keeps JSON objects only", () => {
        expect(parseSchema("")).toBe(null);
        expect(parseSchema("{broken")).toBe(null);
        expect(parseSchema("[1]")).toBe(null);
        expect(parseSchema('{"type": "object"}')).toEqual({ type: "object" });
    });

    test("schemaFields maps each property to a widget kind", () => {
        expect(schemaFields({ type: "array" })).toBe(null);
        const fields = schemaFields(SCHEMA);
        expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
            ["n", "integer", true],
            ["x", "number", false],
            ["who", "string", true],
            ["unit", "select", false],
            ["loud", "boolean", false],
            ["extra", "json", false],
        ]);
        expect(fields[0].label).toBe("Count");
        expect(fields[2].help).toBe("a name");
        expect(fields[3].options).toEqual([
            { value: '"kg"', label: "kg" },
            { value: "3", label: "3" },
        ]);
    });

    test("initialValues starts from the defaults", () => {
        const values = initialValues(schemaFields(SCHEMA));
        expect(values).toEqual({ n: "2", x: "", who: "", unit: "", loud: false, extra: "" });
    });

    test("buildInput types the values and names what is wrong", () => {
        const fields = schemaFields(SCHEMA);
        const ok = buildInput(fields, {
            n: "3",
            x: "1.5",
            who: "Ada",
            unit: '"kg"',
            loud: true,
            extra: '{"a": [1]}',
        });
        expect(ok.errors).toEqual({});
        expect(ok.value).toEqual({ n: 3, x: 1.5, who: "Ada", unit: "kg", loud: true, extra: { a: [1] } });
        const optional = buildInput(fields, { n: "1", who: "B", x: "", unit: "", loud: false });
        expect(optional.value).toEqual({ n: 1, who: "B", loud: false });
        const bad = buildInput(fields, { n: "1.5", x: "abc", who: "", extra: "{no" });
        expect(bad.errors).toEqual({
            n: "not_integer",
            x: "not_number",
            who: "required",
            extra: "not_json",
        });
    });

    test("parseJsonInput: empty is null, broken JSON says why", () => {
        expect(parseJsonInput("  ")).toEqual({ value: null, error: "" });
        expect(parseJsonInput('{"a": 1}')).toEqual({ value: { a: 1 }, error: "" });
        const broken = parseJsonInput("{a:");
        expect(broken.value).toBe(undefined);
        expect(broken.error.length > 0).toBe(true);
    });
});

describe("iota_scripts log viewer", () => {
    const LINES = [
        { level: "debug", message: "starting", t_ms: 0.5 },
        { level: "info", message: "found 3", t_ms: 12.25, fields: { partner: "Needle Inc" } },
        { level: "warn", message: "slow", t_ms: 15000 },
        { level: "error", message: "Broken NEEDLE", t_ms: 20000 },
        { message: "no level", t_ms: 1 },
    ];

    test("parseLogJson refuses anything but a list of objects", () => {
        expect(parseLogJson("")).toEqual([]);
        expect(parseLogJson("{")).toEqual([]);
        expect(parseLogJson('{"a": 1}')).toEqual([]);
        expect(parseLogJson('[{"message": "x"}, 3, null]')).toEqual([{ message: "x" }]);
    });

    test("filterLines by level and case-insensitive text, fields included", () => {
        const all = new Set(LEVELS);
        expect(filterLines(LINES, all, "").length).toBe(5);
        const noDebug = new Set(["info", "warn", "error"]);
        expect(filterLines(LINES, noDebug, "").map((l) => l.message)).toEqual([
            "found 3",
            "slow",
            "Broken NEEDLE",
            "no level",
        ]);
        expect(filterLines(LINES, all, "needle").map((l) => l.message)).toEqual([
            "found 3",
            "Broken NEEDLE",
        ]);
        expect(filterLines(LINES, new Set(["error"]), "needle").length).toBe(1);
    });

    test("formatOffset switches to seconds past 10 s", () => {
        expect(formatOffset(12.25)).toBe("+12.3 ms");
        expect(formatOffset(15000)).toBe("+15.00 s");
        expect(formatOffset(undefined)).toBe("+0.0 ms");
    });
});
