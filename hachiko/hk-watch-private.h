/* hk-watch-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "hk-event.h"
#include "hk-backend-kind.h"

G_BEGIN_DECLS

/* The backend layer as its clients (the trees) see it.
 *
 * A client asks the hub for a watch on one directory; the hub picks the
 * backend, shares one backend handle between every client watching the same
 * directory, and reports what the backend sees through the client's
 * HkWatchClientFuncs, on the worker thread, in the backend's order. Clients
 * never see a backend and backends never see a client's types: a watched
 * directory is the client's opaque `dir` pointer, which must be an object
 * of an HkSlab tagged with the client's HkWatchClient (hk_slab_set_tag()):
 * the hub keeps the directory's 32-bit id and finds the client from it
 * (memory per directory). */

typedef struct _HkWatchHub HkWatchHub;
typedef struct _HkWatch    HkWatch;

/* Internal backend kinds beyond the public HkBackendKind. */
#define HK_BACKEND_KIND_FAKE ((HkBackendKind) 0x100)

typedef enum
{
  HK_WATCH_ACCESS_EVENTS  = 1 << 0,  /* opened / closed-no-write too */
  HK_WATCH_FOLLOW_SYMLINK = 1 << 1,  /* @path may be a symbolic link */
  /* Early ready (a walk going on behind `start`): hold the directory's
   * events, and those held for it before it was watched, until
   * hk_watch_hub_release_held(). Backends without a mark that covers the
   * whole tree ignore it. */
  HK_WATCH_HOLD           = 1 << 2,
} HkWatchFlags;

/* What a backend saw about one entry of a watched directory (name set), or
 * about the directory itself (name NULL). */
typedef enum
{
  HK_CHANGE_CREATED,
  HK_CHANGE_MOVED_IN,       /* arrived by rename, from outside any watch */
  HK_CHANGE_DELETED,
  HK_CHANGE_MOVED_OUT,      /* left by rename, to outside any watch */
  HK_CHANGE_MODIFIED,
  HK_CHANGE_ATTRIBUTES,
  HK_CHANGE_CLOSED_WRITE,
  HK_CHANGE_OPENED,
  HK_CHANGE_CLOSED_NO_WRITE,
  /* About the directory itself (name NULL): */
  HK_CHANGE_SELF_DELETED,
  HK_CHANGE_SELF_MOVED,
  HK_CHANGE_SELF_UNMOUNTED,
} HkChange;

/* How a backend without change notification (polling) asks for a re-read. */
typedef enum
{
  HK_RESCAN_ENTRIES,        /* the directory's list of names changed */
  HK_RESCAN_CONTENTS,       /* names unchanged: check the files' state */
} HkRescanKind;

typedef struct
{
  void  (*changed)    (gpointer      client,
                       gpointer      dir,
                       const char   *name,
                       HkChange      change,
                       gboolean      is_directory,
                       gint64        now);
  /* A rename within the watches of one client. */
  void  (*moved)      (gpointer      client,
                       gpointer      from_dir,
                       const char   *from_name,
                       gpointer      to_dir,
                       const char   *to_name,
                       gboolean      is_directory,
                       gint64        now);
  /* Re-read @dir (not its subdirectories, which have watches of their own).
   * Files whose ctime lies in [@since_ns, @until_ns) (realtime, the clock
   * of file timestamps) changed during the last round. */
  void  (*rescan)     (gpointer      client,
                       gpointer      dir,
                       HkRescanKind  kind,
                       gint64        since_ns,
                       gint64        until_ns,
                       gint64        now);
  /* The end of a round of rescans (polling): what vanished from one
   * directory and appeared in another during the round is one move. */
  void  (*rescan_done)(gpointer      client,
                       gint64        now);
  /* Events of every watch of this client on that backend may have been
   * lost since @since_ns (realtime): re-read everything. */
  void  (*lost)       (gpointer      client,
                       gint64        since_ns,
                       gint64        now);
  /* The backend dropped the watch of @dir by itself (the directory went
   * away). Its HkWatch is already freed. */
  void  (*watch_lost) (gpointer      client,
                       gpointer      dir,
                       gint64        now);
  /* The current absolute path of @dir, for backends that need paths. */
  char *(*dup_path)   (gpointer      client,
                       gpointer      dir);
  /* Optional, early ready: events of the directory at @path (absolute,
   * links resolved), not watched yet, are held: a walk may read it soon. */
  void  (*wanted)     (gpointer      client,
                       const char   *path);
} HkWatchClientFuncs;

