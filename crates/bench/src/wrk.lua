-- Drives POST /heartbeat the way pulsekey-agent does: a random seeded key, a fresh nonce,
-- the JSON body. The same script runs against pulsekey and the ceiling server.
local keys = {}
local sent = 0

init = function(args)
  for line in io.lines(os.getenv("PULSEKEY_BENCH_KEYS")) do
    keys[#keys + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

request = function()
  sent = sent + 1
  local headers = {
    ["Authorization"] = "Bearer " .. keys[math.random(#keys)],
    ["Content-Type"] = "application/json",
    ["X-Pulsekey-Nonce"] = string.format("bench-%d-%d", sent, math.random(1000000000)),
  }
  return wrk.format("POST", "/heartbeat", headers, '{"version":"1.4.2"}')
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
