/* hk-worker-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

#include "hk-watch-private.h"

G_BEGIN_DECLS

/* The one worker thread of the process, shared by every HkWatchdog. It runs
 * its own GMainContext with the backend's sources and owns every HkTree.
 * It starts with the first watchdog and stays until exit. A fork()ed child
 * gets a worker of its own. */
typedef struct _HkWorker HkWorker;

typedef void (*HkWorkerFunc) (HkWorker *worker,
                              gpointer  data);

HkWorker     *hk_worker_acquire     (GError       **error);
void          hk_worker_release     (HkWorker      *worker);
/* Stops the worker if no watchdog uses it; TRUE when none is left. */
gboolean      hk_worker_shutdown_idle (void);
HkWatchHub   *hk_worker_get_hub     (HkWorker      *worker);
GMainContext *hk_worker_get_context (HkWorker      *worker);
/* Runs @func on the worker and waits for it to return. */
void          hk_worker_call        (HkWorker      *worker,
                                     HkWorkerFunc   func,
                                     gpointer       data);
/* Runs @func on the worker later; @destroy frees @data there afterwards. */
void          hk_worker_post        (HkWorker      *worker,
                                     HkWorkerFunc   func,
                                     gpointer       data,
                                     GDestroyNotify destroy);

/* Runs on the worker and completes @task with g_task_return_*(). */
typedef void (*HkWorkerTaskFunc) (HkWorker *worker,
                                  GTask    *task);

/* Runs @func on the worker; @task completes on the context it was created
 * in (the owner's). @task must have no source object: its last reference
 * may be dropped on the worker. */
void          hk_worker_run_task    (HkWorker      *worker,
                                     GTask         *task,
                                     HkWorkerTaskFunc func);

G_END_DECLS
