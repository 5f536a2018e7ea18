from . import (
    iota_script,
    iota_script_delivery,
    iota_script_event,
    iota_script_execution,
    iota_script_queue,
    iota_script_schedule,
    iota_script_subscription,
    iota_script_tag,
    iota_script_version,
    ir_actions_server,
    res_company,
    res_config_settings,
)
