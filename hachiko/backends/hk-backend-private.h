/* hk-backend-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/stat.h>

#include "hk-watch-private.h"
#include "hk-slab-private.h"

G_BEGIN_DECLS

/* What a backend implements, and the calls it makes to report.
 *
 * A backend lives on the worker thread: it is created there, its functions
 * are called there and it reports there, in the order it learns things.
 * It identifies each watched directory by a key of its own (an inotify
 * watch descriptor, a file handle, a GFileMonitor, a polled directory) and
 * knows nothing of who watches: the hub maps a key to every client's
 * directory and fans each report out to all of them.
 *
 * Adding a backend: one new file in hachiko/backends/ implementing
 * HkBackendClass, and one line in the registry in hk-backend.c. */

typedef struct _HkBackend HkBackend;

typedef enum
{
  HK_BACKEND_CAP_ACCESS_EVENTS   = 1 << 0,  /* can report opened / closed-no-write */
  HK_BACKEND_CAP_PAIRS_MOVES     = 1 << 1,  /* reports renames as one move */
  HK_BACKEND_CAP_NEEDS_PATH      = 1 << 2,  /* asks for directories' current paths */
  HK_BACKEND_CAP_KERNEL_HANDLES  = 1 << 3,  /* keys are a limited kernel resource */
  HK_BACKEND_CAP_RECURSIVE_MARKS = 1 << 4,  /* one mark covers a whole subtree */
} HkBackendCaps;

typedef struct
{
  const char    *name;
  HkBackendKind  kind;
  HkBackendCaps  caps;

  /* Creates the backend and attaches its sources to @context. */
  HkBackend *(*create)       (GMainContext  *context,
                              GError       **error);
  void       (*destroy)      (HkBackend     *self);
  /* Watches the directory at @path. Sets *key to the directory's key: the
   * same key when the same directory is watched again. */
  gboolean   (*add_watch)    (HkBackend     *self,
                              const char    *path,
                              HkWatchFlags   flags,
                              gpointer      *key,
                              GError       **error);
  /* The last client of @key is gone. */
  void       (*remove_watch) (HkBackend     *self,
                              gpointer       key);
  /* Optional: reports what is pending now, unless already reporting. */
  void       (*dispatch_pending) (HkBackend *self);
  /* Optional, for backends with a timer: how often @key is looked at. */
  void       (*set_interval) (HkBackend     *self,
                              gpointer       key,
                              guint          interval_ms);
  /* Optional, early ready (see hk_watch_hub_begin_walk()). */
  gboolean   (*covers_subtree) (HkBackend   *self,
                                gpointer     key);
  void       (*begin_walk)   (HkBackend     *self);
  void       (*end_walk)     (HkBackend     *self);
  void       (*release_held) (HkBackend     *self,
                              gpointer      *keys,
                              guint          n_keys);
} HkBackendClass;

/* The hub's part of every backend; a backend's own struct starts with it. */
struct _HkBackend
{
  const HkBackendClass *klass;
  HkWatchHub           *hub;
  /* The heads of the watch lists, found by key: open addressing over
   * the heads' slab ids, 4 bytes a slot (see hk-backend.c). */
  guint32              *heads;
  guint32               heads_mask;  /* slots - 1; 0 while there are none */
  guint32               n_heads;
  GHashTable           *clients;   /* HkWatchClient.data -> its ClientEntry */
  HkSlab                watches;   /* its HkWatch records, tagged with it */
  guint                 releases;  /* kernel handles given back */
};

/* Reports, on the worker, in the order the backend learned them. */
void   hk_backend_report_change  (HkBackend    *self,
                                  gpointer      key,
                                  const char   *name,
                                  HkChange      change,
                                  gboolean      is_directory,
                                  gint64        now);
void   hk_backend_report_move    (HkBackend    *self,
                                  gpointer      from_key,
                                  const char   *from_name,
                                  gpointer      to_key,
                                  const char   *to_name,
                                  gboolean      is_directory,
                                  gint64        now);
void   hk_backend_report_rescan  (HkBackend    *self,
                                  gpointer      key,
                                  HkRescanKind  kind,
                                  gint64        since_ns,
                                  gint64        until_ns,
                                  gint64        now);
/* The end of a round of hk_backend_report_rescan() calls. */
void   hk_backend_report_rescan_done (HkBackend *self,
                                      gint64     now);
/* Events were lost since @since_ns (realtime) for every key. */
void   hk_backend_report_lost    (HkBackend    *self,
                                  gint64        since_ns,
                                  gint64        now);
/* Early ready: events of the directory at @path, not a key yet, are held. */
void   hk_backend_report_wanted  (HkBackend    *self,
                                  const char   *path);
