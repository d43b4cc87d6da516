/* hk-worker.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <unistd.h>

#include "hk-worker-private.h"

struct _HkWorker
{
  pid_t         pid;         /* the process whose thread this is */
  guint         ref_count;   /* under worker_lock */
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  HkWatchHub   *hub;
  GMutex        mutex;
  GCond         cond;
  gboolean      started;
};

G_LOCK_DEFINE_STATIC (worker_lock);
static HkWorker *the_worker;

/* After fork() the child has the parent's worker singleton but not its
 * thread: waiting for that thread would hang forever, and its context may
 * be locked for good. The child forgets it (leaking it: nothing of it can
 * be touched safely) and starts a worker of its own. Under worker_lock. */
static void
forget_worker_of_parent (void)
{
  if (the_worker != NULL && the_worker->pid != getpid ())
    the_worker = NULL;
}

static gpointer
hk_worker_thread (gpointer data)
{
  HkWorker *self = data;

  g_main_context_push_thread_default (self->context);

  self->hub = hk_watch_hub_new (self->context);

  g_mutex_lock (&self->mutex);
  self->started = TRUE;
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);

  g_main_loop_run (self->loop);

  g_clear_pointer (&self->hub, hk_watch_hub_free);
  g_main_context_pop_thread_default (self->context);

  return NULL;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static void
hk_worker_free (HkWorker *self)
{
  /* Quit from inside the loop: a quit before g_main_loop_run() started
   * would be forgotten. */
  g_main_context_invoke (self->context, quit_loop, self->loop);
  g_thread_join (self->thread);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);
  g_free (self);
}

HkWorker *
hk_worker_acquire (GError **error)
{
  HkWorker *self;

  G_LOCK (worker_lock);
  forget_worker_of_parent ();

  if (the_worker != NULL)
    {
      the_worker->ref_count++;  /* may come back from 0: an idle worker */
      G_UNLOCK (worker_lock);
      return the_worker;
    }

  self = g_new0 (HkWorker, 1);
  self->pid = getpid ();
  self->ref_count = 1;
  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->thread = g_thread_new ("hachiko-worker", hk_worker_thread, self);

  g_mutex_lock (&self->mutex);
  while (!self->started)
    g_cond_wait (&self->cond, &self->mutex);
  g_mutex_unlock (&self->mutex);

  the_worker = self;
  G_UNLOCK (worker_lock);

  return self;
}

/* The worker outlives its last watchdog: it costs nothing while idle (it
 * sleeps in poll() with no timer), while closing an inotify instance makes
 * the kernel wait for a grace period, about 10 ms, on every start after an
 * idle moment. It is shut down at exit, or by hk_worker_shutdown_idle(). */
void
hk_worker_release (HkWorker *self)
{
  G_LOCK (worker_lock);
  if (self != the_worker)
    {
      /* A parent's worker, forgotten after fork(). */
      G_UNLOCK (worker_lock);
      return;
    }
  g_assert (self->ref_count > 0);
  self->ref_count--;
  G_UNLOCK (worker_lock);
}

gboolean
hk_worker_shutdown_idle (void)
{
  HkWorker *self;

  G_LOCK (worker_lock);
  forget_worker_of_parent ();
  self = the_worker;
  if (self == NULL || self->ref_count > 0)
    {
      G_UNLOCK (worker_lock);
      return self == NULL;
    }
  the_worker = NULL;
  G_UNLOCK (worker_lock);

  hk_worker_free (self);
  return TRUE;
}

__attribute__((destructor))
static void
hk_worker_shutdown_at_exit (void)
{
  hk_worker_shutdown_idle ();
}

HkWatchHub *
hk_worker_get_hub (HkWorker *self)
{
  return self->hub;
}

GMainContext *
hk_worker_get_context (HkWorker *self)
{
  return self->context;
}

typedef struct
{
  HkWorker       *worker;
  HkWorkerFunc    func;
  gpointer        data;
  GDestroyNotify  destroy;
  gboolean        done;
} Call;

static gboolean
run_call (gpointer user_data)
{
  Call *call = user_data;

  call->func (call->worker, call->data);

  if (call->destroy != NULL)
    {
      /* hk_worker_post(): nobody waits. */
      call->destroy (call->data);
      g_free (call);
      return G_SOURCE_REMOVE;
    }

  g_mutex_lock (&call->worker->mutex);
  call->done = TRUE;
  g_cond_broadcast (&call->worker->cond);
  g_mutex_unlock (&call->worker->mutex);

  return G_SOURCE_REMOVE;
}

void
hk_worker_call (HkWorker     *self,
                HkWorkerFunc  func,
                gpointer      data)
{
  Call call = { self, func, data, NULL, FALSE };

  if (g_thread_self () == self->thread)
    {
      func (self, data);
      return;
    }

  g_main_context_invoke (self->context, run_call, &call);

  g_mutex_lock (&self->mutex);
  while (!call.done)
    g_cond_wait (&self->cond, &self->mutex);
  g_mutex_unlock (&self->mutex);
}

static void
no_destroy (gpointer data)
{
}

void
hk_worker_post (HkWorker       *self,
                HkWorkerFunc    func,
                gpointer        data,
                GDestroyNotify  destroy)
{
  Call *call = g_new0 (Call, 1);

  call->worker = self;
  call->func = func;
  call->data = data;
  call->destroy = destroy != NULL ? destroy : no_destroy;

  g_main_context_invoke (self->context, run_call, call);
}

static void
run_task (HkWorker *worker,
          gpointer  data)
{
  GTask *task = data;
  HkWorkerTaskFunc func = g_object_get_data (G_OBJECT (task), "hk-worker-func");

  func (worker, task);
}

void
hk_worker_run_task (HkWorker         *self,
                    GTask            *task,
                    HkWorkerTaskFunc  func)
{
  /* Only the task travels: it carries its data, and its result comes back
   * on the context it was created in. */
  g_return_if_fail (g_task_get_source_object (task) == NULL);

  g_object_set_data (G_OBJECT (task), "hk-worker-func", func);
  hk_worker_post (self, run_task, g_object_ref (task), g_object_unref);
}
