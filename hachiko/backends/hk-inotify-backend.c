/* hk-inotify-backend.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "hk-backend-private.h"

/* One inotify instance for the whole process (instances are limited to 128
 * per user). The key of a directory is its watch descriptor: the kernel
 * returns the same one when the same directory is watched twice, and the
 * hub fans its events out to every client. */

#define READ_CHUNK     (64 * 1024)
/* How long an IN_MOVED_FROM waits for its IN_MOVED_TO before it counts as
 * a move out of the tree. The kernel queues both back to back, so the
 * partner is nearly always in the same read(); the window only covers a
 * writer preempted between the two. */
#define MOVE_WINDOW_MS 10

#define BASE_MASK (IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | \
                   IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | \
                   IN_DELETE_SELF | IN_MOVE_SELF | IN_EXCL_UNLINK | \
                   IN_ONLYDIR)
#define ACCESS_MASK (IN_OPEN | IN_CLOSE_NOWRITE)

typedef struct
{
  HkBackend   parent;
  int         fd;
  GSource    *fd_source;
  GSource    *move_timeout;
  guint8     *buf;          /* raw events not processed yet */
  gsize       buf_len;
  gsize       buf_pos;
  gint64      move_deadline;
  gint64      quiet_at_ns;  /* realtime when the kernel queue was last empty */
  gboolean    processing;   /* reporting: a client's walk must not re-enter */
} HkInotifyBackend;

static gboolean hk_inotify_backend_read (gint fd, GIOCondition condition, gpointer data);

static void
cancel_move_timeout (HkInotifyBackend *self)
{
  if (self->move_timeout == NULL)
    return;
  g_source_destroy (self->move_timeout);
  g_clear_pointer (&self->move_timeout, g_source_unref);
}

static void     hk_inotify_backend_process (HkInotifyBackend *self);

static gboolean
hk_inotify_backend_add_watch (HkBackend     *backend,
                              const char    *path,
                              HkWatchFlags   flags,
                              gpointer      *key,
                              GError       **error)
{
  HkInotifyBackend *self = (HkInotifyBackend *) backend;
  guint32 mask = BASE_MASK | IN_MASK_ADD;
  int wd;

  if (flags & HK_WATCH_ACCESS_EVENTS)
    mask |= ACCESS_MASK;
  if (!(flags & HK_WATCH_FOLLOW_SYMLINK))
    mask |= IN_DONT_FOLLOW;

  wd = inotify_add_watch (self->fd, path, mask);
  if (wd < 0)
    {
      int errsv = errno;
      g_autofree char *display = g_filename_display_name (path);

      if (errsv == ENOSPC)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                     "Cannot watch “%s”: the inotify watch limit "
                     "(fs.inotify.max_user_watches) is reached", display);
      else
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                     "Cannot watch “%s”: %s", display, g_strerror (errsv));
      return FALSE;
    }

  *key = GINT_TO_POINTER (wd);
  return TRUE;
}

static void
hk_inotify_backend_remove_watch (HkBackend *backend,
                                 gpointer   key)
{
  HkInotifyBackend *self = (HkInotifyBackend *) backend;

  /* The kernel may already have dropped it (IN_IGNORED still queued);
   * EINVAL is fine then. */
  inotify_rm_watch (self->fd, GPOINTER_TO_INT (key));
}

static HkBackend *
hk_inotify_backend_create (GMainContext  *context,
                           GError       **error)
{
  HkInotifyBackend *self;
  int fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);

  if (fd < 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Cannot create an inotify instance: %s%s",
                   g_strerror (errsv),
                   errsv == EMFILE ? " (fs.inotify.max_user_instances reached)" : "");
      return NULL;
    }

  self = g_new0 (HkInotifyBackend, 1);
  self->fd = fd;
  self->buf = g_malloc (READ_CHUNK * 2);

  self->fd_source = g_unix_fd_source_new (fd, G_IO_IN);
  g_source_set_callback (self->fd_source, G_SOURCE_FUNC (hk_inotify_backend_read), self, NULL);
  g_source_set_static_name (self->fd_source, "[hachiko] inotify");
  g_source_attach (self->fd_source, context);

  return &self->parent;
}

static void
hk_inotify_backend_destroy (HkBackend *backend)
{
  HkInotifyBackend *self = (HkInotifyBackend *) backend;

  cancel_move_timeout (self);
  g_source_destroy (self->fd_source);
  g_clear_pointer (&self->fd_source, g_source_unref);
  close (self->fd);
  g_free (self->buf);
  g_free (self);
}

