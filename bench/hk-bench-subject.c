/* hk-bench-subject.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <unistd.h>

#include <glib-unix.h>

#include "hk-bench-proto.h"
#include "hk-bench-subject.h"

struct _HkBenchSubject
{
  const HkBenchSubjectClass *klass;
  gpointer                   watcher;
  char                      *root;
  GMainLoop                 *loop;
  GString                   *input;

  gboolean                   lat_on;

  guint8                    *tp_seen;
  gint64                     tp_target;
  gint64                     tp_count;
  gint64                     tp_last_ns;
  gint64                     tp_cpu0;
  guint                      tp_overflows;
  gboolean                   observes_overflow;
  guint                      tp_synthetic;
  gboolean                   tp_reported;
};

static void G_GNUC_PRINTF (1, 2)
emit (const char *format,
      ...)
{
  g_autofree char *line = NULL;
  va_list args;
  gsize len;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);

  /* one write() per line, unbuffered: the driver waits for it */
  len = strlen (line);
  if (write (STDOUT_FILENO, line, len) != (gssize) len)
    _exit (1);
}

/* @tag: 'T' when every file was seen, 'P' for progress on request */
static void
report_throughput (HkBenchSubject *self,
                   char            tag)
{
  /* -1 overflows: the subject cannot tell */
  emit ("%c %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %d %u %" G_GINT64_FORMAT "\n",
        tag, self->tp_count, self->tp_last_ns,
        self->observes_overflow ? (int) self->tp_overflows : -1,
        self->tp_synthetic, hk_bench_cpu_us () - self->tp_cpu0);
}

void
hk_bench_subject_file_created (HkBenchSubject *self,
                               const char     *name,
                               gint64          handler_ns,
                               gint64          reader_ns,
                               gboolean        synthetic)
{
  long i;

  if (self->lat_on && (i = hk_bench_parse_index (name, HK_BENCH_LAT_PREFIX)) >= 0)
    {
      emit ("L %ld %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n",
            i, handler_ns, reader_ns);
      return;
    }

  if (self->tp_target <= 0 || self->tp_reported)
    return;

  i = hk_bench_parse_index (name, HK_BENCH_TP_PREFIX);
  if (i < 0 || i >= self->tp_target || (self->tp_seen[i / 8] & (1 << (i % 8))))
    return;

  self->tp_seen[i / 8] |= 1 << (i % 8);
  self->tp_last_ns = handler_ns;
  if (synthetic)
    self->tp_synthetic++;
  if (++self->tp_count == self->tp_target)
    {
      report_throughput (self, 'T');
      self->tp_reported = TRUE;
    }
}

void
hk_bench_subject_observe_overflow (HkBenchSubject *self)
{
  self->observes_overflow = TRUE;
}

void
hk_bench_subject_overflow (HkBenchSubject *self)
{
  self->tp_overflows++;
}

static gboolean
on_poll_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* For subjects whose start call returns before every directory is watched:
 * iterates the main context (checking every millisecond) until the count
 * reaches @expected, or stops growing for 10 s. */
static void
wait_for_watches (HkBenchSubject *self,
                  guint           expected)
{
  guint last = self->klass->get_n_watched (self->watcher);
  gint64 last_progress = g_get_monotonic_time ();
  guint tick;

  if (last >= expected)
    return;

  tick = g_timeout_add (1, on_poll_tick, NULL);
  for (;;)
    {
      guint n = self->klass->get_n_watched (self->watcher);
      gint64 now = g_get_monotonic_time ();

      if (n >= expected)
        break;
      if (n != last)
        {
          last = n;
          last_progress = now;
        }
      else if (now - last_progress > 10 * G_USEC_PER_SEC)
        break;

      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (tick);
}

static void
do_start (HkBenchSubject *self,
          guint           expected)
{
  g_autoptr(GError) error = NULL;
  long rss_before;
  gint64 t0, t1;

  rss_before = hk_bench_rss_kb ();
  t0 = hk_bench_now_ns ();
  if (!self->klass->start (self->watcher, &error))
    {
      emit ("error %s\n", error->message);
      return;
    }
  wait_for_watches (self, expected);
  t1 = hk_bench_now_ns ();

  emit ("ready %" G_GINT64_FORMAT " %ld %ld %u\n", t1 - t0, rss_before,
        hk_bench_rss_kb (), self->klass->get_n_watched (self->watcher));
}

static void
do_command (HkBenchSubject *self,
            const char     *line)
{
  if (g_str_has_prefix (line, "start"))
    {
      do_start (self, (guint) g_ascii_strtoull (line + 5, NULL, 10));
    }
  else if (g_str_equal (line, "lat"))
    {
      self->lat_on = TRUE;
      emit ("ok\n");
    }
  else if (g_str_has_prefix (line, "tp "))
    {
      gint64 n = g_ascii_strtoll (line + 3, NULL, 10);

      g_free (self->tp_seen);
      self->tp_seen = g_malloc0 (n / 8 + 1);
      self->tp_target = n;
      self->tp_count = 0;
      self->tp_last_ns = 0;
      self->tp_overflows = 0;
      self->tp_synthetic = 0;
      self->tp_reported = FALSE;
      self->tp_cpu0 = hk_bench_cpu_us ();
      emit ("ok\n");
    }
  else if (g_str_equal (line, "report"))
    {
      report_throughput (self, 'P');
    }
  else if (g_str_equal (line, "quit"))
    {
      g_main_loop_quit (self->loop);
    }
}

static gboolean
on_stdin (int          fd,
          GIOCondition condition,
          gpointer     user_data)
{
  HkBenchSubject *self = user_data;
  char buf[4096];
  gssize n;
  char *nl;

  n = read (fd, buf, sizeof buf);
  if (n < 0 && errno == EINTR)
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      g_main_loop_quit (self->loop);
      return G_SOURCE_REMOVE;
    }

  g_string_append_len (self->input, buf, n);
  while ((nl = memchr (self->input->str, '\n', self->input->len)) != NULL)
    {
      g_autofree char *line = g_strndup (self->input->str, nl - self->input->str);

      g_string_erase (self->input, 0, nl - self->input->str + 1);
      do_command (self, line);
    }

  return G_SOURCE_CONTINUE;
}

