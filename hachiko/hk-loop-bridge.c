/* hk-loop-bridge.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "hk-loop-bridge.h"

/**
 * HkLoopBridge:
 *
 * Lets a program that runs no GLib main loop own watchdogs.
 *
 * A watchdog delivers its events on its owner context (see
 * [class@Hk.Watchdog]). A bridge gives a program built on another event
 * loop (asyncio, uvloop, libuv, Qt, a plain `epoll` loop) such a context
 * and one file descriptor that stands for it:
 *
 * 1. make [method@Hk.LoopBridge.get_context] the thread-default context
 *    while creating the watchdogs (and while calling
 *    [method@Hk.Watchdog.start_async]), so that it becomes their owner;
 * 2. watch [method@Hk.LoopBridge.get_fd] for readability in your loop;
 * 3. when it is readable, call [method@Hk.LoopBridge.dispatch] on the
 *    loop's thread: every signal and handler of those watchdogs runs
 *    inside that call, on the caller's thread.
 *
 * When nothing is pending the descriptor stays unreadable and no timer is
 * armed, so an idle program is not woken. The descriptor is an `epoll`
 * instance holding the descriptors the context polls plus a `timerfd` for
 * its nearest timeout (the coalescing window of
 * [property@Hk.Watchdog:latency], for instance); it is refreshed after
 * every dispatch, so any [struct@GLib.Source] attached to the context
 * works, not only watchdogs.
 *
 * From Python with asyncio (the `hachiko` package does this for you):
 *
 * ```python
 * bridge = Hk.LoopBridge.new()
 * context = bridge.get_context()
 * context.push_thread_default()
 * try:
 *     watchdog = Hk.Watchdog.new(Gio.File.new_for_path("/srv/data"))
 * finally:
 *     context.pop_thread_default()
 * watchdog.connect("event", lambda wd, event: print(event.get_path()))
 * watchdog.start(None)
 * asyncio.get_running_loop().add_reader(bridge.get_fd(), bridge.dispatch)
 * ```
 *
 * From C, with a plain `epoll` loop:
 *
 * ```c
 * g_autoptr(HkLoopBridge) bridge = hk_loop_bridge_new (&error);
 * GMainContext *context = hk_loop_bridge_get_context (bridge);
 * struct epoll_event ev = { .events = EPOLLIN };
 * int epfd = epoll_create1 (EPOLL_CLOEXEC);
 *
 * g_main_context_push_thread_default (context);
 * watchdog = hk_watchdog_new (root);
 * g_main_context_pop_thread_default (context);
 * g_signal_connect (watchdog, "event", G_CALLBACK (on_event), NULL);
 * hk_watchdog_start (watchdog, NULL, &error);
 *
 * ev.data.fd = hk_loop_bridge_get_fd (bridge);
 * epoll_ctl (epfd, EPOLL_CTL_ADD, ev.data.fd, &ev);
 * for (;;)
 *   {
 *     struct epoll_event ready[16];
 *     int n = epoll_wait (epfd, ready, G_N_ELEMENTS (ready), -1);
 *
 *     for (int i = 0; i < n; i++)
 *       if (ready[i].data.fd == hk_loop_bridge_get_fd (bridge))
 *         hk_loop_bridge_dispatch (bridge);   // on_event runs here
 *       else
 *         ... // the program's own descriptors
 *   }
 * ```
 *
 * The context is created with %G_MAIN_CONTEXT_FLAGS_OWNERLESS_POLLING, so
 * that sources attached from the watchdogs' worker thread wake it although
 * no thread holds it between dispatches. Only one thread at a time may
 * call [method@Hk.LoopBridge.dispatch]; the usual choice is the loop's
 * thread, always the same.
 *
 * Since: 1.0
 */

struct _HkLoopBridge
{
  GObject       parent_instance;

  GMainContext *context;
  int           epoll_fd;
  int           timer_fd;
  GHashTable   *registered;     /* fd -> epoll events, as in the epoll set */
  GPollFD      *fds;            /* the context's poll records, from query */
  guint         n_fds_allocated;
  guint         timer_armed : 1;
  guint         dispatching : 1;
};

