import { cookie } from "@web/core/browser/cookie";
import { rpc } from "@web/core/network/rpc";

/** Monaco's theme for Odoo's colour scheme (the `color_scheme` cookie, as Odoo's Ace field reads it). */
export function editorTheme() {
    return cookie.get("color_scheme") === "dark" ? "vs-dark" : "vs";
}

/**
 * The editor's extra libs (sdk.d.ts + live-schema typings), fetched once per
 * page load and shared by every editor; the server caches per user and
 * registry. A failure yields no libs (the editor still works, untyped).
 */
let pending = null;

export function loadEditorTypings() {
    if (!pending) {
        pending = rpc("/iota_scripts/editor/typings", {}, { silent: true }).catch(() => {
            pending = null;
            return { libs: [] };
        });
    }
    return pending;
}
