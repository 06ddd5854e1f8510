# Run by the find_package_consumer test (cmake -D... -P check_find_package.cmake):
#   1. installs the shmbus build tree into a scratch prefix,
#   2. configures and builds examples/pubsub against it with find_package(shmbus),
#   3. runs the built example: it must exchange messages between two processes and exit 0.
cmake_minimum_required(VERSION 3.25)

foreach(var SHMBUS_BINARY_DIR WORK_DIR EXAMPLE_SOURCE_DIR CXX_COMPILER GENERATOR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "check_find_package.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix ${WORK_DIR}/prefix)
set(build ${WORK_DIR}/build)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out
                  TIMEOUT 120)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "${step} failed (${result}):\n${out}")
  endif()
  message(STATUS "${step}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# BUILD_TYPE may be empty (a build without CMAKE_BUILD_TYPE): then neither side names one.
set(config_args "")
if(NOT "${BUILD_TYPE}" STREQUAL "")
  set(config_args --config ${BUILD_TYPE})
endif()
run("install into ${prefix}"
    ${CMAKE_COMMAND} --install ${SHMBUS_BINARY_DIR} --prefix ${prefix} ${config_args})

# The installed static library carries no sanitizer flags of its own: a consumer of a sanitized
# build must compile and link with the same ones.
run("configure the consumer"
    ${CMAKE_COMMAND} -S ${EXAMPLE_SOURCE_DIR} -B ${build} -G ${GENERATOR}
    "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}"
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_CXX_FLAGS=${SANITIZE_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${SANITIZE_FLAGS}")
run("build the consumer" ${CMAKE_COMMAND} --build ${build})

# A bus of its own, so that the test never meets another test's daemon.
string(RANDOM LENGTH 8 ALPHABET abcdefghijklmnopqrstuvwxyz0123456789 suffix)
set(bus "fpc-${suffix}")
if(EXISTS ${prefix}/bin/shmbusd)
  # Built with or without the embedded supervisor, the example then also runs against the
  # installed daemon; the shell starts it and stops it with SIGTERM like an operator would.
  # No ';' in the script: CMake would split the argument into a list there.
  find_program(SH sh REQUIRED)
  set(script "
    ${prefix}/bin/shmbusd --bus ${bus} --foreground &
    daemon=$!
    trap 'kill -TERM $daemon 2>/dev/null' EXIT
    i=0
    while [ ! -e /dev/shm/shmbus.${bus}.ctl ] && [ $i -lt 100 ]
    do
      sleep 0.05
      i=$((i+1))
    done
    timeout 60 ${build}/pubsub ${bus} 20000 || exit 1
    kill -TERM $daemon && wait $daemon
  ")
  run("run the consumer against the installed shmbusd" ${SH} -c "${script}")
  message(STATUS "${last_output}")
else()
  run("run the consumer" ${build}/pubsub ${bus} 20000)
  message(STATUS "${last_output}")
endif()
