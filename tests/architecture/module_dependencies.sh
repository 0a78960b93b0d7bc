#!/bin/sh
# Dependencies point one way. Every module's sources and headers may include
# only the modules the table below lists for it (besides its own headers and
# the C++/system libraries); include/herald/ headers count as the module that
# implements them. The build makes other modules' internal headers
# unreachable (cmake/HeraldHelpers.cmake); this check adds the direction:
# which modules a module may use at all, interface headers included.
#
# The table is written once, here; docs/ARCHITECTURE.md shows it and this
# check fails if that copy differs. A module not in the table (a new
# directory with herald_module in its CMakeLists.txt) fails too.
cd "$(dirname "$0")/../.." || exit 2

table='
base:
broker:              base
io:                  base
auth:                base
api:
frontends/session:   base broker auth
frontends/http:      base io
frontends/http_auth: base io broker auth frontends/session frontends/http
frontends/json:      base broker
frontends/ws:        base broker io auth frontends/session frontends/http frontends/http_auth frontends/json
frontends/sse:       base broker io auth frontends/session frontends/http frontends/http_auth frontends/json
frontends/rest:      base broker io auth frontends/session frontends/http frontends/http_auth frontends/json
frontends/grpc:      base broker auth api frontends/session
frontends/static:    base io frontends/http
client:              base broker api
cluster:             base broker api
store/codec:         base broker
store:               base broker store/codec
store/redis:         base broker io store/codec
hooks:               base broker api
server:              base broker io auth frontends/session frontends/http frontends/http_auth frontends/json frontends/ws frontends/sse frontends/rest frontends/grpc frontends/static cluster store store/redis hooks
'

# Transport libraries, by the modules that may include them: the core never
# sees a socket, HTTP or gRPC; only one module wraps each.
transports='
uv.h:     io store/redis
openssl/ssl.h: io
llhttp.h: frontends/http
grpc:     api client cluster frontends/grpc hooks
curl:     hooks
rocksdb:  store
hiredis:  store/redis
'

# The public headers (include/herald/) by the module that implements them;
# any other one is the broker's. Generated headers (herald/v1/, herald/cluster/v1/)
# are api's.
public='
herald/status.h:          base
herald/auth_options.h:    auth
herald/cluster_options.h: cluster
herald/server.h:          server
herald/client.h:          client
herald/http_limits.h:     frontends/http
herald/tls_options.h:     io
herald/disk_store.h:      store
herald/redis_store.h:     store/redis
'

status=0

# Every module with a herald_module() call is in the table, and every
# table entry is a directory.
modules=$(printf '%s\n' "$table" | sed -n 's/^\([a-z_/]*\):.*/\1/p')
for cml in $(grep -rl --include=CMakeLists.txt '^herald_module(' base broker io auth frontends client cluster store hooks server 2>/dev/null); do
  dir=${cml%/CMakeLists.txt}
  if ! printf '%s\n' "$modules" | grep -qx "$dir"; then
    echo "module $dir is not in the dependency table of $0"
    status=1
  fi
done
for m in $modules; do
  [ -d "$m" ] || { echo "table module $m: no such directory"; status=1; }
done

# docs/ARCHITECTURE.md carries a copy of the table between two markers.
doc_table=$(sed -n '/<!-- module-table:begin -->/,/<!-- module-table:end -->/p' docs/ARCHITECTURE.md |
  grep -vE '^(<!--|```)')
if [ "$(printf '%s\n' "$table" | grep -v '^$')" != "$(printf '%s\n' "$doc_table" | grep -v '^$')" ]; then
  echo "docs/ARCHITECTURE.md's module table differs from the one in $0"
  status=1
fi

# Every #include in every module, judged against the tables.
violations=$(
  {
    printf '%s\n' "$table" | sed 's/^/T /'
    printf '%s\n' "$transports" | sed 's/^/X /'
    printf '%s\n' "$public" | sed 's/^/P /'
    find $modules include/herald -type f \( -name '*.h' -o -name '*.cc' \) 2>/dev/null |
      sort | xargs grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' /dev/null |
      sed 's/^/I /'
  } | awk '
    function owner_of_path(p,   best, m) {
      best = ""
      for (m in allowed) if (index(p, m "/") == 1 && length(m) > length(best)) best = m
      return best
    }
    function module_of_include(inc,   m) {
      if (inc ~ /^herald\/(v1|cluster\/v1)\//) return "api"
      if (inc ~ /^herald\//) return (inc in pub) ? pub[inc] : "broker"
      m = owner_of_path(inc)
      return m
    }
    $1 == "T" && NF >= 2 { m = $2; sub(/:$/, "", m); allowed[m] = " "; for (i = 3; i <= NF; i++) allowed[m] = allowed[m] $i " "; next }
    $1 == "X" && NF >= 2 { h = $2; sub(/:$/, "", h); tr[h] = " "; for (i = 3; i <= NF; i++) tr[h] = tr[h] $i " "; next }
    $1 == "P" && NF >= 2 { h = $2; sub(/:$/, "", h); pub[h] = $3; next }
    $1 == "I" {
      line = substr($0, 3)
      file = line; sub(/:.*/, "", file)
      inc = line; sub(/^[^#]*#[[:space:]]*include[[:space:]]*[<"]/, "", inc); sub(/[>"].*/, "", inc)
      if (file ~ /^include\/herald\//) {
        h = substr(file, 9); from = (h in pub) ? pub[h] : "broker"
      } else from = owner_of_path(file)
      to = module_of_include(inc)
      if (to != "" && to != from && index(allowed[from], " " to " ") == 0)
        print line "   (" from " may not include " to ")"
      for (h in tr) {
        hit = (h == "grpc") ? (inc ~ /^grpc(pp)?\//) : (h == "rocksdb") ? (inc ~ /^rocksdb\//) : (h == "hiredis") ? (inc ~ /^hiredis\//) : (h == "curl") ? (inc ~ /^curl\//) : (inc == h)
        if (hit && index(tr[h], " " from " ") == 0) print line "   (" from " may not include " h ")"
      }
    }'
)
if [ -n "$violations" ]; then
  echo "includes against the module dependency table:"
  echo "$violations"
  status=1
fi
[ $status -eq 0 ] && echo "every module includes only what the dependency table allows"
exit $status
