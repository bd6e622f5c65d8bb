# flexllm-hlscheck, the checker of the synthesizable C subset: one test per
# rule on a sample with annotated violations, a sample of legal constructs
# that must pass, usage errors, and the kernels of src/kernels.
if(NOT TARGET flexllm-hlscheck)
  message(STATUS "hlscheck tests skipped: add_subdirectory(tools) must come before add_subdirectory(tests)")
  return()
endif()

set(HLSCHECK_SAMPLES ${CMAKE_CURRENT_LIST_DIR}/hlscheck)
get_filename_component(HLSCHECK_ROOT ${CMAKE_CURRENT_LIST_DIR} DIRECTORY)

# hlscheck_sample_test(NAME FILE...): checks the files together and compares
# the violations with their "expect: RULE" annotations.
function(hlscheck_sample_test name)
  set(files "")
  foreach(f ${ARGN})
    list(APPEND files ${HLSCHECK_SAMPLES}/${f})
  endforeach()
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:flexllm-hlscheck> "-DFILES=${files}"
                   -P ${HLSCHECK_SAMPLES}/run_hlscheck.cmake)
endfunction()

# hlscheck_cli_test(NAME EXPECTED_EXIT PATTERN ARGS...): exit status and output.
function(hlscheck_cli_test name expected_exit pattern)
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -DEXE=$<TARGET_FILE:flexllm-hlscheck> -DEXPECTED_EXIT=${expected_exit}
                   -DPATTERN=${pattern} "-DARGS=${ARGN}" -P ${CMAKE_CURRENT_LIST_DIR}/run_cli.cmake)
endfunction()

hlscheck_sample_test(hlscheck_good good.c good_limits.h)
hlscheck_sample_test(hlscheck_dynamic_memory bad_dynamic_memory.c)
hlscheck_sample_test(hlscheck_recursion bad_recursion.c)
hlscheck_sample_test(hlscheck_recursion_across_files bad_recursion_a.c bad_recursion_b.c)
hlscheck_sample_test(hlscheck_function_pointer bad_function_pointer.c)
hlscheck_sample_test(hlscheck_vla bad_vla.c)
hlscheck_sample_test(hlscheck_unbounded_loop bad_unbounded_loop.c)
hlscheck_sample_test(hlscheck_include bad_include.c)
hlscheck_sample_test(hlscheck_library_call bad_library_call.c)
hlscheck_sample_test(hlscheck_goto bad_goto.c)
hlscheck_sample_test(hlscheck_asm bad_asm.c)
hlscheck_sample_test(hlscheck_missing_pragma bad_missing_pragma.c)

# A header outside the checked set: good.c alone cannot resolve its include.
hlscheck_cli_test(hlscheck_include_not_given 1
  "good\\.c:7: include: \"hlscheck/good_limits\\.h\" is not among the checked files"
  ${HLSCHECK_SAMPLES}/good.c)
hlscheck_cli_test(hlscheck_clean_summary 0 "hlscheck: 2 files, 5 functions, 0 violations"
  ${HLSCHECK_SAMPLES}/good.c ${HLSCHECK_SAMPLES}/good_limits.h)
hlscheck_cli_test(hlscheck_no_files 2 "no input files" )
hlscheck_cli_test(hlscheck_unknown_option 2 "unknown option '--fast'" --fast ${HLSCHECK_SAMPLES}/good.c)
hlscheck_cli_test(hlscheck_help 0 "usage: flexllm-hlscheck" --help)
hlscheck_cli_test(hlscheck_missing_file 2 "cannot read '[^']*no_such_kernel\\.c'"
  ${HLSCHECK_SAMPLES}/good.c ${HLSCHECK_SAMPLES}/no_such_kernel.c)
hlscheck_cli_test(hlscheck_unterminated_comment 2 "unterminated\\.c: line 3: unterminated /\\* comment"
  ${HLSCHECK_SAMPLES}/unterminated.c)

# The real kernels, without their scalar references, must be clean.
if(EXISTS ${HLSCHECK_ROOT}/src/kernels)
  file(GLOB HLSCHECK_KERNELS CONFIGURE_DEPENDS ${HLSCHECK_ROOT}/src/kernels/*.c ${HLSCHECK_ROOT}/src/kernels/*.h)
  list(FILTER HLSCHECK_KERNELS EXCLUDE REGEX "_ref\\.c$")
  hlscheck_cli_test(hlscheck_kernels 0 " 0 violations" ${HLSCHECK_KERNELS})
endif()
