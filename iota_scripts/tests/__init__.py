from . import (
    test_endpoint_http,
    test_events,
    test_iota_script_endpoint,
    test_iota_script_execution,
    test_iota_script_version,
    test_ir_actions_server,
    test_queue,
    test_schedule,
    test_sdk_db,
    test_settings,
    test_ui,
    test_views,
)
