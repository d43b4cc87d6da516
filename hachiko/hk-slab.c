/* hk-slab.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "hk-slab-private.h"

/* Under AddressSanitizer or valgrind a freed object cannot be touched
 * until it is handed out again, all but the link of the free list in its
 * first bytes: a use after free is caught as with malloc. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION (p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION (p, n)
#elif defined(__has_include) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define POISON(p, n)   ((void) VALGRIND_MAKE_MEM_NOACCESS (p, n))
#define UNPOISON(p, n) ((void) VALGRIND_MAKE_MEM_UNDEFINED (p, n))
#else
#define POISON(p, n)   ((void) (p), (void) (n))
#define UNPOISON(p, n) ((void) (p), (void) (n))
#endif

/* A block is mapped on its own, aligned on its size, so that an object's
 * block is its address with the low bits cleared: the object needs no
 * record of its id. Pages of a block count only once touched. (GLib
 * 2.74's GSlice was measured too, and cost more than plain malloc.) */
#define BLOCK_SIZE ((gsize) 1 << HK_SLAB_BLOCK_SHIFT)
#define N_LEAVES   G_N_ELEMENTS (hk_slab_registry)
#define LEAF_SIZE  ((gsize) 1 << HK_SLAB_LEAF_BITS)

G_STATIC_ASSERT (sizeof (HkSlabBlockHeader) <= HK_SLAB_HEADER_SIZE);
G_STATIC_ASSERT (((BLOCK_SIZE - HK_SLAB_HEADER_SIZE) >> HK_SLAB_SLOT_BITS) < 8);

HkSlabBlockHeader **hk_slab_registry[1u << (32 - HK_SLAB_SLOT_BITS - HK_SLAB_LEAF_BITS)];

G_LOCK_DEFINE_STATIC (registry);
static GArray *free_numbers;    /* given back, for reuse */
static guint32 next_number = 1; /* 0 is never used: no id is 0 */

/* The size classes: class c holds objects of c * 4 bytes. */
G_LOCK_DEFINE_STATIC (classes);
static HkSlab class_slabs[HK_SLAB_N_CLASSES];

/* A fork() while another thread holds one of these locks would leave it
 * locked for good in the child, whose first new watchdog would hang: the
 * locks are taken around fork() and released on both sides. */
static void
registry_lock (void)
{
  G_LOCK (classes);
  G_LOCK (registry);
}

static void
registry_unlock (void)
{
  G_UNLOCK (registry);
  G_UNLOCK (classes);
}

static void
registry_init_once (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      pthread_atfork (registry_lock, registry_unlock, registry_unlock);
      g_once_init_leave (&initialized, 1);
    }
}

static guint32
registry_add (HkSlabBlockHeader *block)
{
  guint32 number;

  registry_init_once ();
  G_LOCK (registry);
  if (free_numbers != NULL && free_numbers->len > 0)
    {
      number = g_array_index (free_numbers, guint32, free_numbers->len - 1);
      g_array_set_size (free_numbers, free_numbers->len - 1);
    }
  else if (next_number < N_LEAVES * LEAF_SIZE)
    number = next_number++;
  else
    g_error ("hachiko: out of slab blocks");
  if (hk_slab_registry[number / LEAF_SIZE] == NULL)
    hk_slab_registry[number / LEAF_SIZE] = g_new0 (HkSlabBlockHeader *, LEAF_SIZE);
  hk_slab_registry[number / LEAF_SIZE][number % LEAF_SIZE] = block;
  G_UNLOCK (registry);

  return number;
}

static void
registry_remove (guint32 number)
{
  G_LOCK (registry);
  hk_slab_registry[number / LEAF_SIZE][number % LEAF_SIZE] = NULL;
  if (free_numbers == NULL)
    free_numbers = g_array_new (FALSE, FALSE, sizeof (guint32));
  g_array_append_val (free_numbers, number);
  G_UNLOCK (registry);
}

