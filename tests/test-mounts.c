/* test-mounts.c: filesystems mounted and unmounted inside a watched tree
 * (issue 10, items 4 and 5). Needs to be allowed to mount a tmpfs (root);
 * skipped with a message otherwise.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"

#define TIMEOUT 5000

typedef struct
{
  char       *base;
  char       *root;
  char       *mount_point;  /* non-NULL while a tmpfs is mounted there */
  int         unmount_errno;
  HkWatchdog *watchdog;
  HkRecorder *recorder;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  hk_test_make_tree (&f->base, &f->root, NULL);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  g_clear_pointer (&f->recorder, hk_recorder_free);
  g_clear_object (&f->watchdog);
  if (f->mount_point != NULL)
    umount2 (f->mount_point, MNT_DETACH);
  hk_test_remove_tree (&f->base, &f->root, NULL);
  g_free (f->mount_point);
}

/* mount(2) on root/@relative; FALSE (and the test skipped, saying what
 * could not be done) when this process may not mount. */
static gboolean
mount_or_skip (Fixture       *f,
               const char    *what,
               const char    *source,
               const char    *relative,
               const char    *fstype,
               unsigned long  flags,
               const char    *options)
{
  g_autofree char *path = hk_test_path (f->root, relative);

  if (mount (source, path, fstype, flags, options) != 0)
    {
      int errsv = errno;
      g_autofree char *message = g_strdup_printf ("cannot %s here (%s): "
                                                  "needs root (CAP_SYS_ADMIN)",
                                                  what, g_strerror (errsv));

      g_test_skip (message);
      return FALSE;
    }

  f->mount_point = g_steal_pointer (&path);
  return TRUE;
}

/* Mounts a small tmpfs on @relative. */
static gboolean
mount_tmpfs (Fixture    *f,
             const char *relative)
{
  return mount_or_skip (f, "mount a tmpfs", "hachiko-test", relative, "tmpfs", 0, "size=1m");
}

/* Bind-mounts base/@source on root/@relative. */
static gboolean
bind_mount (Fixture    *f,
            const char *source,
            const char *relative)
{
  g_autofree char *from = g_build_filename (f->base, source, NULL);

  return mount_or_skip (f, "bind-mount", from, relative, "none", MS_BIND, NULL);
}

static gboolean
try_unmount (gpointer data)
{
  Fixture *f = data;

  f->unmount_errno = umount2 (f->mount_point, 0) == 0 ? 0 : errno;
  return f->unmount_errno != EBUSY;
}

static void
unmount (Fixture *f)
{
  /* Busy while the worker reads a directory on it: try again. */
  g_assert_true (hk_test_wait_until (try_unmount, f, TIMEOUT));
  g_assert_cmpstr (g_strerror (f->unmount_errno), ==, g_strerror (0));
  g_clear_pointer (&f->mount_point, g_free);
}

static void
fixture_watch (Fixture *f)
{
  f->watchdog = hk_test_watchdog_new (f->root);
  f->recorder = hk_recorder_new (f->watchdog, f->root);
  hk_test_start (f->watchdog);
}

#define WAIT_FOR(f, type, rel) HK_RECORDER_WAIT_FOR ((f)->recorder, type, rel, TIMEOUT)

/* A tmpfs mounted on a subdirectory is unmounted: the difference is
 * reported (its entries gone, the covered directory's entries there), and
 * the now-plain directory is watched again, so later changes in it are
 * reported too. */
static void
test_unmounted_subdirectory_watched_again (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "mnt");
  hk_test_write (f->root, "mnt/under", "covered by the mount");
  if (!mount_tmpfs (f, "mnt"))
    return;
  hk_test_write (f->root, "mnt/on-tmpfs", "x");
  hk_test_mkdir (f->root, "mnt/tsub");
  hk_test_write (f->root, "mnt/tsub/deep", "x");

  fixture_watch (f);
  /* root, mnt, mnt/tsub */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);

  unmount (f);
  WAIT_FOR (f, HK_EVENT_DELETED, "mnt/on-tmpfs");
  WAIT_FOR (f, HK_EVENT_DELETED, "mnt/tsub");
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/under");

  hk_test_write (f->root, "mnt/later", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/later");
  hk_test_mkdir (f->root, "mnt/newdir");
  hk_test_write (f->root, "mnt/newdir/file", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/newdir/file");
  hk_test_write (f->root, "mnt/under", "changed");
  WAIT_FOR (f, HK_EVENT_MODIFIED, "mnt/under");

  hk_test_drain (50);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "mnt/under"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "mnt/later"), ==, 1);
  g_assert_true (hk_watchdog_get_running (f->watchdog));
  g_assert_cmpuint (f->recorder->errors->len, ==, 0);
  /* root, mnt, mnt/newdir */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);
}

