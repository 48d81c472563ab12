#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target in the module, one after another.
#
# Usage:
#   scripts/fuzz.sh                  # every target, 10 s each
#   FUZZTIME=1m scripts/fuzz.sh      # longer runs (any go test -fuzztime value)
#   scripts/fuzz.sh Sellers Job      # only targets whose name matches a pattern
#
# Targets are found by grep: every `func FuzzXxx(f *testing.F)` in a
# _test.go file. Each runs as
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime "$FUZZTIME" ./pkg/
# and gets one line: its package, its name, the executions of its last
# progress line, and ok or FAIL. A failing input is written by go under the
# package's testdata/fuzz/FuzzXxx/ (commit it as a regression seed once
# fixed) and the target's output is printed. Exits 1 if any target failed,
# 2 if none was found.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-10s}"
if ! command -v go >/dev/null 2>&1; then
  export PATH="$PATH:/usr/local/go/bin"
fi

# "pkgdir name" lines, sorted, for every fuzz target.
targets="$(grep -rHoE --include='*_test.go' --exclude-dir=.git --exclude-dir=testdata \
    '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*$|\1 \2|' | sort -u)"
if [ "$#" -gt 0 ]; then
  pattern="$(IFS='|'; echo "$*")"
  targets="$(printf '%s\n' "$targets" | awk -v p="$pattern" '$2 ~ p')"
fi
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 2
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed=0
total=0
while read -r dir name; do
  total=$((total + 1))
  start=$SECONDS
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir/" >"$log" 2>&1; then
    status=ok
  else
    status=FAIL
    failed=$((failed + 1))
  fi
  # go prints "fuzz: elapsed: 10s, execs: 12345 (1234/sec), new interesting:
  # ..." every 3 s, after "gathering baseline coverage: N/M completed" (the
  # seed corpus and go's cached corpus, run first).
  execs="$(grep -oE 'execs: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')"
  if [ -z "$execs" ]; then
    baseline="$(grep -oE 'baseline coverage: [0-9]+/[0-9]+' "$log" | tail -n 1 | awk '{print $3}')"
    execs="0 (corpus ${baseline:-not run})"
  fi
  printf '%-14s %-20s %4ss  execs %-22s %s\n' "${dir#./}" "$name" "$((SECONDS - start))" "$execs" "$status"
  if [ "$status" = FAIL ]; then
    sed 's/^/    /' "$log"
  fi
done <<<"$targets"

if [ "$failed" -gt 0 ]; then
  echo "fuzz: $failed of $total targets FAILED"
  exit 1
fi
echo "fuzz: all $total targets ok ($fuzztime each)"
