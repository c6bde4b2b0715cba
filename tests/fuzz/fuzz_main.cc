// libFuzzer entry point of one fuzz target: INGESTLAB_FUZZ_FUNCTION names its function in
// fuzz_targets.h (tests/fuzz/CMakeLists.txt builds one executable per target).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ingestlab::fuzz::INGESTLAB_FUZZ_FUNCTION(data, size);
}
