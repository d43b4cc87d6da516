/* hk-bench-report.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Writes docs/performance.md from the driver's results. */

#include <sys/statfs.h>
#include <sys/utsname.h>

#include "hk-bench.h"
#include "hk-bench-subject.h"

static char *
first_line_with (const char *path,
                 const char *prefix)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], prefix))
        {
          const char *colon = strchr (lines[i], ':');

          return g_strstrip (g_strdup (colon ? colon + 1 : lines[i] + strlen (prefix)));
        }
    }

  return NULL;
}

static const char *
fs_type_name (const char *path)
{
  struct statfs st;

  if (statfs (path, &st) != 0)
    return "unknown";

  switch ((unsigned long) st.f_type)
    {
    case 0xEF53: return "ext4 (or ext2/3)";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0xF2F52010: return "f2fs";
    default: return "other";
    }
}

static void
append_machine (GString      *out,
                const Config *cfg,
                const Report *report)
{
  g_autofree char *cpu = first_line_with ("/proc/cpuinfo", "model name");
  g_autofree char *mem = first_line_with ("/proc/meminfo", "MemTotal");
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format (now, "%Y-%m-%d %H:%M %Z");
  struct utsname uts;

  uname (&uts);

  g_string_append (out, "## Machine\n\n");
  g_string_append_printf (out, "- CPU: %s, %u logical cores online\n",
                          cpu ? cpu : "unknown", g_get_num_processors ());
  g_string_append_printf (out, "- Memory: %s\n", mem ? mem : "unknown");
  g_string_append_printf (out, "- Kernel: %s %s %s\n", uts.sysname, uts.release, uts.machine);
  g_string_append_printf (out, "- File system of the bench directory (`%s`): %s\n",
                          cfg->base_dir, fs_type_name (cfg->base_dir));
  g_string_append_printf (out, "- GLib %u.%u.%u; hachiko %s\n",
                          glib_major_version, glib_minor_version, glib_micro_version,
                          hk_bench_hachiko_class.version ? hk_bench_hachiko_class.version : "?");
  g_string_append_printf (out, "- inotify: `max_queued_events` %" G_GUINT64_FORMAT
                          " (unchanged), %s\n",
                          read_sysctl (MAX_QUEUED_PATH), report->watches_note);
  g_string_append_printf (out, "- Load average (1, 5, 15 min) before the run: %s; after: %s\n",
                          report->load_before, report->load_after);
  g_string_append_printf (out, "- Date: %s\n\n", date);
}

static char *
fmt (double value,
     int    decimals)
{
  return g_strdup_printf ("%.*f", decimals, value);
}

static char *
fmt_ratio (double value,
           double floor_value)
{
  if (floor_value <= 0)
    return g_strdup ("—");
  return g_strdup_printf ("%.2f×", value / floor_value);
}

/* Columns of the results table: the default subjects always (so that the
 * report keeps its shape), the opt-in backends when they ran. */
static gboolean shown[N_SUBJECTS];

typedef struct
{
  gboolean have[N_SUBJECTS];
  double   value[N_SUBJECTS];
  char    *text[N_SUBJECTS];   /* overrides value, e.g. "n/a" */
} Row;

static void
row_clear (Row *row)
{
  for (guint k = 0; k < N_SUBJECTS; k++)
    g_clear_pointer (&row->text[k], g_free);
}

static void
append_row (GString    *out,
            const char *metric,
            Row        *row,
            int         decimals,
            gboolean    with_ratio,
            const char *target,
            const char *met)
{
  g_string_append_printf (out, "| %s |", metric);

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      g_autofree char *cell = NULL;
      g_autofree char *ratio = NULL;

      if (!shown[k])
        continue;
      if (row->text[k] != NULL)
        cell = g_strdup (row->text[k]);
      else if (row->have[k])
        cell = fmt (row->value[k], decimals);
      else
        cell = g_strdup ("—");

      if (k == SUBJECT_FLOOR)
        {
          g_string_append_printf (out, " %s |", cell);
          continue;
        }

      if (with_ratio && row->have[k] && row->have[SUBJECT_FLOOR] && row->text[k] == NULL)
        ratio = fmt_ratio (row->value[k], row->value[SUBJECT_FLOOR]);
      else
        ratio = g_strdup ("—");

      g_string_append_printf (out, " %s | %s |", cell, ratio);
    }

  g_string_append_printf (out, " %s | %s |\n", target, met);
  row_clear (row);
}

static const char *
met_text (gboolean have,
          gboolean met)
{
  if (!have)
    return "not measured";
  return met ? "yes" : "**no**";
}

/* Profiling findings are written by hand in performance-findings.md beside
 * the report, so that regenerating the figures keeps them. */
