#include "store/redis/scripts.h"

namespace herald::redis {

TopicKeys KeysOf(std::string_view prefix, std::string_view topic) {
  std::string base;
  base.reserve(prefix.size() + topic.size() + 6);
  base.append(prefix).append(":{").append(topic).append("}:");
  return TopicKeys{base + "m", base + "s", base + "i"};
}

std::string TopicsKey(std::string_view prefix) { return std::string(prefix) + ":topics"; }
std::string IdsKey(std::string_view prefix) { return std::string(prefix) + ":ids"; }
std::string ShardsKey(std::string_view prefix) { return std::string(prefix) + ":shards"; }
std::string WriterKey(std::string_view prefix) { return std::string(prefix) + ":writer"; }
std::string LostKey(std::string_view prefix) { return std::string(prefix) + ":lost"; }

// Lua 5.1 prints large numbers as 1.7e+15: every number written back goes
// through string.format('%d').
const char* const kAppendScript = R"lua(
local function fmt(x) return string.format('%d', x) end
local epoch, first, n = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local head = redis.call('HMGET', KEYS[1], 'e', 'o', 'f', 'g')
local e, o, f = head[1], tonumber(head[2] or 0), tonumber(head[3] or 1)
if e == epoch then
  if first ~= o + 1 then return 'MISMATCH ' .. e .. ' ' .. fmt(o) end
  if (tonumber(head[4] or 0) or 0) < (tonumber(redis.call('GET', KEYS[6]) or '0') or 0) then
    return 'UNPROVEN ' .. e .. ' ' .. fmt(o)
  end
elseif first == 1 and (e or '0') == ARGV[5] and (not e or tonumber(epoch) > tonumber(e)) then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0, 'f', 1, 'b', 0, 'ft', 0, 'g',
             redis.call('GET', KEYS[6]) or '0')
  redis.call('SADD', KEYS[4], ARGV[1])
  o, f = 0, 1
else
  return 'MISMATCH ' .. (e or '0') .. ' ' .. fmt(o)
end
local at, bytes, first_stamp = 7, 0, nil
local shared, now = ARGV[6] == '1', nil
for k = 0, n - 1 do
  local stamp, id, nf = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  local off = fmt(first + k)
  local fields = {}
  for j = 1, nf * 2 do fields[j] = ARGV[at + 2 + j] end
  bytes = bytes + #ARGV[at + 4]
  if k == 0 then first_stamp = stamp end
  redis.call('XADD', KEYS[2], epoch .. '-' .. off, 't', stamp, unpack(fields))
  if id ~= '' then
    redis.call('HSET', KEYS[3], id, epoch .. ':' .. off .. ':' .. stamp)
    redis.call('ZADD', KEYS[5], stamp, ARGV[1] .. '\0' .. id)
  end
  at = at + 3 + nf * 2
  local jobs = tonumber(ARGV[at])
  if jobs > 0 then
    local job = ARGV[at + 1]
    for q = 0, jobs - 1 do
      local ki, field = tonumber(ARGV[at + 2 + q * 2]), ARGV[at + 3 + q * 2]
      redis.call('HSET', KEYS[ki], field, job)
      if shared then
        if not now then
          local t = redis.call('TIME')
          now = string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]))
        end
        redis.call('ZADD', KEYS[ki + 1], now, field)
      end
    end
    at = at + 2 + jobs * 2
  else
    at = at + 1
  end
end
redis.call('HSET', KEYS[1], 'o', fmt(first + n - 1))
redis.call('HINCRBY', KEYS[1], 'b', bytes)
if f > o then redis.call('HSET', KEYS[1], 'ft', first_stamp) end
return 'OK'
)lua";

const char* const kDropScript = R"lua(
local function fmt(x) return string.format('%d', x) end
local topic, epoch = ARGV[1], ARGV[2]
local first_kept, max_n, max_b = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local min_t, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local head = redis.call('HMGET', KEYS[1], 'e', 'o', 'f', 'b', 'ft')
local e = head[1]
if not e or tonumber(epoch) > tonumber(e) then
  if first_kept < 1 then return {} end  -- retention of an epoch Redis never saw
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', fmt(first_kept - 1), 'f', fmt(first_kept),
             'b', 0, 'ft', 0, 'g', redis.call('GET', KEYS[4]) or '0')
  redis.call('SADD', KEYS[3], topic)
  return {fmt(first_kept), fmt(first_kept - 1), '0', '0', '0'}
