# Runs EXE with ARGS (a ;-list, "@DATA@" replaced by the data folder and
# "@TMP@" by a scratch folder) and checks the exit status and output.
set(data "$ENV{FLEXLLM_DATA}")
string(REPLACE "@DATA@" "${data}" args "${ARGS}")
string(REPLACE "@TMP@" "${CMAKE_CURRENT_BINARY_DIR}" args "${args}")
execute_process(COMMAND ${EXE} ${args}
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT "${status}" STREQUAL "${EXPECTED_EXIT}")
  message(FATAL_ERROR "expected exit status ${EXPECTED_EXIT}, got ${status}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT "${out}${err}" MATCHES "${PATTERN}")
  message(FATAL_ERROR "output does not match '${PATTERN}'\nstdout:\n${out}\nstderr:\n${err}")
endif()