static void
append_findings (GString      *out,
                 const Config *cfg)
{
  g_autofree char *dir = g_path_get_dirname (cfg->output);
  g_autofree char *path = g_build_filename (dir, "performance-findings.md", NULL);
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return;
  g_string_append (out, "## What profiling found\n\n");
  g_string_append (out, "(From `docs/performance-findings.md`, written by hand; the figures "
                        "above are from this run.)\n\n");
  g_string_append (out, contents);
  g_string_append (out, "\n");
}

static void
append_notes (GString *out)
{
  gboolean any = FALSE;

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      const Results *r = &results[k];
      const char *notes[MAX_SIZES + 3];
      guint n = 0;

      for (guint s = 0; s < MAX_SIZES; s++)
        notes[n++] = r->ready[s].note;
      notes[n++] = r->latency.note;
      notes[n++] = r->idle.note;
      notes[n++] = r->tp.note;

      for (guint i = 0; i < n; i++)
        {
          gboolean dup = FALSE;

          if (notes[i] == NULL)
            continue;
          for (guint j = 0; j < i; j++)
            dup |= g_strcmp0 (notes[i], notes[j]) == 0;
          if (dup)
            continue;

          if (!any)
            g_string_append (out, "## Problems during this run\n\n");
          any = TRUE;
          g_string_append_printf (out, "- %s: %s\n", subject_titles[k], notes[i]);
        }
    }

  if (any)
    g_string_append (out, "\n");
}

static void
append_results_table (GString      *out,
                      const Config *cfg)
{
  const Results *h = &results[SUBJECT_HACHIKO];
  const Results *f = &results[SUBJECT_FLOOR];
  Row row = { 0 };

  g_string_append (out, "| Metric | floor |");
  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      shown[k] = k < SUBJECT_HACHIKO_GIO || cfg->enabled[k];
      if (shown[k] && k != SUBJECT_FLOOR)
        g_string_append_printf (out, " %s | %s / floor |", subject_titles[k], subject_titles[k]);
    }
  g_string_append (out, " Target (hachiko) | Met? |\n|---|---:|");
  for (guint k = 0; k < N_SUBJECTS; k++)
    if (shown[k] && k != SUBJECT_FLOOR)
      g_string_append (out, "---:|---:|");
  g_string_append (out, "---|---|\n");

  for (guint s = 0; s < cfg->n_sizes; s++)
    {
      g_autofree char *metric = g_strdup_printf ("Ready, %u directories (ms)", cfg->sizes[s]);

      for (guint k = 0; k < N_SUBJECTS; k++)
        {
          row.have[k] = results[k].ready[s].done;
          row.value[k] = results[k].ready[s].ms;
          if (results[k].ready[s].note != NULL)
            row.text[k] = g_strdup (cfg->enabled[k] ? "failed or skipped (see below)" : "not run");
        }
      append_row (out, metric, &row, 1, TRUE, "≤ 1.3× floor",
                  met_text (h->ready[s].done && f->ready[s].done,
                            h->ready[s].ms <= 1.3 * f->ready[s].ms));
    }

  for (guint s = 0; s < cfg->n_sizes; s++)
    {
      g_autofree char *metric =
        g_strdup_printf ("Memory per watched directory, %u directories (bytes of RSS)",
                         cfg->sizes[s]);

      for (guint k = 0; k < N_SUBJECTS; k++)
        {
          row.have[k] = results[k].ready[s].done;
          row.value[k] = results[k].ready[s].bytes_per_dir;
        }
      append_row (out, metric, &row, 0, TRUE, "≤ 200 bytes",
                  met_text (h->ready[s].done, h->ready[s].bytes_per_dir <= 200));
    }

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].latency.done;
      row.value[k] = results[k].latency.median_us;
    }
  append_row (out, "Latency, median (µs)", &row, 1, TRUE, "≤ floor + 50 µs",
              met_text (h->latency.done && f->latency.done,
                        h->latency.median_us <= f->latency.median_us + 50));

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].latency.done;
      row.value[k] = results[k].latency.p99_us;
    }
  append_row (out, "Latency, p99 (µs)", &row, 1, TRUE, "≤ 1000 µs",
              met_text (h->latency.done, h->latency.p99_us <= 1000));

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].latency.done;
      row.value[k] = results[k].latency.max_us;
    }
  append_row (out, "Latency, max (µs)", &row, 1, TRUE, "—", "—");

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].tp.done;
      row.value[k] = results[k].tp.produce_rate;
    }
  append_row (out, "Throughput, the producer's rate while this subject watched (files/s)",
              &row, 0, TRUE, "—", "—");

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].tp.done;
      row.value[k] = results[k].tp.delivered_rate;
    }
  append_row (out, "Throughput, events delivered per second", &row, 0, TRUE,
              "keeps up: last delivery ≤ 100 ms after the producer ends",
              met_text (h->tp.done, h->tp.seen > 0 && h->tp.lag_ms <= 100));

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].tp.done;
      row.value[k] = results[k].tp.lag_ms;
    }
  append_row (out, "Throughput, last delivery after the producer ended (ms)", &row,
              1, FALSE, "—", "—");

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].tp.done;
      row.value[k] = results[k].tp.cpu_us_per_event;
    }
  append_row (out, "Throughput, CPU time per event (µs)", &row, 2, TRUE, "—", "—");

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].tp.done;
      row.value[k] = (double) (results[k].tp.n - results[k].tp.seen);
    }
  append_row (out, "Throughput, events lost", &row, 0, FALSE, "0",
              met_text (h->tp.done, h->tp.seen == h->tp.n));

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].tp.done;
      row.value[k] = results[k].tp.overflows;
      if (results[k].tp.done && results[k].tp.overflows < 0)
        row.text[k] = g_strdup ("cannot tell");
    }
  append_row (out, "Throughput, kernel queue overflows", &row, 0, FALSE, "0",
              h->tp.done && h->tp.overflows < 0 ? "cannot tell (no `overflow` signal)" :
              met_text (h->tp.done, h->tp.overflows == 0));

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].idle.done;
      row.value[k] = (double) results[k].idle.wakeups;
    }
  {
    g_autofree char *metric = g_strdup_printf ("Idle, wake-ups in %u s", cfg->idle_seconds);

    append_row (out, metric, &row, 0, FALSE, "0",
                met_text (h->idle.done, h->idle.wakeups == 0));
  }

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      row.have[k] = results[k].idle.done;
      row.value[k] = results[k].idle.cpu_ms;
    }
  {
    g_autofree char *metric = g_strdup_printf ("Idle, CPU time in %u s (ms)", cfg->idle_seconds);

    append_row (out, metric, &row, 3, FALSE, "—", "—");
  }

  g_string_append (out, "\n");
}

