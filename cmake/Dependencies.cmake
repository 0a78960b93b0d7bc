# Every dependency comes from a Debian 12 package (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
find_package(spdlog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)

# llhttp ships as C sources in Debian's node-llhttp package; compile them here
# rather than vendoring a copy.
set(HERALD_LLHTTP_DIR /usr/share/llhttp CACHE PATH "llhttp C sources (node-llhttp)")
set(HERALD_LLHTTP_INCLUDE /usr/share/include/llhttp CACHE PATH "llhttp header")
if(NOT EXISTS ${HERALD_LLHTTP_DIR}/llhttp.c OR NOT EXISTS ${HERALD_LLHTTP_INCLUDE}/llhttp.h)
  message(FATAL_ERROR "llhttp sources not found: install node-llhttp")
endif()
add_library(herald_llhttp STATIC
  ${HERALD_LLHTTP_DIR}/llhttp.c ${HERALD_LLHTTP_DIR}/api.c ${HERALD_LLHTTP_DIR}/http.c)
target_include_directories(herald_llhttp SYSTEM PUBLIC ${HERALD_LLHTTP_INCLUDE})
set_target_properties(herald_llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_compile_options(herald_llhttp PRIVATE -w)

if(HERALD_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  # Integration tests use Debian's Python and its packages (python3-websockets,
  # python3-prometheus-client...), not whatever python3 is first on PATH.
  find_program(HERALD_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)
endif()
if(HERALD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
