/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Configure-time probe: does this clang++ link -fsanitize=fuzzer,address,undefined? */
#include <cstddef>
#include <cstdint>
extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return data && size > 1000000 ? 1 : 0;
}
