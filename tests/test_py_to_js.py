"""The Python-to-JavaScript draft of a server action (iota_scripts/tools/py_to_js.py), without Odoo.

Every draft must pass the engine's syntax check (real V8 and acorn), and the
recognised idioms must come out as the sdk calls the migration guide names.
"""

from __future__ import annotations

import pytest
from addon_tools import load

py_to_js = load("py_to_js")

CASES = [
    (
        "record.write({'comment': 'checked', 'active': True})",
        'await sdk.db.write(ctx.records.model, ctx.records.ids, {"comment": "checked", "active": true});',
    ),
    (
        "partners = env['res.partner'].search([('is_company', '=', True)], limit=10, order='name')",
        'const partners = await sdk.db.search("res.partner", [["is_company", "=", true]], {limit: 10, order: "name"});',
    ),
    (
        "n = env['crm.lead'].search_count([])",
        'const n = await sdk.db.searchCount("crm.lead", []);',
    ),
    (
        "env['res.partner'].create({'name': 'Ada'})",
        'await sdk.db.create("res.partner", {"name": "Ada"});',
    ),
    ("log('done', level='warning')", 'sdk.log.warn("done");'),
    ("log('started')", 'sdk.log.info("started");'),
    ("raise UserError('Nothing to do')", 'throw new Error("Nothing to do");'),
]


@pytest.mark.parametrize(("python", "js"), CASES)
def test_recognised_idioms(python, js):
    draft = py_to_js.convert(python)
    assert f"  {js}\n" in draft
    assert "TODO" not in draft.split("export default", 1)[1]


def test_a_loop_writes_each_record_and_says_what_to_read():
    draft = py_to_js.convert("for rec in records:\n    rec.write({'x': 1})\n")
    body = draft.split("export default", 1)[1]
    assert "for (const id of ctx.records.ids) {" in body
    assert 'await sdk.db.write(ctx.records.model, [id], {"x": 1});' in body
    assert "TODO: `rec` is the record with this id" in body


def test_what_it_cannot_translate_is_a_todo_with_the_python():
    python = (
        "records.filtered(lambda r: r.active)\n"
        "total = sum(records.mapped('amount'))\n"
        "if records.partner_id:\n"
        "    record.write({'note': compute(record)})\n"
    )
    body = py_to_js.convert(python).split("export default", 1)[1]
    assert "// TODO (filter ctx.records" in body and "records.filtered(lambda r: r.active)" in body
    assert "// TODO: total = sum(records.mapped('amount'))" in body
    assert "// TODO (condition): if records.partner_id" in body
    # values that are not plain data are never guessed
    assert "// TODO: record.write({'note': compute(record)})" in body
    body = py_to_js.convert("env['res.partner'].search(domain)").split("export default", 1)[1]
    assert "// TODO: env['res.partner'].search(domain)" in body


def test_the_python_is_kept_whole_in_a_comment():
    python = "# a comment */ that would close a JS comment\nlog('x')\n"
    draft = py_to_js.convert(python, 'Named "action"')
    assert draft.startswith('// Converted from the Python server action "Named \\"action\\"".')
    assert "/* Python:\n# a comment * / that would close a JS comment\nlog('x')\n*/" in draft


def test_python_that_does_not_parse_is_a_named_error():
    with pytest.raises(py_to_js.ConversionError, match="line 1"):
        py_to_js.convert("def (:")


@pytest.mark.parametrize(
    "python",
    [python for python, _js in CASES]
    + [
        "",
        "for record in records:\n    if not record:\n        raise UserError('x %s' % record.name)\n",
        "if not records:\n    log('none')\nelse:\n    records.write({'a': [1, 2, {'b': None}]})\n",
        "x = 1\ny = {1: 2}\nenv['a.b'].search(domain)\n",
        "'''docstring */ with <!-- html comment -->'''\n",
    ],
)
def test_every_draft_passes_the_engines_syntax_check(engine, python):
    draft = py_to_js.convert(python)
    assert engine.check(draft) is None, draft
