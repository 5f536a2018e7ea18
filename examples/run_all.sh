#!/usr/bin/env bash
# Runs every example through the command line; fails if one fails.
set -euo pipefail
cd "$(dirname "$0")"
# The console script, or the same CLI as a module where the shell has not
# picked the new script up yet (pyenv shims, a fresh PATH).
if command -v iota-scripts >/dev/null 2>&1; then cli=(iota-scripts); else cli=(python3 -m iota_scripts_sdk.cli); fi
for f in *.js; do
  echo "== $f"
  "${cli[@]}" run "$f" --input '{"name": "IOTA"}'
done
