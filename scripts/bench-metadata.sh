#!/usr/bin/env bash
# One-run benchmark of delta and convert on a generated project of ~20,000 metadata files with
# a large diff (scripts/gen-bench-project.py), against the floors and the reference tools:
#   delta floor   = git diff --name-status + git cat-file --batch of both versions of every
#                   changed in-file XML (profiles, labels, workflows)
#   convert floor = cp -r of the converted tree
# Usage: scripts/bench-metadata.sh [SCALE] (default 1.4 ≈ 20k files). Prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SF=${SF:-/tmp/oracles/sf}
BF=${BF:-${CARGO_TARGET_DIR:-$here/target}/debug/backflow}
scale=${1:-1.4}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
repo=$work/proj
python3 "$here/scripts/gen-bench-project.py" "$repo" "$scale" >"$work/gen.txt"
files=$(awk '{print $1}' "$work/gen.txt"); changed=$(git -C "$repo" diff --name-only HEAD~1 HEAD | wc -l)
ms() { local s=$(date +%s%N); "$@" >/dev/null 2>&1 || echo "(failed: $*)" >&2; echo $(( ($(date +%s%N) - s) / 1000000 )); }
floor() {
  git -C "$repo" diff --name-status HEAD~1 HEAD >/dev/null
  git -C "$repo" diff --name-only --diff-filter=M HEAD~1 HEAD | grep -E '\.(profile|labels|workflow|permissionset|translation)-meta\.xml$' |
    while read -r p; do echo "HEAD~1:$p"; echo "HEAD:$p"; done | git -C "$repo" cat-file --batch >/dev/null
}
t_floor=$(ms floor)
t_ours=$(cd "$repo" && ms "$BF" delta --from HEAD~1 --to HEAD --output "$work/ours")
t_sgd=na; t_sfc=na
if [ -x "$SF" ]; then
  mkdir -p "$work/sgd"
  t_sgd=$(cd "$repo" && ms "$SF" sgd source delta -f HEAD~1 -t HEAD -s force-app -o "$work/sgd")
  t_sfc=$(cd "$repo" && ms "$SF" project convert source -r force-app -d "$work/sfconv")
fi
t_zip=$(cd "$repo" && ms "$BF" convert --source-dir force-app --zip "$work/deploy.zip")
t_out=$(cd "$repo" && ms "$BF" convert --source-dir force-app --output "$work/bfconv")
t_cp=$(ms cp -r "$work/bfconv" "$work/cpcopy")
ratio() { python3 -c "a,b='$1','$2'; print('n/a' if 'na' in (a,b) else f'{float(a)/max(float(b),1):.1f}×')"; }
echo "Project: $files metadata files, $changed changed paths between HEAD~1 and HEAD (binary: $BF)"
echo
echo "| operation | backflow ms | reference | reference ms | ratio |"
echo "|---|---:|---|---:|---:|"
echo "| delta | $t_ours | floor: git diff + cat-file | $t_floor | $(ratio "$t_ours" "$t_floor") of floor |"
echo "| delta | $t_ours | sfdx-git-delta | $t_sgd | $(ratio "$t_sgd" "$t_ours") faster |"
echo "| convert --zip | $t_zip | sf project convert source | $t_sfc | $(ratio "$t_sfc" "$t_zip") faster |"
echo "| convert --output | $t_out | floor: cp -r of the tree | $t_cp | $(ratio "$t_out" "$t_cp") of floor |"
if [ -d "$work/sgd" ]; then
  python3 - "$work/sgd" "$work/ours" <<'PY'
import sys, xml.etree.ElementTree as ET
ns='{http://soap.sforce.com/2006/04/metadata}'
def m(p):
    s=set()
    for t in ET.parse(p).getroot().findall(ns+'types'):
        n=t.find(ns+'name').text
        s|={n+':'+x.text for x in t.findall(ns+'members')}
    return s
for f in ['package/package.xml','destructiveChanges/destructiveChanges.xml']:
    a,b=m(sys.argv[1]+'/'+f),m(sys.argv[2]+'/'+f)
    print(f"\n{f}: sgd {len(a)}, backflow {len(b)}, only sgd {sorted(a-b)[:5]}, only backflow {sorted(b-a)[:5]}")
PY
fi
