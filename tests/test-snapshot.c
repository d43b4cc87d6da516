/* test-snapshot.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include "hk-snapshot-private.h"
#include "hk-test-util.h"

typedef struct
{
  char *root;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->root = hk_test_make_tmpdir ();
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  /* Deep trees are longer than PATH_MAX: rm copes, nftw() does not. */
  const char *argv[] = { "rm", "-rf", f->root, NULL };

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  g_free (f->root);
}

static void
remove_entry (Fixture    *f,
              const char *relative)
{
  g_autofree char *path = hk_test_path (f->root, relative);

  g_assert_cmpint (remove (path), ==, 0);
}

static HkSnapshot *
take (Fixture  *f,
      HkFilter *filter)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(GError) error = NULL;
  HkSnapshot *snapshot = hk_snapshot_take (root, filter, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (snapshot);
  return snapshot;
}

/* The events as "type relative-path[/] [-> dest]" lines. */
static char *
describe (Fixture   *f,
          GPtrArray *events)
{
  GString *out = g_string_new (NULL);
  gsize root_len = strlen (f->root) + 1;

  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);
      g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);
      const char *dest = hk_event_get_dest_path (event);
      const char *slash = hk_event_get_is_directory (event) ? "/" : "";

      g_assert_true (hk_event_get_is_synthetic (event));
      g_assert_true (g_str_has_prefix (hk_event_get_path (event), f->root));
      g_string_append_printf (out, "%s %s%s",
                              g_enum_get_value (klass, hk_event_get_event_type (event))->value_nick,
                              hk_event_get_path (event) + root_len, slash);
      if (dest != NULL)
        g_string_append_printf (out, " -> %s%s", dest + root_len, slash);
      g_string_append_c (out, '\n');
    }

  return g_string_free (out, FALSE);
}

static char *
diff_of (Fixture    *f,
         HkSnapshot *before)
{
  g_autoptr(HkSnapshot) after = take (f, NULL);
  g_autoptr(GPtrArray) events = hk_snapshot_diff (before, after);

  return describe (f, events);
}

/* --- round trip ------------------------------------------------------- */

