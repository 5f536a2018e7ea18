/**
 * Jumping to a position of a script's source (1-based line and column).
 *
 * `requestReveal(bus, {resId, line, column})` triggers
 * `IOTA_SCRIPTS:REVEAL_POSITION` on `bus`; a mounted `iota_scripts_monaco`
 * field for that record marks the event `handled` and reveals it. When no
 * editor handled it (its notebook page is not shown, so it is not mounted),
 * the position waits here until the record's editor starts and takes it
 * with `takePendingReveal(resId)`: the caller then opens the editor's page.
 */
export const REVEAL_POSITION = "IOTA_SCRIPTS:REVEAL_POSITION";

const pending = new Map();

/** @returns {boolean} whether a mounted editor took the position now */
export function requestReveal(bus, { resId, line, column }) {
    const detail = { resId, line, column, handled: false };
    bus.trigger(REVEAL_POSITION, detail);
    if (detail.handled) {
        pending.delete(resId);
    } else {
        pending.set(resId, { line, column });
    }
    return detail.handled;
}

/** The position waiting for `resId`'s editor ({line, column}), once; or null. */
export function takePendingReveal(resId) {
    const position = pending.get(resId) || null;
    pending.delete(resId);
    return position;
}
