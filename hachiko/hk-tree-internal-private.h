/* hk-tree-internal-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/stat.h>

#include "hk-event-private.h"
#include "hk-mount-monitor-private.h"
#include "hk-tree-private.h"

/* What hk-tree.c, hk-tree-rescan.c and hk-tree-early.c share: the tree's
 * state, a scan's, and the functions one of them calls in another. */

G_BEGIN_DECLS

typedef struct _Pairing Pairing;

struct _HkTree
{
  HkWatchHub    *hub;
  HkWatchClient  client;         /* how the hub reports to this tree */
  HkEventQueue  *queue;
  HkTreeOptions  options;
  char          *only_name;      /* single-file root: the file's name */
  HkDirNode     *root;
  HkNodes        nodes;          /* the snapshot */
  GCancellable  *cancellable;    /* the start's, only during start */
  HkMountMonitor *mount_monitor; /* recursive trees: mounts coming and going */
  char          *real_root;      /* root_path with links resolved, as mountinfo has it */
  gint64         synced_at_ns;   /* realtime of the last consistent view */
  gint64         root_checked_at; /* monotonic time of the last root check */
  dev_t          above_root_dev;  /* the directory holding the root, at start */
  ino_t          above_root_ino;
  guint          n_watched;      /* atomic: read from other threads */
  guint          n_polled;       /* atomic: fallen back to polling */
  guint          releases_seen;  /* the hub's releases when a fallback retry failed */
  gint64         next_retry_us;  /* when polled directories next try a watch */
  gint           cancelled;      /* atomic */
  gboolean       fanotify_fallback_reported;
  Pairing       *round;          /* a polling round's pairing, until it ends */
  gint64         round_since_ns; /* the earliest window start of that round */
  GPtrArray     *walk;           /* the start walk's directories to read, while it runs */
  GArray        *watch_checks;   /* WatchCheck: directories that may have another's watch */
  GSource       *watch_checks_source; /* looks at them once the backends are idle */
  GHashTable    *placed;         /* HkDirNode -> PlacedWatch: watched, to be read (watch_new_dir()) */
  /* The second half of a rename that exchanged two names, still to come
   * from the kernel (see hk_tree_on_moved()). */
  struct
  {
    HkDirNode   *from_dir;
    char        *from_name;
    HkDirNode   *to_dir;
    char        *to_name;
  } exchange;
  guint          suspended : 1;  /* owner queue saturated: wait for resume */
  guint          root_gone : 1;

  /* Early ready: the walk goes on after start returned (see walk_step()). */
  GSource       *walk_source;
  GPtrArray     *held;           /* directories read this slice, their events held */
  GHashTable    *held_set;       /* the same, as a set */
  GPtrArray     *wanted;         /* relative paths of directories with events held */
  GHashTable    *told;           /* while replaying: read directory → set of names told created */
  gint           walking;        /* atomic */
  guint          n_walked;       /* directories read by the walk */
  gint64         lost_since_ns;  /* events lost during the walk since then (0: none) */
  guint          hold_watch : 1; /* the next watch is HK_WATCH_HOLD */
  guint          early : 1;      /* the walk goes on behind start */
  guint          replaying : 1;  /* reporting what the backend held */
  guint          walk_paused : 1; /* tests: the walk waits on a timer */
};

/* How long the start walk reads before it lets the backends deliver what
 * they have, so that other watchdogs of the process keep their latency and
 * their kernel queues do not overflow while a large tree is walked. */
#define WALK_SLICE_US 5000

typedef struct
{
  HkTree    *tree;
  gboolean   emit;       /* report what is found (new directories) */
  gint64     now;
  GPtrArray *pending;    /* directories still to read */
  guint8    *dents;      /* getdents64() buffer, allocated on first use */
  gboolean   shallow;    /* rescans: known subdirectories are not re-read */
  gint64     until_ns;   /* rescans: changes at or after this are not ours (0: none) */
  Pairing   *pairing;    /* rescans: appearances and disappearances, paired by inode */
  gint64     lost_from_ns; /* rescans: born after this, an entry is new (0: unknown) */
} Scan;

/* hk-tree.c: the snapshot's bookkeeping, output, watching and scanning, and
 * the events as the backends report them. */
gint64      hk_tree_realtime_ns              (void);
void        hk_tree_unwatch_dir              (HkTree    *tree,
                                              HkDirNode *dir);
char       *hk_tree_entry_path               (HkTree        *tree,
                                              HkDirNode     *dir,
                                              const HkEntry *entry);
void        hk_tree_emit                     (HkTree      *tree,
                                              HkEventType  type,
                                              char        *path,
                                              char        *dest_path,
                                              gboolean     is_directory,
                                              gboolean     synthetic,
                                              gint64       now);
