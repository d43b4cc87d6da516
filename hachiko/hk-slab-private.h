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
  gboolean   keep_one;     /* empty, it keeps its first block (cleared) */
  gpointer   tag;          /* hk_slab_tag() of its objects */
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
/* Tags the objects of @slab, which has none yet, with @tag: what they
 * belong to, found from any of them without a field of its own. */
void      hk_slab_set_tag (HkSlab        *slab,
                           gpointer       tag);

/* Blocks of a few sizes for records that would otherwise be small malloc
 * blocks of varying size (directory tables): process-wide slabs of one
 * size class each, in 4-byte steps (objects aligned on 4 bytes), shared
 * by every thread under a lock. Sizes above the largest class, and every
 * size under AddressSanitizer (which checks the bounds of malloc blocks
 * only), have class 0: malloc. */
#define HK_SLAB_N_CLASSES 64      /* a class fits in 6 bits */

/* The class for @size bytes, 0 for malloc. */
guint     hk_slab_size_class   (gsize          size);
/* A zeroed object of class @size_class's size. */
gpointer  hk_slab_class_alloc  (guint          size_class);
void      hk_slab_class_free   (guint          size_class,
                                gpointer       object);

/* The id's block number and its slot in that block. */
#define HK_SLAB_BLOCK_SHIFT 18    /* 256 KiB blocks */
#define HK_SLAB_SLOT_BITS   15    /* objects of at least 8 bytes */
#define HK_SLAB_LEAF_BITS   10

typedef struct
{
  gsize    object_size;
  gpointer tag;
  guint32  number;
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

/* The block holding @object: its address with the low bits cleared. */
static inline const HkSlabBlockHeader *
hk_slab_block_of (gconstpointer object)
{
  return (const HkSlabBlockHeader *) ((guintptr) object &
                                      ~(guintptr) ((1u << HK_SLAB_BLOCK_SHIFT) - 1));
}

/* The tag of @object's slab (hk_slab_set_tag()). */
static inline gpointer
hk_slab_tag (gconstpointer object)
{
  return hk_slab_block_of (object)->tag;
}

G_END_DECLS
