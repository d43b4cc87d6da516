/* hk-test-util.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"
#include "hk-watchdog-private.h"

char *
hk_test_make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("hachiko-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

static int
remove_entry (const char        *path,
              const struct stat *st,
              int                flag,
              struct FTW        *ftw)
{
  if (flag == FTW_DP || flag == FTW_D)
    {
      chmod (path, 0700);
      return rmdir (path) == 0 || errno == ENOENT ? 0 : 0;
    }
  unlink (path);
  return 0;
}

static int
make_writable (const char        *path,
               const struct stat *st,
               int                flag,
               struct FTW        *ftw)
{
  if (flag == FTW_D || flag == FTW_DNR)
    chmod (path, 0700);
  return 0;
}

void
hk_test_rm_rf (const char *path)
{
  if (path == NULL)
    return;
  nftw (path, make_writable, 64, FTW_PHYS);
  nftw (path, remove_entry, 64, FTW_DEPTH | FTW_PHYS);
}

void
hk_test_write_file (const char *path,
                    const char *contents)
{
  /* In place, not g_file_set_contents(): that renames a temporary file
   * over the target, which is a different sequence of events. */
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  gsize len = strlen (contents);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, contents, len), ==, (gssize) len);
  close (fd);
}

char *
hk_test_path (const char *root,
              const char *relative)
{
  return g_build_filename (root, relative, NULL);
}

void
hk_test_make_tree (char **base,
                   char **root,
                   char **outside)
{
  *base = hk_test_make_tmpdir ();
  *root = g_build_filename (*base, "root", NULL);
  g_assert_cmpint (g_mkdir (*root, 0755), ==, 0);
  if (outside == NULL)
    return;
  *outside = g_build_filename (*base, "outside", NULL);
  g_assert_cmpint (g_mkdir (*outside, 0755), ==, 0);
}

void
hk_test_remove_tree (char **base,
                     char **root,
                     char **outside)
{
  hk_test_rm_rf (*base);
  g_clear_pointer (base, g_free);
  g_clear_pointer (root, g_free);
  if (outside != NULL)
    g_clear_pointer (outside, g_free);
}

