#!/usr/bin/env bash
# demo.sh is `make demo`: three agents on loopback and a farm of four test
# proxies; one proxy is then broken, traffic through node 1 trips its
# breaker, and the command line shows it open on all three nodes.
# Everything it starts is stopped by PID when it ends.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mkdir -p bin
go build -o bin/retrycoord ./cmd/retrycoord
go build -o bin/proxyfarm ./integration/proxyfarm
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Bold headings on a terminal only: a pipe or a file gets no escapes.
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
rc() { echo "\$ retrycoord $*"; bin/retrycoord "$@"; }

bin/proxyfarm -proxies 4 -base-port 19301 -admin 127.0.0.1:19300 -origin 127.0.0.1:19400 \
  -pool-file "$work/pool.txt" 2>"$work/farm.log" &
pids+=($!)
for i in 1 2 3; do
  join=()
  [[ $i -gt 1 ]] && join=(--join 127.0.0.1:17946)
  bin/retrycoord agent --dev --node-name "node-$i" --log-format json \
    --gossip-bind "127.0.0.1:${i}7946" --api-addr "127.0.0.1:${i}7947" --proxy-addr "127.0.0.1:${i}7948" \
    --pool-file "$work/pool.txt" --push-pull-interval 2s "${join[@]}" 2>"$work/node-$i.log" &
  pids+=($!)
  sleep 0.3 # node 1 first, so the pool file and the seed exist
done
for i in 1 2 3; do
  for _ in $(seq 100); do
    bin/retrycoord health --addr "http://127.0.0.1:${i}7947" >/dev/null 2>&1 && break
    sleep 0.1
  done
done

say "Three agents, one fleet"
rc members --addr http://127.0.0.1:17947
say "The pool, as node 2 sees it"
rc breakers --addr http://127.0.0.1:27947

broken=http://127.0.0.1:19302
say "Breaking proxy $broken (it now refuses connections: down for every site), then sending traffic through node 1 only"
python3 - "$broken" <<'PY'
import sys, urllib.request, json
broken = sys.argv[1]
req = urllib.request.Request("http://127.0.0.1:19300/proxies/1/fault", data=b"refuse", method="PUT")
print(urllib.request.urlopen(req).read().decode().strip())
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "http://127.0.0.1:17948"}))
ok = failed = 0
for n in range(1, 2001):
    try:
        with opener.open("http://127.0.0.1:19400/page/%d" % n, timeout=10) as r:
            r.read()
            ok += 1
    except Exception:
        failed += 1
    if n % 10 == 0:
        with urllib.request.urlopen("http://127.0.0.1:17947/v1/breakers?state=open") as r:
            if any(b["upstream"] == broken for b in json.load(r)):
                break
print("%d requests through node 1: %d succeeded (retried on another proxy when they hit the broken one), %d failed" % (ok + failed, ok, failed))
PY

for i in 1 2 3; do
  say "Node $i: open breakers"
  rc breakers --state open --addr "http://127.0.0.1:${i}7947"
done
say "Done: the proxy that failed on node 1 is avoided by the whole fleet"
