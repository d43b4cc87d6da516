/* test-fanotify.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The fanotify backend, in both of its modes: one filesystem mark per
 * filesystem (needs CAP_SYS_ADMIN) and one inode mark per directory. Each
 * test runs once per mode (/fanotify/filesystem/... and /fanotify/inode/...);
 * the mode is forced (as HACHIKO_FANOTIFY_MODE would) on a fresh backend.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-replay.h"
#include "hk-test-util.h"
#include "hk-watchdog-private.h"
#include "hk-backend-private.h"
#include "hk-fanotify-auto-private.h"

#define TIMEOUT 5000
#define MAX_QUEUED_EVENTS "/proc/sys/fs/fanotify/max_queued_events"

typedef struct
{
  const char *mode;     /* "filesystem" or "inode" */
  char       *base;
  char       *root;
  char       *outside;  /* a sibling of the root, not watched */
  char       *saved_sysctl;
  HkWatchdog *watchdog;
  HkRecorder *recorder;
} Fixture;

static char *
path_of (Fixture    *f,
         const char *relative)
{
  return g_build_filename (f->root, relative, NULL);
}

static void
mkdir_rel (Fixture    *f,
           const char *relative)
{
  g_autofree char *path = path_of (f, relative);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

static void
write_rel (Fixture    *f,
           const char *relative,
           const char *contents)
{
  g_autofree char *path = path_of (f, relative);

  hk_test_write_file (path, contents);
}

static void
rename_rel (Fixture    *f,
            const char *from,
            const char *to)
{
  g_autofree char *from_path = path_of (f, from);
  g_autofree char *to_path = path_of (f, to);

  g_assert_cmpint (g_rename (from_path, to_path), ==, 0);
}

static gboolean
filesystem_marks_permitted (void)
{
  int fd = fanotify_init (FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME, O_RDONLY);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  ok = fanotify_mark (fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CREATE | FAN_ONDIR,
                      AT_FDCWD, g_get_tmp_dir ()) == 0;
  close (fd);
  return ok;
}

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->mode = data;
  if (g_test_subprocess ())
    return;

  f->base = hk_test_make_tmpdir ();
  g_chmod (f->base, 0755);
  f->root = g_build_filename (f->base, "root", NULL);
  f->outside = g_build_filename (f->base, "outside", NULL);
  g_assert_cmpint (g_mkdir (f->root, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (f->outside, 0755), ==, 0);

  /* The mode is read when the backend is created. */
  hk_fanotify_backend_set_mode_for_testing (f->mode);
  g_assert_true (hk_watchdog_restart_backend_for_testing ());
}

static gboolean
skip_unless_mode_works (Fixture *f)
{
  if (strcmp (f->mode, "filesystem") == 0 && !filesystem_marks_permitted ())
    {
      g_test_skip ("filesystem marks need CAP_SYS_ADMIN");
      return FALSE;
    }
  return TRUE;
}

static HkWatchdog *
new_fanotify_watchdog (const char *root)
{
  g_autoptr(GFile) file = g_file_new_for_path (root);
  HkWatchdog *watchdog = hk_watchdog_new (file);

  hk_watchdog_set_backend (watchdog, HK_BACKEND_KIND_FANOTIFY);
  /* These tests cover the start that returns before the walk. */
  hk_watchdog_set_wait_for_walk (watchdog, FALSE);
  return watchdog;
}

static void
fixture_watch_with (Fixture *f,
                    gboolean access_events)
{
  g_autoptr(GError) error = NULL;

  f->watchdog = new_fanotify_watchdog (f->root);
  g_object_set (f->watchdog, "access-events", access_events, NULL);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_watchdog_start (f->watchdog, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (hk_watchdog_get_active_backend (f->watchdog), ==, HK_BACKEND_KIND_FANOTIFY);
  /* These cases are about changes made once the tree is known; the walk
   * behind an early start has its own (early-ready/...). */
  g_assert_true (hk_test_wait_walk_complete (f->watchdog, TIMEOUT));
}

static void
fixture_watch (Fixture *f)
{
  fixture_watch_with (f, FALSE);
}

static gboolean
write_sysctl (const char *path,
              const char *value)
{
  FILE *fp = fopen (path, "w");
  gboolean ok;

  if (fp == NULL)
    return FALSE;
  ok = fputs (value, fp) >= 0;
  return fclose (fp) == 0 && ok;
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  if (g_test_subprocess ())
    return;

  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  if (f->saved_sysctl != NULL)
    write_sysctl (MAX_QUEUED_EVENTS, f->saved_sysctl);
  g_clear_pointer (&f->saved_sysctl, g_free);
  hk_watchdog_restart_backend_for_testing ();
  hk_fanotify_backend_set_mode_for_testing (NULL);
  hk_fanotify_backend_bound_queue_for_testing (FALSE);
  hk_fanotify_backend_set_hold_max_for_testing (0);
  hk_watchdog_set_auto_fanotify_threshold_for_testing (0);
  hk_watchdog_resume_walks_for_testing ();
  hk_test_rm_rf (f->base);
  g_free (f->root);
  g_free (f->outside);
  g_free (f->base);
}

#define WAIT_FOR(f, type, rel) \
  G_STMT_START { \
    if (!hk_recorder_wait_for ((f)->recorder, type, rel, TIMEOUT)) \
      { \
        hk_recorder_dump ((f)->recorder); \
        g_error ("timed out waiting for %s %s", #type, rel); \
      } \
  } G_STMT_END

/* A change after every other one: once it is seen, the earlier ones were. */
static void
sync_on_sentinel (Fixture    *f,
                  const char *name)
{
  write_rel (f, name, "");
  WAIT_FOR (f, HK_EVENT_CREATED, name);
}

/* --- every kind of event ------------------------------------------------- */

static void
test_events_every_kind (Fixture *f, gconstpointer data)
{
  g_autofree char *file = path_of (f, "dir/file");
  g_autofree char *dir = path_of (f, "dir");

  if (!skip_unless_mode_works (f))
    return;
  mkdir_rel (f, "dir");
  fixture_watch (f);

  write_rel (f, "dir/file", "one");
  WAIT_FOR (f, HK_EVENT_CREATED, "dir/file");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "dir/file");
  WAIT_FOR (f, HK_EVENT_CLOSED, "dir/file");

  g_assert_cmpint (g_chmod (file, 0600), ==, 0);
  WAIT_FOR (f, HK_EVENT_ATTRIBUTE_CHANGED, "dir/file");

  /* A subdirectory's own change is reported on its entry in the parent. */
  g_assert_cmpint (g_chmod (dir, 0700), ==, 0);
  WAIT_FOR (f, HK_EVENT_ATTRIBUTE_CHANGED, "dir");

  mkdir_rel (f, "dir/new");
  WAIT_FOR (f, HK_EVENT_CREATED, "dir/new");
  /* The new directory is watched: a file in it is seen. */
  write_rel (f, "dir/new/inner", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "dir/new/inner");

  g_assert_cmpint (g_unlink (file), ==, 0);
  WAIT_FOR (f, HK_EVENT_DELETED, "dir/file");

  {
    g_autofree char *inner = path_of (f, "dir/new/inner");
    g_autofree char *new_dir = path_of (f, "dir/new");

    g_assert_cmpint (g_unlink (inner), ==, 0);
    g_assert_cmpint (g_rmdir (new_dir), ==, 0);
    WAIT_FOR (f, HK_EVENT_DELETED, "dir/new");
  }

  sync_on_sentinel (f, "sentinel");
  /* Exactly once each, even though fanotify merges queued events. */
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "dir/file"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_DELETED, "dir/file"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "dir/new/inner"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_DELETED, "dir/new"), ==, 1);
  g_assert_cmpuint (f->recorder->errors->len, ==, 0);
}