static HkSlabBlockHeader *
block_new (HkSlab *slab)
{
  /* Twice the size, then the unaligned ends unmapped. */
  char *mapped = mmap (NULL, 2 * BLOCK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *start;
  HkSlabBlockHeader *block;

  if (mapped == MAP_FAILED)
    g_error ("hachiko: cannot map %" G_GSIZE_FORMAT " bytes: %s",
             2 * BLOCK_SIZE, g_strerror (errno));
  start = (char *) (((guintptr) mapped + BLOCK_SIZE - 1) & ~(guintptr) (BLOCK_SIZE - 1));
  if (start > mapped)
    munmap (mapped, start - mapped);
  munmap (start + BLOCK_SIZE, mapped + BLOCK_SIZE - start);

  block = (HkSlabBlockHeader *) start;
  block->object_size = slab->object_size;
  block->tag = slab->tag;
  block->number = registry_add (block);
  return block;
}

static void
block_free (gpointer data)
{
  HkSlabBlockHeader *block = data;

  registry_remove (block->number);
  UNPOISON (block, BLOCK_SIZE);
  munmap (block, BLOCK_SIZE);
}

void
hk_slab_init (HkSlab *slab,
              gsize   object_size)
{
  memset (slab, 0, sizeof *slab);
  /* Objects are aligned as their size allows, on 4 bytes at least: a
   * size that is a multiple of 8 keeps them on 8. */
  slab->object_size = MAX ((object_size + 3) & ~(gsize) 3, sizeof (gpointer));
  slab->per_block = (BLOCK_SIZE - HK_SLAB_HEADER_SIZE) / slab->object_size;
  slab->blocks = g_ptr_array_new_with_free_func (block_free);
}

void
hk_slab_set_tag (HkSlab   *slab,
                 gpointer  tag)
{
  g_return_if_fail (slab->blocks->len == 0);
  slab->tag = tag;
}

static void
give_back (HkSlab *slab)
{
  if (slab->keep_one && slab->blocks->len > 0)
    {
      /* A table that comes and goes with a single entry must not map and
       * unmap a block each time; the pages it used beyond the first go
       * back to the kernel all the same. */
      char *block = g_ptr_array_index (slab->blocks, 0);
      gsize used = slab->blocks->len > 1 ? BLOCK_SIZE :
        HK_SLAB_HEADER_SIZE + (gsize) (slab->per_block - slab->fresh) * slab->object_size;
      gsize page = 4096;

      g_ptr_array_set_size (slab->blocks, 1);
      if (used > page)
        {
          UNPOISON (block + page, BLOCK_SIZE - page);
          madvise (block + page, BLOCK_SIZE - page, MADV_DONTNEED);
        }
      slab->fresh = slab->per_block;
      slab->free_list = NULL;
      POISON (block + HK_SLAB_HEADER_SIZE, BLOCK_SIZE - HK_SLAB_HEADER_SIZE);
      return;
    }
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
      memcpy (&slab->free_list, object, sizeof (gpointer));
    }
  else
    {
      if (slab->fresh == 0)
        {
          g_ptr_array_add (slab->blocks, block_new (slab));
          slab->fresh = slab->per_block;
        }
      object = (char *) g_ptr_array_index (slab->blocks, slab->blocks->len - 1) +
               HK_SLAB_HEADER_SIZE + (gsize) (slab->per_block - slab->fresh--) * slab->object_size;
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
  memcpy (object, &slab->free_list, sizeof (gpointer));  /* maybe on 4 bytes */
  slab->free_list = object;
  POISON ((char *) object + sizeof (gpointer), slab->object_size - sizeof (gpointer));
  if (--slab->n_objects == 0)
    give_back (slab);
}

guint32
hk_slab_id (gconstpointer object)
{
  const HkSlabBlockHeader *block = hk_slab_block_of (object);
  gsize slot = ((const char *) object - (const char *) block - HK_SLAB_HEADER_SIZE) / block->object_size;

  return (block->number << HK_SLAB_SLOT_BITS) | (guint32) slot;
}

guint
hk_slab_size_class (gsize size)
{
#if defined(__SANITIZE_ADDRESS__)
  return 0;
#else
  guint size_class = (guint) ((size + 3) / 4);

  return size_class < HK_SLAB_N_CLASSES ? MAX (size_class, sizeof (gpointer) / 4) : 0;
#endif
}

gpointer
hk_slab_class_alloc (guint size_class)
{
  gpointer object;

  g_assert (size_class > 0 && size_class < HK_SLAB_N_CLASSES);
  registry_init_once ();
  G_LOCK (classes);
  if (class_slabs[size_class].blocks == NULL)
    {
      hk_slab_init (&class_slabs[size_class], size_class * 4);
      class_slabs[size_class].keep_one = TRUE;
    }
  object = hk_slab_alloc0 (&class_slabs[size_class]);
  G_UNLOCK (classes);
  return object;
}

void
hk_slab_class_free (guint    size_class,
                    gpointer object)
{
  g_assert (size_class > 0 && size_class < HK_SLAB_N_CLASSES);
  G_LOCK (classes);
  hk_slab_free (&class_slabs[size_class], object);
  G_UNLOCK (classes);
}
