#!/usr/bin/env bash
# compose-env.sh writes .env for the docker compose stack from .env.example,
# with a fresh random gossip key (32 bytes, base64) and API token, unless
# .env already exists. .env is git-ignored: it holds secrets.
#
# usage: scripts/compose-env.sh [FILE]   (default .env)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-.env}
if [[ -e "$out" ]]; then
  echo "compose-env: $out exists; keeping it"
  exit 0
fi
key=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
token=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')
umask 077
sed -e "s|^RETRYCOORD_GOSSIP_KEY=.*|RETRYCOORD_GOSSIP_KEY=$key|" \
    -e "s|^RETRYCOORD_API_TOKEN=.*|RETRYCOORD_API_TOKEN=$token|" .env.example > "$out.tmp"
mv "$out.tmp" "$out"
echo "compose-env: wrote $out with a new gossip key and API token"
