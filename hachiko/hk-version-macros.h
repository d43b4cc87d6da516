/* hk-version-macros.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(HACHIKO_INSIDE) && !defined(HACHIKO_COMPILATION)
# error "Only <hachiko.h> can be included directly."
#endif

#include <glib.h>

#include "hk-version.h"

#ifndef _HK_EXTERN
# define _HK_EXTERN __attribute__((visibility("default"))) extern
#endif

/**
 * HK_VERSION_1_0:
 *
 * The version of hachiko 1.0, encoded for comparison with
 * `HK_VERSION_MIN_REQUIRED` and `HK_VERSION_MAX_ALLOWED`.
 *
 * Since: 1.0
 */
#define HK_VERSION_1_0 (G_ENCODE_VERSION (1, 0))

/**
 * HK_VERSION_MIN_REQUIRED:
 *
 * The oldest hachiko version whose API the including code may use; define
 * it before including `hachiko.h` to change it. Defaults to
 * `HK_VERSION_1_0`.
 *
 * Since: 1.0
 */
#ifndef HK_VERSION_MIN_REQUIRED
# define HK_VERSION_MIN_REQUIRED HK_VERSION_1_0
#endif

/**
 * HK_VERSION_MAX_ALLOWED:
 *
 * The newest hachiko version whose API the including code may use; define
 * it before including `hachiko.h` to change it. Defaults to
 * `HK_VERSION_1_0`.
 *
 * Since: 1.0
 */
#ifndef HK_VERSION_MAX_ALLOWED
# define HK_VERSION_MAX_ALLOWED HK_VERSION_1_0
#endif

/**
 * HK_AVAILABLE_IN_ALL:
 *
 * Marks a symbol as exported from the library in every version.
 *
 * Since: 1.0
 */
#define HK_AVAILABLE_IN_ALL _HK_EXTERN

/**
 * HK_AVAILABLE_IN_1_0:
 *
 * Marks a symbol as available since hachiko 1.0, and exports it.
 *
 * Since: 1.0
 */
#define HK_AVAILABLE_IN_1_0 _HK_EXTERN
