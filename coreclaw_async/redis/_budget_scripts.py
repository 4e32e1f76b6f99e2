"""The Lua scripts of ``RedisBudget``: each runs atomically on Redis, on Redis's own clock.

The pace is the generic cell rate algorithm with no burst: one key holds the theoretical
arrival time (microseconds) of the next request, and each grant moves it one interval on.
Leases of ``max_in_flight`` are members of a sorted set scored by the millisecond they lapse.
Cooldown and capacity holds are keys whose time to live is the hold. Giving back leases of
a full set announces the freed slots on the budget's channel (``slot:<count>``), so that
requests waiting for one in any process ask again at once instead of polling.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "HOLD", "RELEASE"]

# KEYS: 1 pace, 2 cooldown, 3 capacity, 4 leases.
# ARGV: 1 interval (µs, 0 = no pace), 2 max in flight (0 = none), 3 lease id, 4 lease lifetime
# (ms), 5 longest acceptable wait (µs), 6 "1" for a run start waiting for capacity, 7 the
# channel, 8.. leases released since the last ask.
# Returns {0, wait µs} granted (send after the wait), {1, µs} cooling down, {2, µs} capacity
# hold, {3, 0} max_in_flight full, {4, µs} the pace would wait past the deadline.
ACQUIRE = """
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local most = tonumber(ARGV[2])
if #ARGV > 7 then
  local before = redis.call('ZCARD', KEYS[4])
  local freed = redis.call('ZREM', KEYS[4], unpack(ARGV, 8))
  if most > 0 and freed > 0 and before >= most then
    redis.call('PUBLISH', ARGV[7], 'slot:' .. freed)
  end
end
local cooling = redis.call('PTTL', KEYS[2])
if cooling > 0 then
  return {1, cooling * 1000}
end
if ARGV[6] == '1' then
  local hold = redis.call('PTTL', KEYS[3])
  if hold > 0 then
    return {2, hold * 1000}
  end
end
if most > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[4]) >= most then
    return {3, 0}
  end
end
local wait = 0
local interval = tonumber(ARGV[1])
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or now_us)
  if tat < now_us then
    tat = now_us
  end
  wait = tat - now_us
  if wait > tonumber(ARGV[5]) then
    return {4, wait}
  end
  redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX',
             math.ceil((wait + interval) / 1000) + 1000)
end
if most > 0 then
  local lifetime = tonumber(ARGV[4]) + math.ceil(wait / 1000)
  redis.call('ZADD', KEYS[4], now_ms + lifetime, ARGV[3])
  if redis.call('PTTL', KEYS[4]) < lifetime then
    redis.call('PEXPIRE', KEYS[4], lifetime)
  end
end
return {0, wait}
"""

# KEYS: 1 the cooldown or capacity key. ARGV: 1 milliseconds, 2 channel, 3 kind.
# Extends the hold if this one ends later, and only then tells every subscriber.
HOLD = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. ':' .. ms)
  return 1
end
return 0
"""

# KEYS: 1 leases. ARGV: 1 max in flight (0 = none), 2 channel, 3.. released leases.
# Gives the leases back; if the set was full, announces the freed slots.
RELEASE = """
local most = tonumber(ARGV[1])
local before = redis.call('ZCARD', KEYS[1])
local freed = redis.call('ZREM', KEYS[1], unpack(ARGV, 3))
if most > 0 and freed > 0 and before >= most then
  redis.call('PUBLISH', ARGV[2], 'slot:' .. freed)
end
return freed
"""
