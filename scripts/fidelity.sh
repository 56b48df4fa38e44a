#!/usr/bin/env bash
# Fidelity harness (a development tool, not CI): `backflow delta` vs sfdx-git-delta and
# `backflow convert` vs `sf project convert source` on whole git histories, not single
# fixtures. Repositories: the generated ones (scripts/gen-fidelity-repos.py, rebuilt in
# CACHE_DIR) plus any repository paths given as arguments. Commit pairs: one per generated
# kind of change (parent → commit), and for every repository a seeded pick of HEAD~k → HEAD
# and single commits. Prints one table per repository; exit 1 when any row differs.
# Then the speed table (release build, medians of RUNS): convert --zip vs sf convert,
# convert --output vs cp -r of the output tree, delta vs sfdx-git-delta vs the git floor.
#
# Usage: scripts/fidelity.sh [--cache DIR] [--no-speed] [REPO...]
# Env: SF (default /tmp/oracles/sf), BF (default target/release/backflow, else debug), RUNS (3),
#      SEED (15), BENCH_SCALE (0.3: the size of the generated speed project, 1.0 ≈ 20k files).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SF=${SF:-/tmp/oracles/sf}
tdir=${CARGO_TARGET_DIR:-$here/target}
BF=${BF:-$([ -x "$tdir/release/backflow" ] && echo "$tdir/release/backflow" || echo "$tdir/debug/backflow")}
RUNS=${RUNS:-3}; SEED=${SEED:-15}; BENCH_SCALE=${BENCH_SCALE:-0.3}
cache=${TMPDIR:-/tmp}/backflow-fidelity; speed=1; extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --cache) cache=$2; shift 2;;
    --no-speed) speed=0; shift;;
    *) extra+=("$(cd "$1" && pwd)"); shift;;
  esac
done
[ -x "$SF" ] || { echo "reference tools missing at $SF" >&2; exit 2; }
[ -x "$BF" ] || { echo "backflow binary missing at $BF: cargo build --release" >&2; exit 2; }
BF=$(cd "$(dirname "$BF")" && pwd)/$(basename "$BF")
mkdir -p "$cache"; work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true
fail=0

members() { [ -f "$1" ] && python3 - "$1" <<'PY' || true
import sys, xml.etree.ElementTree as ET
ns = '{http://soap.sforce.com/2006/04/metadata}'
for t in ET.parse(sys.argv[1]).getroot().findall(ns + 'types'):
    n = t.find(ns + 'name').text
    for m in t.findall(ns + 'members'):
        print(n + ':' + m.text)
PY
}
pkgdirs() { python3 -c "import json,sys;print(' '.join(d['path'].strip('./') or '.' for d in json.load(open(sys.argv[1]))['packageDirectories']))" "$1/sfdx-project.json" 2>/dev/null || echo .; }

