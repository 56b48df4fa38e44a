#!/usr/bin/env bash
# Presence on a generated 20,000-commit, 5-env history: backflow (cold and warm, via the criterion
# bench) against git's own tools on the same repository, in the same run.
#   cold: backflow discovery + presence (patch-ids computed)  vs  git log --cherry-mark A...B per env pair
#   warm: backflow with caches                                vs  git rev-list --count A..B per env pair
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BACKFLOW_BENCH_DIR:-/tmp/backflow-bench-repo}
export BACKFLOW_BENCH_DIR=$dir
cargo bench --bench presence -- --noplot 2>&1 | grep -E 'presence_20k|time:'
pairs=("dev1 qa" "dev2 qa" "qa uat" "uat prod" "dev1 prod")
cd "$dir"
t0=$(date +%s%N)
for p in "${pairs[@]}"; do set -- $p; git log --cherry-mark --oneline "$1...$2" >/dev/null; done
t1=$(date +%s%N)
for p in "${pairs[@]}"; do set -- $p; git rev-list --count "$1..$2" >/dev/null; git rev-list --count "$2..$1" >/dev/null; done
t2=$(date +%s%N)
echo "git log --cherry-mark A...B, ${#pairs[@]} pairs: $(( (t1 - t0) / 1000000 )) ms"
echo "git rev-list --count A..B both ways, ${#pairs[@]} pairs: $(( (t2 - t1) / 1000000 )) ms"
