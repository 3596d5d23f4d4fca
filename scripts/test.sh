#!/usr/bin/env bash
# The whole test suite: makes sure PostgreSQL and Redis answer, and that
# Chromium and axe-core are there for the browser tests, and nginx and
# Caddy for the forward-auth recipe tests, and helm v4 for the Helm chart
# tests (installing them when absent), then runs every package's tests
# with the race detector, against the embedded backends (SQLite,
# in-process store) and the real servers. With the servers required, a
# missing one (or a missing browser, or helm) fails the tests instead of
# skipping them. The browser tests' screenshots go to
# $GATEHOUSE_SCREENSHOTS (a new temporary folder by default), printed at
# the end.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh || exit 1
bash scripts/browser.sh || exit 1
bash scripts/proxies.sh || exit 1
bash scripts/helm.sh || exit 1
export GATEHOUSE_REQUIRE_SERVERS=1
export GATEHOUSE_SCREENSHOTS="${GATEHOUSE_SCREENSHOTS:-$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-screenshots.XXXXXX")}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "testing every package (about 6 minutes on 2 cores; each package prints its line when it is done)"
# -parallel 4: the browser tests (t.Parallel) wait on Chromium as much as on the CPU.
# Package results and failures as they happen; the whole output in $log.
go test -race -count=1 -parallel 4 -timeout 15m -v "$@" ./... 2>&1 | tee "$log" |
  grep --line-buffered -E '^(ok|FAIL|panic:|\s*--- FAIL)|\[build failed\]'
rc=${PIPESTATUS[0]}
if [ $rc -ne 0 ]; then
  echo "---- failing output ----"
  grep -B2 -A30 -E '^\s*--- FAIL|^panic:|^FAIL|build failed' "$log" | head -400
  # Parallel tests print their messages apart from their FAIL line: keep
  # the whole output to read them.
  kept="${TMPDIR:-/tmp}/gatehouse-test-output.log"
  cp "$log" "$kept" && echo "the whole output: $kept"
fi
passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
skipped=$(grep -cE '^\s*--- SKIP' "$log")
if [ $rc -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
grep -q 'browsertest: screenshot' "$log" && echo "browser screenshots: $GATEHOUSE_SCREENSHOTS"
echo "$passed passed, $failed failed, $skipped skipped"
exit $rc
