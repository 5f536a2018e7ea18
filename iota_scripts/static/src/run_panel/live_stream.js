/**
 * The Run panel's reading of the live stream (bus messages of ``tools/live.py``).
 *
 * Trap: Odoo replays an RPC whose transaction hit a serialization failure
 * (up to five times). ``action_run_live`` then runs again with the same
 * token: a new execution (a new ``started``) streams the same lines again,
 * while the first attempt's execution was rolled back. So a ``started`` for
 * another execution starts the stream over, and lines count only for the
 * execution that started last.
 *
 * ``state``: ``{status, executionId, lines, dropped, units}`` (mutated in place);
 * ``units`` is the live governance units meter (each message carries the
 * run's units so far).
 */

/** Applies a ``started`` message; true when it was for this panel's token. */
export function onStarted(state, token, payload) {
    if (payload.token !== token) {
        return false;
    }
    if (state.executionId !== payload.execution_id) {
        state.executionId = payload.execution_id;
        state.lines = [];
        state.dropped = 0;
        state.units = 0;
    }
    return true;
}

/** Applies a ``log`` message: its lines, when they belong to the current run. */
export function onLog(state, token, payload) {
    if (
        payload.token !== token ||
        state.status !== "running" ||
        payload.execution_id !== state.executionId
    ) {
        return false;
    }
    state.lines.push(...payload.lines);
    if (typeof payload.units === "number") {
        state.units = payload.units;
    }
    return true;
}

/** Applies a ``done`` message of the current run (the count of lines not streamed). */
export function onDone(state, token, payload) {
    if (payload.token !== token || payload.execution_id !== state.executionId) {
        return false;
    }
    state.dropped = payload.dropped || 0;
    if (typeof payload.units === "number") {
        state.units = payload.units;
    }
    return true;
}
