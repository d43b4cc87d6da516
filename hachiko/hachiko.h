/* hachiko.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define HACHIKO_INSIDE
# include "hk-version.h"
# include "hk-version-macros.h"
# include "hk-enums.h"
# include "hk-backend-kind.h"
# include "hk-event.h"
# include "hk-filter.h"
# include "hk-event-handler.h"
# include "hk-snapshot.h"
# include "hk-watchdog.h"
# include "hk-loop-bridge.h"
#undef HACHIKO_INSIDE

G_END_DECLS