/* Non-recursive: the subdirectory has no watch of its own, and the kernel
 * names it by its own handle; the backend finds its parent by handle. */
static void
test_events_unwatched_subdirectory_attributes (Fixture *f, gconstpointer data)
{
  g_autofree char *sub = path_of (f, "sub");
  g_autoptr(GError) error = NULL;

  if (!skip_unless_mode_works (f))
    return;
  if (geteuid () != 0)
    {
      g_test_skip ("opening a directory by handle needs CAP_DAC_READ_SEARCH");
      return;
    }
  mkdir_rel (f, "sub");
  f->watchdog = new_fanotify_watchdog (f->root);
  hk_watchdog_set_recursive (f->watchdog, FALSE);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  g_assert_true (hk_watchdog_start (f->watchdog, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 1);

  g_assert_cmpint (g_chmod (sub, 0700), ==, 0);
  WAIT_FOR (f, HK_EVENT_ATTRIBUTE_CHANGED, "sub");
}

static void
test_events_access (Fixture *f, gconstpointer data)
{
  g_autofree char *file = path_of (f, "file");
  g_autofree char *contents = NULL;

  if (!skip_unless_mode_works (f))
    return;
  write_rel (f, "file", "x");
  fixture_watch_with (f, TRUE);

  g_assert_true (g_file_get_contents (file, &contents, NULL, NULL));
  WAIT_FOR (f, HK_EVENT_OPENED, "file");
  WAIT_FOR (f, HK_EVENT_CLOSED_NO_WRITE, "file");
}

/* A file created and deleted, then created again, while the worker does
 * not read: the kernel merges the three into one event with both bits,
 * and the disk settles it. */
static void
test_events_merged_create_delete (Fixture *f, gconstpointer data)
{
  g_autofree char *gone = path_of (f, "gone");
  g_autofree char *back = path_of (f, "back");

  if (!skip_unless_mode_works (f))
    return;
  fixture_watch (f);

  hk_watchdog_stall_worker (200);
  hk_test_write_file (gone, "x");
  g_unlink (gone);
  hk_test_write_file (back, "x");
  g_unlink (back);
  hk_test_write_file (back, "y");
  sync_on_sentinel (f, "sentinel");

  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "gone"), ==,
                    hk_recorder_count (f->recorder, HK_EVENT_DELETED, "gone"));
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "back"), ==,
                    hk_recorder_count (f->recorder, HK_EVENT_DELETED, "back") + 1);
}

static guint
count_created (HkRecorder *recorder,
               const char *path,
               gboolean    is_directory)
{
  guint n = 0;

  for (guint i = 0; i < recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (recorder->events, i);

      if (hk_event_get_event_type (event) == HK_EVENT_CREATED &&
          strcmp (hk_event_get_path (event), path) == 0 &&
          !!hk_event_get_is_directory (event) == !!is_directory)
        n++;
    }
  return n;
}

/* The kernel merges queued events only while the worker does not read
 * them: each scenario is tried under new names until the backend reports
 * that it met a merge (the first try, in practice). */
#define MERGE_TRIES 20

/* Keeps the worker from reading for a while, from now on: the stall is
 * posted to the worker, so give it a moment to begin. Should it begin
 * late, the events are not merged and the try does not count. */
static void
stall_worker (void)
{
  hk_watchdog_stall_worker (300);
  g_usleep (30 * 1000);
}

/* A directory made and removed, then a file of the same name, while the
 * worker does not read: the directory's events merge into one with both
 * bits, the file's into another. The file on disk is not the directory's
 * arrival. (The stress test found it: "event says not a directory".) */
static void
test_events_directory_replaced_by_file (Fixture *f, gconstpointer data)
{
  if (!skip_unless_mode_works (f))
    return;
  fixture_watch (f);

  for (guint i = 0; i < MERGE_TRIES; i++)
    {
      g_autofree char *name = g_strdup_printf ("x%u", i);
      g_autofree char *sentinel = g_strdup_printf ("sentinel%u", i);
      g_autofree char *path = path_of (f, name);
      guint merges = hk_fanotify_backend_count_settled_merges ();

      stall_worker ();
      g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
      g_assert_cmpint (g_rmdir (path), ==, 0);
      hk_test_write_file (path, "x");
      sync_on_sentinel (f, sentinel);

      g_assert_cmpuint (count_created (f->recorder, path, TRUE), ==, 0);
      g_assert_cmpuint (count_created (f->recorder, path, FALSE), ==, 1);
      if (hk_fanotify_backend_count_settled_merges () > merges)
        return;
    }
  g_error ("the kernel never merged the directory's events in %u tries", MERGE_TRIES);
}

/* Merged events in a directory that is renamed before the worker reads
 * them: the disk is asked by the directory's handle, not at the path the
 * tree still knows. (The stress test found it: a file missing.) */
static void
test_events_merged_in_renamed_directory (Fixture *f, gconstpointer data)
{
  if (!skip_unless_mode_works (f))
    return;
  if (geteuid () != 0)
    {
      g_test_skip ("opening a directory by handle needs CAP_DAC_READ_SEARCH");
      return;
    }
  fixture_watch (f);

  for (guint i = 0; i < MERGE_TRIES; i++)
    {
      g_autofree char *from = g_strdup_printf ("a%u", i);
      g_autofree char *to = g_strdup_printf ("b%u", i);
      g_autofree char *created = g_strdup_printf ("a%u/f", i);
      g_autofree char *moved = g_strdup_printf ("a%u -> b%u", i, i);
      g_autofree char *file = path_of (f, created);
      g_autofree char *sentinel = g_strdup_printf ("sentinel%u", i);
      guint merges;

      mkdir_rel (f, from);
      WAIT_FOR (f, HK_EVENT_CREATED, from);
      merges = hk_fanotify_backend_count_settled_merges ();

      stall_worker ();
      hk_test_write_file (file, "x");
      g_unlink (file);
      hk_test_write_file (file, "y");
      rename_rel (f, from, to);
      sync_on_sentinel (f, sentinel);

      /* Replayed, the events leave a%u/f in place before the move (the
       * read of the new a%u may have reported it once already). */
      g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, created), ==,
                        hk_recorder_count (f->recorder, HK_EVENT_DELETED, created) + 1);
      g_assert_true (hk_recorder_has (f->recorder, HK_EVENT_MOVED, moved));
      if (hk_fanotify_backend_count_settled_merges () > merges)
        return;
    }
  g_error ("the kernel never merged the file's events in %u tries", MERGE_TRIES);
}

