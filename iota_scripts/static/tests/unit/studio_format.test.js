import { expect, test } from "@odoo/hoot";

import { formatBytes } from "@iota_scripts/bytes_field/bytes_field";
import {
    capabilityChanges,
    capabilityEntries,
    defaultLeftId,
} from "@iota_scripts/version_diff/version_diff_action";

// Issue 18: one human format for byte counts on every screen, and the diff of
// a draft compared with the current version by default.

test("formatBytes: binary units, one decimal from KB up", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(undefined)).toBe("0 B");
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1024)).toBe("1.0 KB");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(5 * 1024 * 1024 + 100)).toBe("5.0 MB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3.0 GB");
});

test("defaultLeftId: a draft is compared with the current version, a saved source with the one before", () => {
    // newest first, as the diff reads them; v2 is current
    const versions = [
        { id: 30, number: 3, is_current: false },
        { id: 20, number: 2, is_current: true },
        { id: 10, number: 1, is_current: false },
    ];
    expect(defaultLeftId(versions, true)).toBe(20);
    expect(defaultLeftId(versions, false)).toBe(10);
    expect(defaultLeftId([{ id: 10, number: 1, is_current: true }], false)).toBe(10);
    expect(defaultLeftId([], true)).toBe(null);
});

test("capabilityChanges: the diff names the capabilities added and removed", () => {
    const left = '{"http":["a.com"],"models":{"res.partner":["read"]}}';
    const right = '{"cache":"vat","models":{"res.partner":["read","write"]},"secrets":["k"]}';
    expect(capabilityEntries(left)).toEqual(["http.a.com", "models.res.partner.read"]);
    expect(capabilityEntries("")).toBe(null);
    const changes = capabilityChanges(left, right);
    expect(changes.added).toEqual(["cache.vat", "models.res.partner.write", "secrets.k"]);
    expect(changes.removed).toEqual(["http.a.com"]);
    expect(changes.same).toBe(false);
    expect(capabilityChanges(left, left).same).toBe(true);
    expect(capabilityChanges("", "{}")).toEqual({
        added: [],
        removed: [],
        same: false,
        declared: [false, true],
    });
    expect(capabilityChanges("", "").same).toBe(true);
});
