# Install rules and the exported package, so that another CMake project can
#   find_package(shmbus REQUIRED)
#   target_link_libraries(app PRIVATE shmbus::shmbus)        # and shmbus::embedded if installed
include(CMakePackageConfigHelpers)

set(SHMBUS_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/shmbus
    CACHE STRING "Where shmbusConfig.cmake is installed, relative to the prefix")

install(DIRECTORY ${PROJECT_SOURCE_DIR}/libbus/include/shmbus
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")

set(SHMBUS_EXPORTED_TARGETS shmbus)
# The embedded supervisor exists once the daemon's build defines it; the package says whether it
# was exported so that the config only asks for toml++ and spdlog when they are needed.
set(SHMBUS_HAS_EMBEDDED OFF)
if(TARGET shmbus_embedded)
  list(APPEND SHMBUS_EXPORTED_TARGETS shmbus_embedded)
  set(SHMBUS_HAS_EMBEDDED ON)
endif()

install(TARGETS ${SHMBUS_EXPORTED_TARGETS}
        EXPORT shmbusTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT shmbusTargets
        NAMESPACE shmbus::
        FILE shmbusTargets.cmake
        DESTINATION ${SHMBUS_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/shmbusConfig.cmake.in
  ${PROJECT_BINARY_DIR}/shmbusConfig.cmake
  INSTALL_DESTINATION ${SHMBUS_INSTALL_CMAKEDIR})
# 0.x releases may change the layout between minor versions: only the same minor is compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/shmbusConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)

install(FILES ${PROJECT_BINARY_DIR}/shmbusConfig.cmake
              ${PROJECT_BINARY_DIR}/shmbusConfigVersion.cmake
        DESTINATION ${SHMBUS_INSTALL_CMAKEDIR})