/* --- moves ---------------------------------------------------------------- */

static void
test_moves_paired (Fixture *f, gconstpointer data)
{
  if (!skip_unless_mode_works (f))
    return;
  mkdir_rel (f, "a");
  mkdir_rel (f, "b");
  write_rel (f, "a/file", "x");
  mkdir_rel (f, "a/sub");
  fixture_watch (f);

  rename_rel (f, "a/file", "a/renamed");
  WAIT_FOR (f, HK_EVENT_MOVED, "a/file -> a/renamed");

  rename_rel (f, "a/renamed", "b/moved");
  WAIT_FOR (f, HK_EVENT_MOVED, "a/renamed -> b/moved");

  /* A directory keeps its watch (its handle) when renamed. */
  rename_rel (f, "a/sub", "b/sub2");
  WAIT_FOR (f, HK_EVENT_MOVED, "a/sub -> b/sub2");
  write_rel (f, "b/sub2/after", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "b/sub2/after");

  sync_on_sentinel (f, "sentinel");
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_DELETED, "a/file"));
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "b/moved"));
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "b/sub2"));
}

static void
test_moves_across_the_root (Fixture *f, gconstpointer data)
{
  g_autofree char *outside_file = g_build_filename (f->outside, "in", NULL);
  g_autofree char *inside_file = path_of (f, "in");
  g_autofree char *leaving = path_of (f, "leaving");
  g_autofree char *left = g_build_filename (f->outside, "left", NULL);

  if (!skip_unless_mode_works (f))
    return;
  write_rel (f, "leaving", "x");
  hk_test_write_file (outside_file, "x");
  fixture_watch (f);

  g_assert_cmpint (g_rename (outside_file, inside_file), ==, 0);
  WAIT_FOR (f, HK_EVENT_CREATED, "in");
  g_assert_cmpint (g_rename (leaving, left), ==, 0);
  WAIT_FOR (f, HK_EVENT_DELETED, "leaving");
}

/* --- what is outside ----------------------------------------------------- */

static void
test_outside_not_reported (Fixture *f, gconstpointer data)
{
  g_autofree char *outside_file = g_build_filename (f->outside, "noise", NULL);
  g_autofree char *base_file = g_build_filename (f->base, "noise", NULL);

  if (!skip_unless_mode_works (f))
    return;
  mkdir_rel (f, "excluded");
  fixture_watch (f);

  hk_test_write_file (outside_file, "x");
  hk_test_write_file (base_file, "x");
  g_unlink (outside_file);
  sync_on_sentinel (f, "sentinel");

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);

      g_assert_true (g_str_has_prefix (hk_event_get_path (event), f->root));
    }
}

/* --- a tmpfs inside the tree: one filesystem mark per filesystem --------- */

/* Runs in a subprocess with a mount namespace of its own: the tmpfs goes
 * away with it, even when an assertion fails half-way. */