static void
make_sample_tree (Fixture *f)
{
  g_autofree char *link = hk_test_path (f->root, "src/link");
  g_autofree char *fifo = hk_test_path (f->root, "fifo");

  hk_test_mkdir (f->root, "src/lib/deep");
  hk_test_mkdir (f->root, "empty");
  hk_test_write (f->root, "README", "hello\n");
  hk_test_write (f->root, "src/main.c", "int main;\n");
  hk_test_write (f->root, "src/lib/a.c", "a");
  hk_test_write (f->root, "src/lib/b.c", "bb");
  hk_test_write (f->root, "src/lib/deep/x", "xxx");
  hk_test_write (f->root, "caf\xc3\xa9", "utf-8");
  hk_test_write (f->root, "bad\xff\xfe", "not utf-8");
  hk_test_write (f->root, "new\nline", "hostile");
  g_assert_cmpint (symlink ("main.c", link), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
}

static void
test_round_trip_is_equal (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(HkSnapshot) taken = NULL;
  g_autoptr(HkSnapshot) loaded = NULL;
  g_autofree char *file_path = g_strconcat (f->root, ".snapshot", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (file_path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) events = NULL;

  make_sample_tree (f);
  taken = take (f, NULL);
  g_assert_cmpuint (hk_snapshot_get_n_entries (taken), ==, 14);

  g_assert_true (hk_snapshot_save (taken, file, NULL, &error));
  g_assert_no_error (error);
  loaded = hk_snapshot_load (file, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (loaded);

  g_assert_true (hk_snapshot_equal (taken, loaded));
  g_assert_cmpstr (hk_snapshot_get_root_path (loaded), ==, f->root);
  g_assert_cmpint (hk_snapshot_get_taken_at (loaded), ==, hk_snapshot_get_taken_at (taken));
  g_assert_cmpuint (hk_snapshot_get_n_entries (loaded), ==, 14);
  events = hk_snapshot_diff (taken, loaded);
  g_assert_cmpuint (events->len, ==, 0);

  /* Saving again replaces the file. */
  g_assert_true (hk_snapshot_save (loaded, file, NULL, &error));
  g_assert_no_error (error);
  unlink (file_path);
}

static void
test_lookup_reports_kind_size_mtime_inode (Fixture       *f,
                                           gconstpointer  data)
{
  g_autoptr(HkSnapshot) snapshot = NULL;
  g_autofree char *main_path = hk_test_path (f->root, "src/main.c");
  g_autofree char *abs_path = hk_test_path (f->root, "src/lib/b.c");
  struct stat st;
  GFileType type;
  guint64 size, inode;
  gint64 mtime;

  make_sample_tree (f);
  snapshot = take (f, NULL);
  g_assert_cmpint (stat (main_path, &st), ==, 0);

  g_assert_true (hk_snapshot_lookup (snapshot, "src/main.c", &type, &size, &mtime, &inode));
  g_assert_cmpint (type, ==, G_FILE_TYPE_REGULAR);
  g_assert_cmpuint (size, ==, 10);
  g_assert_cmpuint (inode, ==, st.st_ino);
  g_assert_cmpint (mtime, ==, (gint64) st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000);

  g_assert_true (hk_snapshot_lookup (snapshot, "src/lib", &type, &size, NULL, NULL));
  g_assert_cmpint (type, ==, G_FILE_TYPE_DIRECTORY);
  g_assert_cmpuint (size, ==, 0);
  g_assert_true (hk_snapshot_lookup (snapshot, "src/link", &type, NULL, NULL, NULL));
  g_assert_cmpint (type, ==, G_FILE_TYPE_SYMBOLIC_LINK);
  g_assert_true (hk_snapshot_lookup (snapshot, "fifo", &type, NULL, NULL, NULL));
  g_assert_cmpint (type, ==, G_FILE_TYPE_SPECIAL);
  g_assert_true (hk_snapshot_lookup (snapshot, abs_path, &type, &size, NULL, NULL));
  g_assert_cmpuint (size, ==, 2);
  g_assert_true (hk_snapshot_lookup (snapshot, "", &type, NULL, NULL, NULL));
  g_assert_cmpint (type, ==, G_FILE_TYPE_DIRECTORY);
  g_assert_true (hk_snapshot_lookup (snapshot, "./src//lib/", NULL, NULL, NULL, NULL));
  g_assert_true (hk_snapshot_lookup (snapshot, "bad\xff\xfe", NULL, NULL, NULL, NULL));
  g_assert_true (hk_snapshot_lookup (snapshot, "new\nline", NULL, NULL, NULL, NULL));

  g_assert_false (hk_snapshot_lookup (snapshot, "src/missing", NULL, NULL, NULL, NULL));
  g_assert_false (hk_snapshot_lookup (snapshot, "src/main.c/x", NULL, NULL, NULL, NULL));
  g_assert_false (hk_snapshot_lookup (snapshot, "src/lib/a", NULL, NULL, NULL, NULL));
  g_assert_false (hk_snapshot_lookup (snapshot, "/elsewhere/src", NULL, NULL, NULL, NULL));
  g_assert_false (hk_snapshot_lookup (snapshot, "../x", NULL, NULL, NULL, NULL));
}

static void
test_symlinks_are_not_followed (Fixture       *f,
                                gconstpointer  data)
{
  g_autoptr(HkSnapshot) snapshot = NULL;
  g_autofree char *link = hk_test_path (f->root, "loop");

  hk_test_mkdir (f->root, "d");
  hk_test_write (f->root, "d/f", "x");
  g_assert_cmpint (symlink (".", link), ==, 0);
  snapshot = take (f, NULL);
  g_assert_cmpuint (hk_snapshot_get_n_entries (snapshot), ==, 3);
  g_assert_false (hk_snapshot_lookup (snapshot, "loop/d", NULL, NULL, NULL, NULL));
}

static void
test_filter_prunes_ignored_directories (Fixture       *f,
                                        gconstpointer  data)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  g_autoptr(HkSnapshot) snapshot = NULL;

  hk_test_mkdir (f->root, "build/sub");
  hk_test_mkdir (f->root, "src");
  hk_test_write (f->root, "build/sub/x.o", "o");
  hk_test_write (f->root, "src/a.c", "a");
  hk_test_write (f->root, "src/a.o", "o");
  g_assert_true (hk_filter_add_ignore_pattern (filter, "build/", NULL));
  g_assert_true (hk_filter_add_ignore_pattern (filter, "*.o", NULL));

  snapshot = take (f, filter);
  g_assert_false (hk_snapshot_lookup (snapshot, "build", NULL, NULL, NULL, NULL));
  g_assert_false (hk_snapshot_lookup (snapshot, "src/a.o", NULL, NULL, NULL, NULL));
  g_assert_true (hk_snapshot_lookup (snapshot, "src/a.c", NULL, NULL, NULL, NULL));
  g_assert_cmpuint (hk_snapshot_get_n_entries (snapshot), ==, 2);
}

static void
test_deep_tree_beyond_path_max (Fixture       *f,
                                gconstpointer  data)
{
  /* 400 levels of 20-byte names: 8,400 bytes of path, twice PATH_MAX. */
  const char *name = "deep-directory-name-";
  g_autoptr(HkSnapshot) snapshot = NULL;
  int fd = open (f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  GString *relative = g_string_new (NULL);

  for (int level = 0; level < 400; level++)
    {
      int next;

      g_assert_cmpint (mkdirat (fd, name, 0755), ==, 0);
      next = openat (fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      g_assert_cmpint (next, >=, 0);
      close (fd);
      fd = next;
      g_string_append_printf (relative, "%s%s", level > 0 ? "/" : "", name);
    }
  close (openat (fd, "leaf", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  close (fd);

  snapshot = take (f, NULL);
  g_assert_cmpuint (hk_snapshot_get_n_entries (snapshot), ==, 401);
  g_assert_cmpuint (hk_snapshot_get_n_unreadable (snapshot), ==, 0);
  g_string_append (relative, "/leaf");
  g_assert_true (hk_snapshot_lookup (snapshot, relative->str, NULL, NULL, NULL, NULL));
  g_string_free (relative, TRUE);
}

static void
test_take_errors (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *missing_path = hk_test_path (f->root, "missing");
  g_autofree char *file_path = hk_test_path (f->root, "file");
  g_autoptr(GFile) missing = g_file_new_for_path (missing_path);
  g_autoptr(GFile) file = g_file_new_for_path (file_path);
  g_autoptr(GFile) remote = g_file_new_for_uri ("http://example.invalid/x");
  g_autoptr(GError) error = NULL;

  hk_test_write (f->root, "file", "x");
  g_assert_null (hk_snapshot_take (missing, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_null (hk_snapshot_take (file, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY);
  g_clear_error (&error);
  g_assert_null (hk_snapshot_take (remote, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
}

/* --- async ------------------------------------------------------------ */

typedef struct
{
  HkSnapshot *snapshot;
  GError     *error;
  gboolean    done;
  GThread    *callback_thread;
} AsyncResult;

static void
on_taken (GObject      *source,
          GAsyncResult *result,
          gpointer      data)
{
  AsyncResult *r = data;

  r->snapshot = hk_snapshot_take_finish (result, &r->error);
  r->callback_thread = g_thread_self ();
  r->done = TRUE;
}

static gboolean
async_done (gpointer data)
{
  return ((AsyncResult *) data)->done;
}

static void
test_take_async_and_cancel (Fixture       *f,
                            gconstpointer  data)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  AsyncResult r = { 0 };

  make_sample_tree (f);
  hk_snapshot_take_async (root, NULL, NULL, on_taken, &r);
  g_assert_true (hk_test_wait_until (async_done, &r, 30000));
  g_assert_no_error (r.error);
  g_assert_cmpuint (hk_snapshot_get_n_entries (r.snapshot), ==, 14);
  g_assert_true (r.callback_thread == g_thread_self ());
  g_clear_object (&r.snapshot);

  memset (&r, 0, sizeof r);
  g_cancellable_cancel (cancellable);
  hk_snapshot_take_async (root, NULL, cancellable, on_taken, &r);
  g_assert_true (hk_test_wait_until (async_done, &r, 30000));
  g_assert_null (r.snapshot);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&r.error);
}

typedef struct
{
  GCancellable *cancellable;
  guint32       cancel_at;
  guint32       last_dir;
} CancelHook;

static void
cancel_mid_walk (guint32  dir,
                 gpointer data)
{
  CancelHook *hook = data;

  hook->last_dir = dir;
  if (dir == hook->cancel_at)
    g_cancellable_cancel (hook->cancellable);
}

static void
test_take_cancelled_mid_walk (Fixture       *f,
                              gconstpointer  data)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  CancelHook hook = { cancellable, 5, 0 };
  AsyncResult r = { 0 };

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("d%02u/sub", i);

      hk_test_mkdir (f->root, name);
    }

  hk_snapshot_set_walk_hook (cancel_mid_walk, &hook);
  hk_snapshot_take_async (root, NULL, cancellable, on_taken, &r);
  g_assert_true (hk_test_wait_until (async_done, &r, 30000));
  hk_snapshot_set_walk_hook (NULL, NULL);

  g_assert_null (r.snapshot);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* It stopped at once: the sixth of 41 directories. */
  g_assert_cmpuint (hook.last_dir, ==, 5);
  g_clear_error (&r.error);
}

/* --- diff ------------------------------------------------------------- */

static void
test_diff_unchanged_is_empty (Fixture       *f,
                              gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;

  make_sample_tree (f);
  before = take (f, NULL);
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==, "");
}

static void
test_diff_created_directories_before_contents (Fixture       *f,
                                               gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;

  hk_test_write (f->root, "keep", "k");
  before = take (f, NULL);
  hk_test_mkdir (f->root, "n/m");
  hk_test_write (f->root, "n/a", "a");
  hk_test_write (f->root, "n/m/b", "b");
  hk_test_write (f->root, "z", "z");
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==,
                   "created n/\n"
                   "created n/a\n"
                   "created n/m/\n"
                   "created n/m/b\n"
                   "created z\n");
}

static void
test_diff_deleted_contents_before_directories (Fixture       *f,
                                               gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;

  hk_test_mkdir (f->root, "d/e");
  hk_test_write (f->root, "d/a", "a");
  hk_test_write (f->root, "d/e/b", "b");
  hk_test_write (f->root, "z", "z");
  before = take (f, NULL);
  remove_entry (f, "d/e/b");
  remove_entry (f, "d/e");
  remove_entry (f, "d/a");
  remove_entry (f, "d");
  remove_entry (f, "z");
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==,
                   "deleted d/a\n"
                   "deleted d/e/b\n"
                   "deleted d/e/\n"
                   "deleted d/\n"
                   "deleted z\n");
}

static void
test_diff_modified_and_attribute_changed (Fixture       *f,
                                          gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;
  g_autofree char *chmodded = hk_test_path (f->root, "chmodded");
  g_autofree char *dir = hk_test_path (f->root, "dir");

  hk_test_write (f->root, "grown", "a");
  hk_test_write (f->root, "chmodded", "c");
  hk_test_write (f->root, "same", "s");
  hk_test_mkdir (f->root, "dir");
  before = take (f, NULL);
  hk_test_write (f->root, "grown", "abc");
  g_assert_cmpint (chmod (chmodded, 0600), ==, 0);
  g_assert_cmpint (chmod (dir, 0700), ==, 0);
  hk_test_write (f->root, "dir/new", "n");
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==,
                   "attribute-changed chmodded\n"
                   "attribute-changed dir/\n"
                   "created dir/new\n"
                   "modified grown\n");
}

static void
test_diff_file_moves_are_one_event (Fixture       *f,
                                    gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;

  hk_test_mkdir (f->root, "a");
  hk_test_mkdir (f->root, "b");
  hk_test_write (f->root, "a/one", "1");
  hk_test_write (f->root, "two", "2");
  before = take (f, NULL);
  hk_test_rename (f->root, "a/one", "b/one");
  hk_test_rename (f->root, "two", "a/three");
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==,
                   "moved two -> a/three\n"
                   "moved a/one -> b/one\n");
}

static void
test_diff_directory_move_keeps_contents_quiet (Fixture       *f,
                                               gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;

  hk_test_mkdir (f->root, "old/sub");
  hk_test_write (f->root, "old/a", "a");
  hk_test_write (f->root, "old/sub/b", "b");
  hk_test_write (f->root, "old/gone", "g");
  before = take (f, NULL);
  hk_test_rename (f->root, "old", "new");
  hk_test_write (f->root, "new/sub/b", "bigger");
  hk_test_write (f->root, "new/added", "+");
  remove_entry (f, "new/gone");
  hk_test_rename (f->root, "new/a", "moved-out");
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==,
                   "deleted old/gone\n"
                   "moved old/a -> moved-out\n"
                   "moved old/ -> new/\n"
                   "created new/added\n"
                   "modified new/sub/b\n");
}

static void
test_diff_replace_by_rename (Fixture       *f,
                             gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;

  hk_test_write (f->root, "target", "old contents");
  hk_test_write (f->root, "source", "new");
  hk_test_write (f->root, "saved", "v1");
  before = take (f, NULL);
  /* Rename onto an existing name: the move alone, as live events say. */
  hk_test_rename (f->root, "source", "target");
  /* An editor's save: a temporary file (not in the snapshot) renamed over
   * the original is another inode under the same name. */
  hk_test_write (f->root, "saved.tmp", "v2");
  hk_test_rename (f->root, "saved.tmp", "saved");
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==,
                   "deleted saved\n"
                   "created saved\n"
                   "moved source -> target\n");
}

