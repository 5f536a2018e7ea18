{
    "name": "IOTA Scripts",
    "summary": "Write JavaScript inside Odoo and run it safely in sandboxed V8",
    "description": """
IOTA Scripts
============

Scripts are JavaScript modules (``export default async function (ctx) {...}``)
stored with an immutable version history. They run in V8 runner processes
outside the Odoo process (the ``iota_scripts_sdk`` engine), as a dedicated
least-privilege user pinned to the script's company, and reach Odoo through
``sdk.db`` (the ORM, with record rules), ``sdk.events`` (an outbox),
``sdk.http`` (allow-listed hosts) and ``sdk.cache`` (per company).

Every Odoo trigger reaches scripts through one server-action type,
"Run JavaScript script": automation rules, scheduled actions and contextual
actions. Each run is recorded as an execution with its logs, result, error
and resource usage.
""",
    "version": "18.0.1.1.0",
    "category": "Productivity/Scripting",
    "author": "IOTA Scripts",
    "license": "LGPL-3",
    "depends": ["base", "mail", "base_automation", "web_tour"],
    "external_dependencies": {
        # PyPI distribution names, as in requirements.txt: Odoo checks them with
        # importlib.metadata (an import name only passes with a warning)
        "python": [
            "iota-scripts-sdk",
            "orjson",
            "semantic-version",
            "cryptography",
            "jsonschema",
            "referencing",
            "croniter",
            "prometheus-client",
            "redis",
            "sentry-sdk",
            "python-json-logger",
            "opentelemetry-api",
            "opentelemetry-sdk",
            "opentelemetry-exporter-otlp-proto-http",
        ]
    },
    "data": [
        "security/iota_scripts_groups.xml",
        "security/ir.model.access.csv",
        "security/iota_scripts_rules.xml",
        "data/ir_cron_data.xml",
        "data/iota_script_alert_data.xml",
        "data/web_tour_data.xml",
        "views/iota_script_tag_views.xml",
        "views/iota_script_version_views.xml",
        "views/iota_script_execution_views.xml",
        "views/iota_script_event_views.xml",
        "views/iota_script_schedule_views.xml",
        "views/iota_script_subscription_views.xml",
        "wizard/iota_script_run_wizard_views.xml",
        "wizard/iota_script_replay_wizard_views.xml",
        "wizard/iota_script_automation_wizard_views.xml",
        "wizard/iota_script_dry_run_wizard_views.xml",
        "views/iota_script_views.xml",
        "wizard/iota_script_bundle_wizard_views.xml",
        "views/iota_script_run_views.xml",
        "views/iota_script_replay_views.xml",
        "views/iota_script_filters_views.xml",
        "views/iota_script_alert_rule_views.xml",
        "views/iota_script_policy_rule_views.xml",
        "views/iota_script_package_views.xml",
        "views/iota_script_dashboard_views.xml",
        "views/iota_script_endpoint_views.xml",
        "views/ir_actions_server_views.xml",
        "views/res_config_settings_views.xml",
        "views/iota_script_audit_views.xml",
        "views/iota_scripts_menus.xml",
        "views/iota_script_rollout_views.xml",
        "views/iota_script_version_approval_views.xml",
        "views/iota_script_flag_views.xml",
        "views/iota_script_tests_views.xml",
        "views/iota_script_secret_views.xml",
    ],
    "demo": [
        "demo/iota_script_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "iota_scripts/static/src/**/*",
        ],
        "web.assets_tests": [
            "iota_scripts/static/tests/tours/**/*",
        ],
        "web.assets_unit_tests": [
            "iota_scripts/static/tests/**/*.test.js",
        ],
    },
    "post_init_hook": "_post_init_hook",
    "post_load": "_post_load",
    "uninstall_hook": "_uninstall_hook",
    "application": True,
    "installable": True,
}