static void
mount_child (Fixture *f)
{
  guint filesystem_marks, inode_marks;
  g_autofree char *mount_point = NULL;

  f->root = (char *) g_getenv ("HK_TEST_ROOT");
  mount_point = path_of (f, "mnt");
  hk_fanotify_backend_set_mode_for_testing (f->mode);
  if (unshare (CLONE_NEWNS) != 0 ||
      mount ("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount ("hachiko-test", mount_point, "tmpfs", 0, "size=1m") != 0)
    g_error ("cannot mount a tmpfs in a private namespace: %s", g_strerror (errno));
  mkdir_rel (f, "mnt/sub");
  fixture_watch (f);

  write_rel (f, "mnt/sub/file", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/sub/file");
  write_rel (f, "dir/deeper/file", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "dir/deeper/file");

  hk_fanotify_backend_count_marks (&filesystem_marks, &inode_marks);
  if (strcmp (f->mode, "filesystem") == 0)
    {
      /* The root's filesystem and the tmpfs, however many directories. */
      g_assert_cmpuint (filesystem_marks, ==, 2);
      g_assert_cmpuint (inode_marks, ==, 0);
    }
  else
    {
      /* root, dir, dir/deeper, mnt, mnt/sub */
      g_assert_cmpuint (filesystem_marks, ==, 0);
      g_assert_cmpuint (inode_marks, ==, 5);
    }

  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  /* Stopping does not wait for the worker: the marks go soon after. */
  for (guint i = 0; i < 500; i++)
    {
      hk_fanotify_backend_count_marks (&filesystem_marks, &inode_marks);
      if (filesystem_marks == 0 && inode_marks == 0)
        break;
      g_usleep (10 * 1000);
    }
  g_assert_cmpuint (filesystem_marks, ==, 0);
  g_assert_cmpuint (inode_marks, ==, 0);
  /* Nothing holds the tmpfs busy. */
  g_assert_cmpint (umount (mount_point), ==, 0);
  f->root = NULL;
}

static void
test_mount_inside_tree (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      mount_child (f);
      return;
    }
  if (!skip_unless_mode_works (f))
    return;
  if (geteuid () != 0)
    {
      g_test_skip ("mounting a tmpfs needs root");
      return;
    }

  mkdir_rel (f, "dir/deeper");
  mkdir_rel (f, "mnt");
  g_setenv ("HK_TEST_ROOT", f->root, TRUE);
  g_test_trap_subprocess (NULL, 20 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* --- fan-out: two watchdogs, one backend ---------------------------------- */

static void
test_fan_out_two_watchdogs (Fixture *f, gconstpointer data)
{
  g_autofree char *sub = path_of (f, "sub");
  g_autoptr(HkWatchdog) second = NULL;
  g_autoptr(HkRecorder) second_recorder = NULL;
  g_autoptr(HkWatchdog) third = NULL;
  g_autoptr(HkRecorder) third_recorder = NULL;
  g_autoptr(GError) error = NULL;

  if (!skip_unless_mode_works (f))
    return;
  mkdir_rel (f, "sub");
  fixture_watch (f);

  second = new_fanotify_watchdog (f->root);
  second_recorder = hk_recorder_new (second, f->root);
  g_assert_true (hk_watchdog_start (second, NULL, &error));
  g_assert_no_error (error);
  third = new_fanotify_watchdog (sub);
  third_recorder = hk_recorder_new (third, sub);
  g_assert_true (hk_watchdog_start (third, NULL, &error));
  g_assert_no_error (error);

  write_rel (f, "sub/shared", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "sub/shared");
  g_assert_true (hk_recorder_wait_for (second_recorder, HK_EVENT_CREATED, "sub/shared", TIMEOUT));
  g_assert_true (hk_recorder_wait_for (third_recorder, HK_EVENT_CREATED, "shared", TIMEOUT));

  /* One watch per directory for everyone: root and sub. */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 2);

  /* Stopping one leaves the others watching. */
  hk_watchdog_stop (second);
  rename_rel (f, "sub/shared", "moved");
  WAIT_FOR (f, HK_EVENT_MOVED, "sub/shared -> moved");
  g_assert_true (hk_recorder_wait_for (third_recorder, HK_EVENT_DELETED, "shared", TIMEOUT));
  g_assert_false (hk_recorder_has (second_recorder, HK_EVENT_MOVED, "sub/shared -> moved"));
}

/* --- overflow ------------------------------------------------------------- */

static gboolean
got_overflow (gpointer data)
{
  return ((HkRecorder *) data)->n_overflows > 0;
}

/* A real FAN_Q_OVERFLOW, with the kernel's queue shortened (root only):
 * what was reported, applied to the state before, gives the disk. */
static void
test_overflow_reports_exact_difference (Fixture *f, gconstpointer data)
{
  g_autoptr(GHashTable) model = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) disk = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer key;

  if (!skip_unless_mode_works (f))
    return;
  if (geteuid () != 0 || !g_file_get_contents (MAX_QUEUED_EVENTS, &f->saved_sysctl, NULL, NULL))
    {
      g_test_skip ("needs root to lower fs.fanotify.max_queued_events");
      return;
    }

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *rel = g_strdup_printf ("old%u", i);

      write_rel (f, rel, "x");
      g_hash_table_add (model, g_strdup (rel));
    }

  /* The limit applies to fanotify groups created after the change, and
   * only to those without FAN_UNLIMITED_QUEUE. */
  hk_fanotify_backend_bound_queue_for_testing (TRUE);
  g_assert_true (write_sysctl (MAX_QUEUED_EVENTS, "32"));
  g_assert_true (hk_watchdog_restart_backend_for_testing ());
  fixture_watch (f);
  write_sysctl (MAX_QUEUED_EVENTS, f->saved_sysctl);
  g_clear_pointer (&f->saved_sysctl, g_free);

  hk_watchdog_stall_worker (300);
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *rel = g_strdup_printf ("new%u", i);

      write_rel (f, rel, "x");
    }
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *rel = g_strdup_printf ("old%u", i);
      g_autofree char *path = path_of (f, rel);

      g_unlink (path);
    }
  mkdir_rel (f, "late/dir");
  write_rel (f, "late/dir/file", "x");

  g_assert_true (hk_test_wait_until (got_overflow, f->recorder, TIMEOUT));
  /* The sentinel comes after the rescan (it reports late/dir/file near its
   * end): made during it, it could take the inode number of a file the
   * rescan finds gone, and the rescan pairs the two as a move. Seen:
   * "moved old3 -> sentinel (synthetic)". */
  WAIT_FOR (f, HK_EVENT_CREATED, "late/dir/file");
  sync_on_sentinel (f, "sentinel");
  g_hash_table_add (disk, g_strdup ("sentinel"));

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      const char *rel = hk_event_get_path (event) + strlen (f->root) + 1;

      if (hk_event_get_event_type (event) == HK_EVENT_CREATED)
        g_hash_table_add (model, g_strdup (rel));
      else if (hk_event_get_event_type (event) == HK_EVENT_DELETED)
        g_hash_table_remove (model, rel);
    }

  for (guint i = 0; i < 200; i++)
    g_hash_table_add (disk, g_strdup_printf ("new%u", i));
  for (guint i = 10; i < 20; i++)
    g_hash_table_add (disk, g_strdup_printf ("old%u", i));
  g_hash_table_add (disk, g_strdup ("late"));
  g_hash_table_add (disk, g_strdup ("late/dir"));
  g_hash_table_add (disk, g_strdup ("late/dir/file"));

  g_hash_table_iter_init (&iter, disk);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (model, key))
      g_error ("missing from the events: %s", (char *) key);
  g_hash_table_iter_init (&iter, model);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (disk, key))
      g_error ("reported but not on disk: %s", (char *) key);
}

/* --- who made the change -------------------------------------------------- */

static HkEvent *
find_event (HkRecorder  *recorder,
            HkEventType  type,
            const char  *path)
{
  for (guint i = 0; i < recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (recorder->events, i);

      if (hk_event_get_event_type (event) == type &&
          strcmp (hk_event_get_path (event), path) == 0)
        return event;
    }
  return NULL;
}

static void
test_pid_on_events (Fixture *f, gconstpointer data)
{
  g_autofree char *mine = path_of (f, "mine");
  g_autofree char *theirs = path_of (f, "theirs");
  g_autofree char *fresh_dir = path_of (f, "fresh");
  g_autofree char *fresh_file = path_of (f, "fresh/inside");
  /* Builtins only: the shell itself makes the change. */
  const char *argv[] = { "/bin/sh", "-c", "echo x > \"$0\"", theirs, NULL };
  const char *mkdir_argv[] = { "/bin/mkdir", fresh_dir, NULL };
  g_autoptr(GError) error = NULL;
  GPid child, mkdir_child;
  int status;

  if (!skip_unless_mode_works (f))
    return;
  fixture_watch (f);

  hk_test_write_file (mine, "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "mine");
  g_assert_cmpint (hk_event_get_pid (find_event (f->recorder, HK_EVENT_CREATED, mine)), ==, getpid ());
  WAIT_FOR (f, HK_EVENT_CLOSED, "mine");
  g_assert_cmpint (hk_event_get_pid (find_event (f->recorder, HK_EVENT_CLOSED, mine)), ==, getpid ());

  g_assert_true (g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                NULL, NULL, &child, &error));
  g_assert_no_error (error);
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  g_assert_true (g_spawn_async (NULL, (char **) mkdir_argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                NULL, NULL, &mkdir_child, &error));
  g_assert_no_error (error);
  g_assert_cmpint (waitpid (mkdir_child, &status, 0), ==, mkdir_child);
  WAIT_FOR (f, HK_EVENT_CREATED, "theirs");
  WAIT_FOR (f, HK_EVENT_CREATED, "fresh");
  g_assert_cmpint (hk_event_get_pid (find_event (f->recorder, HK_EVENT_CREATED, theirs)), ==, child);
  g_assert_cmpint (hk_event_get_pid (find_event (f->recorder, HK_EVENT_CREATED, fresh_dir)), ==, mkdir_child);

  /* Found by reading a directory: synthetic, no pid. Seen by its own
   * event: ours. */
  hk_test_write_file (fresh_file, "y");
  WAIT_FOR (f, HK_EVENT_CREATED, "fresh/inside");

  {
    HkEvent *inside = find_event (f->recorder, HK_EVENT_CREATED, fresh_file);

    if (hk_event_get_is_synthetic (inside))
      g_assert_cmpint (hk_event_get_pid (inside), ==, -1);
    else
      g_assert_cmpint (hk_event_get_pid (inside), ==, getpid ());
  }
}

