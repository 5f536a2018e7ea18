from . import iota_script_replay_wizard, iota_script_run_wizard