enum {
  PROP_0,
  PROP_CONTEXT,
  PROP_FD,
  N_PROPS
};

/* Bounds one dispatch call, so that a source that is always ready cannot
 * keep the foreign loop from running its own work: the descriptor stays
 * readable and the loop comes back. */
#define MAX_ROUNDS_PER_DISPATCH 32

static void hk_loop_bridge_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HkLoopBridge, hk_loop_bridge, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      hk_loop_bridge_initable_iface_init))

static GParamSpec *properties[N_PROPS];

static guint32
epoll_events_from_poll (gushort events)
{
  guint32 result = 0;

  if (events & G_IO_IN)
    result |= EPOLLIN;
  if (events & G_IO_OUT)
    result |= EPOLLOUT;
  if (events & G_IO_PRI)
    result |= EPOLLPRI;
  /* EPOLLERR and EPOLLHUP are always reported. */
  return result;
}

/* Whether the epoll set already holds exactly @fds, the common case (the
 * context's wake-up descriptor alone): then no system call is needed. */
static gboolean
epoll_set_matches (HkLoopBridge *self,
                   GPollFD      *fds,
                   guint         n_fds)
{
  if (g_hash_table_size (self->registered) != n_fds)
    return FALSE;

  for (guint i = 0; i < n_fds; i++)
    {
      gpointer value;

      if (!g_hash_table_lookup_extended (self->registered, GINT_TO_POINTER (fds[i].fd), NULL, &value) ||
          GPOINTER_TO_UINT (value) != (epoll_events_from_poll (fds[i].events) | EPOLLERR))
        return FALSE;
    }

  return TRUE;
}

/* Makes the epoll set hold exactly the descriptors of @fds. */
static void
sync_epoll_set (HkLoopBridge *self,
                GPollFD      *fds,
                guint         n_fds)
{
  g_autoptr(GHashTable) wanted = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (epoll_set_matches (self, fds, n_fds))
    return;

  wanted = g_hash_table_new (NULL, NULL);

  for (guint i = 0; i < n_fds; i++)
    {
      gpointer fd = GINT_TO_POINTER (fds[i].fd);
      guint32 events = GPOINTER_TO_UINT (g_hash_table_lookup (wanted, fd));

      g_hash_table_insert (wanted, fd, GUINT_TO_POINTER (events | epoll_events_from_poll (fds[i].events) | EPOLLERR));
    }

  g_hash_table_iter_init (&iter, self->registered);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      if (g_hash_table_contains (wanted, key))
        continue;
      /* EBADF/ENOENT: the descriptor was closed, epoll already forgot it. */
      epoll_ctl (self->epoll_fd, EPOLL_CTL_DEL, GPOINTER_TO_INT (key), NULL);
      g_hash_table_iter_remove (&iter);
    }

  g_hash_table_iter_init (&iter, wanted);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      struct epoll_event ev = { .events = GPOINTER_TO_UINT (value), .data.fd = GPOINTER_TO_INT (key) };
      gpointer old;
      int op = EPOLL_CTL_ADD;

      if (g_hash_table_lookup_extended (self->registered, key, NULL, &old))
        {
          if (old == value)
            continue;
          op = EPOLL_CTL_MOD;
        }
      if (epoll_ctl (self->epoll_fd, op, ev.data.fd, &ev) != 0 &&
          !(op == EPOLL_CTL_MOD && errno == ENOENT &&
            epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, ev.data.fd, &ev) == 0))
        {
          int errsv = errno;

          g_warning ("Cannot poll descriptor %d of the bridged context: %s",
                     ev.data.fd, g_strerror (errsv));
          continue;
        }
      g_hash_table_insert (self->registered, key, value);
    }
}

/* Arms the timer for @timeout_ms (0: now; -1: disarmed). Re-arming also
 * resets its expiration count, which makes it unreadable again. */
