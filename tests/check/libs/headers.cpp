/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The same header test, compiled as C++17. */
#include "headers.c"
