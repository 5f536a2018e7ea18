import { rpc } from "@web/core/network/rpc";

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
