#!/usr/bin/env bash
# up.sh is `make up`: it starts the three-node compose stack without any
# container registry.
#
#   1. writes .env (a random gossip key and API token) when it is missing;
#   2. picks the Redis image: REDIS_IMAGE from the environment or .env when
#      set, else the official redis:7-alpine when it is already on this
#      machine, else retrycoord/redis:local, built from Debian's redis-server
#      (nothing is pulled);
#   3. rebuilds the images (scripts/docker-build.sh): Go rebuilds only what
#      changed and docker's cache turns an unchanged image into a no-op, so
#      edited sources are always in the stack, at little cost otherwise;
#   4. docker compose up -d.
#
# Environment: COMPOSE (default: "docker compose", else docker-compose),
# RETRYCOORD_IMAGE, PROXYFARM_IMAGE, REDIS_IMAGE (also read from .env).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/compose-env.sh

# envfile VAR prints VAR's value in .env, if it is set there.
envfile() { sed -n "s/^$1=//p" .env | tail -n 1; }

official_redis=redis:7-alpine
local_redis=retrycoord/redis:local
export RETRYCOORD_IMAGE=${RETRYCOORD_IMAGE:-$(envfile RETRYCOORD_IMAGE)}
export PROXYFARM_IMAGE=${PROXYFARM_IMAGE:-$(envfile PROXYFARM_IMAGE)}
export RETRYCOORD_IMAGE=${RETRYCOORD_IMAGE:-retrycoord:local}
export PROXYFARM_IMAGE=${PROXYFARM_IMAGE:-retrycoord/proxyfarm:local}
redis=${REDIS_IMAGE:-$(envfile REDIS_IMAGE)}
if [[ -z "$redis" ]]; then
  if docker image inspect "$official_redis" >/dev/null 2>&1; then
    redis=$official_redis
  else
    redis=$local_redis
    echo "up: $official_redis is not on this machine; using $local_redis (built from Debian's redis-server, no registry)"
  fi
fi
export REDIS_IMAGE=$redis

# Build the Redis image only when it is ours; an image named by the user is
# theirs to provide.
if [[ "$REDIS_IMAGE" == "$local_redis" ]]; then
  REDIS_IMAGE=$local_redis bash scripts/docker-build.sh
else
  SKIP_REDIS_IMAGE=1 bash scripts/docker-build.sh
  docker image inspect "$REDIS_IMAGE" >/dev/null 2>&1 ||
    echo "up: $REDIS_IMAGE is not on this machine: compose will try to pull it (unset REDIS_IMAGE to use $local_redis)" >&2
fi

compose=${COMPOSE:-}
if [[ -z "$compose" ]]; then
  if docker compose version >/dev/null 2>&1; then compose="docker compose"; else compose=docker-compose; fi
fi
echo "up: starting the stack (redis: $REDIS_IMAGE)"
$compose up -d
