#!/usr/bin/env bash
# Builds a two-commit git repository from a delta fixture: commit 1 = FIXTURE/from, commit 2 = FIXTURE/to.
# Usage: scripts/make-fixture-repo.sh FIXTURE_DIR REPO_DIR   (prints nothing; REPO_DIR is recreated)
set -euo pipefail
fx=$(cd "$1" && pwd); repo=$2
rm -rf "$repo"; mkdir -p "$repo"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 \
  GIT_AUTHOR_NAME=Fixture GIT_AUTHOR_EMAIL=fixture@example.com GIT_AUTHOR_DATE=2026-01-01T00:00:00Z \
  GIT_COMMITTER_NAME=Fixture GIT_COMMITTER_EMAIL=fixture@example.com GIT_COMMITTER_DATE=2026-01-01T00:00:00Z
git -C "$repo" init -q -b main
cp -r "$fx/from/." "$repo/"
git -C "$repo" add -A && git -C "$repo" commit -q -m from
git -C "$repo" rm -rq . && cp -r "$fx/to/." "$repo/"
git -C "$repo" add -A && git -C "$repo" commit -q -m to