typedef struct
{
  const HkWatchClientFuncs *funcs;
  gpointer                  data;
} HkWatchClient;

HkWatchHub    *hk_watch_hub_new            (GMainContext         *context);
void           hk_watch_hub_free           (HkWatchHub           *hub);
/* Watches @dir, at @path, with the backend of @kind (never AUTO). Fails
 * with a GIOErrorEnum: NOT_FOUND / NOT_DIRECTORY when it vanished,
 * PERMISSION_DENIED, NO_SPACE when out of kernel watches, NOT_SUPPORTED
 * when that backend cannot work here. */
HkWatch       *hk_watch_hub_add            (HkWatchHub           *hub,
                                            HkBackendKind         kind,
                                            const HkWatchClient  *client,
                                            gpointer              dir,
                                            const char           *path,
                                            HkWatchFlags          flags,
                                            GError              **error);
/* Whether a backend of @kind can run here; @why says why not. */
gboolean       hk_watch_hub_supports       (HkWatchHub           *hub,
                                            HkBackendKind         kind,
                                            GError              **error);
void           hk_watch_remove             (HkWatch              *watch);
/* A 32-bit handle of @watch for records that keep one in 4 bytes (0 for
 * NULL), and back. */
guint32        hk_watch_id                 (HkWatch              *watch);
HkWatch       *hk_watch_from_id            (guint32               id);
HkBackendKind  hk_watch_get_kind           (HkWatch              *watch);
/* For backends with a timer (polling): how often to look. */
void           hk_watch_set_interval       (HkWatch              *watch,
                                            guint                 interval_ms);
/* Kernel handles held by backends of @kind, for all clients. */
guint          hk_watch_hub_count_handles  (HkWatchHub           *hub,
                                            HkBackendKind         kind);
/* Bumped each time a backend of @kind gives a kernel handle back: a
 * client that ran out of handles retries when it changes. */
guint          hk_watch_hub_get_releases   (HkWatchHub           *hub,
                                            HkBackendKind         kind);
/* During a report: the pid of the process that made the change, -1 when
 * the backend does not know it. */
gint           hk_watch_hub_get_event_pid  (HkWatchHub           *hub);
void           hk_watch_hub_set_handle_limit_for_testing (guint   limit);
/* Lets every backend report what it has now, from inside a long task on
 * the worker (a walk). A backend already reporting does nothing. */
void           hk_watch_hub_dispatch_pending (HkWatchHub         *hub);

/* Early ready. A client whose root's mark already sees every change below
 * it (hk_watch_covers_subtree(): a fanotify filesystem mark) may let its
 * start return and walk afterwards. While any client of @kind walks
 * (between begin and end), the backend holds events of directories it
 * does not know yet, and of those watched with HK_WATCH_HOLD; releasing
 * a set of such watches delivers what was held for them, in the order the
 * backend learned it, to their clients (a rename between two of them as
 * one move; with one side still held, that side stays held and the other
 * is reported as a move out or in). Past a bound on what is held, the
 * backend drops it all and reports a loss (the `lost` callback). */
void           hk_watch_hub_begin_walk     (HkWatchHub           *hub,
                                            HkBackendKind         kind);
void           hk_watch_hub_end_walk       (HkWatchHub           *hub,
                                            HkBackendKind         kind);
gboolean       hk_watch_covers_subtree     (HkWatch              *watch);
/* Appends to @dirs the other directories that @watch's client watches
 * through the same kernel handle (two links to one directory, or a
 * directory renamed before its watch was placed: a watch by path lands on
 * whatever has the name by then). */
void           hk_watch_collect_siblings   (HkWatch              *watch,
                                            GPtrArray            *dirs);
/* @watches: HkWatch of one backend kind, all still watching. */
void           hk_watch_hub_release_held   (HkWatchHub           *hub,
                                            GPtrArray            *watches);

G_END_DECLS
