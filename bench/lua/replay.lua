-- wrk script: replay pre-built requests, one per line of a TSV file
--   METHOD <tab> PATH <tab> BEARER-TOKEN <tab> BODY (may be empty)
-- Each wrk thread walks the lines round-robin from its own offset, so the clients
-- spread over every user of the file. done() writes the figures as JSON to the file
-- named by WRK_JSON_OUT (latencies in microseconds).
--   wrk -t2 -c16 -d10s -s replay.lua http://127.0.0.1:PORT -- requests.tsv

local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
end

local requests = {}
local count = 0
local position = 0

function init(args)
  for line in io.lines(args[1]) do
    local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      local headers = { ["Authorization"] = "Bearer " .. token }
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      count = count + 1
      requests[count] = wrk.format(method, path, headers, body)
    end
  end
  if count == 0 then
    error("no requests in " .. tostring(args[1]))
  end
  position = (id * 7919) % count
end

function request()
  position = (position % count) + 1
  return requests[position]
end

function done(summary, latency, requests)
  local e = summary.errors
  local out = assert(io.open(os.getenv("WRK_JSON_OUT"), "w"))
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
  out:close()
end
