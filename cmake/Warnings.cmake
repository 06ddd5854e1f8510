# Applies the project's warning set to one target; CI builds with SHMBUS_WERROR=ON.
function(shmbus_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion)
  if(SHMBUS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
