/* hk-bench-backends.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* What each backend costs, in one run (see docs/performance-backends.md):
 *
 * - polling: process CPU per round per 10,000 entries, with nothing
 *   changing (the steady cost of a polled tree);
 * - detection delay against poll-interval: a file created at a random
 *   moment until its `created` handler runs;
 * - the same delay for inotify and GIO, for scale;
 * - a burst of files created as fast as possible, per backend: how long
 *   until every one was reported, and the process CPU it took.
 *
 *   hk-bench-backends [--entries N] [--samples N] [--intervals MS,MS,...]
 *                     [--burst N] [--output FILE]
 *
 * Ratios in one run on one machine; no timing is asserted. */

#include <hachiko.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#define IDLE_SECONDS   3
#define TIMEOUT_US     (10 * G_USEC_PER_SEC)
#define FILES_PER_DIR  99

typedef struct
{
  HkWatchdog *watchdog;
  char       *waiting_for;   /* path whose creation we wait for */
  gint64      seen_us;       /* monotonic, when it was seen */
  guint       n_created;
} Watch;

static gint64
cpu_us (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return (gint64) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * G_USEC_PER_SEC +
         usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

static void
on_created (HkWatchdog *watchdog,
            HkEvent    *event,
            gpointer    data)
{
  Watch *watch = data;

  watch->n_created++;
  if (watch->waiting_for != NULL && strcmp (hk_event_get_path (event), watch->waiting_for) == 0)
    watch->seen_us = g_get_monotonic_time ();
}

static gboolean
on_deadline (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Sleeps in the main loop (no busy waiting: the CPU measured is the
 * watcher's) until @done or @deadline_us. */
static void
iterate_until (gboolean (*done) (Watch *),
               Watch     *watch,
               gint64     deadline_us)
{
  GMainContext *context = g_main_context_default ();
  gint64 now = g_get_monotonic_time ();
  gboolean timed_out = FALSE;
  GSource *timeout;

  if (now >= deadline_us)
    return;
  timeout = g_timeout_source_new ((guint) ((deadline_us - now + 999) / 1000));
  g_source_set_callback (timeout, on_deadline, &timed_out, NULL);
  g_source_attach (timeout, context);
  while (!done (watch) && !timed_out)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
}

static gboolean
never_done (Watch *watch)
{
  return FALSE;
}

static gboolean
target_seen (Watch *watch)
{
  return watch->seen_us != 0;
}

static void
watch_start (Watch         *watch,
             const char    *root,
             HkBackendKind  kind,
             guint          interval_ms)
{
  g_autoptr(GFile) file = g_file_new_for_path (root);
  g_autoptr(GError) error = NULL;

  memset (watch, 0, sizeof *watch);
  watch->watchdog = hk_watchdog_new (file);
  hk_watchdog_set_backend (watch->watchdog, kind);
  if (interval_ms > 0)
    hk_watchdog_set_poll_interval (watch->watchdog, interval_ms);
  g_signal_connect (watch->watchdog, "event::created", G_CALLBACK (on_created), watch);
  if (!hk_watchdog_start (watch->watchdog, NULL, &error))
    g_error ("cannot start: %s", error->message);
}

static void
watch_stop (Watch *watch)
{
  hk_watchdog_stop (watch->watchdog);
  g_clear_object (&watch->watchdog);
  g_clear_pointer (&watch->waiting_for, g_free);
}

static void
write_file (const char *path)
{
  FILE *f = fopen (path, "w");

  if (f == NULL)
    g_error ("cannot create %s", path);
  fputs ("x", f);
  fclose (f);
}

/* @n_entries entries: directories of FILES_PER_DIR files each. */
static char *
make_tree (const char *base,
           guint       n_entries)
{
  char *root = g_build_filename (base, "tree", NULL);
  guint made = 0;

  g_mkdir (root, 0755);
  for (guint d = 0; made < n_entries; d++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/d%04u", root, d);

      g_mkdir (dir, 0755);
      made++;
      for (guint f = 0; f < FILES_PER_DIR && made < n_entries; f++, made++)
        {
          g_autofree char *path = g_strdup_printf ("%s/f%03u", dir, f);

          write_file (path);
        }
    }
  return root;
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
percentile (GArray *values,
            double  p)
{
  guint i;

  if (values->len == 0)
    return 0;
  g_array_sort (values, compare_doubles);
  i = (guint) (p * (values->len - 1) + 0.5);
  return g_array_index (values, double, i);
}

/* Polling with nothing changing: CPU per round. */
static double
poll_cpu_per_round_us (const char *root,
                       guint       interval_ms)
{
  Watch watch;
  gint64 cpu_before, wall_before, cpu_after, wall_after;
  double rounds;

  watch_start (&watch, root, HK_BACKEND_KIND_POLL, interval_ms);
  /* Let the start's own work finish before measuring. */
  iterate_until (never_done, &watch, g_get_monotonic_time () + 2 * interval_ms * 1000);

  wall_before = g_get_monotonic_time ();
  cpu_before = cpu_us ();
  iterate_until (never_done, &watch, wall_before + IDLE_SECONDS * G_USEC_PER_SEC);
  cpu_after = cpu_us ();
  wall_after = g_get_monotonic_time ();
  watch_stop (&watch);

  rounds = (double) (wall_after - wall_before) / (interval_ms * 1000.0);
  return (cpu_after - cpu_before) / rounds;
}

typedef struct
{
  double median_ms;
  double p90_ms;
  double max_ms;
  guint  missed;
} Delay;

/* A file created at a random moment, until its handler runs. */
static Delay
detection_delay (const char    *root,
                 HkBackendKind  kind,
                 guint          interval_ms,
                 guint          samples)
{
  g_autoptr(GArray) delays = g_array_new (FALSE, FALSE, sizeof (double));
  Delay result = { 0 };
  Watch watch;

  watch_start (&watch, root, kind, interval_ms);
  for (guint i = 0; i < samples; i++)
    {
      guint spread_ms = interval_ms > 0 ? interval_ms : 20;
      gint64 created_us;
      double ms;

      /* Out of step with the rounds. */
      iterate_until (never_done, &watch,
                     g_get_monotonic_time () + g_random_int_range (1, spread_ms + 1) * 1000);

      static guint probe;

      g_free (watch.waiting_for);
      watch.waiting_for = g_strdup_printf ("%s/d0000/probe-%u", root, probe++);
      watch.seen_us = 0;
      created_us = g_get_monotonic_time ();
      write_file (watch.waiting_for);
      iterate_until (target_seen, &watch, created_us + TIMEOUT_US);
      if (watch.seen_us == 0)
        {
          result.missed++;
          continue;
        }
      ms = (watch.seen_us - created_us) / 1000.0;
      g_array_append_val (delays, ms);
    }
  watch_stop (&watch);

  result.median_ms = percentile (delays, 0.5);
  result.p90_ms = percentile (delays, 0.9);
  result.max_ms = percentile (delays, 1.0);
  return result;
}

typedef struct
{
  double  all_seen_ms;
  double  cpu_ms;
  guint   seen;
} Burst;

static gboolean
burst_seen (Watch *watch)
{
  return watch->n_created >= GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (watch->watchdog), "expected"));
}

/* @n files created as fast as possible in a new directory. */
static Burst
burst (const char    *root,
       HkBackendKind  kind,
       guint          interval_ms,
       guint          n,
       guint          run)
{
  g_autofree char *dir = g_strdup_printf ("%s/burst-%u", root, run);
  Burst result = { 0 };
  gint64 start_us, cpu_before;
  Watch watch;

  watch_start (&watch, root, kind, interval_ms);
  /* The directory and its files: n + 1 creations. */
  g_object_set_data (G_OBJECT (watch.watchdog), "expected", GUINT_TO_POINTER (n + 1));

  start_us = g_get_monotonic_time ();
  cpu_before = cpu_us ();
  g_mkdir (dir, 0755);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/f%05u", dir, i);

      write_file (path);
    }
  iterate_until (burst_seen, &watch, start_us + TIMEOUT_US * 3);
  result.all_seen_ms = (g_get_monotonic_time () - start_us) / 1000.0;
  result.cpu_ms = (cpu_us () - cpu_before) / 1000.0;
  result.seen = watch.n_created;
  watch_stop (&watch);

  return result;
}

static const struct
{
  const char    *name;
  HkBackendKind  kind;
} backends[] = {
  { "inotify", HK_BACKEND_KIND_INOTIFY },
  { "fanotify", HK_BACKEND_KIND_FANOTIFY },
  { "gio", HK_BACKEND_KIND_GIO },
  { "poll", HK_BACKEND_KIND_POLL },
};

static gboolean
backend_available (const char    *root,
                   HkBackendKind  kind)
{
  g_autoptr(GFile) file = g_file_new_for_path (root);
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);

  hk_watchdog_set_backend (watchdog, kind);
  if (!hk_watchdog_start (watchdog, NULL, NULL))
    return FALSE;
  hk_watchdog_stop (watchdog);
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  int entries = 10000, samples = 30, burst_files = 5000;
  g_autofree char *intervals_text = NULL;
  g_autofree char *output = NULL;
  GOptionEntry options[] = {
    { "entries", 0, 0, G_OPTION_ARG_INT, &entries, "Entries in the polled tree (default 10000)", "N" },
    { "samples", 0, 0, G_OPTION_ARG_INT, &samples, "Detection delays measured per setting (default 30)", "N" },
    { "intervals", 0, 0, G_OPTION_ARG_STRING, &intervals_text, "Poll intervals (default 50,100,250,1000)", "MS,..." },
    { "burst", 0, 0, G_OPTION_ARG_INT, &burst_files, "Files in the burst (default 5000)", "N" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Write the Markdown there (default: stdout)", "FILE" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- what each hachiko backend costs");
  g_autoptr(GString) md = g_string_new (NULL);
  g_autoptr(GString) command = g_string_new ("hk-bench-backends");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) intervals = NULL;
  g_autofree char *base = NULL;
  g_autofree char *root = NULL;
  struct utsname uts;

  for (int i = 1; i < argc; i++)
    g_string_append_printf (command, " %s", argv[i]);

  g_option_context_add_main_entries (context, options, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("hk-bench-backends: %s\n", error->message);
      return 2;
    }
  intervals = g_strsplit (intervals_text != NULL ? intervals_text : "50,100,250,1000", ",", -1);

  base = g_dir_make_tmp ("hk-bench-backends-XXXXXX", &error);
  g_assert_no_error (error);
  root = make_tree (base, entries);
  uname (&uts);

  g_string_append_printf (md, "Command: `%s` (%s, %ld CPUs online, kernel %s; `/proc/loadavg` at start: ",
                          command->str, uts.machine, sysconf (_SC_NPROCESSORS_ONLN), uts.release);
  {
    g_autofree char *load = NULL;

    g_file_get_contents ("/proc/loadavg", &load, NULL, NULL);
    g_string_append_printf (md, "%s).\n\n", load != NULL ? g_strstrip (load) : "?");
  }

  /* Polling: steady cost. */
  g_string_append_printf (md, "### Polling: CPU per round, nothing changing\n\n"
                              "%d entries (directories of %d files), %d s of rounds per interval; "
                              "process CPU (user + system) divided by the rounds.\n\n"
                              "| poll-interval | CPU per round | per 10,000 entries | CPU share |\n"
                              "|---:|---:|---:|---:|\n",
                          entries, FILES_PER_DIR, IDLE_SECONDS);
  for (guint i = 0; intervals[i] != NULL; i++)
    {
      guint interval = (guint) g_ascii_strtoull (intervals[i], NULL, 10);
      double us = poll_cpu_per_round_us (root, interval);

      g_printerr ("poll cpu: %u ms: %.0f µs per round\n", interval, us);
      g_string_append_printf (md, "| %u ms | %.2f ms | %.2f ms | %.1f %% |\n",
                              interval, us / 1000.0, us / 1000.0 * 10000.0 / entries,
                              100.0 * us / (interval * 1000.0));
    }

  /* Detection delay. */
  g_string_append_printf (md, "\n### Detection delay\n\n"
                              "A file created at a random moment in the %d-entry tree until its "
                              "`created` handler runs; %d samples per row.\n\n"
                              "| backend | poll-interval | median | p90 | max | missed |\n"
                              "|---|---:|---:|---:|---:|---:|\n",
                          entries, samples);
  for (guint b = 0; b < G_N_ELEMENTS (backends); b++)
    {
      if (!backend_available (root, backends[b].kind))
        {
          g_string_append_printf (md, "| %s | | not available in this build | | | |\n", backends[b].name);
          continue;
        }
      for (guint i = 0; intervals[i] != NULL; i++)
        {
          guint interval = backends[b].kind == HK_BACKEND_KIND_POLL
            ? (guint) g_ascii_strtoull (intervals[i], NULL, 10) : 0;
          Delay delay = detection_delay (root, backends[b].kind, interval, samples);

          g_printerr ("delay: %s %u ms: median %.2f ms\n", backends[b].name, interval, delay.median_ms);
          if (interval > 0)
            g_string_append_printf (md, "| %s | %u ms | %.1f ms | %.1f ms | %.1f ms | %u |\n",
                                    backends[b].name, interval, delay.median_ms, delay.p90_ms,
                                    delay.max_ms, delay.missed);
          else
            g_string_append_printf (md, "| %s | – | %.2f ms | %.2f ms | %.2f ms | %u |\n",
                                    backends[b].name, delay.median_ms, delay.p90_ms,
                                    delay.max_ms, delay.missed);
          if (interval == 0)
            break;
        }
    }

  /* Burst. */
  g_string_append_printf (md, "\n### A burst\n\n"
                              "A new directory and %d files in it, created as fast as possible in the "
                              "watched tree; until every `created` was delivered, and the process CPU "
                              "(the writer's included, the same for every row). Polling at 50 ms.\n\n"
                              "| backend | all delivered | CPU | delivered |\n"
                              "|---|---:|---:|---:|\n",
                          burst_files);
  for (guint b = 0; b < G_N_ELEMENTS (backends); b++)
    {
      Burst result;

      if (!backend_available (root, backends[b].kind))
        {
          g_string_append_printf (md, "| %s | not available in this build | | |\n", backends[b].name);
          continue;
        }
      result = burst (root, backends[b].kind, 50, burst_files, b);
      g_printerr ("burst: %s: %.0f ms\n", backends[b].name, result.all_seen_ms);
      g_string_append_printf (md, "| %s | %.0f ms | %.0f ms | %u / %d |\n", backends[b].name,
                              result.all_seen_ms, result.cpu_ms, result.seen, burst_files + 1);
    }

  {
    g_autofree char *rm = g_strdup_printf ("rm -rf '%s'", base);

    if (system (rm) != 0)
      g_printerr ("hk-bench-backends: could not remove %s\n", base);
  }

  if (output != NULL)
    {
      if (!g_file_set_contents (output, md->str, -1, &error))
        {
          g_printerr ("hk-bench-backends: %s\n", error->message);
          return 1;
        }
    }
  else
    fputs (md->str, stdout);

  return 0;
}
