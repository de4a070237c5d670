-- wrk script for bench/serving.py: GET one path with a different user's device token on every request
-- (tokens file: one per line), and print the summary as one JSON line.
-- usage: wrk ... -s bench/wrk_tokens.lua URL -- TOKENS_FILE PATH
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  target = args[2]
  -- threads start far apart in the rotation so that they do not ask for the same users at the same time
  counter = math.floor((tid or 0) * #tokens / 7)
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("GET", target, { ["Authorization"] = "Bearer " .. token })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