static void
append_details (GString      *out,
                const Config *cfg)
{
  g_string_append (out, "## Details\n\n");

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      const Results *r = &results[k];

      if (!cfg->enabled[k])
        continue;

      g_string_append_printf (out, "- **%s**\n", subject_titles[k]);

      for (guint s = 0; s < cfg->n_sizes; s++)
        {
          const ReadyResult *ready = &r->ready[s];

          if (!ready->done)
            continue;

          g_string_append_printf (out, "  - Ready, %u directories, each run:", cfg->sizes[s]);
          for (guint i = 0; i < ready->n_runs; i++)
            g_string_append_printf (out, "%s %.1f", i ? "," : "", ready->runs_ms[i]);
          g_string_append_printf (out,
                                  " ms. Memory: %.0f bytes per directory, %.1f bytes per "
                                  "entry (a directory and its %u files).\n",
                                  ready->bytes_per_dir,
                                  ready->bytes_per_dir / (1 + cfg->files_per_dir),
                                  cfg->files_per_dir);
        }

      if (r->latency.done)
        {
          g_string_append_printf (out,
                                  "  - Latency over %u events; the `open(O_CREAT)` call "
                                  "itself took a median %.1f µs of that",
                                  r->latency.n, r->latency.open_median_us);
          if (r->latency.have_split)
            g_string_append_printf (out,
                                    "; from before `open()` to the worker thread reading the "
                                    "event: median %.1f µs, p99 %.1f µs; from there to the "
                                    "handler on the main context: median %.1f µs, p99 %.1f µs",
                                    r->latency.reader_median_us, r->latency.reader_p99_us,
                                    r->latency.dispatch_median_us,
                                    r->latency.dispatch_p99_us);
          g_string_append (out, ".\n");
        }

      if (r->tp.done)
        g_string_append_printf (out,
                                "  - Throughput: the producer created %" G_GUINT64_FORMAT
                                " files in %.2f s (%.0f files/s); %" G_GUINT64_FORMAT
                                " reached the handler, %u of them synthetic (made up after "
                                "a rescan).\n",
                                r->tp.n, r->tp.produce_s, r->tp.produce_rate, r->tp.seen,
                                r->tp.synthetic);

      if (r->idle.done)
        g_string_append_printf (out, "  - Idle wake-ups by thread: %s.\n",
                                r->idle.detail && r->idle.detail[0] ? r->idle.detail : "none");
    }

  g_string_append (out, "\n");
}

