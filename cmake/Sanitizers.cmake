# Global sanitizer flags, so that every target of one build (library, daemon, tools, tests) agrees.
if(SHMBUS_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(SHMBUS_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT SHMBUS_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SHMBUS_SANITIZE must be '', 'address' or 'thread', not '${SHMBUS_SANITIZE}'")
endif()
