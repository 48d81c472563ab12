package dispatch

// schedLua is shared by the scripts that book slots. It reads KEYS[1]
// (the shard's overrides hash) and ARGV[1] base (key prefix with the
// shard's tag), ARGV[2] margin, ARGV[3] slack (µs), ARGV[4] defaults (JSON
// op -> [rate, burst]) and ARGV[5] schedule TTL (ms). sched(seller, op)
// loads a schedule with the plan in force: the sellers-file override
// (plans), else the rate Amazon reported (obs), else the default
// passed in defs. When the interval changed since the last booking, the
// debt is rescaled so it stays the same number of tokens. allowed(s) is
// the earliest slot the schedule grants now; book(s, slot) takes it.
//
// save(ttl) writes the booked schedules back.
const schedLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local plans = KEYS[1]
local base = ARGV[1]
local margin = tonumber(ARGV[2])
local slack = tonumber(ARGV[3])
local defs = cjson.decode(ARGV[4])
local ttl = tonumber(ARGV[5])
local cache = {}
local function sched(seller, op)
  local k = base .. 'rl:' .. seller .. ':' .. op
  local s = cache[k]
  if s then return s end
  local st = redis.call('HMGET', k, 'tat', 'ctat', 'obs', 'iv')
  local d = defs[op] or defs['*']
  local rate, burst = d[1], d[2]
  local o = redis.call('HGET', plans, seller .. '\n' .. op)
  if o then
    local sp = string.find(o, ' ', 1, true)
    rate = tonumber(string.sub(o, 1, sp - 1))
    burst = tonumber(string.sub(o, sp + 1))
  elseif st[3] then
    rate = tonumber(st[3])
  end
  local iv = math.ceil(1000000 * (1 + margin) / rate)
  local tat = tonumber(st[1]) or 0
  local oldiv = tonumber(st[4])
  if oldiv and oldiv ~= iv and tat > now then
    tat = now + math.ceil((tat - now) * iv / oldiv)
  end
  s = {key = k, tat = tat, ctat = tonumber(st[2]) or 0, iv = iv, burst = burst, dirty = false}
  s.tau = math.max(0, (burst - 1) * iv - math.min(slack, math.floor(iv / 2)))
  cache[k] = s
  return s
end
local function allowed(s)
  return math.max(now, math.max(s.tat, now) - s.tau)
end
local function callowed(s, share)
  local civ = math.ceil(s.iv / share)
  return math.max(now, math.max(s.ctat, now) - math.max(0, (s.burst - 1) * civ))
end
local function book(s, slot)
  s.tat = math.max(s.tat, slot) + s.iv
  s.dirty = true
end
local function save()
  for k, s in pairs(cache) do
    if s.dirty then
      redis.call('HSET', k, 'tat', string.format('%d', s.tat), 'ctat', string.format('%d', s.ctat),
        'iv', string.format('%d', s.iv), 'b', string.format('%d', s.burst))
      redis.call('PEXPIRE', k, math.ceil((math.max(s.tat, s.ctat, now) - now) / 1000) + ttl)
    end
  end