static void
append_method (GString      *out,
               const Config *cfg,
               const Report *report)
{
  g_string_append_printf (out,
    "## What is measured\n\n"
    "Every subject runs in its own process, started fresh for each measurement, on the same "
    "trees in the same run. The trees are generated under the bench directory: N directories "
    "(the root included), %u levels deep with the smallest fan-out that fits, filled "
    "breadth-first, with %u empty files in every directory. Before the timed runs the driver "
    "reads every directory and stats every entry once (warm cache).\n\n"
    "- **floor** (`hk-bench-floor`): the least work any recursive inotify watcher can do: "
    "a recursive `readdir()` trusting `d_type` (no `stat()`), one `inotify_add_watch()` per "
    "directory, a watch-descriptor table holding the parent and the name of each directory, and "
    "one thread blocked in `read()`; its handler is the code right after `read()` returns.\n"
    "- **hachiko**: one `HkWatchdog` on the process's main context, `latency` 0, a handler on "
    "`event::created`.\n"
    "- **GFileMonitor**: the naive baseline, one `g_file_monitor_directory()` "
    "(`G_FILE_MONITOR_WATCH_MOVES`, GLib's default rate limit) per directory found with "
    "`GFileEnumerator`; a directory created later gets its monitor from the `changed` handler.\n\n"
    "1. **Ready**: from the start call to every directory watched (the subject checks the count), "
    "median of %u runs per size. **Memory**: the subject's VmRSS after minus before the start "
    "call, divided by the number of directories (user space only; the kernel's watches are not "
    "in it). A subject that keeps every entry in memory (hachiko's snapshot) pays for the files "
    "too: the details give bytes per entry.\n"
    "2. **Latency**: %u files created one at a time on the idle %u-directory tree, each in a "
    "different directory spread over the whole tree; from `CLOCK_MONOTONIC` read right before the "
    "driver's `open(O_CREAT)` to the subject's handler running (hachiko: on the owner's main "
    "context; floor: its reader thread after `read()`). The driver waits for each delivery, then "
    "%u µs, before the next. The events are split in %u rounds; each round starts every subject "
    "afresh in turn, so a noisy stretch on the machine does not fall on one subject only.\n"
    "3. **Throughput**: the driver creates %u empty files (`open(O_CREAT)` + `close()`) as fast "
    "as it can, round-robin over %u directories of the subject's own (`tp-SUBJECT/dNNN`, made "
    "before any subject starts and used by no other subject), "
    "while the subject counts the distinct files its handler sees; events per second = files "
    "seen / (last delivery − producer start); the subject keeps up when its last delivery comes "
    "at most 100 ms after the producer ends, with nothing lost. The producer shares the machine "
    "with the subject, so a subject that costs more CPU also slows the producer: the producer's "
    "rate is shown for each. CPU time per event is the subject process's "
    "user + system time during the phase divided by the files seen (the producer is the driver, "
    "another process). Lost = files never reported; the driver gives up after 5 s without "
    "progress. Kernel overflows: the floor sees `IN_Q_OVERFLOW`; hachiko reports its `overflow` "
    "signal when it has one; GFileMonitor cannot tell.\n"
    "4. **Idle**: in the same process, after the throughput burst and %u s to settle, the driver "
    "samples the subject's "
    "`/proc/PID/task/*/status` (voluntary + involuntary context switches, summed over threads) "
    "and `schedstat` (CPU time) before and after %u s with nothing happening on the tree. Sampling "
    "from outside does not wake the subject; the subject's protocol loop only wakes on input.\n\n",
    cfg->depth, cfg->files_per_dir, cfg->runs,
    cfg->latency_events, report->events_n_dirs, cfg->latency_pace_us, cfg->latency_rounds,
    cfg->tp_files, cfg->tp_dirs,
    cfg->settle_seconds, cfg->idle_seconds);

  if (report->events_fanout > 0)
    g_string_append_printf (out, "The latency, throughput and idle tree has fan-out %u.\n\n",
                            report->events_fanout);
}

gboolean
write_report (const Config  *cfg,
              const Report  *report,
              GError       **error)
{
  g_autoptr(GString) out = g_string_new (NULL);

  g_string_append (out,
    "# Performance\n\n"
    "<!-- Generated by bench/hk-bench; edits are overwritten by the next run. -->\n\n"
    "hachiko measured against the physical floor of recursive inotify watching and a naive "
    "GFileMonitor baseline, in the same run on the same machine. Ratios are to the floor "
    "(lower is better).\n\n");

  g_string_append_printf (out,
    "Command:\n\n```sh\n%s\n```\n\n"
    "Run it with `ninja -C BUILDDIR bench` (meson run target; writes this file in the source "
    "tree), or directly as `BUILDDIR/bench/hk-bench --output docs/performance.md`. "
    "`--help` lists the parameters; `--small` is the quick run CI uses.%s\n\n",
    cfg->command_line,
    cfg->small ? "\n\n**This is a `--small` run: its figures only prove the benchmark works.**" : "");

  g_string_append (out, "## Results\n\n");
  append_results_table (out, cfg);
  append_notes (out);
  append_findings (out, cfg);
  append_details (out, cfg);
  append_machine (out, cfg, report);
  append_method (out, cfg, report);

  return g_file_set_contents (cfg->output, out->str, out->len, error);
}
