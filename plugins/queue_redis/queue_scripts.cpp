// queue_redis's Lua scripts (see queue_scripts.hpp for the key layout). A shared
// prelude defines the helpers; each script is prelude + body.
#include "plugins/queue_redis/queue_scripts.hpp"

#include <string>

namespace agenthost::plugins::queue_redis::scripts {

namespace {

constexpr const char* prelude = R"LUA(
local P = ARGV[1]
local function ckey(id) return P .. 'cmd:' .. id end
local function skey(agent) return P .. 'stream:' .. agent end
local function record(id) return redis.call('HGETALL', ckey(id)) end
-- Integers as plain decimal text (Lua numbers would otherwise risk exponent form).
local function n(x) return string.format('%d', x) end
-- ack_timeout * 2^(attempts-1), capped.
local function backoff(att, base, cap)
  if att > 40 then return cap end
  local d = base * (2 ^ (att - 1))
  if d > cap then d = cap end
  return d
end
-- Moves a command to a terminal state: its stream entry is acknowledged and
-- deleted (nothing pending is left behind) and its timers are dropped.
local function finish(id, state, now)
  local k = ckey(id)
  local f = redis.call('HMGET', k, 'agent', 'entry')
  local s = skey(f[1])
  redis.call('XACK', s, 'g', f[2])
  redis.call('XDEL', s, f[2])
  redis.call('HSET', k, 'state', state, 'updated', n(now))
  redis.call('ZREM', P .. 'due', id)
  redis.call('ZREM', P .. 'deadlines', id)
  redis.call('DECR', P .. 'depth')
  redis.call('RPUSH', P .. 'done', id)
end
-- Drops the oldest finished records beyond `retain`.
local function trim(retain)
  while redis.call('LLEN', P .. 'done') > retain do
    local old = redis.call('LPOP', P .. 'done')
    local agent = redis.call('HGET', ckey(old), 'agent')
    redis.call('DEL', ckey(old))
    redis.call('ZREM', P .. 'all', old)
    if agent then redis.call('ZREM', P .. 'agent:' .. agent, old) end
  end
end
-- Marks a claimed stream entry dispatched (one more attempt) and arms its redelivery.
local function dispatch(id, now, base, cap)
  local k = ckey(id)
  local att = redis.call('HINCRBY', k, 'attempts', 1)
  redis.call('HSET', k, 'state', 'dispatched', 'updated', n(now))
  redis.call('ZADD', P .. 'due', n(now + backoff(att, base, cap)), id)
  return record(id)
end
-- Reads up to `count` never-delivered entries of the agent's stream for `host`.
local function read_new(agent, host, now, count, base, cap, out)
  local s = skey(agent)
  local r = redis.call('XREADGROUP', 'GROUP', 'g', host, 'COUNT', count, 'STREAMS', s, '>')
  if not r then return end
  for _, e in ipairs(r[1][2]) do
    local id = e[2][2]
    if redis.call('HGET', ckey(id), 'state') == 'queued' then
      out[#out + 1] = dispatch(id, now, base, cap)
    else
      redis.call('XACK', s, 'g', e[1])
      redis.call('XDEL', s, e[1])
    end
  end
end
)LUA";

redis::Script make(const char* body) {
    return redis::Script(std::string(prelude) + body);
}

}  // namespace

const redis::Script& enqueue() {
    static const redis::Script s = make(R"LUA(
local agent, id, now = ARGV[2], ARGV[3], ARGV[6]
local ik = nil
if ARGV[9] ~= '' then
  ik = P .. 'idem:' .. #agent .. ':' .. agent .. ':' .. ARGV[9]
  local v = redis.call('GET', ik)
  if v then
    local nl = string.find(v, '\n', 1, true)
    local cid, dig = string.sub(v, 1, nl - 1), string.sub(v, nl + 1)
    if redis.call('EXISTS', ckey(cid)) == 1 then
      if dig ~= ARGV[10] then return {'conflict'} end
      return {'repeat', record(cid)}
    end
    redis.call('DEL', ik)  -- the record aged out: the key names nothing any more
  end
end
local s = skey(agent)
-- The bound: XLEN counts exactly the unfinished commands (finished entries are
-- deleted), so a full queue refuses instead of trimming live work.
if redis.call('XLEN', s) >= tonumber(ARGV[8]) then return {'full'} end
if redis.call('EXISTS', s) == 0 then
  redis.call('XGROUP', 'CREATE', s, 'g', '0', 'MKSTREAM')
end
local entry = redis.call('XADD', s, '*', 'id', id)
local seq = redis.call('INCR', P .. 'seq')
-- The record as written (HGETALL order does not matter to the reader).
local rec = {'id', id, 'agent', agent, 'name', ARGV[4], 'args', ARGV[5], 'state', 'queued',
  'attempts', '0', 'created', now, 'updated', now, 'deadline', ARGV[7], 'entry', entry,
  'seq', n(seq)}
redis.call('HSET', ckey(id), unpack(rec))
redis.call('ZADD', P .. 'all', seq, id)
redis.call('ZADD', P .. 'agent:' .. agent, seq, id)
redis.call('ZADD', P .. 'deadlines', ARGV[7], id)
redis.call('INCR', P .. 'depth')
if ik then redis.call('SET', ik, id .. '\n' .. ARGV[10], 'NX', 'PX', ARGV[11]) end
local owner = redis.call('GET', P .. 'owner:' .. agent)
local here = 0
local out = {}
if owner == ARGV[12] then
  here = 1
  -- The caller's session for this agent had no read in flight: this is that read (the
  -- pull script's, minus re-asserting the ownership this host already holds).
  if ARGV[13] == '1' then
    read_new(agent, ARGV[12], tonumber(now), ARGV[14], tonumber(ARGV[15]), tonumber(ARGV[16]),
      out)
  end
elseif owner then
  redis.call('PUBLISH', P .. 'notify:' .. owner, agent)
end
return {'ok', rec, here, out}
)LUA");
    return s;
}

const redis::Script& pull() {
    static const redis::Script s = make(R"LUA(
local agent, host, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
-- Re-asserts ownership if it was lost (e.g. this host's liveness lapsed).
redis.call('SET', P .. 'owner:' .. agent, host, 'NX')
local out = {}
if redis.call('EXISTS', skey(agent)) == 0 then return out end
read_new(agent, host, now, ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), out)
return out
)LUA");
    return s;
}

const redis::Script& attach() {
    static const redis::Script s = make(R"LUA(
local agent, host, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local base, cap, max = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
redis.call('SET', P .. 'owner:' .. agent, host)
local out = {}
local s = skey(agent)
if redis.call('EXISTS', s) == 0 then return out end
-- Unacked deliveries of a previous session (on any host) move to this host's
-- consumer and go out again while attempts remain; acked ones wait for their result.
local cursor = '0-0'
repeat
  local r = redis.call('XAUTOCLAIM', s, 'g', host, 0, cursor, 'COUNT', 200)
  cursor = r[1]
  for _, e in ipairs(r[2]) do
    local id = e[2] and e[2][2]
    if id then
      local f = redis.call('HMGET', ckey(id), 'state', 'attempts')
      if f[1] == 'dispatched' then
        if tonumber(f[2]) < max then out[#out + 1] = dispatch(id, now, base, cap) end
      elseif f[1] ~= 'acked' then
        redis.call('XACK', s, 'g', e[1])
        redis.call('XDEL', s, e[1])
      end
    end
  end
until cursor == '0-0'
read_new(agent, host, now, ARGV[5], base, cap, out)
return out
)LUA");
    return s;
}

const redis::Script& detach() {
    static const redis::Script s = make(R"LUA(
local k = P .. 'owner:' .. ARGV[2]
if redis.call('GET', k) == ARGV[3] then
  redis.call('DEL', k)
  return 1
end
return 0
)LUA");
    return s;
}

const redis::Script& ack() {
    static const redis::Script s = make(R"LUA(
local id = ARGV[3]
local f = redis.call('HMGET', ckey(id), 'agent', 'state')
if f[1] ~= ARGV[2] then return 'not_found' end
if f[2] == 'queued' or f[2] == 'dispatched' then
  redis.call('HSET', ckey(id), 'state', 'acked', 'updated', ARGV[4])
  redis.call('ZREM', P .. 'due', id)
  return 'acked'
end
return 'ok'
)LUA");
    return s;
}

const redis::Script& complete() {
    static const redis::Script s = make(R"LUA(
local id = ARGV[3]
local f = redis.call('HMGET', ckey(id), 'agent', 'state')
if f[1] ~= ARGV[2] then return 'not_found' end
if f[2] == 'queued' or f[2] == 'dispatched' or f[2] == 'acked' then
  finish(id, ARGV[4], ARGV[5])
  trim(tonumber(ARGV[6]))
  return 'finished'
end
return 'ok'
)LUA");
    return s;
}

const redis::Script& cancel() {
    static const redis::Script s = make(R"LUA(
local id = ARGV[2]
local st = redis.call('HGET', ckey(id), 'state')
if not st then return {'not_found'} end
if st ~= 'queued' then return {'not_cancellable'} end
finish(id, 'cancelled', ARGV[3])
local rec = record(id)
trim(tonumber(ARGV[4]))
return {'ok', rec}
)LUA");
    return s;
}

const redis::Script& list() {
    static const redis::Script s = make(R"LUA(
local z = P .. 'all'
if ARGV[2] ~= '' then z = P .. 'agent:' .. ARGV[2] end
local limit = tonumber(ARGV[4])
local out, start = {}, 0
while #out < limit and start < 1000000 do
  local ids = redis.call('ZREVRANGE', z, start, start + 199)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if ARGV[3] == '' or redis.call('HGET', ckey(id), 'state') == ARGV[3] then
      local rec = record(id)
      if #rec > 0 then out[#out + 1] = rec end
      if #out >= limit then break end
    end
  end
  start = start + 200
end
return out
)LUA");
    return s;
}

const redis::Script& tick() {
    static const redis::Script s = make(R"LUA(
local host, now, limit = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local max, base, cap = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('SET', P .. 'host:' .. host, '1', 'PX', ARGV[9])
local deliver, dead, timed = {}, {}, 0
-- Deadlines: queued or dispatched commands time out; acked ones are the agent's.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', now, 'LIMIT', 0, limit)) do
  local st = redis.call('HGET', ckey(id), 'state')
  if st == 'queued' or st == 'dispatched' then
    finish(id, 'timed_out', now)
    timed = timed + 1
  else
    redis.call('ZREM', P .. 'deadlines', id)
  end
end
-- Redeliveries due: dead-letter after max attempts, else redeliver through the host
-- holding the agent; with no live holder the command waits for the next attach.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', now, 'LIMIT', 0, limit)) do
  local f = redis.call('HMGET', ckey(id), 'state', 'attempts', 'agent', 'entry')
  if f[1] ~= 'dispatched' then
    redis.call('ZREM', P .. 'due', id)
  elseif tonumber(f[2]) >= max then
    finish(id, 'dead_lettered', now)
    redis.call('XADD', P .. 'dead', 'MAXLEN', '~', ARGV[10], '*', 'id', id, 'agent', f[3],
      'attempts', f[2], 'at', n(now))
    dead[#dead + 1] = record(id)
  else
    local owner = redis.call('GET', P .. 'owner:' .. f[3])
    if owner == host then
      redis.call('XCLAIM', skey(f[3]), 'g', host, 0, f[4])
      deliver[#deliver + 1] = dispatch(id, now, base, cap)
    elseif (not owner) or redis.call('EXISTS', P .. 'host:' .. owner) == 0 then
      redis.call('ZREM', P .. 'due', id)
      if owner then redis.call('DEL', P .. 'owner:' .. f[3]) end
    end
  end
end
trim(tonumber(ARGV[8]))
return {deliver, dead, timed, tonumber(redis.call('GET', P .. 'depth') or '0')}
)LUA");
    return s;
}

}  // namespace agenthost::plugins::queue_redis::scripts
