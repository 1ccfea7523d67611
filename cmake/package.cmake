# cmake/package.cmake -- what libtide exports and how other builds find it:
#   - symbols: hidden, except the functions tide.h marks TIDE_API;
#   - tide.pc (pkg-config) and the CMake package (find_package(tide CONFIG)
#     gives the imported target tide::tide), installed beside the library
#     and relocatable (paths relative to where they are installed);
#   - the LuaRocks build (TIDE_ROCK, set by the rockspec): tide.so and
#     lua/tide/*.lua into the folders LuaRocks names;
#   - the tests of all three, each against a scratch install.
# Included by CMakeLists.txt once the targets exist.

set_target_properties(tide_obj PROPERTIES C_VISIBILITY_PRESET hidden)

if(TIDE_ROCK)
  if(NOT TIDE_LUA_CDIR OR NOT TIDE_LUA_LDIR)
    message(FATAL_ERROR "TIDE_ROCK needs TIDE_LUA_CDIR and TIDE_LUA_LDIR "
                        "(the rockspec passes LuaRocks' $(LIBDIR) and $(LUADIR))")
  endif()
  install(TARGETS tide_module LIBRARY DESTINATION ${TIDE_LUA_CDIR})
  install(FILES ${TIDE_LUA_MODULES} DESTINATION ${TIDE_LUA_LDIR}/tide)
  return()
endif()

# The path from an installed file's folder back to the prefix ("../.." for
# lib/pkgconfig, "../../.." for lib/x86_64-linux-gnu/pkgconfig).
file(RELATIVE_PATH TIDE_PC_UP ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
file(RELATIVE_PATH TIDE_CMAKE_UP ${CMAKE_INSTALL_FULL_LIBDIR}/cmake/tide ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" TIDE_PC_UP "${TIDE_PC_UP}")
string(REGEX REPLACE "/$" "" TIDE_CMAKE_UP "${TIDE_CMAKE_UP}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/tide.pc.in ${PROJECT_BINARY_DIR}/tide.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/tideConfig.cmake.in
               ${PROJECT_BINARY_DIR}/tideConfig.cmake @ONLY)
include(CMakePackageConfigHelpers)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tideConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tide.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${PROJECT_BINARY_DIR}/tideConfig.cmake ${PROJECT_BINARY_DIR}/tideConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/tide)

if(TIDE_TESTS)
  set(TIDE_PKG_ENV "CC=${CMAKE_C_COMPILER};TIDE_SANITIZE=${TIDE_SANITIZE}")
  # libtide.so and tide.so export tide.h's functions and nothing else
  add_test(NAME pkg_visibility COMMAND sh ${PROJECT_SOURCE_DIR}/tests/pkg/visibility.sh
           ${PROJECT_SOURCE_DIR}/runtime/include/tide.h $<TARGET_FILE:tide_shared>
           $<TARGET_FILE:tide_module>)
  # a C host built against a scratch install with pkg-config and with CMake
  add_test(NAME pkg_consumers COMMAND sh ${PROJECT_SOURCE_DIR}/tests/pkg/consumers.sh
           ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(pkg_consumers PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "${TIDE_PKG_ENV}")
  # luarocks make of the rockspec, then stock lua5.4 with that tree.  It
  # compiles the runtime again: the sanitizer build leaves it to the other.
  if(NOT TIDE_SANITIZE)
    add_test(NAME pkg_luarocks COMMAND sh ${PROJECT_SOURCE_DIR}/tests/pkg/luarocks.sh
             ${PROJECT_SOURCE_DIR})
    set_tests_properties(pkg_luarocks PROPERTIES TIMEOUT 400 SKIP_RETURN_CODE 77)
  endif()
endif()
