-- wrk script for bluegreen: cycles through one path per component and counts
-- responses by the color that served them (the x-bluegreen-color header HAProxy adds).
local paths = { "/api/items", "/stream/1", "/" }
local n = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Optional script argument (after `--`): milliseconds each connection waits between
-- requests, for a steady rate instead of as fast as possible.
function init(args)
  blue, green, other = 0, 0, 0
  pause = tonumber(args[1] or "0")
end

function delay()
  return pause
end

function request()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end

function response(status, headers, body)
  local c = headers["x-bluegreen-color"]
  if c == "blue" then blue = blue + 1 elseif c == "green" then green = green + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local b, g, o = 0, 0, 0
  for _, t in ipairs(threads) do
    b = b + t:get("blue"); g = g + t:get("green"); o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format('BLUEGREEN {"requests":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"blue":%d,"green":%d,"other":%d,"p99_ms":%.2f}\n',
    summary.requests, e.connect, e.read, e.write, e.status, e.timeout, b, g, o, latency:percentile(99) / 1000))
end
