/* hk-slab.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "hk-slab-private.h"

/* Under AddressSanitizer a freed object stays poisoned until it is handed
 * out again, all but the link of the free list in its first bytes. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION (p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION (p, n)
#else
#define POISON(p, n)   ((void) (p), (void) (n))
#define UNPOISON(p, n) ((void) (p), (void) (n))
#endif

/* GLib 2.74's GSlice was measured too, and cost more per directory node
 * than plain malloc; this costs nothing per object. A block stays below
 * malloc's mmap threshold. */
#define BLOCK_SIZE ((gsize) 16384 - 16)

void
hk_slab_init (HkSlab *slab,
              gsize   object_size)
{
  memset (slab, 0, sizeof *slab);
  slab->object_size = MAX ((object_size + 7) & ~(gsize) 7, sizeof (gpointer));
  slab->per_block = BLOCK_SIZE / slab->object_size;
  g_assert (slab->per_block > 0);
  slab->blocks = g_ptr_array_new_with_free_func (g_free);
}

static void
give_back (HkSlab *slab)
{
  for (guint i = 0; i < slab->blocks->len; i++)
    UNPOISON (g_ptr_array_index (slab->blocks, i), slab->per_block * slab->object_size);
  g_ptr_array_set_size (slab->blocks, 0);
  slab->fresh = 0;
  slab->free_list = NULL;
}

void
hk_slab_clear (HkSlab *slab)
{
  if (slab->blocks == NULL)
    return;
  g_warn_if_fail (slab->n_objects == 0);
  give_back (slab);
  g_clear_pointer (&slab->blocks, g_ptr_array_unref);
}

gpointer
hk_slab_alloc0 (HkSlab *slab)
{
  gpointer object;

  if (slab->free_list != NULL)
    {
      object = slab->free_list;
      slab->free_list = *(gpointer *) object;
    }
  else
    {
      if (slab->fresh == 0)
        {
          g_ptr_array_add (slab->blocks, g_malloc (slab->per_block * slab->object_size));
          slab->fresh = slab->per_block;
        }
      object = (char *) g_ptr_array_index (slab->blocks, slab->blocks->len - 1) +
               (gsize) (slab->per_block - slab->fresh--) * slab->object_size;
    }

  slab->n_objects++;
  UNPOISON (object, slab->object_size);
  return memset (object, 0, slab->object_size);
}

void
hk_slab_free (HkSlab   *slab,
              gpointer  object)
{
  if (object == NULL)
    return;

  g_assert (slab->n_objects > 0);
  *(gpointer *) object = slab->free_list;
  slab->free_list = object;
  POISON ((char *) object + sizeof (gpointer), slab->object_size - sizeof (gpointer));
  if (--slab->n_objects == 0)
    give_back (slab);
}
