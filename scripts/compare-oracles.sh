#!/usr/bin/env bash
# Regenerates the golden outputs live with the reference tools and diffs them against backflow:
#   delta   vs sfdx-git-delta (`sf sgd source delta`)      — sets of type:member
#   convert vs `sf project convert source`                 — file sets + XML compared semantically
# and prints the time each tool took on each fixture.
# Needs the oracles: /work/shared/tools/setup-oracles.sh (installs into /tmp/oracles).
# Usage: scripts/compare-oracles.sh [--update]   (--update rewrites the committed expected files)
#        scripts/compare-oracles.sh --fidelity [ARGS…]   (whole histories: see scripts/fidelity.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = --fidelity ]; then shift; exec "$here/scripts/fidelity.sh" "$@"; fi
SF=${SF:-/tmp/oracles/sf}
BF=${BF:-${CARGO_TARGET_DIR:-$here/target}/debug/backflow}
update=${1:-}
[ -x "$SF" ] || { echo "oracles missing: run /work/shared/tools/setup-oracles.sh" >&2; exit 2; }
[ -x "$BF" ] || { echo "backflow binary missing at $BF: run cargo build" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail=0
ms() { local s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; echo $(( ($(date +%s%N) - s) / 1000000 )); }
members() { python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
ns='{http://soap.sforce.com/2006/04/metadata}'
for t in ET.parse(sys.argv[1]).getroot().findall(ns+'types'):
    n=t.find(ns+'name').text
    for m in t.findall(ns+'members'): print(n+':'+m.text)
PY
}
printf '%-10s %-8s %10s %10s  %s\n' fixture step oracle_ms ours_ms result
for fx in "$here"/tests/fixtures/metadata/delta/*/; do
  name=$(basename "$fx"); repo=$work/$name/repo
  "$here/scripts/make-fixture-repo.sh" "$fx" "$repo"
  dirs=$(python3 -c "import json;print(' '.join('-s '+d['path'] for d in json.load(open('$repo/sfdx-project.json'))['packageDirectories']))")
  ign=""; [ -f "$repo/.forceignore" ] && ign="-i .forceignore"
  mkdir -p "$work/$name/sgd" "$work/$name/ours"
  t1=$(cd "$repo" && ms "$SF" sgd source delta -f HEAD~1 -t HEAD $dirs $ign -o "$work/$name/sgd")
  t2=$(cd "$repo" && ms "$BF" delta --from HEAD~1 --to HEAD --output "$work/$name/ours")
  res=same
  for f in package/package.xml destructiveChanges/destructiveChanges.xml; do
    if ! diff <(members "$work/$name/sgd/$f" | sort) <(members "$work/$name/ours/$f" | sort) >"$work/d.txt"; then
      res="differs (see $fx/expected/deliberate-differences.txt)"; sed 's/^/    /' "$work/d.txt"
    fi
  done
  printf '%-10s %-8s %10s %10s  %s\n' "$name" delta "$t1" "$t2" "$res"
  # --generate-delta: the same files copied (pruned in-file XML compared semantically)
  mkdir -p "$work/$name/sgd-d"
  t1=$(cd "$repo" && ms "$SF" sgd source delta -f HEAD~1 -t HEAD $dirs $ign -o "$work/$name/sgd-d" -d)
  t2=$(cd "$repo" && ms "$BF" delta --from HEAD~1 --to HEAD --generate-delta --output "$work/$name/ours-d")
  if python3 "$here/scripts/compare-trees.py" "$work/$name/sgd-d" "$work/$name/ours-d" >"$work/g.txt"; then res=same
  else res=differs; sed 's/^/    /' "$work/g.txt"; fi
  printf '%-10s %-8s %10s %10s  %s\n' "$name" gen-delta "$t1" "$t2" "$res"
  if [ "$update" = --update ]; then
    mkdir -p "$fx/expected"
    cp "$work/$name/sgd/package/package.xml" "$work/$name/sgd/destructiveChanges/destructiveChanges.xml" "$fx/expected/"
  fi
  # convert: the `to` tree of the same fixture
  src=$fx/to; pdirs=$(python3 -c "import json;print(' '.join(d['path'] for d in json.load(open('$src/sfdx-project.json'))['packageDirectories']))")
  sfargs=""; bfargs=""; for d in $pdirs; do sfargs="$sfargs -p $d"; bfargs="$bfargs --source-dir $d"; done
  t1=$(cd "$src" && ms "$SF" project convert source $sfargs -d "$work/$name/sfconv")
  t2=$(cd "$src" && ms "$BF" convert $bfargs --output "$work/$name/bfconv")
  t3=$(cd "$src" && ms "$BF" convert $bfargs --zip "$work/$name/bf.zip")
  if python3 "$here/scripts/compare-trees.py" "$work/$name/sfconv" "$work/$name/bfconv" >"$work/c.txt"; then res=same
  else res="differs (see tests/fixtures/metadata/convert/$name/deliberate-differences.txt)"; sed 's/^/    /' "$work/c.txt"; fi
  printf '%-10s %-8s %10s %10s  %s (zip: %s ms)\n' "$name" convert "$t1" "$t2" "$res" "$t3"
  if [ "$update" = --update ]; then
    rm -rf "$here/tests/fixtures/metadata/convert/$name/expected"; mkdir -p "$here/tests/fixtures/metadata/convert/$name"
    cp -r "$work/$name/sfconv" "$here/tests/fixtures/metadata/convert/$name/expected"
  fi
done
exit $fail
