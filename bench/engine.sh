#!/usr/bin/env bash
# The engine benchmark: every figure of the engine issue with its baselines,
# measured in one run (see iota_scripts_sdk/bench.py). Prints JSON.
set -euo pipefail
exec iota-scripts bench --json "$@"