/* Backends that do not know the process, and events made by hand, say -1. */
static void
test_pid_unknown_elsewhere (Fixture *f, gconstpointer data)
{
  g_autoptr(HkEvent) made = hk_event_new (HK_EVENT_CREATED, "/x", NULL, FALSE, FALSE, 0);
  g_autoptr(GFile) file = g_file_new_for_path (f->root);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = path_of (f, "file");

  g_assert_cmpint (hk_event_get_pid (made), ==, -1);

  f->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_backend (f->watchdog, HK_BACKEND_KIND_INOTIFY);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  g_assert_true (hk_watchdog_start (f->watchdog, NULL, &error));
  g_assert_no_error (error);
  write_rel (f, "file", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "file");
  g_assert_cmpint (hk_event_get_pid (find_event (f->recorder, HK_EVENT_CREATED, path)), ==, -1);
}

/* --- without privileges ------------------------------------------------------ */

static void
unprivileged_child (void)
{
  const char *root = g_getenv ("HK_TEST_ROOT");
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *file = g_build_filename (root, "sub/file", NULL);
  guint filesystem_marks, inode_marks;
  HkEvent *event;

  if (geteuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
    g_error ("cannot drop privileges: %s", g_strerror (errno));

  /* No mode forced: filesystem marks are refused, inode marks are used. */
  hk_fanotify_backend_set_mode_for_testing (NULL);
  watchdog = new_fanotify_watchdog (root);
  recorder = hk_recorder_new (watchdog, root);
  if (!hk_watchdog_start (watchdog, NULL, &error))
    {
      /* Before Linux 5.13 fanotify is for root only. */
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
      g_test_skip (error->message);
      return;
    }

  hk_fanotify_backend_count_marks (&filesystem_marks, &inode_marks);
  g_assert_cmpuint (filesystem_marks, ==, 0);
  g_assert_cmpuint (inode_marks, ==, 2);

  hk_test_write_file (file, "x");
  g_assert_true (hk_recorder_wait_for (recorder, HK_EVENT_CREATED, "sub/file", TIMEOUT));
  event = g_ptr_array_index (recorder->events, 0);
  /* Its own changes carry its pid. */
  g_assert_cmpint (hk_event_get_pid (event), ==, getpid ());
}

static void
test_unprivileged_inode_marks (Fixture *f, gconstpointer data)
{
  g_autofree char *sub = NULL;

  if (g_test_subprocess ())
    {
      unprivileged_child ();
      return;
    }
  if (geteuid () != 0)
    {
      g_test_skip ("needs root to switch to an unprivileged user");
      return;
    }

  mkdir_rel (f, "sub");
  sub = path_of (f, "sub");
  g_chmod (f->root, 0777);
  g_chmod (sub, 0777);
  g_setenv ("HK_TEST_ROOT", f->root, TRUE);
  g_test_trap_subprocess (NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* --- AUTO's choice ------------------------------------------------------------ */

static void
test_auto_small_tree_keeps_inotify (Fixture *f, gconstpointer data)
{
  g_autofree char *reason = NULL;

  mkdir_rel (f, "a/b");
  g_assert_false (hk_fanotify_auto_prefers (f->root, 20, &reason));
  g_assert_true (g_str_has_prefix (reason, "inotify: "));
}

static void
test_auto_large_tree_prefers_fanotify (Fixture *f, gconstpointer data)
{
  g_autofree char *reason = NULL;

  if (!filesystem_marks_permitted ())
    {
      g_test_skip ("filesystem marks need CAP_SYS_ADMIN");
      return;
    }
  /* 5 + 25 directories. */
  for (guint i = 0; i < 25; i++)
    {
      g_autofree char *rel = g_strdup_printf ("d%u/e%u", i / 5, i % 5);

      mkdir_rel (f, rel);
    }
  g_assert_true (hk_fanotify_auto_prefers (f->root, 20, &reason));
  g_assert_true (g_str_has_prefix (reason, "fanotify: "));
}

static void make_wide_tree (Fixture *f, guint n_top, guint n_sub);

/* AUTO with an early start asked for: a tree past the threshold is
 * watched with fanotify (start before the walk), a smaller one, or one
 * whose start waits for the walk, with inotify. */
static void
test_auto_large_tree_early_start_uses_fanotify (Fixture *f, gconstpointer data)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(GError) error = NULL;
  g_autoptr(HkWatchdog) waiting = NULL;
  g_autoptr(HkWatchdog) small = NULL;

  if (!filesystem_marks_permitted ())
    {
      g_test_skip ("filesystem marks need CAP_SYS_ADMIN");
      return;
    }
  make_wide_tree (f, 5, 5);  /* 30 directories */
  hk_watchdog_set_auto_fanotify_threshold_for_testing (20);

  f->watchdog = hk_watchdog_new (root);
  hk_watchdog_set_wait_for_walk (f->watchdog, FALSE);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_watchdog_start (f->watchdog, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (hk_watchdog_get_active_backend (f->watchdog), ==, HK_BACKEND_KIND_FANOTIFY);
  g_assert_true (g_str_has_prefix (hk_watchdog_get_backend_reason (f->watchdog), "fanotify: "));
  write_rel (f, "t04/s04/new", "new");
  WAIT_FOR (f, HK_EVENT_CREATED, "t04/s04/new");
  g_assert_true (hk_test_wait_walk_complete (f->watchdog, TIMEOUT));
  hk_watchdog_stop (f->watchdog);

  waiting = hk_watchdog_new (root);
  hk_watchdog_start (waiting, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (hk_watchdog_get_active_backend (waiting), ==, HK_BACKEND_KIND_INOTIFY);
  hk_watchdog_stop (waiting);

  hk_watchdog_set_auto_fanotify_threshold_for_testing (100);
  small = hk_watchdog_new (root);
  hk_watchdog_set_wait_for_walk (small, FALSE);
  hk_watchdog_start (small, NULL, &error);
  hk_watchdog_set_auto_fanotify_threshold_for_testing (0);
  g_assert_no_error (error);
  g_assert_cmpint (hk_watchdog_get_active_backend (small), ==, HK_BACKEND_KIND_INOTIFY);
  g_assert_nonnull (strstr (hk_watchdog_get_backend_reason (small), "fewer than the 100"));
  hk_watchdog_stop (small);
}

static void
auto_unprivileged_child (void)
{
  const char *root = g_getenv ("HK_TEST_ROOT");
  g_autofree char *reason = NULL;

  if (geteuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
    g_error ("cannot drop privileges: %s", g_strerror (errno));
  g_assert_false (hk_fanotify_auto_prefers (root, 1, &reason));
  g_assert_nonnull (strstr (reason, "CAP_SYS_ADMIN"));
}

static void
test_auto_unprivileged_keeps_inotify (Fixture *f, gconstpointer data)
{
  if (g_test_subprocess ())
    {
      auto_unprivileged_child ();
      return;
    }
  if (geteuid () != 0)
    {
      g_test_skip ("needs root to switch to an unprivileged user");
      return;
    }
  mkdir_rel (f, "a/b");
  g_setenv ("HK_TEST_ROOT", f->root, TRUE);
  g_test_trap_subprocess (NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* --- main ------------------------------------------------------------------- */

static void
test_unavailable (void)
{
  g_test_skip (g_getenv ("HK_FANOTIFY_UNAVAILABLE"));
}


/* --- early ready: start returns before the walk --------------------------- */

/* A tree of @n_top directories with @n_sub subdirectories each, a file in
 * every subdirectory. */
static void
make_wide_tree (Fixture *f,
                guint    n_top,
                guint    n_sub)
{
  for (guint i = 0; i < n_top; i++)
    for (guint j = 0; j < n_sub; j++)
      {
        g_autofree char *rel = g_strdup_printf ("t%02u/s%02u/file", i, j);
        g_autofree char *dir = g_path_get_dirname (rel);

        mkdir_rel (f, dir);
        write_rel (f, rel, "old");
      }
}

/* Starts with the early walk stopped after the root: every other
 * directory is not read when start returns. FALSE (skipped) where start
 * cannot return early (no filesystem mark). */
static gboolean
start_paused_after_root (Fixture *f)
{
  g_autoptr(GError) error = NULL;

  if (strcmp (f->mode, "filesystem") != 0 || !filesystem_marks_permitted ())
    {
      g_test_skip ("start returns before the walk only with a filesystem mark (CAP_SYS_ADMIN)");
      return FALSE;
    }
  f->watchdog = new_fanotify_watchdog (f->root);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_watchdog_pause_walks_for_testing (1);
  hk_watchdog_start (f->watchdog, NULL, &error);
  g_assert_no_error (error);
  return TRUE;
}

static guint
count_any (Fixture    *f,
           const char *rel)
{
  guint n = 0;

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      const char *path = hk_event_get_path (event);
      const char *dest = hk_event_get_dest_path (event);
      gsize root_len = strlen (f->root);

      if ((strlen (path) > root_len && strcmp (path + root_len + 1, rel) == 0) ||
          (dest != NULL && strlen (dest) > root_len && strcmp (dest + root_len + 1, rel) == 0))
        n++;
    }
  return n;
}

/* The snapshot the watchdog holds is the disk's. */
static void
assert_snapshot_is_disk (Fixture *f)
{
  g_autoptr(GFile) root = g_file_new_for_path (f->root);
  g_autoptr(HkSnapshot) known = hk_watchdog_dup_snapshot (f->watchdog);
  g_autoptr(HkSnapshot) disk = hk_snapshot_take (root, NULL, NULL, NULL);
  g_autoptr(GPtrArray) difference = hk_snapshot_diff (known, disk);

  for (guint i = 0; i < difference->len; i++)
    g_printerr ("differs: %s\n", hk_event_get_path (g_ptr_array_index (difference, i)));
  g_assert_cmpuint (difference->len, ==, 0);
  g_assert_cmpuint (hk_snapshot_get_n_entries (known), ==, hk_snapshot_get_n_entries (disk));
}

/* Changes in directories the walk has not read when they are made: each
 * is reported once, nothing that was there before is, and the walk ends
 * with the snapshot complete. */
static void
test_early_changes_in_unread_directories (Fixture *f, gconstpointer data)
{
  g_autofree char *chmod_path = path_of (f, "t01/s01/file");
  g_autofree char *deleted_path = path_of (f, "t01/s02/file");

  make_wide_tree (f, 4, 10);
  write_rel (f, "t00/s00/modified", "old");
  write_rel (f, "t00/s00/renamed", "old");
  write_rel (f, "t02/s00/moved-away", "old");
  if (!start_paused_after_root (f))
    return;

  /* The walk read the root only. */
  g_assert_false (hk_watchdog_get_walk_complete (f->watchdog));
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), <, 10);

  write_rel (f, "in-root", "new");                    /* a directory read */
  write_rel (f, "t00/s00/created", "new");
  write_rel (f, "t00/s00/modified", "newer");
  rename_rel (f, "t00/s00/renamed", "t00/s00/renamed-to");
  g_assert_cmpint (g_unlink (deleted_path), ==, 0);
  g_assert_cmpint (g_chmod (chmod_path, 0600), ==, 0);
  mkdir_rel (f, "t03/s09/new-dir/deeper");
  write_rel (f, "t03/s09/new-dir/deeper/inside", "new");
  rename_rel (f, "t02/s00/moved-away", "t02/s05/moved-here");
  mkdir_rel (f, "t03/new-top");
  write_rel (f, "t03/new-top/file", "new");
  rename_rel (f, "t03/new-top", "t01/new-top-moved");

  hk_watchdog_resume_walks_for_testing ();
  g_assert_true (hk_test_wait_walk_complete (f->watchdog, 30000));
  sync_on_sentinel (f, "sentinel");
  hk_test_drain (100);

  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "in-root"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t00/s00/created"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_MODIFIED, "t00/s00/modified"), >=, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t00/s00/modified"), ==, 0);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_MOVED,
                                       "t00/s00/renamed -> t00/s00/renamed-to"), ==, 1);
  g_assert_cmpuint (count_any (f, "t00/s00/renamed-to"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_DELETED, "t01/s02/file"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_ATTRIBUTE_CHANGED, "t01/s01/file"), ==, 1);
  g_assert_cmpuint (count_any (f, "t01/s01/file"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t03/s09/new-dir"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t03/s09/new-dir/deeper"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t03/s09/new-dir/deeper/inside"), ==, 1);

  /* A move between two directories not read yet: one `moved`, or, when
   * the walk reads them in different slices, a deletion and a creation. */
  if (hk_recorder_count (f->recorder, HK_EVENT_MOVED, "t02/s00/moved-away -> t02/s05/moved-here") == 0)
    {
      g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_DELETED, "t02/s00/moved-away"), ==, 1);
      g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t02/s05/moved-here"), ==, 1);
    }
  else
    g_assert_cmpuint (count_any (f, "t02/s05/moved-here"), ==, 1);
  /* Made and moved before either directory was read. */
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t03/new-top"), ==, 1);
  if (hk_recorder_count (f->recorder, HK_EVENT_MOVED, "t03/new-top -> t01/new-top-moved") == 0)
    {
      /* Read in different slices: the move's halves. */
      g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_DELETED, "t03/new-top"), ==, 1);
      g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t01/new-top-moved"), ==, 1);
    }
  else
    g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t01/new-top-moved"), ==, 0);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_DELETED, "t01/new-top-moved"), ==, 0);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t01/new-top-moved/file") +
                    hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t03/new-top/file"), ==, 1);

  /* Nothing that was there before start is reported. */
  for (guint i = 0; i < 4; i++)
    for (guint j = 0; j < 10; j++)
      {
        g_autofree char *rel = g_strdup_printf ("t%02u/s%02u/file", i, j);

        if ((i == 1 && (j == 1 || j == 2)))
          continue;
        if (count_any (f, rel) != 0)
          {
            hk_recorder_dump (f->recorder);
            g_error ("reported, but there before start: %s", rel);
          }
      }
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "t00"), ==, 0);

  g_assert_true (hk_watchdog_get_walk_complete (f->watchdog));
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 1 + 4 + 40 + 3);
  assert_snapshot_is_disk (f);
}

