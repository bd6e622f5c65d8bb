# Runs EXE with ARGS (stdin from the STDIN text when given, else empty) (a ;-list, "@DATA@" replaced by the data folder and
# "@TMP@" by a scratch folder) and checks the exit status and output.
set(data "$ENV{FLEXLLM_DATA}")
string(REPLACE "@DATA@" "${data}" args "${ARGS}")
string(REPLACE "@TMP@" "${CMAKE_CURRENT_BINARY_DIR}" args "${args}")
set(input_file /dev/null)
if(DEFINED STDIN)
  string(MD5 input_hash "${ARGS}${STDIN}")
  set(input_file "${CMAKE_CURRENT_BINARY_DIR}/stdin-${input_hash}.txt")
  file(WRITE "${input_file}" "${STDIN}")
endif()
execute_process(COMMAND ${EXE} ${args} INPUT_FILE "${input_file}"
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT "${status}" STREQUAL "${EXPECTED_EXIT}")
  message(FATAL_ERROR "expected exit status ${EXPECTED_EXIT}, got ${status}\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT "${out}${err}" MATCHES "${PATTERN}")
  message(FATAL_ERROR "output does not match '${PATTERN}'\nstdout:\n${out}\nstderr:\n${err}")
endif()
