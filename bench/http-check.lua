-- wrk script for the HTTP check path (Gatehouse's Envoy http_service mode, /envoy/*).
-- args[1]: a file of "METHOD PATH TOKEN" lines ("-" for no token), sent round-robin.
-- done() prints one WRK_JSON line that bench/run.ts parses.
local entries = {}
local idx = 0

init = function(args)
  for line in io.lines(args[1]) do
    local m, p, t = line:match("^(%S+) (%S+) (%S+)$")
    if m then
      local h = { ["Host"] = "api.example.com" }
      if t ~= "-" then h["Authorization"] = "Bearer " .. t end
      entries[#entries + 1] = wrk.format(m, "/envoy" .. p, h)
    end
  end
end

request = function()
  idx = idx % #entries + 1
  return entries[idx]
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