end
if e ~= epoch then return {} end
local o, f = tonumber(head[2]), tonumber(head[3])
local b, ft = tonumber(head[4] or 0), tonumber(head[5] or 0)
local dropped, dropped_b, start = 0, 0, '-'
while f <= o do
  local entries = redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', 100)
  if #entries == 0 then
    f = o + 1
    break
  end
  local stop = false
  for _, en in ipairs(entries) do
    local off = tonumber(string.match(en[1], '%-(%d+)$'))
    local stamp = tonumber(en[2][2])
    if dropped >= limit then
      f, ft, stop = off, 0, true  -- the first kept one's stamp: the next call reads it
      break
    end
    if not (off < first_kept or o - off + 1 > max_n or b > max_b or stamp < min_t) then
      f, ft, stop = off, stamp, true
      break
    end
    b = b - #en[2][4]
    dropped_b = dropped_b + #en[2][4]
    dropped = dropped + 1
    f = off + 1
    start = '(' .. en[1]
  end
  if stop then break end
end
if f > o then ft = 0 end
if dropped > 0 then redis.call('XTRIM', KEYS[2], 'MINID', e .. '-' .. fmt(f)) end
redis.call('HSET', KEYS[1], 'f', fmt(f), 'b', fmt(b), 'ft', fmt(ft))
return {fmt(f), fmt(o), fmt(dropped_b), fmt(ft), fmt(dropped)}
)lua";

const char* const kReadScript = R"lua(
local start, stop = ARGV[1], ARGV[2]
local max_n, max_b = tonumber(ARGV[3]), tonumber(ARGV[4])
local out, bytes, more = {}, 0, 0
while #out < max_n do
  local want = math.min(16, max_n - #out)
  local entries = redis.call('XRANGE', KEYS[1], start, stop, 'COUNT', want)
  for _, en in ipairs(entries) do
    local size = #en[2][4]
    if #out > 0 and bytes + size > max_b then
      more = 1
      break
    end
    if #out > 0 then bytes = bytes + size end
    out[#out + 1] = en
    start = '(' .. en[1]
  end
  if more == 1 or #entries < want then break end
end
if #out >= max_n then more = 1 end
return {more, out}
)lua";

const char* const kExpireIdsScript = R"lua(
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0,
                       tonumber(ARGV[3]))
for _, member in ipairs(old) do
  local sep = string.find(member, '\0', 1, true)
  redis.call('HDEL', ARGV[1] .. ':{' .. string.sub(member, 1, sep - 1) .. '}:i',
             string.sub(member, sep + 1))
end
if #old > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end
return #old
)lua";

const char* const kContinuityScript = R"lua(
local function fmt(x) return string.format('%d', x) end
local run, id, id2, sync, replicated, addr = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local w = redis.call('HMGET', KEYS[1], 'run', 'id', 'sync', 'r', 'addr')
local lost = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
local promoted = not string.match(id2, '^0+$')
-- The same process, never promoted since: a master gets a new replication
-- id (and forgets the old) when its replicas stay away for
-- repl-backlog-ttl, without losing anything.
local same = w[1] == run and (w[2] == id or not promoted)
local why = ''
if not w[1] then
  if redis.call('SCARD', KEYS[3]) > 0 then
    why = 'it holds topics but no record of the server that acknowledged them'
  end
elseif same then
  -- what it acknowledged is still here
elseif w[2] == id2 then
  if w[4] ~= '1' then
    why = 'a replica took over from the master that acknowledged appends before a replica had them'
  end
elseif promoted then
  why = 'it took over as master from a server other than the one that acknowledged appends'
elseif w[5] ~= addr then
  why = 'it is not the server that acknowledged appends (' .. tostring(w[5]) .. '), restarted'
elseif w[3] ~= 'always' or sync ~= 'always' then
  why = 'it restarted, and may have acknowledged appends before its disk had them ' ..
        '(appendfsync ' .. tostring(w[3]) .. ' then, ' .. sync .. ' now)'
end
if why ~= '' then
  lost = lost + 1
  redis.call('SET', KEYS[2], fmt(lost))
end
local lowered = 0
if same then
  -- the weakest promise any writer of this run made holds for all of them
  if w[3] ~= 'always' then sync = w[3] end
  if w[4] ~= '1' then
    replicated = '0'
  elseif replicated ~= '1' then
    lowered = 1
  end
end
redis.call('HSET', KEYS[1], 'run', run, 'id', id, 'sync', sync, 'r', replicated, 'addr', addr)
return {why, fmt(lost), lowered}
)lua";

const char* const kForgetScript = R"lua(
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
)lua";

}  // namespace herald::redis
