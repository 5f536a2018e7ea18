# first: the models below inherit them (a parent must exist before its children)
from . import iota_script_audited, iota_script_engine_written, iota_script_guarded_trigger  # isort: skip
from . import (
    iota_script,
    iota_script_alert_rule,
    iota_script_api_version,
    iota_script_audit,
    iota_script_breakpoint,
    iota_script_bundle,
    iota_script_delivery,
    iota_script_endpoint,
    iota_script_endpoint_replay,
    iota_script_endpoint_try,
    iota_script_event,
    iota_script_execution,
    iota_script_execution_adoption,
    iota_script_execution_alert,
    iota_script_execution_dashboard,
    iota_script_execution_profile,
    iota_script_execution_replay,
    iota_script_filters,
    iota_script_flag,
    iota_script_migration,
    iota_script_policy_rule,
    iota_script_queue,
    iota_script_record_policy,
    iota_script_run,
    iota_script_run_cache,
    iota_script_run_stat,
    iota_script_schedule,
    iota_script_secret,
    iota_script_secret_read,
    iota_script_shadow,
    iota_script_signing_key,
    iota_script_studio,
    iota_script_subscription,
    iota_script_tag,
    iota_script_triggers_guard,
    iota_script_unit_pool,
    iota_script_version,
    iota_script_version_approval,
    iota_script_version_runs,
    ir_actions_server,
    ir_actions_server_convert,
    ir_rule,
    res_company,
    res_config_settings,
    web_tour_tour,
)

# last: it imports the run path (tools -> sdk_host -> run), which imports models above
from . import base_write_capture  # isort: skip

# after the models they extend: capabilities (scripts, versions)
from . import iota_script_capabilities  # isort: skip

# after the models it extends: a gradual rollout (scripts, versions, executions)
from . import iota_script_rollout, iota_script_rollout_count  # isort: skip

# after iota_script_run: it adds the hits to the Run panel's values
from . import iota_script_execution_breakpoints  # isort: skip

# after the models it extends: scripts (libraries) and versions (their pins)
from . import iota_script_package  # isort: skip

# imports the run path (dry-runs of a script's tests), like base_write_capture
from . import iota_script_tests  # isort: skip

# after both: runs the tests of a package's scripts against an upgrade's candidate
from . import iota_script_package_check  # isort: skip
