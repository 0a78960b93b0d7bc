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

# herald_cc_library(NAME SRCS ... [DEPS ...] [PUBLIC_DEPS ...])
# One static library per module; dependencies PRIVATE unless they show in
# the module's headers.
function(herald_cc_library name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${name} PRIVATE herald_build_flags ${A_DEPS} PUBLIC ${A_PUBLIC_DEPS})
endfunction()

# herald_cc_test(NAME SRCS ... DEPS ...): a GoogleTest binary registered with CTest.
function(herald_cc_test name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  target_link_libraries(${name} PRIVATE herald_build_flags ${A_DEPS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
endfunction()
