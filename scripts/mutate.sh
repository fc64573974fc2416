#!/usr/bin/env bash
# mutate.sh runs mutation testing with gremlins (pinned as a tool in go.mod)
# over each package given (default: ./policy ./state ./cluster ./coord), one
# package at a time, and prints one line per package:
#
#   mutate: pkg=state killed=… lived=… timed_out=… not_covered=… efficacy=…%
#
# Only the package's own files are mutated (not its subpackages). Mutant runs
# are plain `go test` of the package: no -race, -failfast. Knobs (environment):
#
#   MUTATE_FILES        space-separated file names to mutate, e.g. "breaker.go record.go" (default: all)
#   MUTATE_COEFFICIENT  gremlins' timeout coefficient: a mutant's test run may take this many
#                       times the package's coverage run before it counts as timed out (default 4:
#                       the coverage run's build is mostly cached, a mutant's is a fresh compile;
#                       at 2 a loaded machine turns slow mutant runs into false time-outs)
#   MUTATE_WORKERS      mutants tested at once (default 1: the machine is shared)
#   MUTATE_LOG          directory for the full gremlins output per package (default: a temp dir)
#   MUTATE_RUN          a -run regexp: only these tests run, for the coverage and for every mutant
#                       (default: all the package's tests; no spaces: it goes through GOFLAGS);
#                       efficacy is then that of these tests alone
#
# The full output (every LIVED mutant with its position) is kept in MUTATE_LOG.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

patterns=("$@")
(( ${#patterns[@]} > 0 )) || patterns=(./policy ./state ./cluster ./coord)
coef=${MUTATE_COEFFICIENT:-4}
workers=${MUTATE_WORKERS:-1}
logdir=${MUTATE_LOG:-$(mktemp -d -t mutate.XXXXXX)}
mkdir -p "$logdir"

status=0
for pkg in "${patterns[@]}"; do
  dir=${pkg#./}
  dir=${dir%/}
  if [[ ! -d $dir ]]; then
    echo "mutate: no package directory $pkg" >&2
    exit 2
  fi
  # Paths are relative to the package directory: anything with a slash is
  # a subpackage's.
  excl=(--exclude-files '/')
  if [[ -n ${MUTATE_FILES:-} ]]; then
    for f in "$dir"/*.go; do
      base=${f##*/}
      [[ $base == *_test.go ]] && continue
      [[ " $MUTATE_FILES " == *" $base "* ]] && continue
      excl+=(--exclude-files "^${base//./\\.}\$")
    done
  fi
  log="$logdir/${dir//\//_}.log"
  # -count=1: gremlins times mutants against its coverage run, which the
  # test cache would otherwise answer in a blink.
  goflags="${GOFLAGS:+$GOFLAGS }-count=1"
  [[ -n ${MUTATE_RUN:-} ]] && goflags="$goflags -run=${MUTATE_RUN}"
  if ! GOFLAGS=$goflags go tool gremlins unleash --workers "$workers" --timeout-coefficient "$coef" \
      "${excl[@]}" "./$dir" >"$log" 2>&1; then
    echo "mutate: gremlins failed on $pkg; see $log" >&2
    tail -20 "$log" >&2
    status=1
    continue
  fi
  grep -E '^ *LIVED' "$log" | sed "s|^ *|mutate:   $dir: |" || true
  num() { sed -nE "s/.*$1: ([0-9]+).*/\\1/p" "$log" | tail -1; }
  eff=$(sed -nE 's/.*Test efficacy: ([0-9.]+)%.*/\1/p' "$log" | tail -1)
  echo "mutate: pkg=$dir killed=$(num Killed) lived=$(num Lived) timed_out=$(num 'Timed out') not_covered=$(num 'Not covered') efficacy=${eff:-0}%"
done
echo "mutate: full output in $logdir" >&2
exit $status
