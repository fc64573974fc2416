#!/usr/bin/env bash
# docker-build.sh builds retrycoord's images without a registry: static
# binaries from the host's Go toolchain, copied into images FROM scratch.
#
#   retrycoord:local            the agent            (Dockerfile)
#   retrycoord/proxyfarm:local  the test proxy farm  (docker/proxyfarm/Dockerfile)
#   retrycoord/redis:local      Debian's redis-server (scripts/build-redis-image.sh)
#
# Environment: RETRYCOORD_IMAGE, PROXYFARM_IMAGE and REDIS_IMAGE name the
# images (defaults above); VERSION and COMMIT stamp the agent; GO picks the
# go command. SKIP_REDIS_IMAGE=1 skips the Redis image.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

go=${GO:-go}
agent_image=${RETRYCOORD_IMAGE:-retrycoord:local}
farm_image=${PROXYFARM_IMAGE:-retrycoord/proxyfarm:local}
redis_image=${REDIS_IMAGE:-retrycoord/redis:local}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}

echo "docker-build: go build bin/retrycoord bin/proxyfarm (static)"
export CGO_ENABLED=0
"$go" build -trimpath -ldflags "-s -w -X main.version=$version -X main.commit=$commit" -o bin/retrycoord ./cmd/retrycoord
"$go" build -trimpath -ldflags "-s -w" -o bin/proxyfarm ./integration/proxyfarm

build() { # image dockerfile
  local out
  if ! out=$(docker build -q -f "$2" -t "$1" . 2>&1); then
    echo "$out" >&2
    echo "docker-build: building $1 failed" >&2
    exit 1
  fi
  echo "docker-build: built $1"
}
build "$agent_image" Dockerfile
build "$farm_image" docker/proxyfarm/Dockerfile

if [[ "${SKIP_REDIS_IMAGE:-}" != 1 ]]; then
  # A registry-free stand-in for the official image; compose uses it through
  # REDIS_IMAGE (the official redis:7-alpine is the default for users).
  bash scripts/build-redis-image.sh "$redis_image"
fi