# Commit pairs of one repository: "FROM TO KIND" lines.
pairs() {
  local repo=$1 kinds=$2
  for kc in $kinds; do
    local k=${kc%%=*} c=${kc#*=}
    [ "$k" = base ] || echo "$c~1 $c $k"
  done
  python3 - "$repo" "$SEED" <<'PY'
import random, subprocess, sys
repo, seed = sys.argv[1], int(sys.argv[2])
revs = subprocess.run(['git', '-C', repo, 'rev-list', '--first-parent', '-n', '400', 'HEAD'],
                      capture_output=True, text=True, check=True).stdout.split()
rnd = random.Random(seed)
for k in sorted({k for k in (3, len(revs) - 1) if 0 < k < len(revs)}):
    print(f'HEAD~{k} HEAD head~{k}')
for c in rnd.sample(revs[:-1], min(2, len(revs) - 1)):
    print(f'{c}~1 {c} single-{c[:8]}')
PY
}

fidelity() {
  local repo=$1 kinds=${2:-} name; name=$(basename "$repo")
  local dirs; dirs=$(pkgdirs "$repo")
  local sargs=""; for d in $dirs; do sargs="$sargs -s $d"; done
  local ign=""; [ -f "$repo/.forceignore" ] && ign="-i .forceignore"
  echo; echo "### $name ($dirs)"; echo
  printf '| %-22s | %-10s | %-10s | %s |\n' pair sgd ours result
  printf '|%s|%s|%s|%s|\n' ------------------------ ------------ ------------ --------
  while read -r from to kind; do
    local o=$work/$name/$kind; rm -rf "$o"; mkdir -p "$o/sgd" "$o/ours"
    (cd "$repo" && "$SF" sgd source delta -f "$from" -t "$to" $sargs $ign -o "$o/sgd" >/dev/null 2>"$o/sgd.err") || true
    (cd "$repo" && "$BF" delta --from "$from" --to "$to" --output "$o/ours" >/dev/null 2>"$o/ours.err") || true
    local res=same n1 n2 diffs=""
    for f in package/package.xml destructiveChanges/destructiveChanges.xml; do
      if ! diff <(members "$o/sgd/$f" | sort) <(members "$o/ours/$f" | sort) >"$o/d.txt"; then
        res=differs; diffs="$diffs $(grep -E '^[<>]' "$o/d.txt" | sed "s/^</sgd:${f%%/*}/; s/^>/ours:${f%%/*}/" | tr '\n' ' ')"
      fi
    done
    n1=$(cat <(members "$o/sgd/package/package.xml") <(members "$o/sgd/destructiveChanges/destructiveChanges.xml") | wc -l)
    n2=$(cat <(members "$o/ours/package/package.xml") <(members "$o/ours/destructiveChanges/destructiveChanges.xml") | wc -l)
    [ "$res" = same ] || fail=1
    printf '| %-22s | %-10s | %-10s | %s%s |\n' "delta $kind" "$n1" "$n2" "$res" "$diffs"
  done < <(pairs "$repo" "$kinds")
  # convert: the HEAD tree, every package directory
  local pargs="" bargs=""; for d in $dirs; do pargs="$pargs -p $d"; bargs="$bargs --source-dir $d"; done
  local o=$work/$name/convert; rm -rf "$o"; mkdir -p "$o"
  (cd "$repo" && "$SF" project convert source $pargs -d "$o/sf" >/dev/null 2>"$o/sf.err") || true
  (cd "$repo" && "$BF" convert $bargs --output "$o/ours" >/dev/null 2>"$o/ours.err") || true
  local res
  if [ ! -d "$o/sf" ]; then res="sf failed: $(tr '\n' ' ' <"$o/sf.err" | cut -c1-160)"
  elif [ ! -d "$o/ours" ]; then res="ours failed: $(tr '\n' ' ' <"$o/ours.err" | cut -c1-160)"; fail=1
  elif python3 "$here/scripts/compare-trees.py" "$o/sf" "$o/ours" >"$o/c.txt"; then res=same
  else res="differs: $(tr '\n' ' ' <"$o/c.txt" | cut -c1-300)"; fail=1; fi
  printf '| %-22s | %-10s | %-10s | %s |\n' "convert HEAD" "$(find "$o/sf" -type f 2>/dev/null | wc -l) files" "$(find "$o/ours" -type f 2>/dev/null | wc -l) files" "$res"
}

while read -r repo kinds; do fidelity "$repo" "$kinds"; done < <(python3 "$here/scripts/gen-fidelity-repos.py" "$cache")
for r in "${extra[@]}"; do fidelity "$r" ""; done

if [ "$speed" = 1 ]; then
  median() { # runs "$@" RUNS times, prints the median in ms
    local ts=() i s
    for ((i = 0; i < RUNS; i++)); do
      s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; ts+=($(( ($(date +%s%N) - s) / 1000000 )))
    done
    printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
  }
  proj=$cache/speed; rm -rf "$proj"
  python3 "$here/scripts/gen-bench-project.py" "$proj" "$BENCH_SCALE" >/dev/null
  nfiles=$(git -C "$proj" ls-files | wc -l); nchanged=$(git -C "$proj" diff --name-only HEAD~1 HEAD | wc -l)
  cd "$proj"
  conv_sf() { rm -rf "$work/s1"; "$SF" project convert source -p force-app -d "$work/s1"; }
  conv_zip() { "$BF" convert --source-dir force-app --zip "$work/b.zip"; }
  conv_out() { rm -rf "$work/b1"; "$BF" convert --source-dir force-app --output "$work/b1"; }
  "$BF" convert --source-dir force-app --output "$work/ref" >/dev/null 2>&1
  cp_out() { rm -rf "$work/c1"; cp -r "$work/ref" "$work/c1"; }
  d_sgd() { rm -rf "$work/g"; mkdir -p "$work/g"; "$SF" sgd source delta -f HEAD~1 -t HEAD -s force-app -o "$work/g"; }
  d_ours() { "$BF" delta --from HEAD~1 --to HEAD --output "$work/o"; }
  d_git() { git diff --name-status -M HEAD~1 HEAD; }
  echo; echo "### speed ($nfiles files, $nchanged changed in HEAD~1..HEAD; median of $RUNS; $(basename "$(dirname "$BF")") build)"; echo
  echo "| step | reference | backflow |"; echo "|---|---|---|"
  echo "| convert --zip vs sf project convert source | $(median conv_sf) ms | $(median conv_zip) ms |"
  echo "| convert --output vs cp -r of the output tree | $(median cp_out) ms | $(median conv_out) ms |"
  echo "| delta vs sfdx-git-delta | $(median d_sgd) ms | $(median d_ours) ms |"
  echo "| delta vs git diff --name-status (floor) | $(median d_git) ms | (above) |"
fi
exit $fail
