# The installed package (`cmake --install`): heraldd, the public headers of
# include/herald/ (nothing else), two libraries and how to find them:
#
#   libherald_client  herald::client  the C++ client of the gRPC API
#                     (herald/client.h): the client module, base and the
#                     API's generated code. No broker in it.
#   libherald         herald::herald  the broker and everything around it
#                     (herald/broker.h, server.h, disk_store.h...): every
#                     other module. Links libherald_client, which holds the
#                     generated code both use (a process must register those
#                     protobuf descriptors once).
#
# Static always; with HERALD_SHARED also shared, with a versioned soname
# (libherald.so.0), as herald::herald_shared and herald::client_shared.
# Found with find_package(Herald CONFIG) or pkg-config (herald,
# herald-client). tests/install/ builds examples out of tree against an
# installed copy.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The herald_* static libraries `roots` are made of (them included), in
# `out_libs`, and every other library they link (imported targets, system
# libraries) in `out_externals`. The module tables in the CMakeLists.txt
# files stay the only place a dependency is written.
function(_herald_link_closure out_libs out_externals)
  set(libs)
  set(externals)
  set(queue ${ARGN})
  while(queue)
    list(POP_FRONT queue t)
    if(t IN_LIST libs)
      continue()
    endif()
    list(APPEND libs ${t})
    get_target_property(links ${t} LINK_LIBRARIES)
    if(NOT links)
      continue()
    endif()
    foreach(l ${links})
      if(l STREQUAL "herald_build_flags")
        continue()
      endif()
      set(ours FALSE)
      if(TARGET ${l} AND l MATCHES "^herald_")
        get_target_property(type ${l} TYPE)
        if(type STREQUAL "STATIC_LIBRARY")
          set(ours TRUE)
        endif()
      endif()
      if(ours)
        list(APPEND queue ${l})
      elseif(NOT l IN_LIST externals)
        list(APPEND externals ${l})
      endif()
    endforeach()
  endwhile()
  set(${out_libs} ${libs} PARENT_SCOPE)
  set(${out_externals} ${externals} PARENT_SCOPE)
endfunction()

_herald_link_closure(_client_libs _client_externals herald_client)
_herald_link_closure(_all_libs _all_externals herald_server herald_store herald_redis herald_hooks)
set(_herald_libs ${_all_libs})
list(REMOVE_ITEM _herald_libs ${_client_libs})
# All of them, those the client's part links too: libherald.so links what
# it calls itself.
set(_herald_externals ${_all_externals})
if(herald_broker IN_LIST _client_libs)
  message(FATAL_ERROR "herald_client links the broker: libherald_client must not")
endif()

function(_herald_objects out)
  set(objects)
  foreach(lib ${ARGN})
    list(APPEND objects $<TARGET_OBJECTS:${lib}>)
  endforeach()
  set(${out} ${objects} PARENT_SCOPE)
endfunction()
_herald_objects(_client_objects ${_client_libs})
_herald_objects(_herald_objects ${_herald_libs})

set(_herald_public_includes $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                            $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

# _herald_package_library(TARGET type output_name export_name objects
#                         PUBLIC_LINK ... PRIVATE_LINK ...)
function(_herald_package_library target type output export)
  cmake_parse_arguments(A "" "" "OBJECTS;PUBLIC_LINK;PRIVATE_LINK" ${ARGN})
  add_library(${target} ${type} ${A_OBJECTS})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${output} EXPORT_NAME ${export}
                                             LINKER_LANGUAGE CXX)
  if(type STREQUAL "SHARED")
    set_target_properties(${target} PROPERTIES VERSION ${PROJECT_VERSION}
                                               SOVERSION ${PROJECT_VERSION_MAJOR})
  endif()
  target_include_directories(${target} INTERFACE ${_herald_public_includes})
  target_compile_features(${target} INTERFACE cxx_std_20)
  target_link_libraries(${target} PUBLIC ${A_PUBLIC_LINK} PRIVATE ${A_PRIVATE_LINK})
endfunction()

_herald_package_library(herald_package_client STATIC herald_client client
  OBJECTS ${_client_objects} PRIVATE_LINK ${_client_externals})
_herald_package_library(herald_package STATIC herald herald
  OBJECTS ${_herald_objects} PUBLIC_LINK herald_package_client PRIVATE_LINK ${_herald_externals})
set(_herald_package_targets herald_package_client herald_package)
if(HERALD_SHARED)
  _herald_package_library(herald_package_client_shared SHARED herald_client client_shared
    OBJECTS ${_client_objects} PRIVATE_LINK ${_client_externals})
  _herald_package_library(herald_package_shared SHARED herald herald_shared
    OBJECTS ${_herald_objects} PUBLIC_LINK herald_package_client_shared
    PRIVATE_LINK ${_herald_externals})
  list(APPEND _herald_package_targets herald_package_client_shared herald_package_shared)
endif()

install(TARGETS heraldd DESTINATION ${CMAKE_INSTALL_BINDIR})
# The systemd unit (deploy/), its ExecStart at the heraldd installed here
# (CMAKE_INSTALL_PREFIX as configured). systemd reads units from
# /usr/local/lib/systemd/system and /usr/lib/systemd/system.
set(HERALDD_PATH ${CMAKE_INSTALL_FULL_BINDIR}/heraldd)
configure_file(${PROJECT_SOURCE_DIR}/deploy/heraldd.service.in ${PROJECT_BINARY_DIR}/package/heraldd.service
               @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/package/heraldd.service DESTINATION lib/systemd/system)
install(TARGETS ${_herald_package_targets} EXPORT HeraldTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/herald DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

set(_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Herald)
install(EXPORT HeraldTargets NAMESPACE herald:: DESTINATION ${_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/HeraldConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/package/HeraldConfig.cmake
                              INSTALL_DESTINATION ${_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/HeraldConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/HeraldConfig.cmake
              ${PROJECT_BINARY_DIR}/package/HeraldConfigVersion.cmake
        DESTINATION ${_cmake_dir})

# pkg-config files that find their prefix from where they are installed
# (${pcfiledir}), so `cmake --install --prefix` anywhere gives working ones.
set(_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE ${CMAKE_INSTALL_LIBDIR})
  set(HERALD_PC_PREFIX ${CMAKE_INSTALL_PREFIX})
  set(HERALD_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR})
else()
  string(REGEX REPLACE "[^/]+" ".." _up ${_pc_dir})
  set(HERALD_PC_PREFIX "\${pcfiledir}/${_up}")
  set(HERALD_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE ${CMAKE_INSTALL_INCLUDEDIR})
  set(HERALD_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR})
else()
  set(HERALD_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# herald and herald-client link -lherald (the shared library when installed,
# as for any library); herald-static and herald-client-static link the
# archives by path over the system's shared libraries (pkg-config --static
# would ask for static copies of every system library, which Debian's -dev
# packages do not all have).
foreach(pc herald herald-client herald-static herald-client-static)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/package/${pc}.pc
                 @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/package/${pc}.pc DESTINATION ${_pc_dir})
endforeach()
