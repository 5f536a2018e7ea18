"""Policy rules on the AST, and their run-time half (issue 10 §1), in the real engine."""

from __future__ import annotations

import pytest

from iota_scripts_sdk import PolicyRule, ScriptError
from iota_scripts_sdk.policy import SYNTAX, denied_calls

HTTP = PolicyRule("No outbound HTTP in automation scripts", "member", "sdk.http")


def found(engine, source, *rules):
    return [(v.rule.name, v.line, v.column) for v in engine.check_policies(source, list(rules))]


def test_a_member_rule_sees_dots_brackets_templates_and_destructuring(engine):
    source = (
        "export default async () => {\n"
        "  await sdk.http.fetch('https://a');\n"  # 2:9
        "  sdk['http']; sdk[`http`];\n"  # 3:3, 3:16
        "  const {http} = sdk;\n"  # 4:10
        "  const {db: {unlink}, http: h2} = sdk;\n"  # 5:24
        "  sdk.db.searchRead('res.partner', []);\n"
        "};\n"
    )
    assert found(engine, source, HTTP) == [
        (HTTP.name, 2, 9),
        (HTTP.name, 3, 3),
        (HTTP.name, 3, 16),
        (HTTP.name, 4, 10),
        (HTTP.name, 5, 24),
    ]
    unlink = PolicyRule("No deletes", "member", "sdk.db.unlink")
    assert found(engine, source, unlink) == [("No deletes", 5, 15)]


def test_the_violation_message_names_rule_line_and_column(engine):
    [violation] = engine.check_policies(
        "export default async () => {\n\n\n  sdk.http.fetch('x');\n};\n", [HTTP]
    )
    assert str(violation) == (
        "Line 4, column 3: `sdk.http` is not allowed by policy "
        "'No outbound HTTP in automation scripts'"
    )
    assert violation.to_dict() == {
        "rule": HTTP.name,
        "line": 4,
        "column": 3,
        "message": "`sdk.http` is not allowed by policy 'No outbound HTTP in automation scripts'",
    }


def test_identifiers_are_references_not_property_names(engine):
    rule = PolicyRule("No Function", "identifier", "Function")
    source = (
        "const o = {Function: 1}; o.Function;\n"
        "class A { Function() {} }\n"
        "export default () => Function('return 1');\n"
    )
    assert found(engine, source, rule) == [("No Function", 3, 22)]


@pytest.mark.parametrize(
    ("syntax", "snippet"),
    [
        ("with", "with (Math) { max(1, 2); }"),
        ("label", "here: for (;;) break here;"),
        ("debugger", "debugger;"),
        ("generator", "function* g() {}"),
        ("class", "const C = class {};"),
        ("for-in", "for (const k in {}) {}"),
        ("var", "var v = 1;"),
        ("delete", "const d = {a: 1}; delete d.a;"),
    ],
)
def test_each_syntax_rule(engine, syntax, snippet):
    assert set(SYNTAX) >= {syntax}
    rule = PolicyRule(f"No {syntax}", "syntax", syntax)
    # sloppy-mode `with` cannot parse as a module: such a rule refuses a parse error instead
    if syntax == "with":
        with pytest.raises(ScriptError) as e:
            engine.check_policies(f"{snippet}\nexport default () => 1;\n", [rule])
        assert e.value.code == "syntax_error"
        return
    hits = found(engine, f"export default () => 1;\n{snippet}\n", rule)
    assert hits and hits[0][1] == 2, hits
    assert found(engine, "export default () => 1;\n", rule) == []


def test_depth_counts_blocks_and_functions_once_each(engine):
    rule = PolicyRule("Shallow", "max_depth", 3)
    ok = "export default (x) => { if (x) { for (;;) { break; } } };\n"  # fn 1, if 2, for 3
    deep = "export default (x) => { if (x) { for (;;) { if (x) { } break; } } };\n"
    assert found(engine, ok, rule) == []
    [(name, line, column)] = found(engine, deep, rule)
    assert (name, line, column) == ("Shallow", 1, 52)  # the inner `if` block


def test_a_deeply_nested_source_is_checked_without_overflowing(engine):
    source = "export default () => " + "[" * 500 + "]" * 500 + ";\n"
    rule = PolicyRule("Not too deep", "max_depth", 5)
    assert found(engine, source, rule) == []


def test_size_header_and_default_export_rules(engine):
    rules = [
        PolicyRule("Small", "max_bytes", 30),
        PolicyRule("Documented", "jsdoc_header"),
        PolicyRule("A function", "default_export"),
    ]
    bad = "// not a doc comment\nexport default 42;\n"
    assert [v.rule.name for v in engine.check_policies(bad, rules)] == [
        "Small",
        "Documented",
        "A function",
    ]
    good = "/** Doubles. */\nexport default (x) => x * 2;\n"
    assert engine.check_policies(good, rules[1:]) == []
    assert engine.check_policies(good, [PolicyRule("Small", "max_bytes", 45)]) == []
    assert (
        "53 bytes"
        in engine.check_policies("/** é */\n" + "export default () => 'ééééééééé';\n", rules)[
            0
        ].message
    )


def test_a_source_that_does_not_parse_is_a_syntax_error_with_its_position(engine):
    with pytest.raises(ScriptError) as e:
        engine.check_policies("export default () => {\n  return 1 +;\n};\n", [HTTP])
    assert (e.value.code, e.value.line) == ("syntax_error", 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "regex", "value": "x"}, "unknown kind 'regex'"),
        ({"kind": "identifier", "value": "a.b"}, "'a.b' is not an identifier"),
        ({"kind": "member", "value": "sdk"}, "is not a dotted path"),
        ({"kind": "member", "value": "sdk.ht tp"}, "is not a dotted path"),
        ({"kind": "syntax", "value": "goto"}, "unknown syntax 'goto'"),
        ({"kind": "max_depth", "value": 0}, "needs a positive integer"),
        ({"kind": "max_bytes", "value": True}, "needs a positive integer"),
    ],
)
def test_bad_rules_are_named_errors(kwargs, message):
    with pytest.raises(ScriptError, match=message) as e:
        PolicyRule("Bad rule", **kwargs)
    assert e.value.code == "invalid_argument"
    with pytest.raises(ScriptError, match="needs a name"):
        PolicyRule(" ", "jsdoc_header")


def test_computed_access_is_refused_by_the_host_at_run_time(engine):
    deny = denied_calls([HTTP, PolicyRule("No deletes", "member", "sdk.db.unlink")])
    assert deny == {"http": f"policy '{HTTP.name}'", "db.unlink": "policy 'No deletes'"}
    source = """export default async () => {
      const out = [];
      for (const call of [() => sdk["ht" + "tp"].fetch("https://example.com"),
                          () => sdk.db.unlink("res.partner", [1]),
                          () => sdk.db.search("res.partner", [])]) {
        try { out.push(await call()); } catch (e) { out.push([e.code, e.message]); }
      }
      return out;
    }"""
    res = engine.run(source, host={"db.search": lambda args: [7]}, deny=deny)
    assert res.error is None, res.error
    assert res.result == [
        ["access_denied", f"`sdk.http.fetch` is not allowed by policy '{HTTP.name}'"],
        ["access_denied", "`sdk.db.unlink` is not allowed by policy 'No deletes'"],
        [7],
    ]


def test_no_rules_no_runner_trip(engine):
    assert engine.check_policies("export default () => 1;\n", []) == []