void
hk_test_mkdir (const char *root,
               const char *relative)
{
  g_autofree char *path = hk_test_path (root, relative);

  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

void
hk_test_write (const char *root,
               const char *relative,
               const char *contents)
{
  g_autofree char *path = hk_test_path (root, relative);

  hk_test_write_file (path, contents);
}

void
hk_test_rename (const char *root,
                const char *from,
                const char *to)
{
  g_autofree char *from_path = hk_test_path (root, from);
  g_autofree char *to_path = hk_test_path (root, to);

  g_assert_cmpint (g_rename (from_path, to_path), ==, 0);
}

gboolean
hk_test_read_sysctl (const char  *path,
                     char       **value)
{
  return g_file_get_contents (path, value, NULL, NULL);
}

gboolean
hk_test_write_sysctl (const char *path,
                      const char *value)
{
  FILE *fp = fopen (path, "w");
  gboolean ok;

  if (fp == NULL)
    return FALSE;
  ok = fputs (value, fp) >= 0;
  return fclose (fp) == 0 && ok;
}

void
hk_test_restore_max_queued_events (char **saved)
{
  if (*saved != NULL)
    hk_test_write_sysctl (HK_TEST_MAX_QUEUED_EVENTS, *saved);
  hk_watchdog_restart_backend_for_testing ();
  g_clear_pointer (saved, g_free);
}

HkWatchdog *
hk_test_watchdog_new (const char *root)
{
  g_autoptr(GFile) file = g_file_new_for_path (root);

  return hk_watchdog_new (file);
}

void
hk_test_start (HkWatchdog *watchdog)
{
  g_autoptr(GError) error = NULL;

  hk_watchdog_start (watchdog, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hk_watchdog_get_running (watchdog));
}

static void
on_event (HkWatchdog *watchdog,
          HkEvent    *event,
          HkRecorder *recorder)
{
  g_assert_true (g_thread_self () == recorder->owner);
  g_ptr_array_add (recorder->events, hk_event_ref (event));
}

static void
on_overflow (HkWatchdog *watchdog,
             HkRecorder *recorder)
{
  g_assert_true (g_thread_self () == recorder->owner);
  recorder->n_overflows++;
}

static void
on_error (HkWatchdog   *watchdog,
          const GError *error,
          HkRecorder   *recorder)
{
  g_assert_true (g_thread_self () == recorder->owner);
  g_ptr_array_add (recorder->errors, g_error_copy (error));
}

HkRecorder *
hk_recorder_new (HkWatchdog *watchdog,
                 const char *root)
{
  HkRecorder *recorder = g_new0 (HkRecorder, 1);

  recorder->watchdog = g_object_ref (watchdog);
  recorder->events = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
  recorder->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  recorder->owner = g_thread_self ();
  recorder->root = g_strdup (root);
  recorder->handler_ids[0] = g_signal_connect (watchdog, "event", G_CALLBACK (on_event), recorder);
  recorder->handler_ids[1] = g_signal_connect (watchdog, "overflow", G_CALLBACK (on_overflow), recorder);
  recorder->handler_ids[2] = g_signal_connect (watchdog, "error", G_CALLBACK (on_error), recorder);

  return recorder;
}

void
hk_recorder_free (HkRecorder *recorder)
{
  for (guint i = 0; i < G_N_ELEMENTS (recorder->handler_ids); i++)
    g_signal_handler_disconnect (recorder->watchdog, recorder->handler_ids[i]);
  g_object_unref (recorder->watchdog);
  g_ptr_array_unref (recorder->events);
  g_ptr_array_unref (recorder->errors);
  g_free (recorder->root);
  g_free (recorder);
}

void
hk_recorder_clear (HkRecorder *recorder)
{
  g_ptr_array_set_size (recorder->events, 0);
  g_ptr_array_set_size (recorder->errors, 0);
  recorder->n_overflows = 0;
}

static const char *
relative (HkRecorder *recorder,
          const char *path)
{
  gsize len = strlen (recorder->root);

  if (path == NULL)
    return NULL;
  if (strncmp (path, recorder->root, len) != 0)
    return path;
  path += len;
  while (*path == '/')
    path++;
  return path;
}

static gboolean
event_is (HkRecorder  *recorder,
          HkEvent     *event,
          HkEventType  type,
          const char  *rel)
{
  g_autofree char *name = NULL;

  if (hk_event_get_event_type (event) != type)
    return FALSE;

  if (type == HK_EVENT_MOVED)
    name = g_strdup_printf ("%s -> %s",
                            relative (recorder, hk_event_get_path (event)),
                            relative (recorder, hk_event_get_dest_path (event)));
  else
    name = g_strdup (relative (recorder, hk_event_get_path (event)));

  return g_strcmp0 (name, rel) == 0;
}

guint
hk_recorder_count (HkRecorder  *recorder,
                   HkEventType  type,
                   const char  *rel)
{
  guint n = 0;

  for (guint i = 0; i < recorder->events->len; i++)
    if (event_is (recorder, g_ptr_array_index (recorder->events, i), type, rel))
      n++;

  return n;
}

gboolean
hk_recorder_has (HkRecorder  *recorder,
                 HkEventType  type,
                 const char  *rel)
{
  return hk_recorder_count (recorder, type, rel) > 0;
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
hk_test_wait_until (gboolean (*func) (gpointer data),
                    gpointer   data,
                    guint      timeout_ms)
{
  GMainContext *context = g_main_context_get_thread_default ();
  gboolean timed_out = FALSE;
  GSource *timeout = g_timeout_source_new (timeout_ms);
  gboolean result;

  g_source_set_callback (timeout, on_timeout, &timed_out, NULL);
  g_source_attach (timeout, context);

  while (!(result = func (data)) && !timed_out)
    g_main_context_iteration (context, TRUE);

  g_source_destroy (timeout);
  g_source_unref (timeout);

  return result;
}

gboolean
hk_test_wait_queued (HkWatchdog *watchdog,
                     guint       n,
                     guint       timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (hk_watchdog_get_n_queued_for_testing (watchdog) < n)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (1000);
    }
  return TRUE;
}

static gboolean
walk_is_complete (gpointer data)
{
  gboolean complete = FALSE;

  g_object_get (data, "walk-complete", &complete, NULL);
  return complete;
}

gboolean
hk_test_wait_walk_complete (HkWatchdog *watchdog,
                            guint       timeout_ms)
{
  return hk_test_wait_until (walk_is_complete, watchdog, timeout_ms);
}

typedef struct
{
  HkRecorder  *recorder;
  HkEventType  type;
  const char  *rel;
} WaitFor;

static gboolean
check_has (gpointer data)
{
  WaitFor *w = data;

  return hk_recorder_has (w->recorder, w->type, w->rel);
}

gboolean
hk_recorder_wait_for (HkRecorder  *recorder,
                      HkEventType  type,
                      const char  *rel,
                      guint        timeout_ms)
{
  WaitFor w = { recorder, type, rel };

  return hk_test_wait_until (check_has, &w, timeout_ms);
}

static gboolean
never (gpointer data)
{
  return FALSE;
}

void
hk_test_drain (guint ms)
{
  hk_test_wait_until (never, NULL, ms);
}

void
hk_recorder_dump (HkRecorder *recorder)
{
  for (guint i = 0; i < recorder->events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (recorder->events, i);
      g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);

      g_test_message ("  %s %s%s%s%s", g_enum_get_value (klass, hk_event_get_event_type (event))->value_nick,
                      relative (recorder, hk_event_get_path (event)),
                      hk_event_get_dest_path (event) ? " -> " : "",
                      hk_event_get_dest_path (event) ? relative (recorder, hk_event_get_dest_path (event)) : "",
                      hk_event_get_is_synthetic (event) ? " (synthetic)" : "");
    }
}
