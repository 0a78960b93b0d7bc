-- wrk script for make bench-store: POST a payload of $SIZE bytes to
-- /publish/bench.store.<n>, spreading requests over 64 topics.
--
-- The 64 requests are formatted once, in init (the Host header is known
-- there), and request() only picks the next: wrk shares the machine's cores
-- with the server, and building each request in Lua (wrk.format: a new
-- string of headers and body per request) cost it 1.5–2.5 µs more per
-- request than redis-benchmark, which fills its commands in place. What
-- the client spends is taken from the server measured.
wrk.method = "POST"
wrk.body = string.rep("x", tonumber(os.getenv("SIZE") or "64"))
wrk.headers["Content-Type"] = "application/octet-stream"
local requests = {}
local n = 0
function init(args)
  for i = 0, 63 do
    requests[i] = wrk.format(nil, "/publish/bench.store." .. i)
  end
end
function request()
  n = (n + 1) % 64
  return requests[n]
end
