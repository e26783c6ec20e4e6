# Install rules: the libraries with their CMake package and pkg-config file,
# the public header, the rlboard command and the manual pages.
include(CMakePackageConfigHelpers)

set(rlb_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/rlboard")

install(TARGETS rlboard rlboard_static
  EXPORT rlboardTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
install(FILES "${PROJECT_SOURCE_DIR}/include/rlboard.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(FILES "${PROJECT_SOURCE_DIR}/doc/rlboard.3"
  DESTINATION "${CMAKE_INSTALL_MANDIR}/man3")

if(TARGET rlboard_cli)
  # The command finds librlboard.so relative to itself, so an install under
  # any prefix, including one given to cmake --install --prefix, runs
  # without LD_LIBRARY_PATH. CMAKE_SKIP_INSTALL_RPATH turns this off.
  if(NOT IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}"
     AND NOT IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    file(RELATIVE_PATH rlb_bin_to_lib "/prefix/${CMAKE_INSTALL_BINDIR}"
         "/prefix/${CMAKE_INSTALL_LIBDIR}")
    set_target_properties(rlboard_cli PROPERTIES
      INSTALL_RPATH "$ORIGIN/${rlb_bin_to_lib}")
  endif()
  install(TARGETS rlboard_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
  install(FILES "${PROJECT_SOURCE_DIR}/doc/rlboard.1"
    DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
endif()

# CMake package: rlboardConfig.cmake, its version file and the targets.
install(EXPORT rlboardTargets
  NAMESPACE rlboard::
  DESTINATION "${rlb_cmake_dir}")
configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/rlboardConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/rlboardConfig.cmake"
  INSTALL_DESTINATION "${rlb_cmake_dir}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/rlboardConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/rlboardConfig.cmake"
  "${PROJECT_BINARY_DIR}/rlboardConfigVersion.cmake"
  DESTINATION "${rlb_cmake_dir}")

# pkg-config file. Its prefix is the one the files are installed under, read
# when cmake --install runs, so an install with --prefix gets a matching
# file. An absolute prefix lets pkg-config drop -I/usr/include and
# -L/usr/lib, which it recognizes only by their absolute paths.
set(rlb_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(RLB_PC_PREFIX "@RLB_INSTALL_PREFIX@")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(RLB_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(RLB_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(RLB_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(RLB_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file("${PROJECT_SOURCE_DIR}/cmake/rlboard.pc.in"
  "${PROJECT_BINARY_DIR}/rlboard.pc.in" @ONLY)
install(CODE "
  set(RLB_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/rlboard.pc.in\"
    \"${PROJECT_BINARY_DIR}/rlboard.pc\" @ONLY)
")
install(FILES "${PROJECT_BINARY_DIR}/rlboard.pc"
  DESTINATION "${rlb_pc_dir}")
