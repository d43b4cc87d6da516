/* hk-slab-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Objects of one size carved from large blocks: no per-object header or
 * rounding, where malloc adds 8 to 24 bytes to each small block (see
 * docs/performance-findings.md, memory per directory). Freed objects are
 * reused; the blocks are given back when the last object is freed. One
 * thread at a time. */
typedef struct
{
  gsize      object_size;
  guint      per_block;
  GPtrArray *blocks;
  guint      fresh;        /* objects of the last block never handed out */
  gpointer   free_list;    /* freed objects, each holding the next */
  gsize      n_objects;    /* handed out and not freed */
} HkSlab;

void      hk_slab_init    (HkSlab   *slab,
                           gsize     object_size);
/* Every object must have been freed. */
void      hk_slab_clear   (HkSlab   *slab);
/* A zeroed object. */
gpointer  hk_slab_alloc0  (HkSlab   *slab);
void      hk_slab_free    (HkSlab   *slab,
                           gpointer  object);

G_END_DECLS