/* A tmpfs mounted over a watched subdirectory after the start: the kernel
 * says nothing, the mount table does. The covered entries are reported
 * gone, and the tmpfs is watched: files created on it are reported. */
static void
test_mount_over_watched_subdirectory (Fixture *f, gconstpointer data)
{
  hk_test_mkdir (f->root, "mnt/sub");
  hk_test_write (f->root, "mnt/covered", "x");
  fixture_watch (f);

  if (!mount_tmpfs (f, "mnt"))
    return;
  WAIT_FOR (f, HK_EVENT_DELETED, "mnt/covered");
  WAIT_FOR (f, HK_EVENT_DELETED, "mnt/sub");
  hk_test_write (f->root, "mnt/on-tmpfs", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/on-tmpfs");
  hk_test_mkdir (f->root, "mnt/tdir");
  hk_test_write (f->root, "mnt/tdir/deep", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/tdir/deep");

  unmount (f);
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/covered");
  WAIT_FOR (f, HK_EVENT_DELETED, "mnt/on-tmpfs");
  hk_test_write (f->root, "mnt/after", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "mnt/after");

  hk_test_drain (50);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "mnt/on-tmpfs"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (f->recorder, HK_EVENT_CREATED, "mnt/covered"), ==, 1);
  g_assert_cmpuint (f->recorder->errors->len, ==, 0);
  /* root, mnt, mnt/sub */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (f->watchdog), ==, 3);
}

/* A bind mount inside the tree, then detached: no IN_UNMOUNT (the
 * filesystem stays mounted elsewhere). Creates in the uncovered directory
 * are reported; creates in the directory that was bound are no longer
 * reported under the old mount point. */
static void
test_bind_mount_detached (Fixture *f, gconstpointer data)
{
  g_autofree char *src = g_build_filename (f->base, "src", NULL);
  g_autofree char *src_late = g_build_filename (f->base, "src", "late", NULL);
  g_autofree char *src_gone = g_build_filename (f->base, "src", "after-detach", NULL);

  g_assert_cmpint (g_mkdir (src, 0755), ==, 0);
  hk_test_write_file (src_late, "x");
  hk_test_mkdir (f->root, "bound");
  hk_test_write (f->root, "bound/covered", "x");
  fixture_watch (f);

  if (!bind_mount (f, "src", "bound"))
    return;
  WAIT_FOR (f, HK_EVENT_DELETED, "bound/covered");
  WAIT_FOR (f, HK_EVENT_CREATED, "bound/late");

  unmount (f);
  WAIT_FOR (f, HK_EVENT_DELETED, "bound/late");
  WAIT_FOR (f, HK_EVENT_CREATED, "bound/covered");

  hk_test_write_file (src_gone, "x");
  hk_test_write (f->root, "bound/uncovered", "x");
  WAIT_FOR (f, HK_EVENT_CREATED, "bound/uncovered");
  hk_test_drain (50);
  g_assert_false (hk_recorder_has (f->recorder, HK_EVENT_CREATED, "bound/after-detach"));
  g_assert_cmpuint (f->recorder->errors->len, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  /* A mount namespace of our own, made before any thread exists: the test's
   * mounts go with the process even if it aborts, and other processes'
   * mounts do not reach it. */
  if (unshare (CLONE_NEWNS) == 0)
    mount ("none", "/", "none", MS_REC | MS_PRIVATE, NULL);  /* types ignored; valgrind wants strings */

  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/mounts/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("unmounted-subdirectory-watched-again", test_unmounted_subdirectory_watched_again);
  ADD ("mount-over-watched-subdirectory", test_mount_over_watched_subdirectory);
  ADD ("bind-mount-detached", test_bind_mount_detached);

#undef ADD

  return g_test_run ();
}
