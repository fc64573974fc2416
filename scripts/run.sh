#!/usr/bin/env bash
# run.sh is `make run`: a development agent on loopback (no Redis, open API)
# over examples/pool.txt, with a local proxy farm behind that pool so that
# the agent has working proxies. Ctrl-C stops both.
#
#   curl -x http://127.0.0.1:7948 http://127.0.0.1:19200/hello   # through the agent
#   go run ./cmd/retrycoord breakers                               # the breakers
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mkdir -p bin
echo "building… (the first build takes a few minutes)"
go build -o bin/retrycoord ./cmd/retrycoord
go build -o bin/proxyfarm ./integration/proxyfarm

bin/proxyfarm -proxies 3 -base-port 19101 -admin 127.0.0.1:19100 -origin 127.0.0.1:19200 &
farm=$!
trap 'kill "$farm" 2>/dev/null || true; wait "$farm" 2>/dev/null || true' EXIT

cat <<'MSG'
retrycoord dev agent: API http://127.0.0.1:7947, forward proxy http://127.0.0.1:7948
proxy farm: proxies 127.0.0.1:19101-19103, admin http://127.0.0.1:19100, origin http://127.0.0.1:19200
try, from another terminal (README.md, "The two commands", says what to expect):
  curl -x http://127.0.0.1:7948 http://127.0.0.1:19200/hello                    # through the agent
  curl -X PUT -d 'status 502' http://127.0.0.1:19100/proxies/0/fault           # break proxy 0 (19101)
  echo '{"select":{"strategy":"round-robin"}}' | bin/retrycoord policy set -   # so traffic reaches it
  for i in $(seq 30); do curl -s -o /dev/null -w '%{http_code} ' -x http://127.0.0.1:7948 http://127.0.0.1:19200/hello; done; echo
  bin/retrycoord breakers                                                       # 19101 is open
MSG
bin/retrycoord agent --dev --pool-file examples/pool.txt "$@"
