"""Install hook: give every existing company its run-as user."""


def _post_init_hook(env):
    # Companies created later get theirs in res.company.create; creating the
    # users now keeps that work out of the first run (which may happen inside
    # an automation rule on res.partner, itself triggered by the user's partner).
    env["res.company"].search([])._iota_scripts_runner_user()
