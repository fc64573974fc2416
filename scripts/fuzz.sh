#!/usr/bin/env bash
# fuzz.sh runs every fuzz target in the given packages (default ./...) for
# FUZZTIME each (default 30s), one after another, and fails if any of them
# failed. Targets are found with `go test -list`, so new ones are picked up
# without editing anything.
#
# A failing input is written by the go command to the package's
# testdata/fuzz/<FuzzName>/ directory; once fixed, commit it as a regression seed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-30s}
patterns=("$@")
(( ${#patterns[@]} > 0 )) || patterns=(./...)

# Packages that have test files at all; the others cannot hold fuzz targets.
mapfile -t pkgs < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${patterns[@]}" | sed '/^$/d')

targets=()
for pkg in "${pkgs[@]}"; do
  # -list prints the matching names, then an "ok" line; a build failure fails here.
  if ! out=$(go test -list '^Fuzz' "$pkg" 2>&1); then
    echo "$out" >&2
    echo "fuzz: cannot list fuzz targets of $pkg" >&2
    exit 1
  fi
  while IFS= read -r name; do
    targets+=("$pkg $name")
  done < <(grep -E '^Fuzz[A-Za-z0-9_]*$' <<<"$out" || true)
done

if (( ${#targets[@]} == 0 )); then
  echo "fuzz: no fuzz targets found in ${patterns[*]}"
  exit 0
fi

echo "fuzz: ${#targets[@]} target(s), $fuzztime each"
failed=()
for t in "${targets[@]}"; do
  pkg=${t% *}
  name=${t#* }
  echo "=== fuzz $pkg $name"
  # -fuzztime bounds the run; -timeout 0 keeps the default 10m test timeout
  # from cutting a long FUZZTIME short (the engine reports hung inputs itself).
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -timeout 0 "$pkg"; then
    failed+=("$pkg $name")
  fi
done

if (( ${#failed[@]} > 0 )); then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} target(s) failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} target(s) passed"
