from . import iota_script_run_wizard
