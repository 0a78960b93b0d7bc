# Herald: the two commands for a fresh Debian 12 machine are `make run` and
# `make test`. Every target installs what is missing first (near-instant when
# all is there), then configures and builds in its own folder under build/.

JOBS ?= 2
LISTEN ?= 127.0.0.1:8080
CMAKE_FLAGS ?=
# One test at a time: several measure latency or race a cluster's interest
# propagation, and a second test's load (under a sanitizer above all) makes
# them flaky.
CTEST_FLAGS ?= --output-on-failure --timeout 300
FUZZ_SECONDS ?= 60

# ccache keys on paths relative to this checkout, not on the directory it is
# in, so another clone of the tree (CI's) reuses what any clone compiled.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: deps build run test install test-asan test-tsan test-robustness bench bench-ws bench-http bench-sse bench-grpc bench-cluster bench-store bench-queue bench-presence bench-hooks fuzz format clean

deps:
	@bash scripts/install-deps.sh

# build/<name>: configure once, then build incrementally.
define configure
	@cmake -S . -B build/$(1) -DCMAKE_BUILD_TYPE=$(2) -DHERALD_SANITIZE=$(3) $(4) $(CMAKE_FLAGS) >/dev/null
	@cmake --build build/$(1) -j$(JOBS)
endef

# The release build makes the shared libraries too, so that make test's
# install test (tests/install/) covers both kinds.
build: deps
	$(call configure,release,RelWithDebInfo,,-DHERALD_SHARED=ON)

# History is kept on disk (build/run-data): a restart of `make run` keeps
# every topic's history and numbering, which is what a first try checks.
run: build
	./build/release/server/heraldd --listen $(LISTEN) --data-dir build/run-data

test: build
	cd build/release && ctest $(CTEST_FLAGS)

# heraldd, libherald and libherald_client (static and shared), the public
# headers, the CMake package and the pkg-config files under PREFIX.
PREFIX ?= /usr/local
install: build
	cmake --install build/release --prefix $(PREFIX)

test-asan: deps
	$(call configure,asan,Debug,address)
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS)

test-tsan: deps
	$(call configure,tsan,RelWithDebInfo,thread)
	cd build/tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp ctest $(CTEST_FLAGS)

# The fault-and-abuse suite (tests/robustness/, report in docs/ROBUSTNESS.md):
# against the release build, then the ASan build (configured as test-asan
# does). Both run even if the first fails; the target fails if either does.
test-robustness: build
	$(call configure,asan,Debug,address)
	@rc=0; \
	HERALDD=build/release/server/heraldd python3 tests/robustness/run.py || rc=1; \
	HERALDD=build/asan/server/heraldd ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 python3 tests/robustness/run.py || rc=1; \
	exit $$rc

bench: build
	bash bench/run.sh

bench-ws: build
	bash bench/ws/run.sh

bench-http: build
	bash bench/http/run.sh

bench-sse: build
	bash bench/sse/run.sh

bench-grpc: build
	bash bench/grpc/run.sh

bench-cluster: build
	bash bench/cluster/run.sh

bench-store: build
	bash bench/store/run.sh

bench-queue: build
	bash bench/queue/run.sh

bench-presence: build
	bash bench/presence/run.sh

bench-hooks: build
	/usr/bin/python3 bench/hooks/connect_latency.py

fuzz: deps
	bash fuzz/run.sh $(FUZZ_SECONDS)

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf build
