# Every dependency comes from a Debian 12 package (scripts/install-deps.sh).
# Found here, at the top, so that their targets are seen everywhere (the
# installed package links them: cmake/HeraldInstall.cmake).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
find_package(spdlog CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(JWT REQUIRED IMPORTED_TARGET libjwt>=1.10)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)  # heraldd's sd_notify
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)
find_package(simdjson CONFIG REQUIRED)
find_package(RocksDB CONFIG REQUIRED)

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

# gRPC and Protocol Buffers (Debian: libgrpc++-dev 1.51, libprotobuf-dev 3.21,
# protobuf-compiler-grpc for grpc_cpp_plugin).
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(HERALD_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# herald_proto_library(NAME PROTOS a.proto ...): generated C++ (messages and
# gRPC stubs) for .proto files under api/, as one static library. Generated
# headers are included as "herald/v1/broker.grpc.pb.h".
function(herald_proto_library name)
  cmake_parse_arguments(A "" "" "PROTOS" ${ARGN})
  set(out ${PROJECT_BINARY_DIR}/api)
  set(srcs)
  foreach(proto ${A_PROTOS})
    get_filename_component(dir ${proto} DIRECTORY)
    get_filename_component(base ${proto} NAME_WE)
    set(gen ${out}/${dir}/${base}.pb.cc ${out}/${dir}/${base}.pb.h
            ${out}/${dir}/${base}.grpc.pb.cc ${out}/${dir}/${base}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${gen}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
      COMMAND protobuf::protoc --proto_path=${PROJECT_SOURCE_DIR}/api --cpp_out=${out}
              --grpc_out=${out} --plugin=protoc-gen-grpc=${HERALD_GRPC_CPP_PLUGIN}
              ${PROJECT_SOURCE_DIR}/api/${proto}
      DEPENDS ${PROJECT_SOURCE_DIR}/api/${proto}
      COMMENT "protoc ${proto}")
    list(APPEND srcs ${out}/${dir}/${base}.pb.cc ${out}/${dir}/${base}.grpc.pb.cc)
  endforeach()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} SYSTEM PUBLIC ${out})
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf gRPC::grpc++)
endfunction()
