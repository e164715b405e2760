# ctest's cpp_host test: installs the build in BUILD_DIR to a temporary
# prefix, configures and builds examples/cpp_host (SOURCE_DIR) against it as
# a project of its own, and runs it. With SANITIZE, the example is built
# with ASan+UBSan like the build it links.
#
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DBUILD_TYPE=...
#         -DSANITIZE=ON|OFF -DGENERATOR=... -P example_test.cmake
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "cpp_host: `${cmd}` failed (${rc})")
  endif()
endfunction()

step(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
set(flags "")
if(SANITIZE)
  set(flags -DCMAKE_CXX_FLAGS=-fsanitize=address,undefined\ -fno-omit-frame-pointer\ -fno-sanitize-recover=all
            -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined)
endif()
step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR} -DCMAKE_PREFIX_PATH=${prefix}
     -DCMAKE_BUILD_TYPE=${BUILD_TYPE} ${flags})
step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
# A sanitized run that silently lost its flags would pass as a plain one:
# the example must link the ASan runtime (GCC and Clang link it as a shared
# library by default).
find_program(LDD ldd)
if(SANITIZE AND LDD)
  execute_process(COMMAND ${LDD} ${WORK_DIR}/build/cpp_host OUTPUT_VARIABLE libs)
  if(NOT libs MATCHES "libasan|libclang_rt.asan")
    message(FATAL_ERROR "cpp_host: built with SANITIZE but does not link the ASan runtime:\n${libs}")
  endif()
  message(STATUS "cpp_host: built with ASan+UBSan")
endif()
step(${WORK_DIR}/build/cpp_host)
file(REMOVE_RECURSE ${WORK_DIR})