static inline struct inotify_event *
event_at (HkInotifyBackend *self,
          gsize             pos)
{
  return (struct inotify_event *) (self->buf + pos);
}

static inline gsize
event_size (const struct inotify_event *ev)
{
  return sizeof (struct inotify_event) + ev->len;
}

/* Reads what the kernel has, appending to the unprocessed bytes. Returns
 * the number of bytes read, 0 when nothing was available. */
static gsize
fill_buffer (HkInotifyBackend *self)
{
  gssize n;

  if (self->buf_pos > 0)
    {
      memmove (self->buf, self->buf + self->buf_pos, self->buf_len - self->buf_pos);
      self->buf_len -= self->buf_pos;
      self->buf_pos = 0;
    }

  if (self->buf_len + READ_CHUNK > READ_CHUNK * 2)
    return 0;

  do
    n = read (self->fd, self->buf + self->buf_len, READ_CHUNK);
  while (n < 0 && errno == EINTR);

  if (n <= 0)
    {
      if (n < 0 && errno == EAGAIN)
        {
          struct timespec ts;

          clock_gettime (CLOCK_REALTIME, &ts);
          self->quiet_at_ns = (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
        }
      return 0;
    }

  self->buf_len += n;
  return n;
}

static gboolean
on_move_timeout (gpointer data)
{
  HkInotifyBackend *self = data;

  g_clear_pointer (&self->move_timeout, g_source_unref);
  if (self->processing)
    return G_SOURCE_REMOVE;  /* the running pass looks again */
  self->processing = TRUE;
  hk_inotify_backend_process (self);
  self->processing = FALSE;

  return G_SOURCE_REMOVE;
}

static gboolean
hk_inotify_backend_read (gint          fd,
                         GIOCondition  condition,
                         gpointer      data)
{
  HkInotifyBackend *self = data;

  if (self->processing)
    return G_SOURCE_CONTINUE;

  /* Drain what is there; a burst larger than the buffer is handled over
   * several chunks without returning to the main loop. */
  self->processing = TRUE;
  while (fill_buffer (self) > 0)
    hk_inotify_backend_process (self);
  self->processing = FALSE;

  return G_SOURCE_CONTINUE;
}

static void
hk_inotify_backend_dispatch_pending (HkBackend *backend)
{
  HkInotifyBackend *self = (HkInotifyBackend *) backend;

  hk_inotify_backend_read (self->fd, G_IO_IN, self);
}

static const char *
event_name (const struct inotify_event *ev)
{
  return ev->len > 0 && ev->name[0] != '\0' ? ev->name : NULL;
}

static HkChange
named_change (guint32 mask)
{
  if (mask & IN_CREATE)
    return HK_CHANGE_CREATED;
  if (mask & IN_MOVED_TO)
    return HK_CHANGE_MOVED_IN;
  if (mask & IN_DELETE)
    return HK_CHANGE_DELETED;
  if (mask & IN_MOVED_FROM)
    return HK_CHANGE_MOVED_OUT;
  if (mask & IN_MODIFY)
    return HK_CHANGE_MODIFIED;
  if (mask & IN_ATTRIB)
    return HK_CHANGE_ATTRIBUTES;
  if (mask & IN_CLOSE_WRITE)
    return HK_CHANGE_CLOSED_WRITE;
  if (mask & IN_OPEN)
    return HK_CHANGE_OPENED;
  return HK_CHANGE_CLOSED_NO_WRITE;
}

static void
dispatch_self_event (HkInotifyBackend           *self,
                     const struct inotify_event *ev,
                     gint64                      now)
{
  gpointer key = GINT_TO_POINTER (ev->wd);

  if (ev->mask & IN_IGNORED)
    hk_backend_report_dropped (&self->parent, key, now);
  else if (ev->mask & IN_DELETE_SELF)
    hk_backend_report_change (&self->parent, key, NULL, HK_CHANGE_SELF_DELETED, TRUE, now);
  else if (ev->mask & IN_MOVE_SELF)
    hk_backend_report_change (&self->parent, key, NULL, HK_CHANGE_SELF_MOVED, TRUE, now);
  else if (ev->mask & IN_UNMOUNT)
    hk_backend_report_change (&self->parent, key, NULL, HK_CHANGE_SELF_UNMOUNTED, TRUE, now);
  else if (ev->mask & (IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE | IN_OPEN | IN_CLOSE_NOWRITE))
    hk_backend_report_change (&self->parent, key, NULL, named_change (ev->mask), TRUE, now);
}

static void
dispatch_named_event (HkInotifyBackend           *self,
                      const struct inotify_event *ev,
                      gint64                      now)
{
  hk_backend_report_change (&self->parent, GINT_TO_POINTER (ev->wd), ev->name,
                            named_change (ev->mask), (ev->mask & IN_ISDIR) != 0, now);
}

static struct inotify_event *
find_move_partner (HkInotifyBackend *self,
                   gsize             after,
                   guint32           cookie)
{
  for (gsize pos = after; pos < self->buf_len;)
    {
      struct inotify_event *ev = event_at (self, pos);

      if ((ev->mask & IN_MOVED_TO) && ev->cookie == cookie)
        return ev;
      pos += event_size (ev);
    }

  return NULL;
}

static void
arm_move_timeout (HkInotifyBackend *self,
                  gint64            now)
{
  if (self->move_deadline == 0)
    self->move_deadline = now + MOVE_WINDOW_MS * 1000;

  if (self->move_timeout != NULL)
    return;

  self->move_timeout = g_timeout_source_new (MAX (1, (self->move_deadline - now) / 1000));
  g_source_set_callback (self->move_timeout, on_move_timeout, self, NULL);
  g_source_set_static_name (self->move_timeout, "[hachiko] move pairing");
  g_source_attach (self->move_timeout, g_source_get_context (self->fd_source));
}

/* Processes buffered events in order. An IN_MOVED_FROM whose partner has
 * not arrived holds back the events behind it (order matters: a later
 * event may be about the moved entry) for at most MOVE_WINDOW_MS. */
static void
hk_inotify_backend_process (HkInotifyBackend *self)
{
  gint64 now = g_get_monotonic_time ();

  while (self->buf_pos < self->buf_len)
    {
      struct inotify_event *ev = event_at (self, self->buf_pos);
      gsize size = event_size (ev);

      if (ev->mask == 0)
        {
          /* A partner consumed earlier. */
          self->buf_pos += size;
          continue;
        }

      if (ev->mask & IN_Q_OVERFLOW)
        hk_backend_report_lost (&self->parent, self->quiet_at_ns, now);
      else if (ev->mask & IN_MOVED_FROM)
        {
          struct inotify_event *to = find_move_partner (self, self->buf_pos + size, ev->cookie);

          /* The window opens at the first unpaired look (deadline 0). */
          gboolean window_open = self->move_deadline == 0 || now < self->move_deadline;

          /* Maybe the partner is still in the kernel; after the window,
           * one last look, for a worker that was not scheduled meanwhile. */
          if (to == NULL && fill_buffer (self) > 0)
            continue;   /* the buffer moved; look again */

          if (to == NULL && window_open)
            {
              arm_move_timeout (self, now);
              return;
            }

          if (to != NULL)
            {
              hk_backend_report_move (&self->parent,
                                      GINT_TO_POINTER (ev->wd), ev->name,
                                      GINT_TO_POINTER (to->wd), to->name,
                                      (ev->mask & IN_ISDIR) != 0, now);
              to->mask = 0;
            }
          else
            dispatch_named_event (self, ev, now);

          self->move_deadline = 0;
          cancel_move_timeout (self);
        }
      else if (event_name (ev) != NULL)
        dispatch_named_event (self, ev, now);
      else
        dispatch_self_event (self, ev, now);

      self->buf_pos += size;
    }

  self->buf_pos = 0;
  self->buf_len = 0;
}

const HkBackendClass hk_inotify_backend_class = {
  .name = "inotify",
  .kind = HK_BACKEND_KIND_INOTIFY,
  .caps = HK_BACKEND_CAP_ACCESS_EVENTS | HK_BACKEND_CAP_PAIRS_MOVES | HK_BACKEND_CAP_KERNEL_HANDLES,
  .create = hk_inotify_backend_create,
  .destroy = hk_inotify_backend_destroy,
  .add_watch = hk_inotify_backend_add_watch,
  .remove_watch = hk_inotify_backend_remove_watch,
  .dispatch_pending = hk_inotify_backend_dispatch_pending,
};
