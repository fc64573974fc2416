#!/usr/bin/env bash
# build-redis-image.sh builds a Redis image without a registry: Debian's
# redis-server and redis-cli, with the shared libraries ldd lists, copied into
# an image FROM scratch. The compose file uses it through REDIS_IMAGE.
#
# usage: scripts/build-redis-image.sh [IMAGE]   (default retrycoord/redis:local)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
image=${1:-retrycoord/redis:local}

bash scripts/ensure-test-deps.sh >/dev/null
server=$(readlink -f "$(command -v redis-server)") # a multi-call binary: the name picks the tool
cli=$(readlink -f "$(command -v redis-cli)")

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/rootfs/usr/bin" "$stage/rootfs/data" "$stage/rootfs/tmp" "$stage/rootfs/etc"
cp "$server" "$stage/rootfs/usr/bin/redis-server"
cp "$cli" "$stage/rootfs/usr/bin/redis-cli"
for lib in $( { ldd "$server"; ldd "$cli"; } | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u); do
  cp --parents -L "$lib" "$stage/rootfs"
done
chown -R 999:999 "$stage/rootfs/data"
chmod 1777 "$stage/rootfs/tmp"
echo "redis:x:999:999:redis:/data:/nonexistent" > "$stage/rootfs/etc/passwd"
echo "redis:x:999:" > "$stage/rootfs/etc/group"
cp docker/redis/Dockerfile "$stage/Dockerfile"

if ! out=$(docker build -q -t "$image" "$stage" 2>&1); then
  echo "$out" >&2
  echo "build-redis-image: docker build failed" >&2
  exit 1
fi
echo "build-redis-image: built $image from Debian's redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2)"
