#!/usr/bin/env bash
# Presence benchmarks, backflow side by side with git's own tools on the same repositories, in
# one run (release build).
#
# 1. The synthetic 20,000-commit, 5-env history of benches/presence.rs (criterion: cold, warm
#    after a branch moved, warm unchanged) against git log --cherry-mark / rev-list --count.
# 2. Real-history-shaped repositories (scripts/gen-history.py: a long shared trunk of N commits
#    with pull-request merges, five env branches a few hundred commits apart, cherry-picked and
#    copied hotfixes) at N = 5k, 20k, 50k (override with SIZES="5000 20000"): the CLI's
#    `status --json` cold (no snapshot), warm (nothing moved) and after one env branch moved,
#    with peak memory, against git on the same four connections.
# SKIP_CRITERION=1 runs part 2 only.
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$PWD
ms() { echo $(( ($2 - $1) / 1000000 )); }
now() { date +%s%N; }

if [ -z "${SKIP_CRITERION:-}" ]; then
  dir=${BACKFLOW_BENCH_DIR:-/tmp/backflow-bench-repo}
  export BACKFLOW_BENCH_DIR=$dir
  cargo bench --bench presence -- --noplot 2>&1 | grep -E 'presence_20k|time:'
  pairs=("dev1 qa" "dev2 qa" "qa uat" "uat prod" "dev1 prod")
  (
    cd "$dir"
    t0=$(now)
    for p in "${pairs[@]}"; do set -- $p; git log --cherry-mark --oneline "$1...$2" >/dev/null; done
    t1=$(now)
    for p in "${pairs[@]}"; do set -- $p; git rev-list --count "$1..$2" >/dev/null; git rev-list --count "$2..$1" >/dev/null; done
    t2=$(now)
    echo "git log --cherry-mark A...B, ${#pairs[@]} pairs: $(ms "$t0" "$t1") ms"
    echo "git rev-list --count A..B both ways, ${#pairs[@]} pairs: $(ms "$t1" "$t2") ms"
  )
fi

cargo build --release --bin backflow 2>&1 | tail -1
bin=$repo_root/target/release/backflow
base=${BACKFLOW_HISTORY_DIR:-/tmp/backflow-history}
conns=("dev1 qa" "dev2 qa" "qa uat" "uat prod")
printf '%-7s %-26s %9s %9s %9s\n' commits measure ms cpu_ms peak_MB
for n in ${SIZES:-5000 20000 50000}; do
  repo=$base-$n
  [ -f "$repo/backflow.toml" ] || python3 scripts/gen-history.py "$repo" "$n" >/dev/null
  state=$(mktemp -d)
  export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
  cd "$repo"
  # A previous run's moved dev1 goes back to where the generator left it.
  orig=$(git rev-parse -q --verify dev1-orig || git rev-parse dev1)
  git update-ref refs/heads/dev1 "$orig"
  git update-ref refs/heads/dev1-orig "$orig"
  row() { printf '%-7s %-26s %9s %9s %9s\n' "$n" "$1" "$2" "${3:-}" "${4:-}"; }
  t0=$(now)
  for c in "${conns[@]}"; do set -- $c; git log --cherry-mark --oneline "$1...$2" >/dev/null; done
  t1=$(now)
  git rev-list --first-parent --count main >/dev/null
  t2=$(now)
  for c in "${conns[@]}"; do set -- $c; git rev-list --count "$1..$2" >/dev/null; git rev-list --count "$2..$1" >/dev/null; done
  t3=$(now)
  row "git cherry-mark x4" "$(ms "$t0" "$t1")"
  row "git first-parent walk" "$(ms "$t1" "$t2")"
  row "git rev-list both ways x4" "$(ms "$t2" "$t3")"
  run() { # label: status --json with the shared state dir, timed; CPU and peak memory from time -v
    local t0 t1 mem cpu
    t0=$(now)
    /usr/bin/time -v env BACKFLOW_STATE_DIR="$state" "$bin" status --json >/dev/null 2>"$state/time.txt"
    t1=$(now)
    mem=$(awk '/Maximum resident/ {printf "%.1f", $6/1024}' "$state/time.txt")
    cpu=$(awk '/User time|System time/ {s += $NF} END {printf "%d", s * 1000}' "$state/time.txt")
    row "$1" "$(ms "$t0" "$t1")" "$cpu" "$mem"
  }
  run "backflow status cold"
  run "backflow status warm"
  # One env branch moves: a new story commit on dev1.
  tree=$(git rev-parse dev1^{tree})
  moved=$(GIT_AUTHOR_NAME=B GIT_AUTHOR_EMAIL=b@x GIT_COMMITTER_NAME=B GIT_COMMITTER_EMAIL=b@x \
    git commit-tree "$tree" -p dev1 -m "W-999999: moved")
  git update-ref refs/heads/dev1 "$moved"
  run "backflow status dev1 moved"
  run "backflow status warm again"
  facts=$(find "$state" -name commits.json -printf '%s')
  row "commit facts file (KB)" "$((facts / 1024))"
  git update-ref refs/heads/dev1 dev1-orig
  cd "$repo_root"
  rm -rf "$state"
done
