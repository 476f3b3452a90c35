# cmake -DFUZZER=<exe> -DSEEDS=<dir> -DARTIFACTS=<dir/> -DMAX_TIME=<s> -DRUNS=<n> -P run_fuzzer.cmake
# Runs a libFuzzer binary for a bounded time over a throw-away copy of the seeds.
if(DEFINED ENV{TMPDIR} AND IS_DIRECTORY "$ENV{TMPDIR}")
  set(tmp_root "$ENV{TMPDIR}")
else()
  set(tmp_root "/tmp")
endif()
string(RANDOM LENGTH 12 suffix)
get_filename_component(name "${FUZZER}" NAME)
set(work "${tmp_root}/${name}-${suffix}")
file(MAKE_DIRECTORY "${work}/corpus" "${ARTIFACTS}")
file(GLOB seeds "${SEEDS}/*")
file(COPY ${seeds} DESTINATION "${work}/corpus")

execute_process(
  COMMAND "${FUZZER}" "-max_total_time=${MAX_TIME}" "-runs=${RUNS}" "-timeout=10"
          "-rss_limit_mb=2048" "-print_final_stats=1" "-artifact_prefix=${ARTIFACTS}"
          "${work}/corpus"
  RESULT_VARIABLE rc)
file(REMOVE_RECURSE "${work}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${name} failed (exit ${rc}); reproducers are in ${ARTIFACTS}")
endif()
