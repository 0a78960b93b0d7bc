#!/usr/bin/env bash
# Installs the build tree $1 (sources $2) into a temporary prefix and builds,
# against that prefix only, what an embedder would:
#   - examples/embed with find_package(Herald CONFIG), linked statically
#     (herald::herald) and, when $3 (HERALD_SHARED) is ON, shared
#     (herald::herald_shared): each runs end to end and exits 0;
#   - examples/client with herald::client, run against the installed
#     heraldd: it has no broker in it;
#   - both again with pkg-config (herald, herald-client);
# and checks what is installed: the public headers only, and the soname.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
SHARED=${3:-OFF}
PYTHON=${4:-/usr/bin/python3}
WORK=$(mktemp -d)
HERALDD_PID=""
cleanup() {
  [[ -n "$HERALDD_PID" ]] && kill "$HERALDD_PID" 2>/dev/null && wait "$HERALDD_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

PREFIX=$WORK/prefix
step "cmake --install into $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" || { cat "$WORK/install.log"; fail "install"; }
LIBDIR=$(dirname "$(find "$PREFIX" -name libherald.a | head -1)")
[[ -f $LIBDIR/libherald.a && -f $LIBDIR/libherald_client.a ]] || fail "static libraries not installed"
[[ -x $PREFIX/bin/heraldd ]] || fail "heraldd not installed"
[[ -f $PREFIX/lib/systemd/system/heraldd.service ]] || fail "the systemd unit is not installed"
grep -q "^ExecStart=/.*/heraldd " "$PREFIX/lib/systemd/system/heraldd.service" || fail "the unit's ExecStart is not a heraldd path"

step "the headers installed are include/herald/*.h, nothing else"
diff <(cd "$SRC/include" && find herald -type f | sort) \
     <(cd "$PREFIX/include" && find . -type f | sed 's|^\./||' | sort) || fail "installed headers differ"

if [[ $SHARED == ON ]]; then
  step "libherald.so carries a versioned soname"
  soname=$(readelf -d "$LIBDIR/libherald.so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
  [[ $soname == libherald.so.0 ]] || fail "soname of libherald.so is '$soname'"
  [[ -f $LIBDIR/libherald.so.0 && -f $LIBDIR/libherald_client.so.0 ]] || fail "libherald*.so.0 missing"
fi

build_example() {  # $1: example, $2: build dir, then extra cmake flags
  local example=$1 dir=$2
  shift 2
  cmake -S "$SRC/examples/$example" -B "$dir" -DCMAKE_PREFIX_PATH="$PREFIX" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >"$dir.log" 2>&1 || { cat "$dir.log"; fail "configure $example"; }
  cmake --build "$dir" -j2 >>"$dir.log" 2>&1 || { cat "$dir.log"; fail "build $example"; }
  # Nothing of the source tree may be reached: only the prefix.
  if grep -rq -- "$SRC/include\|$BUILD/herald_modules" "$dir"/CMakeFiles/*.dir/flags.make 2>/dev/null; then
    fail "$example compiled against the source tree"
  fi
}

step "examples/embed, find_package, static herald::herald"
build_example embed "$WORK/embed-static"
"$WORK/embed-static/embed_example" >"$WORK/embed-static.out" || { cat "$WORK/embed-static.out"; fail "embed_example (static)"; }
if ldd "$WORK/embed-static/embed_example" | grep -q libherald; then fail "the static build loads libherald"; fi

if [[ $SHARED == ON ]]; then
  step "examples/embed, find_package, herald::herald_shared"
  build_example embed "$WORK/embed-shared" -DHERALD_EMBED_SHARED=ON
  ldd "$WORK/embed-shared/embed_example" | grep -q "libherald.so.0 => $LIBDIR" || fail "embed_example (shared) does not load the installed libherald.so.0"
  "$WORK/embed-shared/embed_example" >"$WORK/embed-shared.out" || { cat "$WORK/embed-shared.out"; fail "embed_example (shared)"; }
fi

step "the installed heraldd serves the client example"
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PREFIX/bin/heraldd" --listen 127.0.0.1:0 --grpc-listen "127.0.0.1:$port" 2>"$WORK/heraldd.log" &
HERALDD_PID=$!
for _ in $(seq 200); do grep -q "gRPC API" "$WORK/heraldd.log" && break; sleep 0.05; done
grep -q "gRPC API" "$WORK/heraldd.log" || { cat "$WORK/heraldd.log"; fail "the installed heraldd did not start"; }

step "examples/client, find_package, herald::client"
build_example client "$WORK/client"
timeout 60 "$WORK/client/client_example" "127.0.0.1:$port" >"$WORK/client.out" || { cat "$WORK/client.out"; fail "client_example"; }
# herald::client does not drag in the broker.
if nm -C "$WORK/client/client_example" | grep -q "herald::Broker::"; then fail "client_example holds broker code"; fi
if nm -C "$LIBDIR/libherald_client.a" 2>/dev/null | grep -q " [TW] herald::Broker::"; then fail "libherald_client.a holds broker code"; fi

step "pkg-config: herald and herald-client"
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
[[ $(pkg-config --modversion herald) == $(pkg-config --modversion herald-client) ]] || fail "pkg-config versions differ"
if [[ $SHARED == ON ]]; then
  # -lherald finds the shared library first, as for any library installed both ways.
  c++ -std=c++20 -O1 "$SRC/examples/embed/main.cc" -o "$WORK/embed-pc-shared" $(pkg-config --cflags --libs herald) \
    -Wl,-rpath,"$(pkg-config --variable=libdir herald)" || fail "pkg-config build of embed (shared)"
  "$WORK/embed-pc-shared" >"$WORK/embed-pc-shared.out" || { cat "$WORK/embed-pc-shared.out"; fail "embed (pkg-config, shared)"; }
  c++ -std=c++20 -O1 "$SRC/examples/client/main.cc" -o "$WORK/client-pc-shared" $(pkg-config --cflags --libs herald-client) \
    -Wl,-rpath,"$(pkg-config --variable=libdir herald-client)" || fail "pkg-config build of client (shared)"
  ldd "$WORK/client-pc-shared" | grep -q "libherald_client.so.0 => $LIBDIR" || fail "client (shared) does not load the installed libherald_client.so.0"
  if ldd "$WORK/client-pc-shared" | grep -q "libherald.so"; then fail "the client loads libherald"; fi
  timeout 60 "$WORK/client-pc-shared" "127.0.0.1:$port" >"$WORK/client-pc-shared.out" || { cat "$WORK/client-pc-shared.out"; fail "client (pkg-config, shared)"; }
fi
# The archives by path, over the system's shared libraries.
c++ -std=c++20 -O1 "$SRC/examples/embed/main.cc" -o "$WORK/embed-pc" $(pkg-config --cflags --libs herald-static) || fail "pkg-config build of embed"
c++ -std=c++20 -O1 "$SRC/examples/client/main.cc" -o "$WORK/client-pc" $(pkg-config --cflags --libs herald-client-static) || fail "pkg-config build of client"
if ldd "$WORK/embed-pc" | grep -q libherald; then fail "herald-static linked a shared libherald"; fi
"$WORK/embed-pc" >"$WORK/embed-pc.out" || { cat "$WORK/embed-pc.out"; fail "embed (pkg-config)"; }
timeout 60 "$WORK/client-pc" "127.0.0.1:$port" >"$WORK/client-pc.out" || { cat "$WORK/client-pc.out"; fail "client (pkg-config)"; }

kill "$HERALDD_PID" && wait "$HERALDD_PID" || fail "the installed heraldd did not exit cleanly"
HERALDD_PID=""
echo "install test: ok"
