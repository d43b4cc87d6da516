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
/* A fresh temporary directory *@base holding *@root = base/root and, when
 * @outside is not NULL, *@outside = base/outside (a sibling of the root,
 * for what must not be watched). */
void        hk_test_make_tree       (char      **base,
                                     char      **root,
                                     char      **outside);
/* Removes *@base and everything in it; frees and clears the three paths
 * (any may be NULL). */
void        hk_test_remove_tree     (char      **base,
                                     char      **root,
                                     char      **outside);
/* The same as hk_test_write_file() and so on, on @relative under @root. */
void        hk_test_mkdir           (const char *root,
                                     const char *relative);
void        hk_test_write           (const char *root,
                                     const char *relative,
                                     const char *contents);
void        hk_test_rename          (const char *root,
                                     const char *from,
                                     const char *to);
/* A file in /proc/sys, read whole or written; FALSE when not allowed. */
gboolean    hk_test_read_sysctl     (const char *path,
                                     char      **value);
gboolean    hk_test_write_sysctl    (const char *path,
                                     const char *value);
/* The kernel's inotify queue length, which some tests lower (root only). */
#define HK_TEST_MAX_QUEUED_EVENTS "/proc/sys/fs/inotify/max_queued_events"
/* At tear-down: writes *@saved back there (a test lowered the length and
 * failed before putting it back) and frees it, and leaves no inotify
 * instance with a lowered queue behind for the next test. */
void        hk_test_restore_max_queued_events (char **saved);
/* A new watchdog on @root. */
HkWatchdog *hk_test_watchdog_new    (const char *root);
/* Starts @watchdog, which must succeed. */
void        hk_test_start           (HkWatchdog *watchdog);

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
/* Waits, without iterating the owner's context, until @n or more items
 * read for @watchdog wait for the owner to take them. */
gboolean    hk_test_wait_queued     (HkWatchdog *watchdog,
                                     guint       n,
                                     guint       timeout_ms);
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

/* Waits until @type for @rel was recorded; if it never is, logs what was
 * and aborts the test. */
#define HK_RECORDER_WAIT_FOR(recorder, type, rel, timeout_ms) \
  G_STMT_START { \
    if (!hk_recorder_wait_for ((recorder), type, rel, timeout_ms)) \
      { \
        hk_recorder_dump (recorder); \
        g_error ("timed out waiting for %s %s", #type, (const char *) (rel)); \
      } \
  } G_STMT_END

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkRecorder, hk_recorder_free)

G_END_DECLS
