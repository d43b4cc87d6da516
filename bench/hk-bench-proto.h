/* hk-bench-proto.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/* The protocol between the benchmark driver (hk-bench) and one subject
 * process (hk-bench-floor --serve, or hk-bench --subject=hachiko|gfilemonitor).
 *
 * Every subject runs in its own process so that its memory, CPU time and
 * wake-ups are its own. The driver writes commands, one per line, on the
 * subject's stdin; the subject answers, one line per answer, on its stdout.
 * All times are CLOCK_MONOTONIC in nanoseconds, comparable across processes.
 *
 *   (on startup)   -> "hello"
 *   "start <n>"    -> "ready <ready-ns> <rss-before-kb> <rss-after-kb> <n-watched>"
 *                     or "error <message>"; <n> is how many directories the
 *                     tree holds, for subjects that finish watching after
 *                     their start call returns
 *   "lat"          -> "ok"; from then on, for every CREATED event of a file
 *                     named "lat-<i>": "L <i> <handler-ns> <reader-ns>"
 *                     (<reader-ns>: when the subject's reader thread read the
 *                     kernel event, 0 when the subject cannot tell)
 *   "tp <n>"       -> "ok"; counts CREATED events of files named "tp-<i>",
 *                     0 <= i < n, de-duplicated; once all n are seen:
 *                     "T <seen> <last-ns> <overflows> <synthetic> <cpu-us>"
 *                     (<last-ns>: when the last new one reached the handler;
 *                     <overflows>: kernel queue overflows, -1 when the
 *                     subject cannot tell; <synthetic>: events the subject
 *                     made up after a rescan; <cpu-us>: the process's user +
 *                     system time since "tp")
 *   "report"       -> "P ..." with the same fields, for progress so far
 *   "quit"         -> "bye", then the subject exits
 *
 * This header is plain C (no GLib) because the floor does not use GLib. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#define HK_BENCH_LAT_PREFIX "lat-"
#define HK_BENCH_TP_PREFIX  "tp-"

static inline int64_t
hk_bench_now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* VmRSS of the calling process, in KiB; -1 when unknown. */
static inline long
hk_bench_rss_kb (void)
{
  FILE *f = fopen ("/proc/self/status", "re");
  char line[256];
  long kb = -1;

  if (f == NULL)
    return -1;

  while (fgets (line, sizeof line, f) != NULL)
    {
      if (strncmp (line, "VmRSS:", 6) == 0)
        {
          kb = strtol (line + 6, NULL, 10);
          break;
        }
    }

  fclose (f);
  return kb;
}

/* User plus system CPU time of the whole process (all threads, including
 * ones that have exited), in microseconds. */
static inline int64_t
hk_bench_cpu_us (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return (int64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
         ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* If @name is "<prefix><digits>", returns the number, else -1. */
static inline long
hk_bench_parse_index (const char *name,
                      const char *prefix)
{
  size_t len = strlen (prefix);
  char *end = NULL;
  long i;

  if (strncmp (name, prefix, len) != 0)
    return -1;

  i = strtol (name + len, &end, 10);
  if (end == name + len || *end != '\0' || i < 0)
    return -1;

  return i;
}