/* With wait-for-walk, start returns with the snapshot complete; without,
 * with the walk still going on (it is stopped after the root here). */
static void
test_early_wait_for_walk (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(HkSnapshot) partial = NULL;

  make_wide_tree (f, 3, 10);
  if (!start_paused_after_root (f))
    return;
  g_assert_false (hk_watchdog_get_walk_complete (f->watchdog));
  partial = hk_watchdog_dup_snapshot (f->watchdog);
  g_assert_cmpuint (hk_snapshot_get_n_entries (partial), <, 10);
  hk_watchdog_stop (f->watchdog);
  g_assert_false (hk_watchdog_get_walk_complete (f->watchdog));

  hk_watchdog_set_wait_for_walk (f->watchdog, TRUE);
  hk_watchdog_start (f->watchdog, NULL, &error);
  g_assert_no_error (error);
  hk_watchdog_resume_walks_for_testing ();
  g_assert_true (hk_watchdog_get_walk_complete (f->watchdog));
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 1 + 3 + 30);
  assert_snapshot_is_disk (f);
}

/* Past the bound on held events: `overflow`, then, once the walk is over,
 * a rescan; the snapshot is the disk's and the changes that can still be
 * seen are reported. */
static gboolean
held_more (gpointer data)
{
  return hk_fanotify_backend_count_held () > *(guint *) data;
}

