/**
 * The store's three operations, each one Lua script so it is atomic on the server.
 * A key holds "c|<token>|<ttl ms>" while claimed (expiring after the claim timeout) and
 * "d|<token>" once done (expiring after the ttl given at claim time).
 */

/** KEYS[1] key; ARGV token, claim ms, ttl ms → "claimed" | "done" | "busy" */
export const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 2) == 'd|' then return 'done' end
  return 'busy'
end
redis.call('SET', KEYS[1], 'c|' .. ARGV[1] .. '|' .. ARGV[3], 'PX', ARGV[2])
return 'claimed'
`;

/** KEYS[1] key; ARGV token → "ok" (done now, or already done by this token) | "fenced" */
export const COMPLETE = `
local v = redis.call('GET', KEYS[1])
if not v then return 'fenced' end
local mine = 'c|' .. ARGV[1] .. '|'
if string.sub(v, 1, #mine) == mine then
  redis.call('SET', KEYS[1], 'd|' .. ARGV[1], 'PX', string.sub(v, #mine + 1))
  return 'ok'
end
if v == 'd|' .. ARGV[1] then return 'ok' end
return 'fenced'
`;

/** KEYS[1] key; ARGV token → 1 when this token's claim was given back, else 0 */
export const RELEASE = `
local v = redis.call('GET', KEYS[1])
local mine = 'c|' .. ARGV[1] .. '|'
if v and string.sub(v, 1, #mine) == mine then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;
