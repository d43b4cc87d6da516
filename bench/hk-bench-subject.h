/* hk-bench-subject.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A GLib-based subject of the benchmark (hachiko, or the naive
 * GFileMonitor baseline), run in its own process by
 * `hk-bench --subject=NAME DIR`. The shared part (hk-bench-subject.c)
 * speaks the protocol of hk-bench-proto.h on stdin/stdout from the main
 * context; each subject only starts watching and reports what its handler
 * sees. */

typedef struct _HkBenchSubject HkBenchSubject;

typedef struct
{
  const char *name;
  const char *version;  /* nullable */

  /* Creates the watcher; not timed. */
  gpointer (*create)        (HkBenchSubject  *subject,
                             const char      *root,
                             GError         **error);
  /* Starts watching; timed until every directory is watched, which is when
   * this returns and get_n_watched() reaches the expected count. */
  gboolean (*start)         (gpointer         watcher,
                             GError         **error);
  guint    (*get_n_watched) (gpointer         watcher);
} HkBenchSubjectClass;

/* Called by a subject's handler, on the main context, for every file
 * created in the tree. @handler_ns is CLOCK_MONOTONIC when the handler
 * started running; @reader_ns when the subject's reader read the kernel
 * event (0 if unknown). */
void hk_bench_subject_file_created (HkBenchSubject *subject,
                                    const char     *name,
                                    gint64          handler_ns,
                                    gint64          reader_ns,
                                    gboolean        synthetic);
/* A subject that can tell when kernel events were lost calls
 * hk_bench_subject_observe_overflow() once from create(), and
 * hk_bench_subject_overflow() on every overflow. */
void hk_bench_subject_observe_overflow (HkBenchSubject *subject);
void hk_bench_subject_overflow     (HkBenchSubject *subject);

int  hk_bench_subject_main         (const char     *name,
                                    const char     *root);

extern const HkBenchSubjectClass hk_bench_hachiko_class;
extern const HkBenchSubjectClass hk_bench_gfilemonitor_class;
extern const HkBenchSubjectClass hk_bench_hachiko_gio_class;
extern const HkBenchSubjectClass hk_bench_hachiko_poll_class;
extern const HkBenchSubjectClass hk_bench_hachiko_fanotify_class;

G_END_DECLS
