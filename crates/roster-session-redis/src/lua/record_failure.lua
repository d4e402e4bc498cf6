-- Counts one failed login of one source (R39).
--
-- KEYS[1]: the source's failure counter for the window `now` falls in.
-- ARGV[1]: milliseconds the counter must still live: to the end of the next
--          window (where it is the previous window's count), plus grace.
--
-- Key expiry is only garbage collection, never shortened here, so a replica
-- whose clock runs ahead cannot cut a counter short for the others.
local failures = redis.call('INCR', KEYS[1])
local keep = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < keep then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return failures
