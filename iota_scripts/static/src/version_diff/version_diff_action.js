import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { Layout } from "@web/search/layout";
import { Component, onMounted, onWillStart, onWillUnmount, useRef, useState } from "@odoo/owl";

import { EditorChannel } from "../monaco_field/editor_channel";
import { editorTheme } from "../monaco_field/typings";

const VERSION_FIELDS = [
    "number",
    "note",
    "author_id",
    "create_date",
    "size_bytes",
    "source",
    "capabilities_json",
    "is_current",
];

/**
 * The entries of a capabilities declaration (canonical JSON text, or empty for
 * none), one string each: "models.res.partner.write", "http.api.example.com",
 * "secrets.stripe_key", "cache.vat". null when there is no declaration.
 */
export function capabilityEntries(text) {
    if (!text) {
        return null;
    }
    let data;
    try {
        data = JSON.parse(text);
    } catch {
        return [`(not JSON) ${text}`];
    }
    const out = [];
    for (const [model, ops] of Object.entries(data.models || {})) {
        for (const op of ops) {
            out.push(`models.${model}.${op}`);
        }
    }
    for (const kind of ["http", "events", "scripts", "secrets"]) {
        for (const name of data[kind] || []) {
            out.push(`${kind}.${name}`);
        }
    }
    if (data.cache) {
        out.push(`cache.${data.cache}`);
    }
    return out.sort();
}

/** `{added, removed, same, declared}` between two declarations (left -> right). */
export function capabilityChanges(leftText, rightText) {
    const left = capabilityEntries(leftText);
    const right = capabilityEntries(rightText);
    const l = new Set(left || []);
    const r = new Set(right || []);
    return {
        added: [...r].filter((e) => !l.has(e)),
        removed: [...l].filter((e) => !r.has(e)),
        same: (left === null) === (right === null) && l.size === r.size && [...l].every((e) => r.has(e)),
        declared: [left !== null, right !== null],
    };
}

/**
 * Client action `iota_scripts.version_diff`: a Monaco diff (the editor page in
 * diff mode) between two versions of a script, or a version and the current
 * source, with a Restore button for the left-hand version (restoring creates
 * a new version, see iota.script.version.action_restore).
 *
 * params: {script_id, left_id?, right_id?, draft?}; right_id absent = the
 * draft when given (the editor's unsaved text, opened in a dialog from the
 * field; no Restore there, the form owns the record), else the saved source.
 * left_id absent = the current version for a draft (what the draft changes),
 * else the version before the current one.
 *
 * As a page (not a dialog) it has the control panel, so its breadcrumb leads
 * back to where it was opened from.
 */
/**
 * The version shown on the left when none is asked for: the current one when
 * comparing a draft (what the draft would change), else the one before it.
 * `versions` are sorted newest first.
 */
export function defaultLeftId(versions, forDraft) {
    const current = versions.find((v) => v.is_current) || versions[0];
    if (forDraft || versions.length < 2) {
        return current?.id || null;
    }
    const previous = versions.find((v) => v.number < current.number);
    return (previous || current).id;
}

export class VersionDiffAction extends Component {
    static template = "iota_scripts.VersionDiffAction";
    static components = { Layout };
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.notification = useService("notification");
        this.actionService = useService("action");
        this.iframeRef = useRef("iframe");
        const params = this.props.action.params || {};
        this.scriptId = params.script_id;
        this.draft = typeof params.draft === "string" ? params.draft : null;
        this.state = useState({
            versions: [],
            script: null,
            leftId: params.left_id || null,
            rightKey: params.right_id ? String(params.right_id) : this.draft !== null ? "draft" : "current",
            failed: "",
        });
        this.channel = new EditorChannel({
            getFrameWindow: () => this.iframeRef.el?.contentWindow || null,
            onMessage: (msg) => msg.type === "ready" && this.sendDiff(),
            onFail: (reason) => (this.state.failed = reason),
        });
        onWillStart(() => this.load());
        onMounted(() => this.channel.start());
        onWillUnmount(() => this.channel.stop());
    }

    async load() {
        if (!this.scriptId) {
            return;
        }
        const [script] = await this.orm.read("iota.script", [this.scriptId], [
            "name",
            "source",
            "capabilities_json",
        ]);
        const versions = await this.orm.searchRead(
            "iota.script.version",
            [["script_id", "=", this.scriptId]],
            VERSION_FIELDS,
            { order: "number desc" }
        );
        this.state.script = script;
        this.state.versions = versions;
        if (!versions.some((v) => v.id === this.state.leftId)) {
            this.state.leftId = defaultLeftId(versions, this.draft !== null);
        }
    }

    get layoutDisplay() {
        return { controlPanel: this.env.inDialog ? false : {} };
    }

    get left() {
        return this.state.versions.find((v) => v.id === this.state.leftId) || null;
    }

    get rightSource() {
        if (this.state.rightKey === "draft") {
            return this.draft ?? "";
        }
        if (this.state.rightKey === "current") {
            return this.state.script?.source || "";
        }
        const version = this.state.versions.find((v) => String(v.id) === this.state.rightKey);
        return version?.source || "";
    }

    get rightCapabilities() {
        if (this.state.rightKey === "draft" || this.state.rightKey === "current") {
            return this.state.script?.capabilities_json || "";
        }
        const version = this.state.versions.find((v) => String(v.id) === this.state.rightKey);
        return version?.capabilities_json || "";
    }

    get capabilities() {
        return capabilityChanges(this.left?.capabilities_json || "", this.rightCapabilities);
    }

    isRight(version) {
        return String(version.id) === this.state.rightKey;
    }

    versionLabel(version) {
        const author = version.author_id ? version.author_id[1] : "";
        return _t("v%(number)s · %(date)s · %(author)s · %(size)s bytes%(note)s", {
            number: version.number,
            date: version.create_date,
            author,
            size: version.size_bytes,
            note: version.note ? ` · ${version.note}` : "",
        });
    }

    sendDiff() {
        this.channel.send("init", {
            mode: "diff",
            original: this.left?.source || "",
            value: this.rightSource,
            readonly: true,
            language: "javascript",
            theme: editorTheme(),
            extraLibs: [],
        });
    }

    onLeftChange(ev) {
        this.state.leftId = parseInt(ev.target.value, 10);
        this.sendDiff();
    }

    onRightChange(ev) {
        this.state.rightKey = ev.target.value;
        this.sendDiff();
    }

    async restore() {
        const left = this.left;
        if (!left) {
            return;
        }
        await this.orm.call("iota.script.version", "action_restore", [[left.id]]);
        await this.load();
        this.state.rightKey = "current";
        this.notification.add(
            _t("Version %(number)s restored as version %(new)s.", {
                number: left.number,
                new: this.state.versions[0]?.number,
            }),
            { type: "success" }
        );
        this.sendDiff();
    }

    openScript() {
        this.actionService.doAction({
            type: "ir.actions.act_window",
            res_model: "iota.script",
            res_id: this.scriptId,
            views: [[false, "form"]],
        });
    }
}

registry.category("actions").add("iota_scripts.version_diff", VersionDiffAction);
