#!/usr/bin/env bash
# Installs the reference Salesforce tools the conformance tests drive: the Salesforce CLI and
# sfdx-git-delta, pinned, into a cache dir (default ~/.cache/backflow-sf; or $1), and writes
# DIR/sf, a wrapper with telemetry and auto-update off. Idempotent. Never fails: without Node.js
# or a reachable npm registry it says so and exits 0, and the `sf` tests skip with a notice.
# Usage: scripts/install-sf.sh [DIR]; then BACKFLOW_SF_BIN=DIR/sf cargo test --test it sf_cli::
set -uo pipefail
DIR="${1:-${BACKFLOW_SF_CACHE:-$HOME/.cache/backflow-sf}}"
SF_VERSION=2.150.6
SGD_VERSION=6.31.0
note() { echo "note: $*; the Salesforce CLI tests will skip" >&2; exit 0; }

command -v node >/dev/null 2>&1 || note "node is not installed"
command -v npm >/dev/null 2>&1 || note "npm is not installed"
mkdir -p "$DIR" || note "cannot create $DIR"
cd "$DIR" || note "cannot enter $DIR"
# @salesforce/cli 2.150.x declares node>=22; it runs on Node 20 with a newer undici.
cat > package.json <<JSON
{
  "name": "backflow-sf-tools",
  "private": true,
  "dependencies": {
    "@salesforce/cli": "$SF_VERSION",
    "sfdx-git-delta": "$SGD_VERSION"
  },
  "overrides": { "undici": "^7.16.0" }
}
JSON
have() { [ -f "node_modules/$1/package.json" ] && node -p "require('./node_modules/$1/package.json').version" 2>/dev/null; }
if [ "$(have @salesforce/cli)" != "$SF_VERSION" ] || [ "$(have sfdx-git-delta)" != "$SGD_VERSION" ]; then
  timeout 900 npm install --no-audit --no-fund --loglevel=error || note "npm install failed"
fi
cat > sf <<SH
#!/usr/bin/env bash
export SF_DISABLE_TELEMETRY=true SF_AUTOUPDATE_DISABLE=true SF_SKIP_NEW_VERSION_CHECK=true
exec node "$DIR/node_modules/@salesforce/cli/bin/run.js" "\$@"
SH
chmod +x sf
./sf --version >/dev/null 2>&1 || note "the installed sf does not run"
echo "Salesforce CLI ready: $DIR/sf"
