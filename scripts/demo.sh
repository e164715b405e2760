#!/usr/bin/env bash
# distac's main job: install the data sets if missing, then run the demo
# (flags go to `distac demo`, e.g. --seed 1 or --workdir DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh data
exec go run ./cmd/distac demo "$@"