static void
test_diff_kind_change_is_delete_and_create (Fixture       *f,
                                            gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autofree char *diff = NULL;

  hk_test_write (f->root, "x", "file");
  before = take (f, NULL);
  remove_entry (f, "x");
  hk_test_mkdir (f->root, "x");
  diff = diff_of (f, before);
  g_assert_cmpstr (diff, ==, "deleted x\ncreated x/\n");
}

static void
test_diff_hostile_names_exact (Fixture       *f,
                               gconstpointer  data)
{
  g_autoptr(HkSnapshot) before = NULL;
  g_autoptr(HkSnapshot) after = NULL;
  g_autoptr(GPtrArray) events = NULL;
  g_autofree char *expected = hk_test_path (f->root, "bad\xff\xfe\nname");

  before = take (f, NULL);
  hk_test_write (f->root, "bad\xff\xfe\nname", "x");
  after = take (f, NULL);
  events = hk_snapshot_diff (before, after);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (hk_event_get_path (g_ptr_array_index (events, 0)), ==, expected);
}

/* --- builder ---------------------------------------------------------- */

static void
test_builder_any_order_equals_sorted (Fixture       *f,
                                      gconstpointer  data)
{
  g_autoptr(HkSnapshotBuilder) sorted = hk_snapshot_builder_new ("/r", 1);
  g_autoptr(HkSnapshotBuilder) shuffled = hk_snapshot_builder_new ("/r", 1);
  g_autoptr(HkSnapshot) a = NULL;
  g_autoptr(HkSnapshot) b = NULL;
  g_autoptr(GPtrArray) events = NULL;
  guint32 d1, d2, s1, s2;

  /* Breadth first, names sorted: the fast path. */
  s1 = hk_snapshot_builder_add (sorted, 0, "a", G_FILE_TYPE_DIRECTORY, 1, 10, 0, 5, 5, 0755);
  hk_snapshot_builder_add (sorted, 0, "f", G_FILE_TYPE_REGULAR, 1, 11, 3, 5, 5, 0644);
  s2 = hk_snapshot_builder_add (sorted, 0, "z", G_FILE_TYPE_DIRECTORY, 1, 12, 0, 5, 5, 0755);
  hk_snapshot_builder_add (sorted, s1, "x", G_FILE_TYPE_REGULAR, 1, 13, 1, 5, 5, 0644);
  hk_snapshot_builder_add (sorted, s1, "y", G_FILE_TYPE_REGULAR, 1, 14, 1, 5, 5, 0644);
  hk_snapshot_builder_add (sorted, s2, "w", G_FILE_TYPE_SYMBOLIC_LINK, 1, 15, 1, 5, 5, 0);

  /* As a live tree gives them: any order, a name given twice. */
  d2 = hk_snapshot_builder_add (shuffled, 0, "z", G_FILE_TYPE_DIRECTORY, 1, 12, 0, 5, 5, 0755);
  hk_snapshot_builder_add (shuffled, d2, "w", G_FILE_TYPE_SYMBOLIC_LINK, 1, 15, 1, 5, 5, 0);
  hk_snapshot_builder_add (shuffled, 0, "f", G_FILE_TYPE_REGULAR, 1, 99, 3, 5, 5, 0644);
  d1 = hk_snapshot_builder_add (shuffled, 0, "a", G_FILE_TYPE_DIRECTORY, 1, 10, 0, 5, 5, 0755);
  hk_snapshot_builder_add (shuffled, d1, "y", G_FILE_TYPE_REGULAR, 1, 14, 1, 5, 5, 0644);
  hk_snapshot_builder_add (shuffled, d1, "x", G_FILE_TYPE_REGULAR, 1, 13, 1, 5, 5, 0644);
  hk_snapshot_builder_add (shuffled, 0, "f", G_FILE_TYPE_REGULAR, 1, 11, 3, 5, 5, 0644);

  a = hk_snapshot_builder_end (g_steal_pointer (&sorted));
  b = hk_snapshot_builder_end (g_steal_pointer (&shuffled));
  g_assert_cmpuint (hk_snapshot_get_n_entries (b), ==, 6);
  g_assert_true (hk_snapshot_equal (a, b));
  events = hk_snapshot_diff_full (a, b, FALSE, 42);
  g_assert_cmpuint (events->len, ==, 0);
}

