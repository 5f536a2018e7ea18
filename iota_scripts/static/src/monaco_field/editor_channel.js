import { browser } from "@web/core/browser/browser";

/**
 * The field's side of the editor iframe protocol (see static/editor/editor_frame.js).
 *
 * - Only messages from the iframe's own window and from this origin, shaped
 *   as the frame sends them, reach `onMessage` (`parseFrameMessage`).
 * - Messages to the frame go to this origin only, never "*".
 * - If the frame has not said `ready` within `readyTimeoutMs`, or says
 *   `error`, `onFail(reason)` is called once: the field falls back to Ace.
 * - Messages sent before `ready` are queued and flushed in order on `ready`.
 */

export const FRAME_TYPES = ["ready", "error", "change", "blur", "save", "gutter"];

/** The validated message, or null when it is not one the frame may send. */
export function parseFrameMessage(event, { origin, frameWindow }) {
    if (!event || event.origin !== origin || !frameWindow || event.source !== frameWindow) {
        return null;
    }
    const data = event.data;
    if (!data || typeof data !== "object" || data.source !== "iota_scripts_editor") {
        return null;
    }
    if (!FRAME_TYPES.includes(data.type)) {
        return null;
    }
    if (data.type === "change" && typeof data.value !== "string") {
        return null;
    }
    if (data.type === "gutter") {
        return Number.isInteger(data.line) && data.line > 0
            ? { type: "gutter", line: data.line }
            : null;
    }
    if (data.type === "error") {
        return { type: "error", message: String(data.message ?? "").slice(0, 500) };
    }
    return data.type === "change" ? { type: "change", value: data.value } : { type: data.type };
}

/** Server problems ({message, line, column, severity?}) as frame markers; no position -> line 1. */
export function toMarkers(problems) {
    return (problems || []).map((p) => ({
        line: Number.isInteger(p.line) && p.line > 0 ? p.line : 1,
        column: Number.isInteger(p.column) && p.column > 0 ? p.column : 1,
        message: String(p.message ?? ""),
        severity: p.severity === "warning" ? "warning" : "error",
    }));
}

export class EditorChannel {
    /**
     * @param {object} params
     * @param {() => Window|null} params.getFrameWindow
     * @param {(msg: object) => void} params.onMessage
     * @param {(reason: string) => void} params.onFail
     * @param {number} [params.readyTimeoutMs]
     * @param {string} [params.origin]
     */
    constructor({ getFrameWindow, onMessage, onFail, readyTimeoutMs = 15000, origin }) {
        this.getFrameWindow = getFrameWindow;
        this.onMessage = onMessage;
        this.onFail = onFail;
        this.readyTimeoutMs = readyTimeoutMs;
        this.origin = origin || browser.location.origin;
        this.ready = false;
        this.failed = false;
        this.queue = [];
        this._listener = (ev) => this._receive(ev);
        this._timer = null;
    }

    start() {
        browser.addEventListener("message", this._listener);
        this._timer = browser.setTimeout(() => {
            this.fail("the editor did not start in time");
        }, this.readyTimeoutMs);
    }

    stop() {
        browser.removeEventListener("message", this._listener);
        browser.clearTimeout(this._timer);
        this._timer = null;
    }

    fail(reason) {
        if (this.failed) {
            return;
        }
        this.failed = true;
        this.stop();
        this.onFail(reason);
    }

    send(type, payload = {}) {
        const message = { ...payload, type, source: "iota_scripts_field" };
        if (!this.ready) {
            this.queue.push(message);
            return;
        }
        this._post(message);
    }

    _post(message) {
        const frame = this.getFrameWindow();
        if (frame) {
            frame.postMessage(message, this.origin);
        }
    }

    _receive(event) {
        if (this.failed) {
            return;
        }
        const msg = parseFrameMessage(event, {
            origin: this.origin,
            frameWindow: this.getFrameWindow(),
        });
        if (!msg) {
            return;
        }
        if (msg.type === "error") {
            this.fail(msg.message || "the editor failed");
            return;
        }
        if (msg.type === "ready") {
            this.ready = true;
            browser.clearTimeout(this._timer);
            this._timer = null;
            for (const queued of this.queue.splice(0)) {
                this._post(queued);
            }
        }
        this.onMessage(msg);
    }
}
