#!/usr/bin/env bash
# integration.sh runs the docker compose integration suite: a three-node
# cluster, Redis, a farm of fault-injecting test proxies and an origin server
# (docker-compose.yml), driven by the tests in ./integration built with the
# `compose` tag. (The in-process fleet simulations in ./integration need no
# docker and run in `make test`.)
#
# Steps: build the images (scripts/docker-build.sh), start the stack under a
# project name of its own with a fresh gossip key and API token, wait until
# every agent is healthy, run the suite, and ALWAYS remove the stack with
# `down -v`. When anything fails, the containers' logs are kept in
# integration-logs/compose-<date>.log (git-ignored) and their tail printed.
#
# Images are built from the local tree only: the machines have Docker Engine
# and docker-compose but no container registry, so nothing can be pulled;
# Redis is the local image built from Debian's redis-server unless REDIS_IMAGE
# says otherwise. SKIP_BUILD=1 reuses the images already built; RUN narrows
# the tests (go test -run); GOTESTFLAGS replaces the default -v.
#
# The tests find the stack through the variables exported here:
# RETRYCOORD_COMPOSE (the compose command), RETRYCOORD_COMPOSE_FILE,
# COMPOSE_PROJECT_NAME, RETRYCOORD_API_TOKEN.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS

compose_file=""
for f in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
  if [[ -f "$f" ]]; then
    compose_file=$f
    break
  fi
done
[[ -n "$compose_file" ]] || { echo "integration: no compose file" >&2; exit 1; }

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "integration: neither 'docker compose' nor docker-compose is available" >&2
  exit 1
fi
docker info >/dev/null 2>&1 || { echo "integration: the docker daemon is not reachable" >&2; exit 1; }

export COMPOSE_PROJECT_NAME=retrycoord-it-$$
export RETRYCOORD_COMPOSE_FILE=$PWD/$compose_file
export RETRYCOORD_COMPOSE="${compose[*]}"
export REDIS_IMAGE=${REDIS_IMAGE:-retrycoord/redis:local}
# Fresh secrets for this run; the environment beats any .env file.
RETRYCOORD_GOSSIP_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
RETRYCOORD_API_TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')
export RETRYCOORD_GOSSIP_KEY RETRYCOORD_API_TOKEN
# Any free loopback ports, so that a stack started by `make up` is no obstacle.
for v in NODE1_API_PORT NODE1_PROXY_PORT NODE2_API_PORT NODE2_PROXY_PORT NODE3_API_PORT \
  NODE3_PROXY_PORT FARM_ADMIN_PORT FARM_ORIGIN_PORT REDIS_PORT; do
  export "$v=0"
done
# Shorter than the defaults so that the partition test heals in seconds.
export RETRYCOORD_REJOIN_INTERVAL=${RETRYCOORD_REJOIN_INTERVAL:-3s}
export RETRYCOORD_PUSH_PULL_INTERVAL=${RETRYCOORD_PUSH_PULL_INTERVAL:-5s}
export RETRYCOORD_LOG_LEVEL=${RETRYCOORD_LOG_LEVEL:-info}

dc() { "${compose[@]}" -f "$compose_file" "$@"; }

status=1
cleanup() {
  if ((status != 0)); then
    mkdir -p integration-logs
    [[ -f integration-logs/.gitignore ]] || echo '*' > integration-logs/.gitignore
    log=integration-logs/compose-$(date +%Y%m%d-%H%M%S).log
    {
      dc --profile intruder ps -a || true
      dc --profile intruder logs --no-color --timestamps || true
    } > "$log" 2>&1
    echo "integration: FAILED; the containers' logs are in $log; its tail:" >&2
    tail -n 60 "$log" >&2 || true
  fi
  dc --profile intruder down -v --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  echo "integration: stack removed ($((SECONDS - started))s in all)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "${SKIP_BUILD:-}" != 1 ]]; then
  bash scripts/docker-build.sh
fi

echo "integration: starting $compose_file as $COMPOSE_PROJECT_NAME (${compose[*]}, REDIS_IMAGE=$REDIS_IMAGE)"
dc up -d

# Wait for every container with a health check to be healthy (bounded).
deadline=$((SECONDS + 120))
while :; do
  unhealthy=()
  for id in $(dc ps -q); do
    h=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")
    [[ "$h" == healthy || "$h" == running ]] || unhealthy+=("$(docker inspect -f '{{.Name}}' "$id"):$h")
  done
  ((${#unhealthy[@]} == 0)) && break
  if ((SECONDS > deadline)); then
    echo "integration: not healthy within 120s: ${unhealthy[*]}" >&2
    exit 1
  fi
  sleep 1
done
echo "integration: stack healthy after $((SECONDS - started))s; running the suite"

go test -tags compose -count=1 -timeout 20m -run "${RUN:-.}" ${GOTESTFLAGS--v} ./integration/...
status=0