static void
test_builder_unreadable_directory_hides_its_contents (Fixture       *f,
                                                      gconstpointer  data)
{
  g_autoptr(HkSnapshotBuilder) readable = hk_snapshot_builder_new ("/r", 1);
  g_autoptr(HkSnapshotBuilder) unreadable = hk_snapshot_builder_new ("/r", 2);
  g_autoptr(HkSnapshot) a = NULL;
  g_autoptr(HkSnapshot) b = NULL;
  g_autoptr(GPtrArray) events = NULL;
  guint32 d;

  d = hk_snapshot_builder_add (readable, 0, "locked", G_FILE_TYPE_DIRECTORY, 1, 10, 0, 5, 5, 0755);
  hk_snapshot_builder_add (readable, d, "secret", G_FILE_TYPE_REGULAR, 1, 11, 3, 5, 5, 0644);
  hk_snapshot_builder_add (readable, 0, "plain", G_FILE_TYPE_REGULAR, 1, 12, 3, 5, 5, 0644);

  d = hk_snapshot_builder_add (unreadable, 0, "locked", G_FILE_TYPE_DIRECTORY, 1, 10, 0, 5, 5, 0755);
  hk_snapshot_builder_set_unreadable (unreadable, d);

  a = hk_snapshot_builder_end (g_steal_pointer (&readable));
  b = hk_snapshot_builder_end (g_steal_pointer (&unreadable));
  g_assert_cmpuint (hk_snapshot_get_n_unreadable (b), ==, 1);

  /* "plain" really went; "secret" is merely unknown. */
  events = hk_snapshot_diff_full (a, b, FALSE, 42);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (hk_event_get_path (g_ptr_array_index (events, 0)), ==, "/r/plain");
  g_assert_false (hk_event_get_is_synthetic (g_ptr_array_index (events, 0)));
  g_assert_cmpint (hk_event_get_timestamp (g_ptr_array_index (events, 0)), ==, 42);
  g_clear_pointer (&events, g_ptr_array_unref);

  events = hk_snapshot_diff_full (b, a, TRUE, 42);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpint (hk_event_get_event_type (g_ptr_array_index (events, 0)), ==, HK_EVENT_CREATED);
}

