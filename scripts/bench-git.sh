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
#    with peak memory, against git on the same four connections; the moved answer is checked
#    against a cold one.
# 3. NPSP, a real 46,609-commit history, when NPSP_SRC names a fetched copy (see below).
# SKIP_CRITERION=1 skips part 1, SKIP_SYNTHETIC=1 part 2.
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
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
conns=("dev1 qa" "dev2 qa" "qa uat" "uat prod")
printf '%-7s %-26s %9s %9s %9s\n' commits measure ms cpu_ms peak_MB

# Times git and `backflow status --json` (cold, warm, dev1 moved, warm again) on the pipeline
# in the current directory (env branches dev1 dev2 qa uat prod and a backflow.toml). $1 labels
# the rows.
measure() {
  local n=$1 state orig tree moved facts t0 t1 t2 t3
  state=$(mktemp -d)
  # A previous run's moved dev1 goes back to where it was made.
  orig=$(git rev-parse -q --verify dev1-orig || git rev-parse dev1)
  git update-ref refs/heads/dev1 "$orig"
  git update-ref refs/heads/dev1-orig "$orig"
  row() { printf '%-7s %-26s %9s %9s %9s\n' "$n" "$1" "$2" "${3:-}" "${4:-}"; }
  t0=$(now)
  for c in "${conns[@]}"; do set -- $c; git log --cherry-mark --oneline "$1...$2" >/dev/null; done
  t1=$(now)
  git rev-list --first-parent --count prod >/dev/null
  t2=$(now)
  for c in "${conns[@]}"; do set -- $c; git rev-list --count "$1..$2" >/dev/null; git rev-list --count "$2..$1" >/dev/null; done
  t3=$(now)
  row "git cherry-mark x4" "$(ms "$t0" "$t1")"
  row "git first-parent walk" "$(ms "$t1" "$t2")"
  row "git rev-list both ways x4" "$(ms "$t2" "$t3")"
  run() { # label: status --json with the shared state dir, timed; CPU and peak memory from time -v
    local t0 t1 mem cpu
    t0=$(now)
    /usr/bin/time -v env BACKFLOW_STATE_DIR="$state" "$bin" status --json >"$state/out-$2.json" 2>"$state/time.txt"
    t1=$(now)
    mem=$(awk '/Maximum resident/ {printf "%.1f", $6/1024}' "$state/time.txt")
    cpu=$(awk '/User time|System time/ {s += $NF} END {printf "%d", s * 1000}' "$state/time.txt")
    row "$1" "$(ms "$t0" "$t1")" "$cpu" "$mem"
  }
  run "backflow status cold" cold
  run "backflow status warm" warm
  # One env branch moves: a new story commit on dev1.
  tree=$(git rev-parse dev1^{tree})
  moved=$(GIT_AUTHOR_NAME=B GIT_AUTHOR_EMAIL=b@x GIT_COMMITTER_NAME=B GIT_COMMITTER_EMAIL=b@x \
    git commit-tree "$tree" -p dev1 -m "W-999999: moved")
  git update-ref refs/heads/dev1 "$moved"
  run "backflow status dev1 moved" moved
  run "backflow status warm again" again
  # The answer after the move from kept facts equals a cold one.
  rm -rf "$state/workspaces"
  run "backflow status moved, cold" moved-cold
  cmp -s "$state/out-moved.json" "$state/out-moved-cold.json" || echo "moved answer differs from cold" >&2
  facts=$(find "$state" -name commits.json -printf '%s')
  row "commit facts file (KB)" "$((facts / 1024))"
  git update-ref refs/heads/dev1 dev1-orig
  rm -rf "$state"
}

if [ -z "${SKIP_SYNTHETIC:-}" ]; then
  base=${BACKFLOW_HISTORY_DIR:-/tmp/backflow-history}
  for n in ${SIZES:-5000 20000 50000}; do
    repo=$base-$n
    [ -f "$repo/backflow.toml" ] || python3 scripts/gen-history.py "$repo" "$n" >/dev/null
    (cd "$repo" && measure "$n")
  done
fi

# 3. NPSP (46,609 commits) when NPSP_SRC names a clone of it, e.g. one fetched with
#    `git clone --bare https://github.com/SalesforceFoundation/NPSP`: copied (without a work
#    tree) to BACKFLOW_NPSP_DIR, env branches made from its release tags.
if [ -n "${NPSP_SRC:-}" ]; then
  npsp=${BACKFLOW_NPSP_DIR:-/tmp/backflow-npsp}
  if [ ! -f "$npsp/backflow.toml" ]; then
    git clone -q --no-checkout "$NPSP_SRC" "$npsp"
    (
      cd "$npsp"
      head=$(git rev-parse HEAD)
      git branch -f prod rel/3.200 && git branch -f uat rel/3.220 && git branch -f qa rel/3.236
      git branch -f dev1 "$head" && git branch -f dev2 "$head~30"
      {
        printf "[project]\nstory_pattern = 'W-[0-9]+'\n"
        for e in dev1:dev dev2:dev qa:qa uat:uat prod:prod; do
          printf '\n[[env]]\nname = "%s"\nbranch = "%s"\nkind = "%s"\n' "${e%%:*}" "${e%%:*}" "${e##*:}"
        done
        for c in "${conns[@]}"; do set -- $c; printf '\n[[connection]]\nfrom = "%s"\nto = "%s"\n' "$1" "$2"; done
      } > backflow.toml
      echo '{"packageDirectories":[{"path":"force-app","default":true}],"sourceApiVersion":"66.0"}' > sfdx-project.json
    )
  fi
  (cd "$npsp" && measure npsp)
fi
