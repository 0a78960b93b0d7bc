-- wrk script for make bench-store: POST a payload of $SIZE bytes to
-- /publish/bench.store.<n>, spreading requests over 64 topics.
wrk.method = "POST"
wrk.body = string.rep("x", tonumber(os.getenv("SIZE") or "64"))
wrk.headers["Content-Type"] = "application/octet-stream"
local n = 0
function request()
  n = n + 1
  return wrk.format(nil, "/publish/bench.store." .. (n % 64))
end
