# Warnings and sanitizer flags shared by every Herald target.
add_library(herald_build_flags INTERFACE)
target_compile_options(herald_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-missing-field-initializers>)

if(HERALD_SANITIZE STREQUAL "address")
  set(_herald_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(HERALD_SANITIZE STREQUAL "thread")
  set(_herald_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT HERALD_SANITIZE STREQUAL "")
  message(FATAL_ERROR "HERALD_SANITIZE must be empty, address or thread")
endif()
if(_herald_san)
  add_compile_options(${_herald_san})
  add_link_options(${_herald_san})
endif()

# Module boundaries, enforced by the build. No target sees the source root:
# a module's headers are reachable only through include directories staged
# in the build tree (symlinks, at their source-root-relative path, so sources
# keep writing "frontends/ws/ws_front.h"):
#   <build>/herald_modules/<module>/private/<module>    -> the whole module
#   <build>/herald_modules/<module>/interface/<module>/ -> its interface headers
# A module's own targets get its private dir; a target linking a module gets
# only its interface dir (and, transitively, those of its PUBLIC_DEPS), so
# including another module's internal header fails to compile
# (tests/architecture/boundary_probes.cmake proves it). include/herald/ is the
# public API, visible to every module.

# herald_module(INTERFACE a.h b.h ... | ALL_HEADERS_ARE_INTERFACE)
# Declares the current directory a module and lists the headers other modules
# may include; call it before the module's herald_cc_library calls.
function(herald_module)
  cmake_parse_arguments(A "ALL_HEADERS_ARE_INTERFACE" "" "INTERFACE" ${ARGN})
  file(RELATIVE_PATH module ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  set(stage ${PROJECT_BINARY_DIR}/herald_modules/${module})
  # Restaged on every configure, so a header dropped from the list is gone.
  # Only this module's two directories: a nested module (store/codec in
  # store) stages beside them, whichever is configured first.
  file(REMOVE_RECURSE ${stage}/private ${stage}/interface)
  _herald_link_dir(${CMAKE_CURRENT_SOURCE_DIR} ${stage}/private/${module})
  if(A_ALL_HEADERS_ARE_INTERFACE)
    # A directory link: headers added later are interface without a reconfigure.
    _herald_link_dir(${CMAKE_CURRENT_SOURCE_DIR} ${stage}/interface/${module})
  else()
    file(MAKE_DIRECTORY ${stage}/interface/${module})
    foreach(header ${A_INTERFACE})
      if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${header})
        message(FATAL_ERROR "herald_module(${module}): no interface header ${header}")
      endif()
      file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/${header}
           ${stage}/interface/${module}/${header} SYMBOLIC)
    endforeach()
  endif()
  set_property(DIRECTORY PROPERTY HERALD_MODULE ${module})
  set_property(GLOBAL PROPERTY HERALD_MODULE_PRIVATE_${module} ${stage}/private)
  set_property(GLOBAL PROPERTY HERALD_MODULE_INTERFACE_${module} ${stage}/interface)
endfunction()

function(_herald_link_dir target link)
  get_filename_component(parent ${link} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(CREATE_LINK ${target} ${link} SYMBOLIC)
endfunction()

# The staged include directories of a module (see herald_module).
function(herald_module_dirs module out_private out_interface)
  get_property(private GLOBAL PROPERTY HERALD_MODULE_PRIVATE_${module})
  get_property(interface GLOBAL PROPERTY HERALD_MODULE_INTERFACE_${module})
  if(NOT private)
    message(FATAL_ERROR "${module} is not a module (no herald_module call in its CMakeLists.txt)")
  endif()
  set(${out_private} ${private} PARENT_SCOPE)
  set(${out_interface} ${interface} PARENT_SCOPE)
endfunction()

# herald_module_internals(TARGET module ...): TARGET may include the modules'
# internal headers. For the tests, fuzz targets and benchmarks of a module.
function(herald_module_internals target)
  foreach(module ${ARGN})
    herald_module_dirs(${module} private interface)
    target_include_directories(${target} PRIVATE ${private})
  endforeach()
endfunction()

# Tests, fuzz targets and benchmarks include their own helpers as
# "tests/...", "bench/..." (not the source root: only those two folders).
set(HERALD_TEST_INCLUDE_DIR ${PROJECT_BINARY_DIR}/herald_modules/.test_root)
file(REMOVE_RECURSE ${HERALD_TEST_INCLUDE_DIR})
_herald_link_dir(${PROJECT_SOURCE_DIR}/tests ${HERALD_TEST_INCLUDE_DIR}/tests)
_herald_link_dir(${PROJECT_SOURCE_DIR}/bench ${HERALD_TEST_INCLUDE_DIR}/bench)

# herald_cc_library(NAME SRCS ... [DEPS ...] [PUBLIC_DEPS ...] [INTERNALS module ...])
# One static library per module (a module may hold several); dependencies
# PRIVATE unless they show in the module's interface headers. The library
# sees its module's headers; its users see the module's interface headers.
# Outside a module (test support), INTERNALS names the modules it may see into.
function(herald_cc_library name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;PUBLIC_DEPS;INTERNALS" ${ARGN})
  add_library(${name} STATIC ${A_SRCS})
  get_property(module DIRECTORY PROPERTY HERALD_MODULE)
  if(module)
    herald_module_dirs(${module} private interface)
    target_include_directories(${name} PRIVATE ${private} INTERFACE ${interface})
  else()
    target_include_directories(${name} PUBLIC ${HERALD_TEST_INCLUDE_DIR})
  endif()
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  herald_module_internals(${name} ${A_INTERNALS})
  target_link_libraries(${name} PRIVATE herald_build_flags ${A_DEPS} PUBLIC ${A_PUBLIC_DEPS})
endfunction()

# herald_cc_test(NAME SRCS ... DEPS ... [INTERNALS module ...]): a GoogleTest
# binary registered with CTest. INTERNALS: the modules it tests, whose
# internal headers it may include.
function(herald_cc_test name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;INTERNALS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  target_include_directories(${name} PRIVATE ${HERALD_TEST_INCLUDE_DIR})
  herald_module_internals(${name} ${A_INTERNALS})
  target_link_libraries(${name} PRIVATE herald_build_flags ${A_DEPS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
endfunction()
