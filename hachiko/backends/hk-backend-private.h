/* hk-backend-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hk-tree-private.h"

G_BEGIN_DECLS

/* The small interface every backend implements. A backend lives on the
 * worker thread: it is created there, all its functions are called there,
 * and it calls the hk_tree_on_*() functions there, in kernel order.
 *
 * Adding a backend: one new file implementing HkBackendClass, and one line
 * in the registry in hk-backend.c. */

typedef struct
{
  const char *name;

  /* Creates the backend and attaches its sources to @context. */
  HkBackend *(*create)       (GMainContext  *context,
                              GError       **error);
  void       (*destroy)      (HkBackend     *self);
  /* Watches @dir (at @path) and sets dir->watch; on failure returns FALSE
   * with a GIOErrorEnum error (NOT_FOUND / NOT_DIRECTORY when the directory
   * vanished, PERMISSION_DENIED, NO_SPACE when out of watches, ...). */
  gboolean   (*add_watch)    (HkBackend     *self,
                              HkDirNode     *dir,
                              const char    *path,
                              guint32        flags,
                              GError       **error);
  /* Drops @dir's interest in its watch and sets dir->watch to -1. */
  void       (*remove_watch) (HkBackend     *self,
                              HkDirNode     *dir);
} HkBackendClass;

/* Flags for add_watch */
enum
{
  HK_WATCH_ACCESS_EVENTS  = 1 << 0,
  HK_WATCH_FOLLOW_SYMLINK = 1 << 1,
};

struct _HkBackend
{
  const HkBackendClass *klass;
  GPtrArray            *trees;    /* running HkTrees, for queue overflows */
  guint                 n_watches;
  gint64                quiet_at_ns;  /* realtime when the kernel queue was last empty */
};

HkBackend *hk_backend_new           (GMainContext  *context,
                                     GError       **error);
void       hk_backend_free          (HkBackend     *self);
gboolean   hk_backend_add_watch     (HkBackend     *self,
                                     HkDirNode     *dir,
                                     const char    *path,
                                     guint32        flags,
                                     GError       **error);
void       hk_backend_remove_watch  (HkBackend     *self,
                                     HkDirNode     *dir);
void       hk_backend_set_watch_limit_for_testing (guint limit);
void       hk_backend_add_tree      (HkBackend     *self,
                                     HkTree        *tree);
void       hk_backend_remove_tree   (HkBackend     *self,
                                     HkTree        *tree);

extern const HkBackendClass hk_inotify_backend_class;

G_END_DECLS
