package redis

import goredis "github.com/redis/go-redis/v9"

// Lua scripts: each runs atomically in Redis, so the transitions they report
// (first member, last member, occupied, vacated) are seen by exactly one
// caller cluster-wide. Every state-changing script first checks the epoch the
// node knows: after Redis lost its data the call fails (errEpoch) instead of
// reporting transitions against an empty server; the node then resyncs.
//
// Time comes from Redis (TIME), never from the nodes' clocks.

const luaNow = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

const luaEpoch = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('PIXIU_EPOCH redis lost its data') end
`

// addMember: KEYS epoch, socks(node), users, info, index(node);
// ARGV epoch, socket, user, info, entry. Returns 1 for the user's first socket.
var addMember = goredis.NewScript(luaEpoch + `
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('SADD', KEYS[5], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
if redis.call('HINCRBY', KEYS[3], ARGV[3], 1) == 1 then return 1 end
return 0
`)

// removeMember: KEYS epoch, socks(node), users, info, index(node), subs;
// ARGV epoch, socket, entry, node. Returns 1 when it was the user's last socket.
var removeMember = goredis.NewScript(luaEpoch + `
local u = redis.call('HGET', KEYS[2], ARGV[2])
if not u then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
local last = 0
if redis.call('HINCRBY', KEYS[3], u, -1) <= 0 then
  redis.call('HDEL', KEYS[3], u)
  redis.call('HDEL', KEYS[4], u)
  last = 1
end
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('HEXISTS', KEYS[6], ARGV[4]) == 0 then
  redis.call('SREM', KEYS[5], ARGV[3])
end
return last
`)

// addSubscriptions: KEYS epoch, subs, chans(app), index(node), socks(node);
// ARGV epoch, node, delta, channel, entry. Returns the cluster-wide count.
var addSubscriptions = goredis.NewScript(luaEpoch + `
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0') + tonumber(ARGV[3])
if mine < 0 then return redis.error_reply('PIXIU_NEGATIVE subscription count below zero') end
if mine == 0 then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HSET', KEYS[2], ARGV[2], mine) end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(v) end
if total > 0 then redis.call('HSET', KEYS[3], ARGV[4], total) else redis.call('HDEL', KEYS[3], ARGV[4]) end
if mine > 0 then
  redis.call('SADD', KEYS[4], ARGV[5])
elseif redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('SREM', KEYS[4], ARGV[5])
end
return total
`)

// syncChannel sets one node's whole state in one channel: its subscription
// count and exactly the given sockets. Used to reap a dead node (empty state,
// mode "reap": refused unless its lease has expired) and to re-align a live
// node with its mirror (mode "sync").
// KEYS epoch, nodes, subs, chans(app), socks(node), users, info, index(node);
// ARGV epoch, node, mode, channel, entry, subscriptions, then socket, user,
// info triples. Returns {total before, total after, {removed users}, {added users}}.
var syncChannel = goredis.NewScript(luaEpoch + luaNow + `
if ARGV[3] == 'reap' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
  if (not score) or tonumber(score) > now then return redis.error_reply('PIXIU_ALIVE node lease is live') end
end
local function total()
  local n = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[3])) do n = n + tonumber(v) end
  return n
end
local before = total()
local n = tonumber(ARGV[6])
if n > 0 then redis.call('HSET', KEYS[3], ARGV[2], n) else redis.call('HDEL', KEYS[3], ARGV[2]) end
local after = total()
if after > 0 then redis.call('HSET', KEYS[4], ARGV[4], after) else redis.call('HDEL', KEYS[4], ARGV[4]) end
local want = {}
for i = 7, #ARGV, 3 do want[ARGV[i]] = true end
local have = {}
local h = redis.call('HGETALL', KEYS[5])
for i = 1, #h, 2 do have[h[i]] = h[i + 1] end
local added, removed = {}, {}
for i = 7, #ARGV, 3 do
  local s, u = ARGV[i], ARGV[i + 1]
  if not have[s] then
    redis.call('HSET', KEYS[5], s, u)
    redis.call('HSET', KEYS[7], u, ARGV[i + 2])
    if redis.call('HINCRBY', KEYS[6], u, 1) == 1 then added[#added + 1] = u end
  end
end
for s, u in pairs(have) do
  if not want[s] then
    redis.call('HDEL', KEYS[5], s)
    if redis.call('HINCRBY', KEYS[6], u, -1) <= 0 then
      redis.call('HDEL', KEYS[6], u)
      redis.call('HDEL', KEYS[7], u)
      removed[#removed + 1] = u
    end
  end
end
if n > 0 or redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('SADD', KEYS[8], ARGV[5])
else
  redis.call('SREM', KEYS[8], ARGV[5])
end
return {before, after, removed, added}
`)

// heartbeat renews the node's lease and creates the epoch if Redis lost it.
// KEYS nodes, epoch; ARGV node, lease ms, candidate epoch.
// Returns {epoch, late (1 if the lease had expired or was missing), {expired nodes}}.
var heartbeat = goredis.NewScript(luaNow + `
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
local prev = redis.call('ZSCORE', KEYS[1], ARGV[1])
local late = 1
if prev and tonumber(prev) > now then late = 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {epoch, late, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)}
`)

// reapDone forgets a dead node once all its channels are reaped.
// KEYS nodes, index(node), nodeApps(node); ARGV node. Returns 1 when done.
var reapDone = goredis.NewScript(luaNow + `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) > now then return 0 end
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`)

// syncConns publishes this node's connection counts and reads the totals of
// live nodes. KEYS nodes, nodeApps(node), conns(app)...; ARGV node, then app,
// count pairs in KEYS order. Returns the cluster-wide totals in that order.
var syncConns = goredis.NewScript(luaNow + `
local out = {}
for i = 3, #KEYS do
  local app, n = ARGV[2 * (i - 2)], tonumber(ARGV[2 * (i - 2) + 1])
  if n > 0 then
    redis.call('HSET', KEYS[i], ARGV[1], n)
    redis.call('SADD', KEYS[2], app)
  else
    redis.call('HDEL', KEYS[i], ARGV[1])
  end
  local total = 0
  local h = redis.call('HGETALL', KEYS[i])
  for j = 1, #h, 2 do
    local score = redis.call('ZSCORE', KEYS[1], h[j])
    if score and tonumber(score) > now then total = total + tonumber(h[j + 1]) end
  end
  out[#out + 1] = total
end
return out
`)
