"""Install hook: give every existing company its run-as user. Uninstall hook: drop the actions.
Post-load hook: the JSON log format, when the site setting ``log_format`` asks for it."""

from .models.ir_actions_server import _delete_iota_script_actions


def _post_init_hook(env):
    # Companies created later get theirs in res.company.create; creating the
    # users now keeps that work out of the first run (which may happen inside
    # an automation rule on res.partner, itself triggered by the user's partner).
    env["res.company"].search([])._iota_scripts_runner_user()


def _uninstall_hook(env):
    # Before the module's records go: the server actions that run scripts
    # (automation rules', scheduled actions', contextual ones, made by users)
    # keep the scripts they point to (ondelete="restrict"), and deleting the
    # demo scripts would fail on them.
    actions = (
        env["ir.actions.server"]
        .with_context(active_test=False)
        .search([("state", "=", "iota_script")])
    )
    _delete_iota_script_actions(actions)
    # not a model: Odoo drops the audit entries' table, not the chain's head;
    # a head left behind would make a reinstalled trail look truncated
    env.cr.execute("DROP TABLE IF EXISTS iota_script_audit_head")


def _post_load():
    # When Odoo imports the module (after its logging is set up), in the
    # process that loads it; forked workers inherit the formatters.
    from .tools.observability import json_logs
    from .tools.settings import get_setting

    json_logs.install(get_setting(None, "log_format"))
