/**
 * The Run panel's input form, generated from a script's JSON Schema.
 *
 * Only a top-level ``{"type": "object", "properties": {...}}`` schema gets a
 * form; each property becomes a widget by its type: string (or enum: a
 * select), integer, number, boolean, and anything else (objects, arrays) a
 * small JSON text box. Any other schema falls back to the raw JSON editor.
 * The server checks the input against the full schema anyway.
 */

/** Parses the schema text: the object, or null when empty or not JSON. */
export function parseSchema(text) {
    if (!text || !text.trim()) {
        return null;
    }
    try {
        const schema = JSON.parse(text);
        return schema && typeof schema === "object" && !Array.isArray(schema) ? schema : null;
    } catch {
        return null;
    }
}

/** The form's fields for ``schema``, or null when the schema has no form. */
export function schemaFields(schema) {
    if (!schema || schema.type !== "object" || !schema.properties) {
        return null;
    }
    const required = new Set(Array.isArray(schema.required) ? schema.required : []);
    return Object.entries(schema.properties).map(([name, prop]) => {
        prop = prop && typeof prop === "object" ? prop : {};
        let kind = "json";
        if (Array.isArray(prop.enum)) {
            kind = "select";
        } else if (["string", "integer", "number", "boolean"].includes(prop.type)) {
            kind = prop.type;
        }
        return {
            name,
            kind,
            label: prop.title || name,
            help: prop.description || "",
            required: required.has(name),
            options:
                kind === "select"
                    ? prop.enum.map((v) => ({
                          value: JSON.stringify(v),
                          label: typeof v === "string" ? v : JSON.stringify(v),
                      }))
                    : [],
            default: prop.default,
        };
    });
}

/** The initial raw values of the form (strings, or booleans for checkboxes). */
export function initialValues(fields) {
    const values = {};
    for (const field of fields) {
        if (field.kind === "boolean") {
            values[field.name] = Boolean(field.default);
        } else if (field.default === undefined) {
            values[field.name] = "";
        } else if (field.kind === "select" || field.kind === "json") {
            values[field.name] = JSON.stringify(field.default);
        } else {
            values[field.name] = String(field.default);
        }
    }
    return values;
}

/**
 * The input object built from the form's raw values: ``{value, errors}``,
 * errors by field name, as codes (``required``, ``not_integer``,
 * ``not_number``, ``not_json``; see ``RunPanel.errorLabel``). Empty optional
 * fields are left out.
 */
export function buildInput(fields, raw) {
    const value = {};
    const errors = {};
    for (const field of fields) {
        const text = raw[field.name];
        if (field.kind === "boolean") {
            value[field.name] = Boolean(text);
            continue;
        }
        if (text === "" || text === undefined) {
            if (field.required) {
                errors[field.name] = "required";
            }
            continue;
        }
        if (field.kind === "string") {
            value[field.name] = text;
        } else if (field.kind === "integer" || field.kind === "number") {
            const n = Number(text);
            if (!Number.isFinite(n) || (field.kind === "integer" && !Number.isInteger(n))) {
                errors[field.name] = field.kind === "integer" ? "not_integer" : "not_number";
            } else {
                value[field.name] = n;
            }
        } else {
            try {
                value[field.name] = JSON.parse(text);
            } catch {
                errors[field.name] = "not_json";
            }
        }
    }
    return { value, errors };
}

/** Parses the raw JSON editor's text: ``{value, error}`` (empty text: null input). */
export function parseJsonInput(text) {
    if (!text || !text.trim()) {
        return { value: null, error: "" };
    }
    try {
        return { value: JSON.parse(text), error: "" };
    } catch (e) {
        return { value: undefined, error: e.message };
    }
}
