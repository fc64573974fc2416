#!/usr/bin/env bash
# ensure-test-deps.sh makes sure the tools the tests need are on this machine.
#
# The tests start their own redis-server processes on free ports, so all they
# need is the binary: this script installs Debian's redis-server package (which
# pulls in redis-tools, and with it redis-cli) only when redis-server is not on
# PATH, and leaves no Redis running. Safe to run any number of times; prints one
# line saying what it did.
set -euo pipefail

say() { echo "ensure-test-deps: $*"; }
die() { echo "ensure-test-deps: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go 1.26 first"

if command -v redis-server >/dev/null 2>&1; then
  say "nothing to do: $(redis-server --version | awk '{print $1, $2, $3}') already at $(command -v redis-server)"
  exit 0
fi

sudo=()
if (( EUID != 0 )); then
  command -v sudo >/dev/null 2>&1 || die "redis-server is missing and installing it needs root or sudo"
  sudo=(sudo)
fi

# Redis servers running before the install are not ours to touch.
before=" $(pidof redis-server || true) "

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update \
    && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
       apt-get install -y --no-install-recommends redis-server; } >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "apt-get install redis-server failed (last lines above)"
fi
command -v redis-server >/dev/null 2>&1 || die "redis-server installed but not on PATH"

# The package's postinst may start a system Redis on 6379. The tests do not use
# it, so stop whatever the install started: through systemd where it runs the
# service, otherwise by PID.
stopped=()
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 \
    && systemctl is-active --quiet redis-server 2>/dev/null; then
  "${sudo[@]}" systemctl stop redis-server && stopped+=("service")
fi
for pid in $(pidof redis-server || true); do
  [[ "$before" == *" $pid "* ]] && continue
  "${sudo[@]}" kill "$pid" 2>/dev/null || continue
  for _ in $(seq 50); do
    "${sudo[@]}" kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if "${sudo[@]}" kill -0 "$pid" 2>/dev/null; then
    "${sudo[@]}" kill -9 "$pid" 2>/dev/null || true
  fi
  stopped+=("pid $pid")
done

msg="installed $(redis-server --version | awk '{print $1, $2, $3}') with apt-get"
if (( ${#stopped[@]} > 0 )); then
  msg+="; stopped the Redis the install started (${stopped[*]})"
fi
say "$msg"