static void
sync_timer (HkLoopBridge *self,
            int           timeout_ms)
{
  struct itimerspec spec = { { 0, 0 }, { 0, 0 } };

  if (timeout_ms < 0 && !self->timer_armed)
    return;

  if (timeout_ms == 0)
    spec.it_value.tv_nsec = 1;
  else if (timeout_ms > 0)
    {
      spec.it_value.tv_sec = timeout_ms / 1000;
      spec.it_value.tv_nsec = (long) (timeout_ms % 1000) * 1000000;
    }

  if (timerfd_settime (self->timer_fd, 0, &spec, NULL) != 0)
    {
      int errsv = errno;

      g_warning ("Cannot arm the bridge's timer: %s", g_strerror (errsv));
      return;
    }
  self->timer_armed = timeout_ms >= 0;
}

/* One prepare/query/poll/check round of the context, as
 * g_main_context_iteration() does without blocking. Leaves the poll
 * records in self->fds. Returns whether sources are ready to dispatch. */
static gboolean
prepare_and_check (HkLoopBridge *self,
                   guint        *n_fds,
                   int          *timeout_ms)
{
  GPollFunc poll_func = g_main_context_get_poll_func (self->context);
  int max_priority;
  int n;

  g_main_context_prepare (self->context, &max_priority);
  while ((n = g_main_context_query (self->context, max_priority, timeout_ms,
                                    self->fds, self->n_fds_allocated)) > (int) self->n_fds_allocated)
    {
      self->n_fds_allocated = n;
      self->fds = g_renew (GPollFD, self->fds, n);
    }

  if (n > 0)
    poll_func (self->fds, n, 0);
  *n_fds = n;

  return g_main_context_check (self->context, max_priority, self->fds, n);
}

static gboolean
hk_loop_bridge_initable_init (GInitable     *initable,
                              GCancellable  *cancellable,
                              GError       **error)
{
  HkLoopBridge *self = HK_LOOP_BRIDGE (initable);
  struct epoll_event ev = { .events = EPOLLIN };
  guint n_fds = 0;
  int timeout_ms = -1;

  if (self->epoll_fd >= 0)
    return TRUE;

  self->timer_fd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (self->timer_fd < 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Cannot create the bridge's timer: %s", g_strerror (errsv));
      return FALSE;
    }

  self->epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  ev.data.fd = self->timer_fd;
  if (self->epoll_fd < 0 ||
      epoll_ctl (self->epoll_fd, EPOLL_CTL_ADD, self->timer_fd, &ev) != 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Cannot create the bridge's descriptor: %s", g_strerror (errsv));
      return FALSE;
    }

  /* Registers the context's wake-up descriptor. */
  if (!g_main_context_acquire (self->context))
    g_assert_not_reached ();   /* a context nobody else knows yet */
  if (prepare_and_check (self, &n_fds, &timeout_ms))
    timeout_ms = 0;
  g_main_context_release (self->context);
  sync_epoll_set (self, self->fds, n_fds);
  sync_timer (self, timeout_ms);

  return TRUE;
}

static void
hk_loop_bridge_initable_iface_init (GInitableIface *iface)
{
  iface->init = hk_loop_bridge_initable_init;
}

/**
 * hk_loop_bridge_new:
 * @error: return location for a #GError
 *
 * Creates a bridge with a new main context. Fails only when the process
 * is out of file descriptors.
 *
 * Returns: (transfer full): a new bridge, or %NULL on error
 *
 * Since: 1.0
 */
HkLoopBridge *
hk_loop_bridge_new (GError **error)
{
  return g_initable_new (HK_TYPE_LOOP_BRIDGE, NULL, error, NULL);
}

/**
 * hk_loop_bridge_get_context:
 * @self: a bridge
 *
 * Gets [property@Hk.LoopBridge:context].
 *
 * Returns: (transfer none): the context the bridge dispatches
 *
 * Since: 1.0
 */
GMainContext *
hk_loop_bridge_get_context (HkLoopBridge *self)
{
  g_return_val_if_fail (HK_IS_LOOP_BRIDGE (self), NULL);

  return self->context;
}

/**
 * hk_loop_bridge_get_fd:
 * @self: a bridge
 *
 * Gets [property@Hk.LoopBridge:fd].
 *
 * Returns: a descriptor that is readable while the context has something
 *   to dispatch; owned by the bridge, do not read it or close it
 *
 * Since: 1.0
 */