/* --- corrupt files ---------------------------------------------------- */

static GBytes *
sample_bytes (Fixture *f)
{
  g_autoptr(HkSnapshot) snapshot = NULL;

  make_sample_tree (f);
  snapshot = take (f, NULL);
  return hk_snapshot_serialize (snapshot);
}

static void
store_crc (guint8 *data,
           gsize   len)
{
  /* What a hostile writer does: a valid checksum over invalid data. */
  g_autoptr(GBytes) payload = g_bytes_new_static (data + 24, len - 24);
  guint32 crc = 0xffffffffu;

  for (gsize i = 24; i < len; i++)
    {
      crc ^= data[i];
      for (int k = 0; k < 8; k++)
        crc = (crc & 1) ? 0xedb88320u ^ (crc >> 1) : crc >> 1;
    }
  crc ^= 0xffffffffu;
  for (int i = 0; i < 4; i++)
    data[12 + i] = (guint8) (crc >> (8 * i));
}

static void
test_corrupt_every_truncation_is_an_error (Fixture       *f,
                                           gconstpointer  data)
{
  g_autoptr(GBytes) bytes = sample_bytes (f);
  gsize len;
  const guint8 *full = g_bytes_get_data (bytes, &len);

  for (gsize cut = 0; cut < len; cut++)
    {
      g_autoptr(GBytes) truncated = g_bytes_new (full, cut);
      g_autoptr(GError) error = NULL;
      g_autoptr(HkSnapshot) snapshot = hk_snapshot_new_from_bytes (truncated, "t", &error);

      g_assert_null (snapshot);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
    }
}

