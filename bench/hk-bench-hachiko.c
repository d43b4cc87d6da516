/* hk-bench-hachiko.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <hachiko.h>

#include "hk-bench-proto.h"
#include "hk-bench-subject.h"

/* hachiko as a benchmark subject: one HkWatchdog on the main context, a
 * handler on "event::created", latency 0. */

typedef struct
{
  HkBenchSubject *subject;
  HkWatchdog     *watchdog;
} HachikoWatcher;

static void
on_created (HkWatchdog *watchdog,
            HkEvent    *event,
            gpointer    user_data)
{
  gint64 now = hk_bench_now_ns ();
  HachikoWatcher *self = user_data;
  const char *path;
  const char *name;

  if (hk_event_get_is_directory (event))
    return;

  path = hk_event_get_path (event);
  name = strrchr (path, '/');
  name = name ? name + 1 : path;

  hk_bench_subject_file_created (self->subject, name, now,
                                 hk_event_get_timestamp (event) * 1000,
                                 hk_event_get_is_synthetic (event));
}

static void
on_overflow (HkWatchdog *watchdog,
             gpointer    user_data)
{
  HachikoWatcher *self = user_data;

  hk_bench_subject_overflow (self->subject);
}

/* The polling subject's interval: short enough for the latency phase to
 * finish, long enough to be a realistic setting. */
#define BENCH_POLL_INTERVAL_MS 50

static gpointer
create_with_backend (HkBenchSubject  *subject,
                     const char      *root,
                     HkBackendKind    backend)
{
  g_autoptr(GFile) file = g_file_new_for_path (root);
  HachikoWatcher *self = g_new0 (HachikoWatcher, 1);

  self->subject = subject;
  self->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_latency (self->watchdog, 0);
  hk_watchdog_set_backend (self->watchdog, backend);
  hk_watchdog_set_poll_interval (self->watchdog, BENCH_POLL_INTERVAL_MS);
  g_signal_connect (self->watchdog, "event::created",
                    G_CALLBACK (on_created), self);

  /* Connected by name so this builds whether or not the signal exists. */
  if (g_signal_lookup ("overflow", HK_TYPE_WATCHDOG) != 0)
    {
      g_signal_connect (self->watchdog, "overflow", G_CALLBACK (on_overflow), self);
      hk_bench_subject_observe_overflow (subject);
    }

  return self;
}

static gpointer
hachiko_create (HkBenchSubject  *subject,
                const char      *root,
                GError         **error)
{
  return create_with_backend (subject, root, HK_BACKEND_KIND_AUTO);
}

static gpointer
hachiko_gio_create (HkBenchSubject  *subject,
                    const char      *root,
                    GError         **error)
{
  return create_with_backend (subject, root, HK_BACKEND_KIND_GIO);
}

static gpointer
hachiko_poll_create (HkBenchSubject  *subject,
                     const char      *root,
                     GError         **error)
{
  return create_with_backend (subject, root, HK_BACKEND_KIND_POLL);
}

/* Filesystem mark where permitted; start waits for the walk (the default),
 * so that "ready" means the same as for the other subjects. */
static gpointer
hachiko_fanotify_create (HkBenchSubject  *subject,
                         const char      *root,
                         GError         **error)
{
  return create_with_backend (subject, root, HK_BACKEND_KIND_FANOTIFY);
}

static gboolean
hachiko_start (gpointer   watcher,
               GError   **error)
{
  HachikoWatcher *self = watcher;

  return hk_watchdog_start (self->watchdog, NULL, error);
}

static guint
hachiko_get_n_watched (gpointer watcher)
{
  HachikoWatcher *self = watcher;

  return hk_watchdog_get_n_watched_directories (self->watchdog);
}

const HkBenchSubjectClass hk_bench_hachiko_class = {
  .name = "hachiko",
  .version = HK_VERSION_S,
  .create = hachiko_create,
  .start = hachiko_start,
  .get_n_watched = hachiko_get_n_watched,
};

const HkBenchSubjectClass hk_bench_hachiko_gio_class = {
  .name = "hachiko-gio",
  .version = HK_VERSION_S,
  .create = hachiko_gio_create,
  .start = hachiko_start,
  .get_n_watched = hachiko_get_n_watched,
};

const HkBenchSubjectClass hk_bench_hachiko_poll_class = {
  .name = "hachiko-poll",
  .version = HK_VERSION_S,
  .create = hachiko_poll_create,
  .start = hachiko_start,
  .get_n_watched = hachiko_get_n_watched,
};

const HkBenchSubjectClass hk_bench_hachiko_fanotify_class = {
  .name = "hachiko-fanotify",
  .version = HK_VERSION_S,
  .create = hachiko_fanotify_create,
  .start = hachiko_start,
  .get_n_watched = hachiko_get_n_watched,
};