int
hk_loop_bridge_get_fd (HkLoopBridge *self)
{
  g_return_val_if_fail (HK_IS_LOOP_BRIDGE (self), -1);

  return self->epoll_fd;
}

/**
 * hk_loop_bridge_dispatch:
 * @self: a bridge
 *
 * Dispatches everything that is ready on the bridge's context: pending
 * watchdog deliveries (and with them every signal and handler), expired
 * timeouts, and any other source attached to the context. Then makes the
 * descriptor reflect what is left: unreadable when nothing is pending.
 *
 * Call it when [method@Hk.LoopBridge.get_fd] is readable; calling it at
 * other times is harmless. It never blocks. A call made from inside a
 * dispatch (from a signal handler) does nothing and returns %FALSE.
 *
 * Returns: whether anything was dispatched
 *
 * Since: 1.0
 */
gboolean
hk_loop_bridge_dispatch (HkLoopBridge *self)
{
  g_autoptr(HkLoopBridge) keep = NULL;
  gboolean dispatched = FALSE;
  gboolean more;
  guint n_fds = 0;
  int timeout_ms = -1;

  g_return_val_if_fail (HK_IS_LOOP_BRIDGE (self), FALSE);

  if (self->dispatching)
    return FALSE;
  if (!g_main_context_acquire (self->context))
    {
      g_critical ("%s: the bridge's context is held by another thread", G_STRFUNC);
      return FALSE;
    }

  keep = g_object_ref (self);
  self->dispatching = TRUE;
  more = TRUE;
  for (guint round = 0; round < MAX_ROUNDS_PER_DISPATCH; round++)
    {
      if (!prepare_and_check (self, &n_fds, &timeout_ms))
        {
          more = FALSE;
          break;
        }
      g_main_context_dispatch (self->context);
      dispatched = TRUE;
    }
  self->dispatching = FALSE;
  g_main_context_release (self->context);

  sync_epoll_set (self, self->fds, n_fds);
  sync_timer (self, more ? 0 : timeout_ms);

  return dispatched;
}

static void
hk_loop_bridge_finalize (GObject *object)
{
  HkLoopBridge *self = HK_LOOP_BRIDGE (object);

  if (self->epoll_fd >= 0)
    close (self->epoll_fd);
  if (self->timer_fd >= 0)
    close (self->timer_fd);
  g_clear_pointer (&self->registered, g_hash_table_unref);
  g_clear_pointer (&self->fds, g_free);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (hk_loop_bridge_parent_class)->finalize (object);
}

static void
hk_loop_bridge_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  HkLoopBridge *self = HK_LOOP_BRIDGE (object);

  switch (prop_id)
    {
    case PROP_CONTEXT:
      g_value_set_boxed (value, self->context);
      break;
    case PROP_FD:
      g_value_set_int (value, self->epoll_fd);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_loop_bridge_class_init (HkLoopBridgeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hk_loop_bridge_finalize;
  object_class->get_property = hk_loop_bridge_get_property;

  /**
   * HkLoopBridge:context:
   *
   * The main context the bridge dispatches. Make it the thread-default
   * context while creating watchdogs, so that it becomes their owner.
   *
   * Since: 1.0
   */
  properties[PROP_CONTEXT] =
    g_param_spec_boxed ("context", NULL, NULL,
                        G_TYPE_MAIN_CONTEXT,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * HkLoopBridge:fd:
   *
   * The descriptor to watch for readability: readable while the context
   * has something to dispatch.
   *
   * Since: 1.0
   */
  properties[PROP_FD] =
    g_param_spec_int ("fd", NULL, NULL,
                      -1, G_MAXINT, -1,
                      (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hk_loop_bridge_init (HkLoopBridge *self)
{
  self->context = g_main_context_new_with_flags (G_MAIN_CONTEXT_FLAGS_OWNERLESS_POLLING);
  self->epoll_fd = -1;
  self->timer_fd = -1;
  self->registered = g_hash_table_new (NULL, NULL);
}
