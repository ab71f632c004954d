-- wrk script for the hookroute benchmarks: POST one webhook body, over and
-- over, with the headers GitHub sends, and print one machine-readable line.
--
-- Why a script: wrk sends GET without one. The body file is the first script
-- argument (`wrk ... URL -- BODY_FILE`), read once at start, so every target
-- (sink, nginx, webhook, hookroute) gets byte-identical requests. The closing
-- `RESULT` line is what bench/run.sh parses; wrk's own summary is kept in the
-- run's log for humans.

local body_file

function init(args)
  body_file = args[1]
  local f = assert(io.open(body_file, "rb"), "cannot open body file " .. tostring(body_file))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "GitHub-Hookshot/bench"
  wrk.headers["X-GitHub-Event"] = "push"
  wrk.headers["X-GitHub-Delivery"] = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
  wrk.headers["X-GitHub-Hook-ID"] = "292430182"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.status, e.connect, e.read, e.write, e.timeout))
end