static void
test_corrupt_bit_flips_are_errors (Fixture       *f,
                                   gconstpointer  data)
{
  g_autoptr(GBytes) bytes = sample_bytes (f);
  g_autoptr(GRand) rand = g_rand_new_with_seed (12);
  gsize len;
  const guint8 *full = g_bytes_get_data (bytes, &len);
  guint n_parsed_hostile = 0;

  for (guint round = 0; round < 4000; round++)
    {
      g_autofree guint8 *copy = g_memdup2 (full, len);
      gsize bit = g_rand_int_range (rand, 0, (gint32) (len * 8));
      g_autoptr(GBytes) flipped = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(HkSnapshot) snapshot = NULL;

      copy[bit / 8] ^= 1u << (bit % 8);
      if (round % 2 == 1 && bit / 8 >= 24)
        {
          /* Hostile: the checksum matches; the parser must still cope. */
          store_crc (copy, len);
          flipped = g_bytes_new (copy, len);
          snapshot = hk_snapshot_new_from_bytes (flipped, "t", &error);
          g_assert_true ((snapshot == NULL) != (error == NULL));
          if (snapshot != NULL)
            n_parsed_hostile++;
          continue;
        }

      flipped = g_bytes_new (copy, len);
      snapshot = hk_snapshot_new_from_bytes (flipped, "t", &error);
      g_assert_null (snapshot);
      g_assert_nonnull (error);
      g_assert_true (error->code == G_IO_ERROR_INVALID_DATA || error->code == G_IO_ERROR_NOT_SUPPORTED);
    }
  g_test_message ("%u hostile flips still parsed (a flipped size or time is valid data)",
                  n_parsed_hostile);
}

