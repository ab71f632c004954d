-- Appended to bench/wrk-post.lua by bench/event-log.sh: the same request
-- (a real GitHub push), sent at a steady rate instead of as fast as
-- possible.
--
-- Why: the event-log benchmark asks what recording costs at a given load
-- (10,000 events/s), not at saturation, where extra work shows up as lost
-- throughput rather than as the sender's latency. Each connection waits
-- DELAY_MS (the second script argument) between requests, so about
-- CONNECTIONS / (DELAY_MS + latency) requests/s are offered.

local post_init = init
local delay_ms = 0

function init(args)
  post_init(args)
  delay_ms = tonumber(args[2]) or 0
end

function delay()
  return delay_ms
end
