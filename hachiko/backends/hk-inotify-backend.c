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
 * per user). The kernel returns the same watch descriptor when two trees
 * watch the same directory, so a descriptor maps to a chain of directory
 * nodes (HkDirNode.next_same_watch), possibly from several trees. */

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
  GHashTable *watches;      /* wd -> HkDirNode (head of the chain) */
  guint8     *buf;          /* raw events not processed yet */
  gsize       buf_len;
  gsize       buf_pos;
  gint64      move_deadline;
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

static int
chain_collect (HkDirNode  *head,
               HkDirNode **out,
               int         max)
{
  int n = 0;

  for (HkDirNode *dir = head; dir != NULL && n < max; dir = dir->next_same_watch)
    out[n++] = dir;

  return n;
}

static HkDirNode *
lookup_watch (HkInotifyBackend *self,
              int               wd)
{
  return g_hash_table_lookup (self->watches, GINT_TO_POINTER (wd));
}

static gboolean
hk_inotify_backend_add_watch (HkBackend   *backend,
                              HkDirNode   *dir,
                              const char  *path,
                              guint32      flags,
                              GError     **error)
{
  HkInotifyBackend *self = (HkInotifyBackend *) backend;
  guint32 mask = BASE_MASK | IN_MASK_ADD;
  HkDirNode *head;
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

  head = lookup_watch (self, wd);
  for (HkDirNode *it = head; it != NULL; it = it->next_same_watch)
    if (it == dir)
      return TRUE;

  dir->watch = wd;
  dir->next_same_watch = head;
  g_hash_table_insert (self->watches, GINT_TO_POINTER (wd), dir);

  return TRUE;
}

static void
hk_inotify_backend_remove_watch (HkBackend *backend,
                                 HkDirNode *dir)
{
  HkInotifyBackend *self = (HkInotifyBackend *) backend;
  int wd = dir->watch;
  HkDirNode *head = lookup_watch (self, wd);
  HkDirNode **link = &head;

  while (*link != NULL && *link != dir)
    link = &(*link)->next_same_watch;
  if (*link == dir)
    *link = dir->next_same_watch;

  dir->watch = -1;
  dir->next_same_watch = NULL;

  if (head != NULL)
    {
      g_hash_table_insert (self->watches, GINT_TO_POINTER (wd), head);
      return;
    }

  /* Last interest in this descriptor. The kernel may already have dropped
   * it (IN_IGNORED still queued); EINVAL is fine then. */
  g_hash_table_remove (self->watches, GINT_TO_POINTER (wd));
  inotify_rm_watch (self->fd, wd);
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
  self->watches = g_hash_table_new (NULL, NULL);
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
  g_hash_table_unref (self->watches);
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
          self->parent.quiet_at_ns = (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
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
  hk_inotify_backend_process (self);

  return G_SOURCE_REMOVE;
}

static gboolean
hk_inotify_backend_read (gint          fd,
                         GIOCondition  condition,
                         gpointer      data)
{
  HkInotifyBackend *self = data;

  /* Drain what is there; a burst larger than the buffer is handled over
   * several chunks without returning to the main loop. */
  while (fill_buffer (self) > 0)
    hk_inotify_backend_process (self);

  return G_SOURCE_CONTINUE;
}

static const char *
event_name (const struct inotify_event *ev)
{
  return ev->len > 0 && ev->name[0] != '\0' ? ev->name : NULL;
}

static void
dispatch_overflow (HkInotifyBackend *self,
                   gint64            now)
{
  GPtrArray *trees = self->parent.trees;

  g_debug ("inotify queue overflow: rescanning %u trees", trees->len);
  for (guint i = 0; i < trees->len; i++)
    hk_tree_on_overflow (g_ptr_array_index (trees, i), now);
}

static void
dispatch_self_event (HkInotifyBackend           *self,
                     const struct inotify_event *ev,
                     gint64                      now)
{
  HkDirNode *chain[16];
  int n = chain_collect (lookup_watch (self, ev->wd), chain, G_N_ELEMENTS (chain));

  for (int i = 0; i < n; i++)
    {
      HkDirNode *dir = chain[i];
      HkTree *tree = dir->tree;

      if (ev->mask & IN_IGNORED)
        {
          /* The kernel dropped the watch: forget it, then let the tree
           * decide whether that loses anything. */
          hk_inotify_backend_remove_watch (&self->parent, dir);
          self->parent.n_watches--;
          hk_tree_on_watch_lost (tree, dir, now);
          continue;
        }

      if (!hk_tree_is_root (tree, dir))
        {
          /* Non-root directories are reported by their parent, except for
           * an unmount, which the parent never sees. */
          if (ev->mask & IN_UNMOUNT)
            hk_tree_rescan (tree, dir, now);
          continue;
        }

      if (ev->mask & IN_DELETE_SELF)
        hk_tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND, "was deleted", now);
      else if (ev->mask & IN_MOVE_SELF)
        hk_tree_on_root_gone (tree, G_IO_ERROR_NOT_FOUND, "was moved away", now);
      else if (ev->mask & IN_UNMOUNT)
        hk_tree_on_root_gone (tree, G_IO_ERROR_NOT_MOUNTED, "was unmounted", now);
      else if (ev->mask & IN_ATTRIB)
        hk_tree_on_changed (tree, dir, NULL, HK_EVENT_ATTRIBUTE_CHANGED, TRUE, now);
    }
}