static void
test_early_hold_bound (Fixture *f, gconstpointer data)
{
  guint held_before;

  make_wide_tree (f, 2, 10);
  hk_fanotify_backend_set_hold_max_for_testing (20);
  g_assert_true (hk_watchdog_restart_backend_for_testing ());
  if (!start_paused_after_root (f))
    return;

  /* The first file's events are read (and held) and the queue found
   * empty before the others come: what is dropped goes back further than
   * the last time the queue was empty. */
  held_before = hk_fanotify_backend_count_held ();
  write_rel (f, "t00/s00/new0", "new");
  g_assert_true (hk_test_wait_until (held_more, &held_before, TIMEOUT));
  g_usleep (20000);  /* lets the backend find the queue empty (the failure needs it, not the pass) */

  for (guint i = 1; i < 40; i++)
    {
      g_autofree char *rel = g_strdup_printf ("t%02u/s%02u/new%u", i % 2, i % 10, i);

      write_rel (f, rel, "new");
    }

  hk_watchdog_resume_walks_for_testing ();
  g_assert_true (hk_test_wait_walk_complete (f->watchdog, 30000));
  g_assert_true (hk_test_wait_until (got_overflow, f->recorder, TIMEOUT));
  sync_on_sentinel (f, "sentinel");

  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *rel = g_strdup_printf ("t%02u/s%02u/new%u", i % 2, i % 10, i);

      if (count_any (f, rel) == 0)
        {
          hk_recorder_dump (f->recorder);
          g_error ("never reported: %s", rel);
        }
    }
  assert_snapshot_is_disk (f);
}

/* Applies what @f's recorder heard to a model of the tree as it was at
 * start: the stream must be exactly-once (no creation of a known path, no
 * deletion or move of an unknown one) and end where the disk is. */
static void
assert_events_replay_to_disk (Fixture      *f,
                              HkReplayTree *at_start)
{
  g_autoptr(HkReplayModel) model = hk_replay_model_new (f->root, at_start);
  g_autoptr(HkReplayTree) disk = NULL;
  g_autoptr(GPtrArray) difference = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) anomalies = NULL;

  for (guint i = 0; i < f->recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (f->recorder->events, i);
      HkReplayChange change;

      switch (hk_event_get_event_type (event))
        {
        case HK_EVENT_CREATED: change = HK_REPLAY_CHANGE_CREATE; break;
        case HK_EVENT_DELETED: change = HK_REPLAY_CHANGE_DELETE; break;
        case HK_EVENT_MOVED: change = HK_REPLAY_CHANGE_MOVE; break;
        default: change = HK_REPLAY_CHANGE_TOUCH; break;
        }
      hk_replay_model_apply (model, change, hk_event_get_path (event),
                             hk_event_get_dest_path (event), hk_event_get_is_directory (event));
    }

  disk = hk_replay_tree_scan (f->root, &error);
  g_assert_no_error (error);
  difference = hk_replay_tree_diff (disk, hk_replay_model_get_tree (model), HK_REPLAY_DIFF_DIRECTORIES);
  anomalies = hk_replay_model_get_anomalies (model);
  if (difference->len > 0 || anomalies->len > 0 || hk_replay_model_get_n_duplicates (model) > 0)
    {
      hk_recorder_dump (f->recorder);
      for (guint i = 0; i < anomalies->len; i++)
        g_printerr ("anomaly: %s\n", (const char *) g_ptr_array_index (anomalies, i));
      for (guint i = 0; i < difference->len; i++)
        g_printerr ("differs from the disk: %s\n", (const char *) g_ptr_array_index (difference, i));
    }
  g_assert_cmpuint (hk_replay_model_get_n_duplicates (model), ==, 0);
  g_assert_cmpuint (anomalies->len, ==, 0);
  g_assert_cmpuint (difference->len, ==, 0);
}