int
hk_bench_subject_main (const char *name,
                       const char *root)
{
  static const HkBenchSubjectClass *classes[] = {
    &hk_bench_hachiko_class,
    &hk_bench_gfilemonitor_class,
    &hk_bench_hachiko_gio_class,
    &hk_bench_hachiko_poll_class,
    &hk_bench_hachiko_fanotify_class,
  };
  g_autoptr(GError) error = NULL;
  HkBenchSubject self = { 0 };

  for (guint i = 0; i < G_N_ELEMENTS (classes); i++)
    if (g_str_equal (classes[i]->name, name))
      self.klass = classes[i];

  if (self.klass == NULL)
    {
      g_printerr ("hk-bench: unknown subject “%s”\n", name);
      return 2;
    }

  self.root = g_strdup (root);
  self.loop = g_main_loop_new (NULL, FALSE);
  self.input = g_string_new (NULL);
  self.watcher = self.klass->create (&self, root, &error);
  if (self.watcher == NULL)
    {
      emit ("error %s\n", error->message);
      return 1;
    }

  g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &self);
  emit ("hello\n");
  g_main_loop_run (self.loop);
  emit ("bye\n");

  /* Exit without tearing the watcher down: the benchmark does not measure
   * shutdown, and dropping 100,000 watches takes a while. */
  _exit (0);
}

/* The naive baseline: what an application does with plain GIO. One
 * GFileMonitor per directory, found with GFileEnumerator; new directories
 * get a monitor when their CREATED event arrives. GLib's default rate limit
 * is kept. */

typedef struct
{
  HkBenchSubject *subject;
  GFile          *root;
  GPtrArray      *monitors;
  guint           n_errors;
} GfmWatcher;

static void monitor_tree (GfmWatcher *self,
                          GFile      *dir);

static void
on_changed (GFileMonitor      *monitor,
            GFile             *file,
            GFile             *other_file,
            GFileMonitorEvent  event_type,
            gpointer           user_data)
{
  gint64 now = hk_bench_now_ns ();
  GfmWatcher *self = user_data;
  g_autofree char *name = NULL;

  if (event_type != G_FILE_MONITOR_EVENT_CREATED &&
      event_type != G_FILE_MONITOR_EVENT_MOVED_IN)
    return;

  if (g_file_query_file_type (file, G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL) ==
      G_FILE_TYPE_DIRECTORY)
    {
      monitor_tree (self, file);
      return;
    }

  if (event_type != G_FILE_MONITOR_EVENT_CREATED)
    return;

  name = g_file_get_basename (file);
  hk_bench_subject_file_created (self->subject, name, now, 0, FALSE);
}

static void
monitor_tree (GfmWatcher *self,
              GFile      *dir)
{
  g_autoptr(GFileEnumerator) enumerator = NULL;
  g_autoptr(GError) error = NULL;
  GFileMonitor *monitor;

  monitor = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
  if (monitor == NULL)
    {
      self->n_errors++;
      return;
    }
  g_signal_connect (monitor, "changed", G_CALLBACK (on_changed), self);
  g_ptr_array_add (self->monitors, monitor);

  enumerator = g_file_enumerate_children (dir,
                                          G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                          G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                          G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS,
                                          NULL, &error);
  if (enumerator == NULL)
    return;

  for (;;)
    {
      GFileInfo *info = NULL;
      GFile *child = NULL;

      if (!g_file_enumerator_iterate (enumerator, &info, &child, NULL, &error) ||
          info == NULL)
        break;

      if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
        monitor_tree (self, child);
    }
}

static gpointer
gfm_create (HkBenchSubject  *subject,
            const char      *root,
            GError         **error)
{
  GfmWatcher *self = g_new0 (GfmWatcher, 1);

  self->subject = subject;
  self->root = g_file_new_for_path (root);
  self->monitors = g_ptr_array_new_with_free_func (g_object_unref);

  return self;
}

static gboolean
gfm_start (gpointer   watcher,
           GError   **error)
{
  GfmWatcher *self = watcher;

  monitor_tree (self, self->root);
  if (self->monitors->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "could not monitor the root");
      return FALSE;
    }

  return TRUE;
}

static guint
gfm_get_n_watched (gpointer watcher)
{
  GfmWatcher *self = watcher;

  return self->monitors->len;
}

const HkBenchSubjectClass hk_bench_gfilemonitor_class = {
  .name = "gfilemonitor",
  .create = gfm_create,
  .start = gfm_start,
  .get_n_watched = gfm_get_n_watched,
};
