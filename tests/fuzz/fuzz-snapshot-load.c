/* fuzz-snapshot-load.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* libFuzzer target for the snapshot file parser. The input's header gets a
 * correct length and checksum first: otherwise nearly every mutation would
 * stop at the checksum, and the parser behind it is what must hold against
 * a hostile file. Whatever parses must then survive everything else the
 * API does with it. */

#include <string.h>

#include "hk-snapshot-private.h"

#define HEADER_SIZE 24

static guint32
crc32_ieee (const guint8 *data,
            gsize         len)
{
  guint32 crc = 0xffffffffu;

  for (gsize i = 0; i < len; i++)
    {
      crc ^= data[i];
      for (int k = 0; k < 8; k++)
        crc = (crc & 1) ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
    }
  return crc ^ 0xffffffffu;
}

static void
exercise (HkSnapshot *snapshot)
{
  g_autoptr(GBytes) again = hk_snapshot_serialize (snapshot);
  g_autoptr(GError) error = NULL;
  g_autoptr(HkSnapshot) reloaded = hk_snapshot_new_from_bytes (again, "fuzz", &error);
  g_autoptr(GPtrArray) events = NULL;
  GFileType type;
  guint64 size, inode;
  gint64 mtime;

  g_assert_no_error (error);
  g_assert_true (hk_snapshot_equal (snapshot, reloaded));

  events = hk_snapshot_diff (snapshot, reloaded);
  g_assert_cmpuint (events->len, ==, 0);
  g_clear_pointer (&events, g_ptr_array_unref);

  /* Different snapshots of "the same" tree: whatever comes out must be
   * well-formed. */
  events = hk_snapshot_diff_full (snapshot, hk_snapshot_get_n_entries (snapshot) > 0 ? reloaded : snapshot,
                                  TRUE, 0);
  g_clear_pointer (&events, g_ptr_array_unref);

  hk_snapshot_lookup (snapshot, "", &type, &size, &mtime, &inode);
  hk_snapshot_lookup (snapshot, "a/b/c", &type, &size, &mtime, &inode);
  hk_snapshot_lookup (snapshot, hk_snapshot_get_root_path (snapshot), NULL, NULL, NULL, NULL);
}

static void
exercise_against_empty (HkSnapshot *snapshot)
{
  g_autoptr(HkSnapshotBuilder) builder = hk_snapshot_builder_new (hk_snapshot_get_root_path (snapshot), 0);
  g_autoptr(HkSnapshot) empty = hk_snapshot_builder_end (g_steal_pointer (&builder));
  g_autoptr(GPtrArray) created = hk_snapshot_diff (empty, snapshot);
  g_autoptr(GPtrArray) deleted = hk_snapshot_diff (snapshot, empty);

  for (guint i = 0; i < created->len; i++)
    g_assert_nonnull (hk_event_get_path (g_ptr_array_index (created, i)));
  g_assert_cmpuint (created->len, ==, deleted->len);
}

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autofree guint8 *copy = g_memdup2 (data, size);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(HkSnapshot) snapshot = NULL;

  if (size >= HEADER_SIZE)
    {
      guint64 payload = size - HEADER_SIZE;
      guint32 crc = crc32_ieee (copy + HEADER_SIZE, payload);

      for (int i = 0; i < 4; i++)
        copy[12 + i] = (guint8) (crc >> (8 * i));
      for (int i = 0; i < 8; i++)
        copy[16 + i] = (guint8) (payload >> (8 * i));
    }

  bytes = g_bytes_new_take (g_steal_pointer (&copy), size);
  snapshot = hk_snapshot_new_from_bytes (bytes, "fuzz", &error);
  g_assert_true ((snapshot == NULL) != (error == NULL));
  if (error != NULL)
    g_assert_true (g_utf8_validate (error->message, -1, NULL));
  if (snapshot != NULL)
    {
      exercise (snapshot);
      exercise_against_empty (snapshot);
    }

  return 0;
}
