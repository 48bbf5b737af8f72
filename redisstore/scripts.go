package redisstore

import "github.com/redis/go-redis/v9"

// Each script reads and writes one key, its KEYS[1], so that Redis Cluster
// runs it on the node that owns the key. go-redis sends EVALSHA and falls
// back to EVAL on a node that has not seen the script yet.

// lockScript takes the lock KEYS[1] for owner ARGV[1] for ARGV[2] ms.
// Finding the lock already ours counts as taking it: go-redis resends a
// command whose answer was lost, and the resent one must not mistake our own
// lock for another holder's.
var lockScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
`)

// unlockScript deletes the lock KEYS[1] only if owner ARGV[1] still holds
// it: after its ttl, another process may hold a new one.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// deleteScript deletes the token value KEYS[1] only if the token in it
// ("dt1;<expiry>;<token>") is ARGV[1], the stale one: a fresh token another
// process saved meanwhile survives.
var deleteScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 4) ~= 'dt1;' then return 0 end
local sep = string.find(v, ';', 5, true)
if sep and string.sub(v, sep + 1) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// loadOrLockScript puts the lock ARGV[1] for ARGV[2] ms in the place of the
// token value KEYS[1], unless that holds another holder's lock or a value
// other than the stale ARGV[3] (the whole value: the same token with a
// later expiry is fresh). It answers {1}: locked (finding its own lock
// counts, for a resent call); {0}: another holder's lock; {2, value}: a
// token; {3}: locked in the place of a value that is not a token.
var loadOrLockScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then return {1} end
local answer = 1
if v then
  if string.sub(v, 1, 6) == 'dt1;1;' then return {0} end
  local sep = string.find(v, ';', 5, true)
  if string.sub(v, 1, 4) ~= 'dt1;' or not sep then
    answer = 3
  elseif v ~= ARGV[3] then
    return {2, v}
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {answer}
`)

// extendScript makes the lock KEYS[1] live ARGV[2] ms more if owner value
// ARGV[1] still holds it.
var extendScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`)
