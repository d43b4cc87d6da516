/* hk-bench.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

/* Shared between the driver (hk-bench.c) and the report writer
 * (hk-bench-report.c). */

#include <gio/gio.h>

G_BEGIN_DECLS

#define MAX_SIZES 4
#define MAX_RUNS  9
#define MAX_WATCHES_PATH "/proc/sys/fs/inotify/max_user_watches"
#define MAX_QUEUED_PATH  "/proc/sys/fs/inotify/max_queued_events"

typedef enum
{
  SUBJECT_FLOOR,
  SUBJECT_HACHIKO,
  SUBJECT_GFM,
  SUBJECT_HACHIKO_GIO,     /* hachiko with another backend: opt-in (--subjects) */
  SUBJECT_HACHIKO_POLL,
  SUBJECT_HACHIKO_FANOTIFY,
  N_SUBJECTS
} SubjectKind;

extern const char *subject_ids[N_SUBJECTS];
extern const char *subject_titles[N_SUBJECTS];

typedef struct
{
  guint     sizes[MAX_SIZES];
  guint     n_sizes;
  guint     files_per_dir;
  guint     depth;
  guint     latency_events;
  guint     latency_pace_us;
  guint     latency_rounds;
  guint     tp_files;
  guint     tp_dirs;
  guint     idle_seconds;
  guint     settle_seconds;
  guint     runs;
  guint     gfm_max_dirs;
  gboolean  enabled[N_SUBJECTS];
  gboolean  small;
  char     *output;
  char     *base_dir;
  char     *floor_path;
  char     *self_path;
  char     *command_line;
} Config;

typedef struct
{
  gboolean done;
  char    *note;
  double   ms;               /* the median of the runs */
  double   runs_ms[MAX_RUNS];
  guint    n_runs;
  double   bytes_per_dir;
  guint    n_watched;
} ReadyResult;

typedef struct
{
  gboolean done;
  char    *note;
  guint    n;
  guint    missed;
  double   open_median_us;   /* the open(O_CREAT) call itself */
  double   median_us;
  double   p99_us;
  double   max_us;
  gboolean have_split;
  double   reader_median_us;
  double   reader_p99_us;
  double   dispatch_median_us;
  double   dispatch_p99_us;
} LatencyResult;

typedef struct
{
  gboolean done;
  char    *note;
  guint64  n;
  guint64  seen;
  double   produce_s;
  double   produce_rate;
  double   delivered_rate;
  double   lag_ms;
  double   cpu_us_per_event;
  int      overflows;     /* -1: unknown */
  guint    synthetic;
  guint    produce_errors;
} ThroughputResult;

typedef struct
{
  gboolean done;
  char    *note;
  guint64  wakeups;
  double   cpu_ms;
  char    *detail;
} IdleResult;

typedef struct
{
  ReadyResult      ready[MAX_SIZES];
  LatencyResult    latency;
  ThroughputResult tp;
  IdleResult       idle;
} Results;

/* What the report needs besides the configuration and the results. */
typedef struct
{
  guint  events_n_dirs;    /* the tree of the latency, idle and throughput phases */
  guint  events_fanout;
  char  *watches_note;     /* what was done to max_user_watches */
  char  *load_before;      /* /proc/loadavg */
  char  *load_after;
} Report;

extern Results results[N_SUBJECTS];

guint64  read_sysctl   (const char    *path);
gboolean write_report  (const Config  *cfg,
                        const Report  *report,
                        GError       **error);

G_END_DECLS