static void
test_corrupt_wrong_version_and_not_a_snapshot (Fixture       *f,
                                               gconstpointer  data)
{
  g_autoptr(GBytes) bytes = sample_bytes (f);
  gsize len = g_bytes_get_size (bytes);
  g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (bytes, NULL), len);
  g_autoptr(GBytes) newer = NULL;
  g_autoptr(GBytes) text = g_bytes_new_static ("hello world, not a snapshot", 27);
  g_autofree char *dir_path = hk_test_path (f->root, "src");
  g_autoptr(GFile) dir = g_file_new_for_path (dir_path);
  g_autoptr(GFile) dev_zero = g_file_new_for_path ("/dev/zero");
  g_autoptr(GError) error = NULL;

  copy[8] = 2;
  newer = g_bytes_new (copy, len);
  g_assert_null (hk_snapshot_new_from_bytes (newer, "t", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);

  g_assert_null (hk_snapshot_new_from_bytes (text, "t", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  /* Never read a device or a directory (/dev/zero would never end). */
  g_assert_null (hk_snapshot_load (dev_zero, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_clear_error (&error);
  g_assert_null (hk_snapshot_load (dir, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
}

static void
test_corrupt_hostile_counts_are_bounded (Fixture       *f,
                                         gconstpointer  data)
{
  /* A root path, then 2^62 directories and entries, with a valid CRC. */
  guint8 file[64] = { 0x89, 'H', 'K', 'S', 'N', 'A', 'P', '\n', 1, 0, 0, 0 };
  guint8 payload[] = { 2, '/', 'r', 0, 0,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f };
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  gsize len = 24 + sizeof payload;

  memcpy (file + 24, payload, sizeof payload);
  for (int i = 0; i < 8; i++)
    file[16 + i] = (guint8) ((guint64) sizeof payload >> (8 * i));
  store_crc (file, len);
  bytes = g_bytes_new (file, len);
  g_assert_null (hk_snapshot_new_from_bytes (bytes, "t", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "count"));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func) \
  g_test_add (name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/snapshot/round-trip/take-save-load-equal", test_round_trip_is_equal);
  ADD ("/snapshot/lookup/kind-size-mtime-inode", test_lookup_reports_kind_size_mtime_inode);
  ADD ("/snapshot/take/symlinks-not-followed", test_symlinks_are_not_followed);
  ADD ("/snapshot/take/filter-prunes-ignored", test_filter_prunes_ignored_directories);
  ADD ("/snapshot/take/deep-tree-beyond-path-max", test_deep_tree_beyond_path_max);
  ADD ("/snapshot/take/errors", test_take_errors);
  ADD ("/snapshot/take/async-and-cancel", test_take_async_and_cancel);
  ADD ("/snapshot/take/cancelled-mid-walk", test_take_cancelled_mid_walk);
  ADD ("/snapshot/diff/unchanged-is-empty", test_diff_unchanged_is_empty);
  ADD ("/snapshot/diff/created-directories-first", test_diff_created_directories_before_contents);
  ADD ("/snapshot/diff/deleted-contents-first", test_diff_deleted_contents_before_directories);
  ADD ("/snapshot/diff/modified-and-attribute-changed", test_diff_modified_and_attribute_changed);
  ADD ("/snapshot/diff/file-moves", test_diff_file_moves_are_one_event);
  ADD ("/snapshot/diff/directory-move-one-event", test_diff_directory_move_keeps_contents_quiet);
  ADD ("/snapshot/diff/replace-by-rename", test_diff_replace_by_rename);
  ADD ("/snapshot/diff/kind-change", test_diff_kind_change_is_delete_and_create);
  ADD ("/snapshot/diff/hostile-names-exact", test_diff_hostile_names_exact);
  ADD ("/snapshot/builder/any-order-equals-sorted", test_builder_any_order_equals_sorted);
  ADD ("/snapshot/builder/unreadable-hides-contents", test_builder_unreadable_directory_hides_its_contents);
  ADD ("/snapshot/corrupt/every-truncation", test_corrupt_every_truncation_is_an_error);
  ADD ("/snapshot/corrupt/bit-flips", test_corrupt_bit_flips_are_errors);
  ADD ("/snapshot/corrupt/version-and-magic", test_corrupt_wrong_version_and_not_a_snapshot);
  ADD ("/snapshot/corrupt/hostile-counts-bounded", test_corrupt_hostile_counts_are_bounded);

  return g_test_run ();
}
