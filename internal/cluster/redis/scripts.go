package redis

import goredis "github.com/redis/go-redis/v9"

// Lua scripts: each runs atomically in Redis, so the transitions they report
// (first member, last member, occupied, vacated) are seen by exactly one
// caller cluster-wide. Each script touches the keys of one hash tag (one
// Redis Cluster slot): a channel's, a node's, or the lease set's.
//
// Every channel script takes the same KEYS: mark, subs, users, info,
// socks(node). mark holds the epoch the channel's state was written under
// and exists while the channel has state. A live call passes the epoch the
// node knows: when the mark holds another one (Redis lost its data and the
// nodes have not all re-registered yet), the call fails (errEpoch) instead of
// reporting transitions against lost state, and the node re-registers.

// Time comes from Redis (TIME), never from the nodes' clocks.

const luaNow = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// luaMark checks the channel's mark against ARGV[1].
const luaMark = `local mark = redis.call('GET', KEYS[1])
if mark and mark ~= ARGV[1] then return redis.error_reply('PIXIU_EPOCH channel state written under another epoch') end
`

// luaTidy keeps the mark while the channel has state.
const luaTidy = `local function tidy(epoch)
  if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('DEL', KEYS[1])
  elseif epoch then
    redis.call('SET', KEYS[1], epoch)
  end
end
`

// addMember: channel KEYS; ARGV epoch, socket, user, info.
// Returns 1 for the user's first socket.
var addMember = goredis.NewScript(luaMark + `
if redis.call('HSETNX', KEYS[5], ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
if not mark then redis.call('SET', KEYS[1], ARGV[1]) end
if redis.call('HINCRBY', KEYS[3], ARGV[3], 1) == 1 then return 1 end
return 0
`)

// removeMember: channel KEYS; ARGV epoch, socket.
// Returns 1 when it was the user's last socket.
var removeMember = goredis.NewScript(luaMark + luaTidy + `
local u = redis.call('HGET', KEYS[5], ARGV[2])
if not u then return 0 end
redis.call('HDEL', KEYS[5], ARGV[2])
local last = 0
if redis.call('HINCRBY', KEYS[3], u, -1) <= 0 then
  redis.call('HDEL', KEYS[3], u)
  redis.call('HDEL', KEYS[4], u)
  last = 1
end
tidy(nil)
return last
`)

// addSubscriptions: channel KEYS; ARGV epoch, node, delta.
// Returns the cluster-wide count.
var addSubscriptions = goredis.NewScript(luaMark + luaTidy + `
local mine = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0') + tonumber(ARGV[3])
if mine < 0 then return redis.error_reply('PIXIU_NEGATIVE subscription count below zero') end
if mine == 0 then redis.call('HDEL', KEYS[2], ARGV[2]) else redis.call('HSET', KEYS[2], ARGV[2], mine) end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(v) end
if mark then tidy(nil) else tidy(ARGV[1]) end
return total
`)

// syncChannel sets one node's whole state in one channel: its subscription
// count and exactly the given sockets. Used to reap a dead node (empty state,
// mode "reap") and to re-align a live node with its mirror (mode "sync",
// which also writes the mark: the node's mirror is the truth).
// Channel KEYS; ARGV epoch, node, mode, subscriptions, then socket, user,
// info triples. Returns {total before, total after, {removed users}, {added users}}.
var syncChannel = goredis.NewScript(luaTidy + `
local function total()
  local n = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do n = n + tonumber(v) end
  return n
end
local before = total()
local n = tonumber(ARGV[4])
if n > 0 then redis.call('HSET', KEYS[2], ARGV[2], n) else redis.call('HDEL', KEYS[2], ARGV[2]) end
local after = total()
local want = {}
for i = 5, #ARGV, 3 do want[ARGV[i]] = true end
local have = {}
local h = redis.call('HGETALL', KEYS[5])
for i = 1, #h, 2 do have[h[i]] = h[i + 1] end
local added, removed = {}, {}
for i = 5, #ARGV, 3 do
  local s, u = ARGV[i], ARGV[i + 1]
  if not have[s] then
    redis.call('HSET', KEYS[5], s, u)
    redis.call('HSET', KEYS[4], u, ARGV[i + 2])
    if redis.call('HINCRBY', KEYS[3], u, 1) == 1 then added[#added + 1] = u end
  end
end
for s, u in pairs(have) do
  if not want[s] then
    redis.call('HDEL', KEYS[5], s)
    if redis.call('HINCRBY', KEYS[3], u, -1) <= 0 then
      redis.call('HDEL', KEYS[3], u)
      redis.call('HDEL', KEYS[4], u)
      removed[#removed + 1] = u
    end
  end
end
if ARGV[3] == 'sync' then tidy(ARGV[1]) else tidy(nil) end
return {before, after, removed, added}
`)

// heartbeat renews the node's lease and creates the epoch if Redis lost it.
// KEYS nodes, epoch; ARGV node, lease ms, candidate epoch.
// Returns {epoch, late (1 if the lease had expired or was missing),
// {expired nodes}, {live nodes}}.
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
return {epoch, late, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now), redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')}
`)

// leaseExpired answers 1 when node's lease has expired (or is gone).
// KEYS nodes; ARGV node.
var leaseExpired = goredis.NewScript(luaNow + `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not score) or tonumber(score) <= now then return 1 end
return 0
`)

// dropLease forgets a node whose lease has expired. KEYS nodes; ARGV node.
var dropLease = goredis.NewScript(luaNow + `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= now then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`)

// nodeEmpty drops a node's app list once its index is empty.
// KEYS index(node), nodeApps(node). Returns 1 when the index is empty.
var nodeEmpty = goredis.NewScript(`
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
`)
