/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Timing helpers shared by the allocator benchmarks (bench-allocator,
 * bench-drm-dumb): a monotonic clock in ns, the median of a set of runs, and
 * a time printed with its unit. */
#pragma once

#include <glib.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace dmakit::bench {

inline double
now_ns ()
{
  return double (std::chrono::duration_cast<std::chrono::nanoseconds> (
                     std::chrono::steady_clock::now ().time_since_epoch ())
                     .count ());
}

inline double
median (std::vector<double> v)
{
  std::sort (v.begin (), v.end ());
  return v.empty () ? 0.0 : v[v.size () / 2];
}

inline std::string
fmt_time (double ns)
{
  char buf[64];
  if (ns < 1000.0)
    g_snprintf (buf, sizeof (buf), "%8.1f ns", ns);
  else if (ns < 1e6)
    g_snprintf (buf, sizeof (buf), "%8.2f us", ns / 1e3);
  else
    g_snprintf (buf, sizeof (buf), "%8.2f ms", ns / 1e6);
  return buf;
}

} // namespace dmakit::bench
