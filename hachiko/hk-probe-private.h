/* hk-probe-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Open addressing with linear probing over 32-bit values, 0 marking an
 * empty slot: the small tables kept where a GHashTable would cost more
 * per entry (a directory's index of names, the hub's watch-list heads). */

/* The slot a value would be in with no collision. */
typedef guint32 (*HkProbeHome) (guint32       value,
                                gconstpointer user_data);

/* Empties @slot, moving back the values after it that may not stay
 * behind a hole (linear probing has no tombstones). */
static inline void
hk_probe_delete (guint32       *slots,
                 guint32        mask,
                 guint32        slot,
                 HkProbeHome    home,
                 gconstpointer  user_data)
{
  guint32 j = slot;

  for (;;)
    {
      guint32 k;

      j = (j + 1) & mask;
      if (slots[j] == 0)
        break;
      k = home (slots[j], user_data) & mask;
      /* The value at j stays unless its home k lies cyclically outside
       * (slot, j]. */
      if (slot <= j ? (slot < k && k <= j) : (slot < k || k <= j))
        continue;
      slots[slot] = slots[j];
      slot = j;
    }
  slots[slot] = 0;
}

G_END_DECLS
