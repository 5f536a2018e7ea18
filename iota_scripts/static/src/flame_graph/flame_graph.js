import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { Component } from "@odoo/owl";

/**
 * The boxes of a flame graph (an icicle: the run on top, callees below) for a
 * call tree ``{name, value (ms), calls, children}`` (iota_scripts_sdk/profile.py).
 * Each box: ``{key, name, value, calls, depth, left, width}``, left and width
 * in percent of the root. A node's children share its width in proportion
 * to their values (scaled down when their sum passes the node's: the times
 * are whole milliseconds, summed).
 */
export function layoutFlame(tree) {
    const boxes = [];
    if (!tree) {
        return boxes;
    }
    const visit = (node, depth, left, width, key) => {
        boxes.push({
            key,
            name: node.name,
            value: node.value || 0,
            calls: node.calls || 0,
            depth,
            left,
            width,
        });
        const kids = node.children || [];
        const total = Math.max(node.value || 0, kids.reduce((s, k) => s + (k.value || 0), 0));
        let x = left;
        kids.forEach((kid, i) => {
            const w = total > 0 ? (width * (kid.value || 0)) / total : width / kids.length;
            visit(kid, depth + 1, x, w, `${key}.${i}`);
            x += w;
        });
    };
    visit(tree, 0, 0, 100, "0");
    return boxes;
}

/** A flame graph in plain HTML/CSS boxes (one row per call depth). */
export class FlameGraph extends Component {
    static template = "iota_scripts.FlameGraph";
    static props = { tree: { type: [Object, { value: null }], optional: true } };

    get boxes() {
        return layoutFlame(this.props.tree);
    }

    get depth() {
        return Math.max(0, ...this.boxes.map((b) => b.depth)) + 1;
    }

    title(box) {
        return _t("%(name)s: %(ms)s ms in %(calls)s call(s)", {
            name: box.name,
            ms: box.value.toFixed(1),
            calls: box.calls,
        });
    }
}

/** `iota_scripts_flame_graph`: an execution's ``profile_json`` drawn as a flame graph. */
export class FlameGraphField extends Component {
    static template = "iota_scripts.FlameGraphField";
    static components = { FlameGraph };
    static props = { ...standardFieldProps };

    get tree() {
        try {
            return JSON.parse(this.props.record.data[this.props.name] || "null");
        } catch {
            return null;
        }
    }
}

registry.category("fields").add("iota_scripts_flame_graph", {
    component: FlameGraphField,
    displayName: _t("Flame graph (IOTA Scripts)"),
    supportedTypes: ["text"],
});
