/* test-auto.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"

/* HK_BACKEND_KIND_AUTO chooses per mount point: a tree with a tmpfs and a
 * FUSE filesystem (bindfs) mounted inside is watched with inotify where
 * local and polled under the FUSE mount, where changes made behind FUSE's
 * back reach no inotify watch. Needs root (mount) and bindfs; skipped
 * otherwise. */

#define TIMEOUT 5000
#define POLL_INTERVAL_MS 50

typedef struct
{
  char       *base;
  char       *root;
  char       *fuse_source;   /* what the FUSE mount shows, changed directly */
  char       *tmpfs_mount;
  char       *fuse_mount;
  gboolean    tmpfs_mounted;
  gboolean    fuse_mounted;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  f->base = hk_test_make_tmpdir ();
  f->root = g_build_filename (f->base, "root", NULL);
  f->fuse_source = g_build_filename (f->base, "source", NULL);
  f->tmpfs_mount = g_build_filename (f->root, "ram", NULL);
  f->fuse_mount = g_build_filename (f->root, "remote", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->tmpfs_mount, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (f->fuse_mount, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (f->fuse_source, 0755), ==, 0);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  /* Lazily: a watch may still hold the mount for a moment. */
  if (f->fuse_mounted)
    umount2 (f->fuse_mount, MNT_DETACH);
  if (f->tmpfs_mounted)
    umount2 (f->tmpfs_mount, MNT_DETACH);
  hk_test_remove_tree (&f->base, &f->root, NULL);
  g_free (f->fuse_source);
  g_free (f->tmpfs_mount);
  g_free (f->fuse_mount);
}

static gboolean
mount_tmpfs (Fixture *f)
{
  if (mount ("hachiko-test", f->tmpfs_mount, "tmpfs", 0, "size=4m") != 0)
    {
      g_autofree char *why = g_strdup_printf ("cannot mount a tmpfs: %s", g_strerror (errno));

      g_test_skip (why);
      return FALSE;
    }
  f->tmpfs_mounted = TRUE;
  return TRUE;
}

static gboolean
mount_fuse (Fixture *f)
{
  g_autofree char *bindfs = g_find_program_in_path ("bindfs");
  const char *argv[] = { bindfs, f->fuse_source, f->fuse_mount, NULL };
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (bindfs == NULL || access ("/dev/fuse", R_OK | W_OK) != 0)
    {
      g_test_skip ("bindfs (FUSE) is not available");
      return FALSE;
    }
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, &error) ||
      !g_spawn_check_wait_status (status, NULL))
    {
      g_test_skip ("bindfs could not mount");
      return FALSE;
    }
  f->fuse_mounted = TRUE;
  return TRUE;
}

static HkWatchdog *
start_auto (const char *path,
            HkRecorder **recorder)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;
  HkWatchdog *watchdog = hk_watchdog_new (file);

  g_assert_cmpint (hk_watchdog_get_backend (watchdog), ==, HK_BACKEND_KIND_AUTO);
  hk_watchdog_set_poll_interval (watchdog, POLL_INTERVAL_MS);
  *recorder = hk_recorder_new (watchdog, path);
  hk_watchdog_start (watchdog, NULL, &error);
  g_assert_no_error (error);
  return watchdog;
}

#define WAIT_FOR(recorder, type, rel) HK_RECORDER_WAIT_FOR (recorder, type, rel, TIMEOUT)

