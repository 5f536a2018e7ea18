from . import (
    iota_script_automation_wizard,
    iota_script_bundle_wizard,
    iota_script_dry_run_wizard,
    iota_script_replay_wizard,
    iota_script_run_wizard,
)
