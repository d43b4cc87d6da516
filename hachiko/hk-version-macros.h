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

#define HK_VERSION_1_0 (G_ENCODE_VERSION (1, 0))

#ifndef HK_VERSION_MIN_REQUIRED
# define HK_VERSION_MIN_REQUIRED HK_VERSION_1_0
#endif

#ifndef HK_VERSION_MAX_ALLOWED
# define HK_VERSION_MAX_ALLOWED HK_VERSION_1_0
#endif

#define HK_AVAILABLE_IN_ALL _HK_EXTERN
#define HK_AVAILABLE_IN_1_0 _HK_EXTERN