end
`

// pushLua puts a job in its line, once.
//
// KEYS[1] due, KEYS[2] jobs, KEYS[3] line; ARGV[1] id, ARGV[2] the jobs
// value, ARGV[3] eligible (µs), ARGV[4] the line's due member, ARGV[5]
// idle poll (µs). Returns 0 when the job is already waiting or handed off,
// 1 when added, 2 when added to a line that was not due within an idle poll
// of it (empty, or waiting for a later time): the release loops should be
// woken.
const pushLua = `
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
local old = redis.call('ZSCORE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[1], 'LT', ARGV[3], ARGV[4])
if not old or tonumber(old) > tonumber(ARGV[3]) + tonumber(ARGV[5]) then return 2 end
return 1
`

// releaseLua releases the shard's due jobs: for each due line,
// transactional jobs first, each job whose slot (on its actions operation
// and its send operation, and for campaign jobs the campaign share) falls
// within lead of now gets that slot booked and moves to the handoff set.
// Lines whose next job is not yet due get their next due time; empty lines
// leave the index. Handoffs older than ARGV[9] ms (their releaser died)
// are released again, without a slot.
//
// KEYS[1] plans, KEYS[2] due, KEYS[3] jobs, KEYS[4] handoff. ARGV[1..5]
// as schedLua, ARGV[6] lead (µs), ARGV[7] max jobs, ARGV[8] campaign
// share, ARGV[9] handoff timeout (ms).
//
// Returns {now µs, the shard's next due µs or -1, {id, value, slot µs
// (0: none), ...}}.
const releaseLua = schedLua + `
local due, jobs, handoff = KEYS[2], KEYS[3], KEYS[4]
local nowms = math.floor(now / 1000)
local lead = tonumber(ARGV[6])
local horizon = now + lead
local maxn = tonumber(ARGV[7])
local share = tonumber(ARGV[8])
local out = {}
local n = 0

-- emit hands a job (its id and jobs value) to the caller, with its slot.
local function emit(id, v, slot)
  out[#out + 1] = id
  out[#out + 1] = v
  out[#out + 1] = slot
  n = n + 1
end

-- rehandoff hands off again, without a slot, the jobs whose releaser died
-- before the queue had them.
local function rehandoff()
  for _, id in ipairs(redis.call('ZRANGE', handoff, '-inf', '(' .. (nowms - tonumber(ARGV[9])), 'BYSCORE', 'LIMIT', 0, maxn)) do
    local v = redis.call('HGET', jobs, id)
    if v then
      redis.call('ZADD', handoff, nowms, id)
      emit(id, v, 0)
    else
      redis.call('ZREM', handoff, id)
    end
  end
end

-- head returns the line's next job eligible within the horizon, the
-- transactional one first: {line key, id, campaign?}; or, when none is,
-- nil and when the next one is (nil: the line is empty).
local function head(lt, lc)
  local ht = redis.call('ZRANGE', lt, 0, 0, 'WITHSCORES')
  local hc = redis.call('ZRANGE', lc, 0, 0, 'WITHSCORES')
  if ht[1] and tonumber(ht[2]) <= horizon then return {lt, ht[1], false} end
  if hc[1] and tonumber(hc[2]) <= horizon then return {lc, hc[1], true} end
  local nextus = nil
  if ht[1] then nextus = tonumber(ht[2]) end
  if hc[1] and (nextus == nil or tonumber(hc[2]) < nextus) then nextus = tonumber(hc[2]) end
  return nil, nextus
end

-- slotFor books the job's slots on its actions and send schedules (and
-- the campaign share) and returns the slot: 0 for a job past its deadline
-- (it goes without one), or nil and the slot when it is beyond the lead.
local function slotFor(seller, aop, v, camp)
  local p1 = string.find(v, '\n', 1, true)
  local p2 = string.find(v, '\n', p1 + 1, true)
  local sop = string.sub(v, 1, p1 - 1)
  local dl = tonumber(string.sub(v, p1 + 1, p2 - 1)) or 0
  if dl ~= 0 and dl <= now then return 0 end
  local a = sched(seller, aop)
  local s = sched(seller, sop)
  local slot = math.max(allowed(a), allowed(s))
  local shared = camp and share < 1
  if shared then slot = math.max(slot, callowed(a, share)) end
  if slot > now + lead then return nil, slot end
  book(a, slot)
  book(s, slot)
  if shared then a.ctat = math.max(a.ctat, slot) + math.ceil(a.iv / share) end
  return slot
end

-- releaseLine releases a due line's jobs until one must wait, and returns
-- when the line is next due (nil: it is empty).
local function releaseLine(seller, aop)
  local lt = base .. 'line:' .. seller .. ':' .. aop .. ':t'
  local lc = base .. 'line:' .. seller .. ':' .. aop .. ':c'
  while n < maxn do
    local h, nextus = head(lt, lc)
    if not h then return nextus end
    local line, id, camp = h[1], h[2], h[3]
    local v = redis.call('HGET', jobs, id)
    if not v then
      redis.call('ZREM', line, id)
    else
      local slot, later = slotFor(seller, aop, v, camp)
      if not slot then return later end
      redis.call('ZREM', line, id)
      redis.call('ZADD', handoff, nowms, id)
      emit(id, v, slot)
    end
  end
  return now
end

rehandoff()
for _, m in ipairs(redis.call('ZRANGE', due, '-inf', horizon, 'BYSCORE', 'LIMIT', 0, maxn)) do
  local nl = string.find(m, '\n', 1, true)
  local nextus = releaseLine(string.sub(m, 1, nl - 1), string.sub(m, nl + 1))
  if nextus then
    redis.call('ZADD', due, nextus, m)
  else
    redis.call('ZREM', due, m)
  end
end
save()
local first = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
local nd = -1
if first[1] then nd = tonumber(first[2]) end
return {now, nd, out}
`

// reserveLua books one slot now, on every listed operation of one seller,
// for a job that holds none (a retry, a redelivery).
//
// KEYS[1] plans. ARGV[1..5] as schedLua, ARGV[6] seller, ARGV[7...] ops.
// Returns {slot µs, now µs}.
const reserveLua = schedLua + `
local seller = ARGV[6]
local slot = now
for i = 7, #ARGV do
  slot = math.max(slot, allowed(sched(seller, ARGV[i])))
end
for i = 7, #ARGV do
  book(sched(seller, ARGV[i]), slot)
end
save()
return {slot, now}
`

// observeLua stores the rate Amazon reported for a schedule.
// KEYS[1] the schedule; ARGV[1] rate, ARGV[2] TTL (ms).
const observeLua = `
redis.call('HSET', KEYS[1], 'obs', ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
`

// throttledLua treats a schedule's bucket as empty after a 429: tat =
// max(tat, now + burst x interval).
// KEYS[1] the schedule; ARGV[1] fallback interval (µs), ARGV[2] TTL (ms).
const throttledLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'tat', 'iv', 'b')
local iv = tonumber(st[2]) or tonumber(ARGV[1])
local b = tonumber(st[3]) or 1
local tat = math.max(tonumber(st[1]) or 0, now + b * iv)
redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat))
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now) / 1000) + tonumber(ARGV[2]))
return tat
`