/* Names reused: a file moved in and then replaced by a rename, a name
 * moved to another directory twice (the second time over the first), a
 * file replaced by a rename, a directory that arrives by rename and is
 * written to there, a new directory moved away and back. fanotify merges
 * the queued events about one name, so some come as one event. */
static void
reuse_names (Fixture *f)
{
  write_rel (f, "a", "new");
  rename_rel (f, "a", "t00/s00/x");
  write_rel (f, "t00/s00/y", "new");
  rename_rel (f, "t00/s00/y", "t00/s00/x");

  mkdir_rel (f, "t01/d");
  write_rel (f, "t01/d/f", "new");
  rename_rel (f, "t01/d", "t01/s00/d2");
  write_rel (f, "t01/s00/d2/g", "new");

  write_rel (f, "t02/s00/x", "one");
  rename_rel (f, "t02/s00/x", "t02/s01/x");
  write_rel (f, "t02/s00/x", "two");
  rename_rel (f, "t02/s00/x", "t02/s01/x");

  write_rel (f, "t03/s00/new", "new");
  rename_rel (f, "t03/s00/new", "t03/s00/old");
  mkdir_rel (f, "t03/s01/nd");
  rename_rel (f, "t03/s01/nd", "t03/s02/nd");
  write_rel (f, "t03/s02/nd/in", "new");
  rename_rel (f, "t03/s02/nd", "t03/s01/nd");
}

static HkReplayTree *
make_reuse_tree (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  HkReplayTree *at_start;

  make_wide_tree (f, 4, 4);
  write_rel (f, "t03/s00/old", "old");
  at_start = hk_replay_tree_scan (f->root, &error);
  g_assert_no_error (error);
  return at_start;
}

/* Each change is told once, and the stream ends where the disk is. */
static void
test_events_names_reused (Fixture *f, gconstpointer data)
{
  g_autoptr(HkReplayTree) at_start = NULL;

  if (!skip_unless_mode_works (f))
    return;
  at_start = make_reuse_tree (f);
  fixture_watch (f);
  reuse_names (f);
  sync_on_sentinel (f, "sentinel");
  hk_test_drain (100);
  assert_events_replay_to_disk (f, at_start);
  assert_snapshot_is_disk (f);
}

/* The same, in directories the walk has not read yet. */
static void
test_early_names_reused_in_unread_directories (Fixture *f, gconstpointer data)
{
  g_autoptr(HkReplayTree) at_start = make_reuse_tree (f);

  if (!start_paused_after_root (f))
    return;
  reuse_names (f);
  hk_watchdog_resume_walks_for_testing ();
  g_assert_true (hk_test_wait_walk_complete (f->watchdog, 30000));
  sync_on_sentinel (f, "sentinel");
  hk_test_drain (100);
  assert_events_replay_to_disk (f, at_start);
  assert_snapshot_is_disk (f);
}

static gboolean
fanotify_available (char **why)
{
  int fd = fanotify_init (FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME, O_RDONLY);

  if (fd < 0)
    {
      *why = g_strdup_printf ("fanotify with FAN_REPORT_DFID_NAME is unavailable here "
                              "(%s): Linux 5.9 as root, 5.13 for anyone", g_strerror (errno));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

int
main (int argc, char **argv)
{
  static const char *modes[] = { "filesystem", "inode" };
  static const struct { const char *name; void (*func) (Fixture *, gconstpointer); } tests[] = {
    { "events/every-kind", test_events_every_kind },
    { "events/access", test_events_access },
    { "events/unwatched-subdirectory-attributes", test_events_unwatched_subdirectory_attributes },
    { "events/merged-create-delete-settled-by-disk", test_events_merged_create_delete },
    { "events/directory-replaced-by-file", test_events_directory_replaced_by_file },
    { "events/merged-in-renamed-directory", test_events_merged_in_renamed_directory },
    { "events/names-reused", test_events_names_reused },
    { "moves/paired", test_moves_paired },
    { "moves/across-the-root", test_moves_across_the_root },
    { "outside/not-reported", test_outside_not_reported },
    { "mounts/tmpfs-inside-tree", test_mount_inside_tree },
    { "fan-out/two-watchdogs", test_fan_out_two_watchdogs },
    { "overflow/reports-exact-difference", test_overflow_reports_exact_difference },
    { "pid/on-events", test_pid_on_events },
    { "early-ready/changes-in-unread-directories", test_early_changes_in_unread_directories },
    { "early-ready/wait-for-walk", test_early_wait_for_walk },
    { "early-ready/hold-bound-overflow", test_early_hold_bound },
    { "early-ready/names-reused-in-unread-directories", test_early_names_reused_in_unread_directories },
  };
  g_autofree char *why = NULL;

  g_test_init (&argc, &argv, NULL);

  g_test_add ("/fanotify/pid/unknown-elsewhere", Fixture, "inode",
              fixture_set_up, test_pid_unknown_elsewhere, fixture_tear_down);

  if (!fanotify_available (&why))
    {
      g_setenv ("HK_FANOTIFY_UNAVAILABLE", why, TRUE);
      g_test_add_func ("/fanotify/unavailable", test_unavailable);
      return g_test_run ();
    }

  for (guint m = 0; m < G_N_ELEMENTS (modes); m++)
    for (guint t = 0; t < G_N_ELEMENTS (tests); t++)
      {
        g_autofree char *path = g_strdup_printf ("/fanotify/%s/%s", modes[m], tests[t].name);

        g_test_add (path, Fixture, modes[m], fixture_set_up, tests[t].func, fixture_tear_down);
      }
  g_test_add ("/fanotify/unprivileged/inode-marks", Fixture, "inode",
              fixture_set_up, test_unprivileged_inode_marks, fixture_tear_down);
  g_test_add ("/fanotify/auto/small-tree-keeps-inotify", Fixture, "inode",
              fixture_set_up, test_auto_small_tree_keeps_inotify, fixture_tear_down);
  g_test_add ("/fanotify/auto/large-tree-prefers-fanotify", Fixture, "inode",
              fixture_set_up, test_auto_large_tree_prefers_fanotify, fixture_tear_down);
  g_test_add ("/fanotify/auto/large-tree-early-start-uses-fanotify", Fixture, "filesystem",
              fixture_set_up, test_auto_large_tree_early_start_uses_fanotify, fixture_tear_down);
  g_test_add ("/fanotify/auto/unprivileged-keeps-inotify", Fixture, "inode",
              fixture_set_up, test_auto_unprivileged_keeps_inotify, fixture_tear_down);

  return g_test_run ();
}
