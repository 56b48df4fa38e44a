#!/usr/bin/env bash
# Soak (docs/architecture.md, "Load and soak"): 1,000 back promotions, each a real deploy, from
# one long-lived engine (as the console holds it) against one simulator; prints the resident
# memory of the engine's process and of the simulator every 50 deploys and the growth slope.
#   SOAK_DEPLOYS=N (default 1000), SOAK_EVERY=N (default 50); KEEP=1 keeps the workspace.
# Release build. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin backflow 2>&1 | tail -1
work=$(mktemp -d)
cleanup() {
  if [ -f "$work/ws/.backflow/sim/port" ]; then
    curl -s -X POST "http://127.0.0.1:$(cat "$work/ws/.backflow/sim/port")/_sim/shutdown" >/dev/null || true
  fi
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
export BACKFLOW_STATE_DIR=$work/state XDG_STATE_HOME=$work/state XDG_DATA_HOME=$work/data \
  XDG_CONFIG_HOME=$work/config GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
  GIT_TERMINAL_PROMPT=0 NO_COLOR=1 BACKFLOW_BIN=$PWD/target/release/backflow
SOAK_DIR=$work/ws cargo bench --bench soak
