-- wrk script: POST a 64-byte payload to /publish/<topic>, one topic per wrk
-- thread (run.sh uses one thread: one topic, the worst case for its lock).
wrk.method = "POST"
wrk.body = string.rep("x", 64)
wrk.headers["Content-Type"] = "text/plain"
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("topic", "bench.http.t" .. counter)
end
function request()
  return wrk.format(nil, "/publish/" .. topic)
end
