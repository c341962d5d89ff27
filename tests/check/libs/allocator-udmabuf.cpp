/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The allocator device suite (allocator-device.cpp) on the udmabuf backend.
 * Exits 77 (skip) with the reason when the device is absent. */
#include <gst/dmakit/dmakit.h>

extern "C" const int dmakit_test_backend;
extern "C" const int dmakit_test_backend = GST_DMAKIT_BACKEND_UDMABUF;
