/* hk-test-util.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <hachiko.h>

G_BEGIN_DECLS

/* Records every event a watchdog emits, asserting each emission runs on
 * the thread that created the recorder (the owner). */
typedef struct
{
  HkWatchdog *watchdog;
  GPtrArray  *events;       /* HkEvent */
  GThread    *owner;
  char       *root;
  guint       n_overflows;
  GPtrArray  *errors;       /* GError */
  gulong      handler_ids[3];
} HkRecorder;

char       *hk_test_make_tmpdir     (void);
void        hk_test_rm_rf           (const char *path);
void        hk_test_write_file      (const char *path,
                                     const char *contents);
char       *hk_test_path            (const char *root,
                                     const char *relative);

HkRecorder *hk_recorder_new         (HkWatchdog *watchdog,
                                     const char *root);
void        hk_recorder_free        (HkRecorder *recorder);
void        hk_recorder_clear       (HkRecorder *recorder);
/* Number of recorded events of @type whose path (relative to the root) is
 * @relative (dest for moves: "a -> b"). */
guint       hk_recorder_count       (HkRecorder *recorder,
                                     HkEventType type,
                                     const char *relative);
gboolean    hk_recorder_has         (HkRecorder *recorder,
                                     HkEventType type,
                                     const char *relative);
/* Iterates the thread-default context until @func returns TRUE or
 * @timeout_ms passes; returns the last result of @func. */
gboolean    hk_test_wait_until      (gboolean   (*func) (gpointer data),
                                     gpointer     data,
                                     guint        timeout_ms);
/* Waits until the walk behind an early start is over
 * (HkWatchdog:walk-complete); TRUE at once for other starts. */
gboolean    hk_test_wait_walk_complete (HkWatchdog *watchdog,
                                        guint       timeout_ms);
/* Waits until @type for @relative was recorded. */
gboolean    hk_recorder_wait_for    (HkRecorder *recorder,
                                     HkEventType type,
                                     const char *relative,
                                     guint       timeout_ms);
/* Iterates the context for @ms, so late or duplicate events show up. */
void        hk_test_drain           (guint       ms);
void        hk_recorder_dump        (HkRecorder *recorder);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkRecorder, hk_recorder_free)

G_END_DECLS