/* The backend dropped @key by itself; its watches are gone. */
void   hk_backend_report_dropped (HkBackend    *self,
                                  gpointer      key,
                                  gint64        now);
/* The pid of the process that made the change being reported (-1 when
 * unknown), read by clients through hk_watch_hub_get_event_pid(); a
 * backend that knows it sets it before its reports and resets it after. */
void   hk_backend_set_event_pid  (HkBackend    *self,
                                  gint          pid);
gboolean hk_backend_has_key      (HkBackend    *self,
                                  gpointer      key);
/* For backends that key directories by device and inode: stats @path (a
 * link followed only with HK_WATCH_FOLLOW_SYMLINK), which must be a
 * directory, with the error add_watch() gives otherwise. */
gboolean hk_backend_stat_dir     (const char   *path,
                                  HkWatchFlags  flags,
                                  struct stat  *st,
                                  GError      **error);
/* The current path of @key's directory (from its first client). */
char  *hk_backend_dup_path       (HkBackend    *self,
                                  gpointer      key);

extern const HkBackendClass hk_inotify_backend_class;
extern const HkBackendClass hk_gio_backend_class;
extern const HkBackendClass hk_poll_backend_class;
extern const HkBackendClass hk_fanotify_backend_class;
extern const HkBackendClass hk_fake_backend_class;

G_END_DECLS

/* The fake backend, driven by tests (tests/test-tree.c): watches succeed
 * for any directory that exists and nothing is reported unless injected.
 * Each call runs on the worker and returns once the tree has handled it;
 * directories are named by their current absolute path. */
G_BEGIN_DECLS
void   hk_fake_backend_inject         (const char   *dir_path,
                                       const char   *name,
                                       HkChange      change,
                                       gboolean      is_directory);
void   hk_fake_backend_inject_move    (const char   *from_dir_path,
                                       const char   *from_name,
                                       const char   *to_dir_path,
                                       const char   *to_name,
                                       gboolean      is_directory);
/* One polling round over @dir_paths (NULL-terminated). */
void   hk_fake_backend_inject_round   (const char * const *dir_paths,
                                       HkRescanKind  kind,
                                       gint64        since_ns,
                                       gint64        until_ns);
/* The same, calling @step on the worker before the directory @i is
 * reported: a test changes the disk in the middle of a round. */
typedef void (*HkFakeRoundStep) (guint    i,
                                 gpointer data);
void   hk_fake_backend_inject_round_full (const char * const *dir_paths,
                                          HkRescanKind  kind,
                                          gint64        since_ns,
                                          gint64        until_ns,
                                          HkFakeRoundStep step,
                                          gpointer      step_data);
void   hk_fake_backend_inject_lost    (gint64        since_ns);
void   hk_fake_backend_inject_dropped (const char   *dir_path);
/* The next watch of @path fails with @code (a GIOErrorEnum). */
void   hk_fake_backend_fail_watch     (const char   *path,
                                       gint          code);
guint  hk_fake_backend_count_watches  (void);
/* Once the next watch of @path is placed, @hook runs (on the worker,
 * before the tree goes on): a test changes the disk between a watch and
 * the read that follows it. */
typedef void (*HkFakeWatchHook) (gpointer data);
void   hk_fake_backend_after_watch    (const char      *path,
                                       HkFakeWatchHook  hook,
                                       gpointer         data);
G_END_DECLS

/* The fanotify backend's marks held now, for tests. */
G_BEGIN_DECLS
void   hk_fanotify_backend_count_marks (guint *filesystem_marks,
                                        guint *inode_marks);
/* Events so far (in the process) where the kernel had merged an entry's
 * arrival with its departure, settled by looking at the disk. */
guint  hk_fanotify_backend_count_settled_merges (void);
/* Events held so far (in the process) during early-ready walks. */
guint  hk_fanotify_backend_count_held (void);
/* "inode", "filesystem", or NULL for HACHIKO_FANOTIFY_MODE's choice (by
 * default: filesystem marks where permitted). Applies to the next backend
 * created (see hk_watchdog_restart_backend_for_testing()). */
void   hk_fanotify_backend_set_mode_for_testing (const char *mode);
/* With the privilege, the backend's queue is unbounded; this keeps the
 * kernel's bound (fs.fanotify.max_queued_events) for the next backend
 * created, so a test can make it overflow. */
void   hk_fanotify_backend_bound_queue_for_testing (gboolean bounded);
/* How many events may be held during early-ready walks, in all (0: the
 * default, HK_FANOTIFY_HOLD_MAX). */
void   hk_fanotify_backend_set_hold_max_for_testing (guint max);
G_END_DECLS