void        hk_tree_emit_entry               (HkTree      *tree,
                                              HkEventType  type,
                                              HkDirNode   *dir,
                                              HkEntry     *entry,
                                              gboolean     synthetic,
                                              gint64       now);
gboolean    hk_tree_accepts                  (HkTree     *tree,
                                              HkDirNode  *dir,
                                              const char *name);
int         hk_tree_open_dir_fd              (HkTree     *tree,
                                              HkDirNode  *dir,
                                              const char *path);
gboolean    hk_tree_watch_dir                (HkTree      *tree,
                                              HkDirNode   *dir,
                                              const char  *path,
                                              GError     **error);
void        hk_tree_scan_clear               (Scan *scan);
gboolean    hk_tree_descend_into             (HkTree    *tree,
                                              HkDirNode *dir);
HkEntry    *hk_tree_add_entry                (HkTree     *tree,
                                              HkDirNode  *dir,
                                              int         dir_fd,
                                              const char *name,
                                              HkNodeKind  kind,
                                              guint64     ino);
void        hk_tree_report_found             (HkTree    *tree,
                                              HkDirNode *dir,
                                              HkEntry   *child,
                                              int        dir_fd,
                                              Scan      *scan);
void        hk_tree_scan_one                 (Scan      *scan,
                                              HkDirNode *dir);
void        hk_tree_scan_run                 (Scan *scan);
gboolean    hk_tree_is_live                  (HkTree *tree);
void        hk_tree_on_created               (HkTree     *tree,
                                              HkDirNode  *dir,
                                              const char *name,
                                              gboolean    moved_in,
                                              gboolean    is_directory,
                                              gint64      now);
void        hk_tree_on_deleted               (HkTree     *tree,
                                              HkDirNode  *dir,
                                              const char *name,
                                              gint64      now);
void        hk_tree_on_changed               (HkTree      *tree,
                                              HkDirNode   *dir,
                                              const char  *name,
                                              HkEventType  event_type,
                                              gboolean     is_directory,
                                              gint64       now);
void        hk_tree_on_moved                 (HkTree     *tree,
                                              HkDirNode  *from_dir,
                                              const char *from_name,
                                              HkDirNode  *to_dir,
                                              const char *to_name,
                                              gboolean    is_directory,
                                              gint64      now);

/* hk-tree-rescan.c: rescans, which report the difference between the
 * snapshot and the disk. */
Pairing    *hk_tree_pairing_new              (void);
GPtrArray  *hk_tree_pairing_finish           (Scan *scan);
gboolean    hk_tree_is_attached              (HkTree    *tree,
                                              HkDirNode *dir);
HkEventType hk_tree_lost_change              (Scan              *scan,
                                              const struct stat *st,
                                              gint64             since_ns);
gboolean    hk_tree_file_changed_unreported  (const HkEntry     *entry,
                                              const struct stat *st,
                                              gint64             threshold_ns,
                                              gint64             until_ns);
void        hk_tree_rescan_dir               (HkTree    *tree,
                                              HkDirNode *dir,
                                              Scan      *scan,
                                              gint64     threshold_ns);
void        hk_tree_rescan                   (HkTree    *tree,
                                              HkDirNode *dir,
                                              gint64     synced_at_ns,
                                              gint64     now);
void        hk_tree_on_overflow              (HkTree *tree,
                                              gint64  lost_since_ns,
                                              gint64  now);

/* hk-tree-early.c: early ready, the walk behind start and the replay of the
 * events the backend held for the directories it read. */
void        hk_tree_attach_walk_source       (HkTree   *tree,
                                              gboolean  paused);
void        hk_tree_end_walk                 (HkTree *tree);
void        hk_tree_finish_early_walks       (void);
gboolean    hk_tree_may_walk_early           (HkTree *tree);
gboolean    hk_tree_is_pre_read              (HkTree    *tree,
                                              HkDirNode *dir);
void        hk_tree_pre_read_changed         (HkTree      *tree,
                                              HkDirNode   *dir,
                                              const char  *name,
                                              HkChange     change,
                                              HkEventType  event_type,
                                              gboolean     is_directory,
                                              gint64       now);
void        hk_tree_pre_read_moved           (HkTree     *tree,
                                              HkDirNode  *from_dir,
                                              const char *from_name,
                                              HkDirNode  *to_dir,
                                              const char *to_name,
                                              gboolean    is_directory,
                                              gint64      now);

/* Trees whose walk goes on behind start (the worker's own). */
extern GList *hk_tree_early_trees;

G_END_DECLS
