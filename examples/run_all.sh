#!/usr/bin/env bash
# Runs every example through the command line; fails if one fails.
set -euo pipefail
cd "$(dirname "$0")"
for f in *.js; do
  echo "== $f"
  iota-scripts run "$f" --input '{"name": "IOTA"}'
done
