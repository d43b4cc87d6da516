/* hk-slab-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Objects of one size carved from large aligned blocks: no per-object
 * header or rounding, where malloc adds 8 to 24 bytes to each small block
 * (see docs/performance-findings.md, memory per directory), and a 32-bit
 * id per object, valid in the whole process, for records that refer to
 * one in 4 bytes instead of 8. Freed objects are reused; the blocks are
 * given back when the last object is freed. One thread at a time per
 * slab; ids may be looked up on any thread that may touch the object. */
typedef struct
{
  gsize      object_size;
  guint      per_block;
  GPtrArray *blocks;
  guint      fresh;        /* objects of the last block never handed out */
  gpointer   free_list;    /* freed objects, each holding the next */
  gsize      n_objects;    /* handed out and not freed */
} HkSlab;

void      hk_slab_init    (HkSlab        *slab,
                           gsize          object_size);
/* Every object must have been freed. */
void      hk_slab_clear   (HkSlab        *slab);
/* A zeroed object. */
gpointer  hk_slab_alloc0  (HkSlab        *slab);
void      hk_slab_free    (HkSlab        *slab,
                           gpointer       object);
/* Never 0. */
guint32   hk_slab_id      (gconstpointer  object);

/* The id's block number and its slot in that block. */
#define HK_SLAB_BLOCK_SHIFT 18    /* 256 KiB blocks */
#define HK_SLAB_SLOT_BITS   15    /* objects of at least 8 bytes */
#define HK_SLAB_LEAF_BITS   10

typedef struct
{
  gsize   object_size;
  guint32 number;
} HkSlabBlockHeader;

#define HK_SLAB_HEADER_SIZE 64

/* Blocks by number, in two levels so that a lookup takes no lock: an
 * entry is written before any id of its block is handed out. */
extern HkSlabBlockHeader **hk_slab_registry[1u << (32 - HK_SLAB_SLOT_BITS - HK_SLAB_LEAF_BITS)];

static inline gpointer
hk_slab_lookup (guint32 id)
{
  guint32 number = id >> HK_SLAB_SLOT_BITS;
  HkSlabBlockHeader *block =
    hk_slab_registry[number >> HK_SLAB_LEAF_BITS][number & ((1u << HK_SLAB_LEAF_BITS) - 1)];

  return (char *) block + HK_SLAB_HEADER_SIZE +
         (gsize) (id & ((1u << HK_SLAB_SLOT_BITS) - 1)) * block->object_size;
}

G_END_DECLS
