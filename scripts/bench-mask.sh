#!/usr/bin/env bash
# One-run benchmark of `backflow mask` on the simulator: N Contacts (default 100,000) in a
# Full-copy-like sandbox, four rules (email, name, phone, street). Prints records/s, the
# wall time and the peak RSS of the masking process (the simulator runs in its own process;
# its peak RSS is printed separately).
# Usage: scripts/bench-mask.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BF=${BF:-${CARGO_TARGET_DIR:-$here/target}/debug/backflow}
n=${1:-100000}
work=$(mktemp -d)
ws=$work/ws
export BACKFLOW_STATE_DIR=$work XDG_DATA_HOME=$work/data XDG_STATE_HOME=$work/state \
  XDG_CONFIG_HOME=$work/config GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 NO_COLOR=1 \
  BACKFLOW_USER=rm@acme.example BACKFLOW_BIN=$BF
stop() {
  if [ -f "$ws/.backflow/sim/port" ]; then
    curl -s -X POST "http://127.0.0.1:$(cat "$ws/.backflow/sim/port")/_sim/shutdown" >/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT
"$BF" demo --headless --dir "$ws" >/dev/null
cat >>"$ws/backflow.toml" <<'TOML'

[[masking.rule]]
object = "Contact"
field = "Email"
strategy = "email"

[[masking.rule]]
object = "Contact"
field = "LastName"
strategy = "name"

[[masking.rule]]
object = "Contact"
field = "Phone"
strategy = "phone"

[[masking.rule]]
object = "Contact"
field = "MailingStreet"
strategy = "street"
TOML
cd "$ws"
"$BF" mask dev2 --json >/dev/null # starts the simulator (a Developer sandbox is skipped)
sim="http://127.0.0.1:$(cat .backflow/sim/port)"
curl -s "$sim/_sim/settings" |
  python3 -c "import json,sys; s=json.load(sys.stdin); s['record_counts']['Contact']=$n; print(json.dumps(s))" |
  curl -s -X PUT -H 'Content-Type: application/json' --data-binary @- "$sim/_sim/settings" >/dev/null
curl -s "$sim/_sim/orgs/qa/records/Account" >/dev/null # seeds qa's production copy
/usr/bin/time -v -o "$work/time.txt" "$BF" mask qa --force --json >"$work/out.json"
secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' "$work/time.txt")
rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
written=$(python3 -c "import json; print(sum(o['written'] for o in json.load(open('$work/out.json'))['objects']))")
sim_rss=$(awk '/VmHWM/ {print $2}' "/proc/$(cat .backflow/sim/pid)/status" 2>/dev/null || echo na)
python3 - "$written" "$secs" "$rss" "$sim_rss" "$BF" <<'PY'
import sys
w, s, rss, sim, bf = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"binary: {bf}")
print("| records masked | wall s | records/s | peak RSS (mask) | peak RSS (simulator) |")
print("|---:|---:|---:|---:|---:|")
print(f"| {w} | {s:.1f} | {w / max(s, 0.001):,.0f} | {rss / 1024:.0f} MB | {sim if sim == 'na' else f'{int(sim) / 1024:.0f} MB'} |")
PY
