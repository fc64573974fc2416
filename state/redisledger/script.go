package redisledger

import "github.com/redis/go-redis/v9"

// casScript is the ledger's compare-and-set. It keeps, per record key, the
// record with the greatest compare key (see compareKey), compared byte by
// byte so that the server's locale cannot change the order. When it
// applies a record it stores it, sets or clears the key's TTL, adds the key
// to the index set, and appends the record to the capped stream. It returns
// 1 when it applied the record and 0 when the ledger already held one as
// great or greater (then nothing is written and no stream entry is added).
//
// KEYS: record hash, index set, stream (one hash tag: one Cluster slot).
// ARGV: compare key, encoded record, TTL in ms (0: none), stream max
// length, origin.
//
// The record hash has fields c (compare key), r (encoded record) and t (the
// server's time of the write in ms, from TIME: OpenFor counts from it).
var casScript = redis.NewScript(casSource)

const casSource = `
local function less(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local cur = redis.call('HGET', KEYS[1], 'c')
if cur and not less(cur, ARGV[1]) then
  return 0
end
local t = redis.call('TIME')
local ms = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'r', ARGV[2], 't', ms)
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('PERSIST', KEYS[1])
end
if not cur then
  redis.call('SADD', KEYS[2], KEYS[1]) -- a new key (or one that expired)
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[5], 'r', ARGV[2], 't', ms)
return 1
`

// headScript returns the server's time (seconds, microseconds) and the id
// of the stream's last entry ("0-0" when empty). It runs on the node that
// holds the stream, so the time is that node's clock.
//
// KEYS: stream.
var headScript = redis.NewScript(`
local t = redis.call('TIME')
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if last[1] then id = last[1][1] end
return {t[1], t[2], id}
`)

// pruneScript removes from the index set those of the given record keys
// that no longer exist (their open record expired). Checking and removing in
// one script keeps a key written meanwhile in the index. It returns how many
// it removed.
//
// KEYS: index set, then the record keys to check.
var pruneScript = redis.NewScript(`
local n = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    n = n + redis.call('SREM', KEYS[1], KEYS[i])
  end
end
return n
`)
