#!/usr/bin/env bash
# ensure-test-deps.sh makes sure the tools the tests need are on this machine.
#
# The tests start their own servers on free loopback ports, so all they need
# are the binaries: Debian's redis-server (which pulls in redis-tools, and with
# it redis-cli), for the interop suite against real proxies, squid,
# tinyproxy and dante-server; for the live view's browser tests
# (coord/api, cmd/retrycoord), Debian's chromium, which they drive headless
# (the tests fail, never skip, without it); and curl, a real client of the
# forward proxy's TLS interception. This script installs those packages only when
# their binaries are missing, and stops whatever the install started (the
# packages' services): the tests never use them. It also makes sure, as root,
# that the system user the dante username test logs in as exists (see
# internal/realproxy: retrycoord-test, no home, no login shell, a throwaway
# password). Safe to run any number of times; prints one line saying what it
# did.
set -euo pipefail

say() { echo "ensure-test-deps: $*"; }
die() { echo "ensure-test-deps: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH; install Go 1.26 first"

# package:binary:process name:service name ("-": not a server)
deps=(
  "curl:curl:-:-"
  "redis-server:redis-server:redis-server:redis-server"
  "squid:/usr/sbin/squid:squid:squid"
  "tinyproxy:/usr/bin/tinyproxy:tinyproxy:tinyproxy"
  "dante-server:/usr/sbin/danted:danted:danted"
  "chromium:chromium:chromium:-"
)
# Must match internal/realproxy's DanteUser and DantePassword.
dante_user=retrycoord-test
dante_password=rc-dante-test-pw

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "$1" ]]; }

missing=() procs=() services=()
for d in "${deps[@]}"; do
  IFS=: read -r pkg bin proc svc <<<"$d"
  if ! have "$bin"; then
    missing+=("$pkg") procs+=("$proc") services+=("$svc")
  fi
done

sudo=()
if (( EUID != 0 )); then
  if (( ${#missing[@]} > 0 )) || ! id "$dante_user" >/dev/null 2>&1; then
    command -v sudo >/dev/null 2>&1 || die "missing: ${missing[*]:-user $dante_user}; installing needs root or sudo"
    sudo=(sudo)
  fi
fi

did=()
if (( ${#missing[@]} > 0 )); then
  # Servers running before the install are not ours to touch.
  declare -A before
  for proc in "${procs[@]}"; do
    if [[ -n "$proc" ]]; then before[$proc]=" $(pidof "$proc" || true) "; fi
  done

  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! { "${sudo[@]}" apt-get update \
      && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
         apt-get install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "apt-get install ${missing[*]} failed (last lines above)"
  fi
  for d in "${deps[@]}"; do
    IFS=: read -r pkg bin _ _ <<<"$d"
    have "$bin" || die "$pkg installed but $bin is missing"
  done

  # The packages' postinst scripts may start system services (Redis on 6379,
  # squid on 3128, tinyproxy on 8888, danted). The tests do not use them, so
  # stop whatever the install started: through systemd where it runs the
  # service, otherwise by PID.
  stopped=()
  for i in "${!missing[@]}"; do
    proc=${procs[$i]} svc=${services[$i]}
    [[ "$svc" == - ]] && continue # not a server: the install starts nothing
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 \
        && systemctl is-active --quiet "$svc" 2>/dev/null; then
      "${sudo[@]}" systemctl stop "$svc" && stopped+=("$svc service")
    fi
    for pid in $(pidof "$proc" || true); do
      [[ "${before[$proc]}" == *" $pid "* ]] && continue
      "${sudo[@]}" kill "$pid" 2>/dev/null || continue
      for _ in $(seq 50); do
        "${sudo[@]}" kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if "${sudo[@]}" kill -0 "$pid" 2>/dev/null; then
        "${sudo[@]}" kill -9 "$pid" 2>/dev/null || true
      fi
      stopped+=("$proc pid $pid")
    done
  done
  msg="installed ${missing[*]} with apt-get"
  if (( ${#stopped[@]} > 0 )); then
    msg+="; stopped what the install started (${stopped[*]})"
  fi
  did+=("$msg")
fi

# dante's username method checks system users, so the SOCKS5 auth test needs
# one. It gets no home and no login shell; its password is set every time so
# that it matches the tests.
if ! id "$dante_user" >/dev/null 2>&1; then
  "${sudo[@]}" useradd --system --no-create-home --shell /usr/sbin/nologin "$dante_user" \
    || die "useradd $dante_user failed"
  did+=("created system user $dante_user for the dante test")
fi
if (( EUID == 0 )) || (( ${#sudo[@]} > 0 )); then
  echo "$dante_user:$dante_password" | "${sudo[@]}" chpasswd || die "chpasswd $dante_user failed"
fi

if (( ${#did[@]} == 0 )); then
  say "nothing to do: redis-server, squid, tinyproxy, danted, chromium and curl already installed"
else
  say "$(IFS=';'; echo "${did[*]}")"
fi
