#!/usr/bin/env bash
# Team scale check (docs/team.md): 20 back promotions from 5 processes on two clones of one
# repository (a bare remote in a temp dir) against the simulator, into overlapping targets.
#
#   clone A: 3 worker processes, clone B: 2, all at once; each runs its share of 20
#   (target, story) back promotions one after the other; a job refused because a teammate holds
#   the env is tried again a moment later (as a person would).
#
# Checks, then prints the figures:
#   - no double deploy: every real deploy in the simulator's log belongs to exactly one job that
#     reports `deployed`, and no story is deployed twice into one env;
#   - every lock released: the remote has no refs/backflow/locks/* left;
#   - every job (refused attempts included) is in both clones' `backflow jobs` history.
# BIN=path/to/backflow overrides the binary (default: a debug build); KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --bin backflow 2>&1 | tail -1
  BIN=$PWD/target/debug/backflow
fi
work=$(mktemp -d)
cleanup() {
  if [ -f "$work/a/.backflow/sim/port" ]; then
    curl -s -X POST "http://127.0.0.1:$(cat "$work/a/.backflow/sim/port")/_sim/shutdown" >/dev/null || true
  fi
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
export BACKFLOW_STATE_DIR=$work/state XDG_STATE_HOME=$work/state XDG_DATA_HOME=$work/data \
  XDG_CONFIG_HOME=$work/config GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 NO_COLOR=1 \
  BACKFLOW_BIN=$BIN
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com \
  GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

"$BIN" demo --headless --dir "$work/a" >/dev/null
git init -q --bare "$work/remote.git"
git -C "$work/a" remote add origin "$work/remote.git"
git -C "$work/a" push -q origin dev1 dev2 qa uat main
git -C "$work/remote.git" symbolic-ref HEAD refs/heads/main
git clone -q "$work/remote.git" "$work/b"
for br in dev1 dev2 qa uat; do git -C "$work/b" branch -q "$br" "origin/$br"; done
# Both clones use one simulator (the orgs are shared, as real orgs are).
mkdir -p "$work/b/.backflow" "$work/a/.backflow/sim"
ln -s "$work/a/.backflow/sim" "$work/b/.backflow/sim"

jobs=(
  "dev1 US-0016" "dev2 US-0017" "qa US-0104" "dev1 US-0019" "dev2 US-0018"
  "dev1 US-0020" "dev2 US-0021" "qa US-0105" "dev1 US-0022" "dev2 US-0023"
  "dev1 US-0024" "dev2 US-0025" "dev1 US-0102" "dev2 US-0102" "dev1 US-0104"
  "dev2 US-0104" "dev1 US-0105" "dev2 US-0105" "qa US-0104" "qa US-0105"
)
worker() { # worker N CLONE
  local n=$1 clone=$2 i=0 log=$work/worker$1.log
  for spec in "${jobs[@]}"; do
    if (( i++ % 5 == n )); then
      set -- $spec
      for attempt in $(seq 1 120); do
        out=$(cd "$work/$clone" && BACKFLOW_USER="w$n@$clone" BACKFLOW_MACHINE="machine-$clone" \
          "$BIN" back-promote --from uat --to "$1" --story "$2" --on-conflict source \
          --on-drift overwrite --yes 2>&1) && rc=0 || rc=$?
        echo "$out" >>"$log"
        echo "== $clone $1 $2 attempt $attempt rc=$rc" >>"$log"
        if [ $rc -eq 0 ] || ! grep -q "is locked" <<<"$out"; then break; fi
        sleep 0.2
      done
    fi
  done
}
t0=$(date +%s%N)
worker 0 a & worker 1 a & worker 2 a & worker 3 b & worker 4 b &
wait
t1=$(date +%s%N)
elapsed_ms=$(( (t1 - t0) / 1000000 ))

port=$(cat "$work/a/.backflow/sim/port")
curl -s "http://127.0.0.1:$port/_sim/deploys" >"$work/deploys.json"
(cd "$work/a" && "$BIN" jobs --json >"$work/jobs-a.json")
(cd "$work/b" && "$BIN" jobs --json >"$work/jobs-b.json")
cat "$work"/worker*.log >"$work/all.log"
locks=$(git -C "$work/remote.git" for-each-ref refs/backflow/locks/ | wc -l)

python3 - "$work" "$locks" "$elapsed_ms" <<'EOF'
import json, re, sys, collections
work, locks, elapsed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
log = open(f"{work}/all.log").read()
started = set(re.findall(r"job (\S+) started", log))
attempts = re.findall(r"== (\w) (\w+) (US-\d+) attempt (\d+) rc=(\d+)", log)
final = [a for a in attempts if a[4] == "0" or True]
deploys = json.load(open(f"{work}/deploys.json"))
real = [d for d in deploys if not d["check_only"]]
team = {c: json.load(open(f"{work}/jobs-{c}.json"))["team_jobs"] for c in "ab"}
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok &= cond
summ = {j["job"]: j for j in team["a"]}
deployed = [j for j in summ.values() if j["state"] == "deployed"]
ids = collections.Counter(d for j in deployed for d in j["deploy_ids"])
check(all(n == 1 for n in ids.values()) and len(ids) == len(deployed),
      f"each deployed job has its own deploy ({len(deployed)} deployed jobs)")
check(sorted(d["id"] for d in real) == sorted(ids),
      f"every real deploy in the simulator ({len(real)}) belongs to one deployed job")
per_env = collections.Counter((j["target"], s) for j in deployed for s in j["stories"])
check(all(n == 1 for n in per_env.values()), "no story deployed twice into one env")
check(locks == 0, f"every lock released ({locks} left on the remote)")
for c in "ab":
    have = {j["job"] for j in team[c]}
    check(started <= have, f"clone {c.upper()} history holds every job ({len(started & have)}/{len(started)})")
states = collections.Counter(j["state"] for j in summ.values())
retries = sum(1 for a in attempts if a[3] != "1")
print(f"figures: 20 back promotions, 5 processes, 2 clones: {elapsed} ms wall, "
      f"{len(started)} job runs ({retries} retried after a lock refusal), outcomes {dict(states)}, "
      f"{len(real)} deploys + {len(deploys) - len(real)} validations in the org log")
sys.exit(0 if ok else 1)
EOF