static void
test_auto_polls_under_fuse_mount_only (Fixture *f, gconstpointer data)
{
  g_autofree char *behind = g_build_filename (f->fuse_source, "behind-fuse", NULL);
  g_autofree char *ram_file = g_build_filename (f->tmpfs_mount, "in-ram", NULL);
  g_autofree char *local_file = g_build_filename (f->root, "local", NULL);
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(HkWatchdog) watchdog = NULL;
  g_autofree char *sub = NULL;

  if (!mount_tmpfs (f) || !mount_fuse (f))
    return;

  sub = g_build_filename (f->tmpfs_mount, "sub", NULL);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  g_clear_pointer (&sub, g_free);
  sub = g_build_filename (f->fuse_source, "a", "b", NULL);
  g_assert_cmpint (g_mkdir_with_parents (sub, 0755), ==, 0);

  watchdog = start_auto (f->root, &recorder);
  g_assert_cmpint (hk_watchdog_get_active_backend (watchdog), ==, HK_BACKEND_KIND_INOTIFY);
  g_assert_cmpstr (hk_watchdog_get_backend_reason (watchdog), ==, "inotify: a local filesystem");

  /* root and ram, ram/sub with inotify; remote, remote/a, remote/a/b polled. */
  g_assert_cmpuint (hk_watchdog_get_n_watched_directories (watchdog), ==, 6);
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, 3);

  /* Behind FUSE's back: no inotify watch on the mount could see this. */
  hk_test_write_file (behind, "x");
  WAIT_FOR (recorder, HK_EVENT_CREATED, "remote/behind-fuse");

  /* The local parts are inotify's, as fast as ever. */
  hk_test_write_file (ram_file, "x");
  hk_test_write_file (local_file, "x");
  WAIT_FOR (recorder, HK_EVENT_CREATED, "ram/in-ram");
  WAIT_FOR (recorder, HK_EVENT_CLOSED, "ram/in-ram");   /* polling cannot see closes */
  WAIT_FOR (recorder, HK_EVENT_CLOSED, "local");

  hk_test_drain (4 * POLL_INTERVAL_MS);
  g_assert_cmpuint (hk_recorder_count (recorder, HK_EVENT_CREATED, "remote/behind-fuse"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (recorder, HK_EVENT_CLOSED, "remote/behind-fuse"), ==, 0);
  g_assert_cmpuint (recorder->errors->len, ==, 0);

  hk_watchdog_stop (watchdog);
}

/* A root on the FUSE filesystem itself is polled, and says why. */
static void
test_auto_polls_fuse_root (Fixture *f, gconstpointer data)
{
  g_autofree char *behind = g_build_filename (f->fuse_source, "behind-fuse", NULL);
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(HkWatchdog) watchdog = NULL;

  if (!mount_fuse (f))
    return;

  watchdog = start_auto (f->fuse_mount, &recorder);
  g_assert_cmpint (hk_watchdog_get_active_backend (watchdog), ==, HK_BACKEND_KIND_POLL);
  g_assert_nonnull (strstr (hk_watchdog_get_backend_reason (watchdog), "fuse"));
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, 0);

  hk_test_write_file (behind, "x");
  WAIT_FOR (recorder, HK_EVENT_CREATED, "behind-fuse");
  hk_watchdog_stop (watchdog);
}

/* A tmpfs is local: inotify all the way down. */
static void
test_auto_tmpfs_is_inotify (Fixture *f, gconstpointer data)
{
  g_autofree char *ram_file = g_build_filename (f->tmpfs_mount, "in-ram", NULL);
  g_autoptr(HkRecorder) recorder = NULL;
  g_autoptr(HkWatchdog) watchdog = NULL;

  if (!mount_tmpfs (f))
    return;

  watchdog = start_auto (f->tmpfs_mount, &recorder);
  g_assert_cmpint (hk_watchdog_get_active_backend (watchdog), ==, HK_BACKEND_KIND_INOTIFY);
  g_assert_cmpuint (hk_watchdog_get_backend_watches (), ==, 1);
  hk_test_write_file (ram_file, "x");
  WAIT_FOR (recorder, HK_EVENT_CLOSED, "in-ram");
  hk_watchdog_stop (watchdog);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/auto/polls-under-fuse-mount-only", Fixture, NULL,
              fixture_set_up, test_auto_polls_under_fuse_mount_only, fixture_tear_down);
  g_test_add ("/auto/polls-fuse-root", Fixture, NULL,
              fixture_set_up, test_auto_polls_fuse_root, fixture_tear_down);
  g_test_add ("/auto/tmpfs-is-inotify", Fixture, NULL,
              fixture_set_up, test_auto_tmpfs_is_inotify, fixture_tear_down);

  return g_test_run ();
}