static void
dispatch_named_event (HkInotifyBackend           *self,
                      const struct inotify_event *ev,
                      gint64                      now)
{
  HkDirNode *chain[16];
  int n = chain_collect (lookup_watch (self, ev->wd), chain, G_N_ELEMENTS (chain));
  gboolean is_dir = (ev->mask & IN_ISDIR) != 0;
  const char *name = ev->name;

  for (int i = 0; i < n; i++)
    {
      HkDirNode *dir = chain[i];
      HkTree *tree = dir->tree;

      if (ev->mask & (IN_CREATE | IN_MOVED_TO))
        hk_tree_on_created (tree, dir, name, (ev->mask & IN_MOVED_TO) != 0, is_dir, now);
      else if (ev->mask & (IN_DELETE | IN_MOVED_FROM))
        hk_tree_on_deleted (tree, dir, name, now);
      else if (ev->mask & IN_MODIFY)
        hk_tree_on_changed (tree, dir, name, HK_EVENT_MODIFIED, is_dir, now);
      else if (ev->mask & IN_ATTRIB)
        hk_tree_on_changed (tree, dir, name, HK_EVENT_ATTRIBUTE_CHANGED, is_dir, now);
      else if (ev->mask & IN_CLOSE_WRITE)
        hk_tree_on_changed (tree, dir, name, HK_EVENT_CLOSED, is_dir, now);
      else if (ev->mask & IN_OPEN)
        hk_tree_on_changed (tree, dir, name, HK_EVENT_OPENED, is_dir, now);
      else if (ev->mask & IN_CLOSE_NOWRITE)
        hk_tree_on_changed (tree, dir, name, HK_EVENT_CLOSED_NO_WRITE, is_dir, now);
    }
}

/* A rename seen from both sides. For each tree that sees the source,
 * the tree decides: a move inside it, or a move out. Trees that only see
 * the destination get a move in. */
static void
dispatch_move (HkInotifyBackend           *self,
               const struct inotify_event *from,
               const struct inotify_event *to,
               gint64                      now)
{
  HkDirNode *from_chain[16];
  HkDirNode *to_chain[16];
  int n_from = chain_collect (lookup_watch (self, from->wd), from_chain, G_N_ELEMENTS (from_chain));
  int n_to = chain_collect (lookup_watch (self, to->wd), to_chain, G_N_ELEMENTS (to_chain));
  gboolean is_dir = (from->mask & IN_ISDIR) != 0;

  for (int i = 0; i < n_from; i++)
    {
      HkDirNode *to_dir = NULL;

      for (int j = 0; j < n_to; j++)
        if (to_chain[j] != NULL && to_chain[j]->tree == from_chain[i]->tree)
          {
            to_dir = to_chain[j];
            to_chain[j] = NULL;
            break;
          }

      if (to_dir != NULL)
        hk_tree_on_moved (from_chain[i]->tree, from_chain[i], from->name,
                          to_dir, to->name, is_dir, now);
      else
        hk_tree_on_deleted (from_chain[i]->tree, from_chain[i], from->name, now);
    }

  for (int j = 0; j < n_to; j++)
    if (to_chain[j] != NULL)
      hk_tree_on_created (to_chain[j]->tree, to_chain[j], to->name, TRUE, is_dir, now);
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
        dispatch_overflow (self, now);
      else if (ev->mask & IN_MOVED_FROM)
        {
          struct inotify_event *to = find_move_partner (self, self->buf_pos + size, ev->cookie);

          /* The window opens at the first unpaired look (deadline 0). */
          gboolean window_open = self->move_deadline == 0 || now < self->move_deadline;

          if (to == NULL && window_open)
            {
              /* Maybe the partner is still in the kernel. */
              if (fill_buffer (self) > 0)
                continue;   /* the buffer moved; look again */

              arm_move_timeout (self, now);
              return;
            }

          if (to != NULL)
            {
              dispatch_move (self, ev, to, now);
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
  .create = hk_inotify_backend_create,
  .destroy = hk_inotify_backend_destroy,
  .add_watch = hk_inotify_backend_add_watch,
  .remove_watch = hk_inotify_backend_remove_watch,
};
