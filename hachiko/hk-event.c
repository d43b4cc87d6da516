/* hk-event.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "hk-event-private.h"

/**
 * HkEvent:
 *
 * One change in a watched tree.
 *
 * An `HkEvent` is immutable and reference counted, so it can be kept, shared
 * and passed between threads freely. The [iface@Gio.File] accessors create
 * their `GFile` lazily on first use; [method@Hk.Event.get_path] is the cheap
 * way to read the path.
 *
 * Since: 1.0
 */

struct _HkEvent
{
  gatomicrefcount  ref_count;
  HkEventType      event_type;
  guint            is_directory : 1;
  guint            is_synthetic : 1;
  gint64           timestamp;
  gint             pid;        /* -1: unknown */
  char            *path;
  char            *dest_path;
  GFile           *file;       /* created lazily, set once atomically */
  GFile           *dest_file;  /* idem */
};

G_DEFINE_BOXED_TYPE (HkEvent, hk_event, hk_event_ref, hk_event_unref)

/* Indexed by HkEventType; the same strings as the GEnumValue nicks, which
 * test-event checks. */
static const char * const event_type_nicks[] = {
  [HK_EVENT_CREATED] = "created",
  [HK_EVENT_DELETED] = "deleted",
  [HK_EVENT_MODIFIED] = "modified",
  [HK_EVENT_MOVED] = "moved",
  [HK_EVENT_ATTRIBUTE_CHANGED] = "attribute-changed",
  [HK_EVENT_CLOSED] = "closed",
  [HK_EVENT_OPENED] = "opened",
  [HK_EVENT_CLOSED_NO_WRITE] = "closed-no-write",
};

/**
 * hk_event_type_to_string:
 * @event_type: an event type
 *
 * Gets the nick of @event_type, such as "created" or "attribute-changed":
 * the detail of the [signal@Hk.Watchdog::event] signal, and a readable name
 * to print, without a `GEnumClass` lookup.
 *
 * Returns: (transfer none): a static string, or %NULL if @event_type is not
 *   a valid [enum@Hk.EventType]
 *
 * Since: 1.0
 */
const char *
hk_event_type_to_string (HkEventType event_type)
{
  g_return_val_if_fail ((guint) event_type < G_N_ELEMENTS (event_type_nicks), NULL);

  return event_type_nicks[event_type];
}

HkEvent *
hk_event_new_take (HkEventType  event_type,
                   char        *path,
                   char        *dest_path,
                   gboolean     is_directory,
                   gboolean     is_synthetic,
                   gint64       timestamp)
{
  HkEvent *self = g_new0 (HkEvent, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->event_type = event_type;
  self->path = path;
  self->dest_path = dest_path;
  self->is_directory = !!is_directory;
  self->is_synthetic = !!is_synthetic;
  self->timestamp = timestamp;
  self->pid = -1;

  return self;
}

/* Before the event is shared: events are immutable once published. */
void
hk_event_set_pid (HkEvent *self,
                  gint     pid)
{
  self->pid = pid;
}

/**
 * hk_event_new:
 * @event_type: the kind of change
 * @path: (type filename): absolute path of the file the event is about
 * @dest_path: (type filename) (nullable): for %HK_EVENT_MOVED, the new path
 * @is_directory: whether the entry is a directory
 * @is_synthetic: whether the library inferred the event instead of reading
 *   it from the kernel
 * @timestamp: monotonic time in microseconds, as g_get_monotonic_time()
 *
 * Creates an event. Applications rarely need this; it is useful to test
 * [class@Hk.EventHandler] subclasses.
 *
 * Returns: (transfer full): a new event
 *
 * Since: 1.0
 */
HkEvent *
hk_event_new (HkEventType  event_type,
              const char  *path,
              const char  *dest_path,
              gboolean     is_directory,
              gboolean     is_synthetic,
              gint64       timestamp)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (event_type <= HK_EVENT_CLOSED_NO_WRITE, NULL);

  return hk_event_new_take (event_type, g_strdup (path), g_strdup (dest_path),
                            is_directory, is_synthetic, timestamp);
}

/**
 * hk_event_ref:
 * @self: an event
 *
 * Acquires a reference.
 *
 * Returns: (transfer full): @self
 *
 * Since: 1.0
 */
HkEvent *
hk_event_ref (HkEvent *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * hk_event_unref:
 * @self: (transfer full): an event
 *
 * Releases a reference; the event is freed with the last one.
 *
 * Since: 1.0
 */
void
hk_event_unref (HkEvent *self)
{
  g_return_if_fail (self != NULL);

  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;

  g_clear_object (&self->file);
  g_clear_object (&self->dest_file);
  g_free (self->path);
  g_free (self->dest_path);
  g_free (self);
}

/**
 * hk_event_get_event_type:
 * @self: an event
 *
 * Gets the kind of change.
 *
 * Returns: the event type
 *
 * Since: 1.0
 */
HkEventType
hk_event_get_event_type (const HkEvent *self)
{
  g_return_val_if_fail (self != NULL, HK_EVENT_CREATED);

  return self->event_type;
}

static GFile *
get_file_lazily (GFile      **slot,
                 const char  *path)
{
  GFile *file;

  if (path == NULL)
    return NULL;

  file = g_atomic_pointer_get (slot);
  if (file != NULL)
    return file;

  file = g_file_new_for_path (path);
  if (!g_atomic_pointer_compare_and_exchange (slot, NULL, file))
    {
      /* Another thread won the race; use its file. */
      g_object_unref (file);
      file = g_atomic_pointer_get (slot);
    }

  return file;
}

/**
 * hk_event_get_file:
 * @self: an event
 *
 * Gets the file the event is about. For %HK_EVENT_MOVED this is the old
 * location.
 *
 * Returns: (transfer none): a #GFile
 *
 * Since: 1.0
 */
GFile *
hk_event_get_file (HkEvent *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return get_file_lazily (&self->file, self->path);
}

/**
 * hk_event_get_dest_file:
 * @self: an event
 *
 * Gets the new location of a moved file.
 *
 * Returns: (transfer none) (nullable): a #GFile for %HK_EVENT_MOVED,
 *   otherwise %NULL
 *
 * Since: 1.0
 */
GFile *
hk_event_get_dest_file (HkEvent *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return get_file_lazily (&self->dest_file, self->dest_path);
}

/**
 * hk_event_get_path:
 * @self: an event
 *
 * Gets the absolute path of the file the event is about, in the filename
 * encoding (bytes as the kernel gave them; not necessarily UTF-8).
 *
 * Returns: (type filename) (transfer none): the path
 *
 * Since: 1.0
 */
const char *
hk_event_get_path (const HkEvent *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->path;
}

/**
 * hk_event_get_dest_path:
 * @self: an event
 *
 * Gets the new path of a moved file, in the filename encoding.
 *
 * Returns: (type filename) (transfer none) (nullable): the destination path
 *   for %HK_EVENT_MOVED, otherwise %NULL
 *
 * Since: 1.0
 */
const char *
hk_event_get_dest_path (const HkEvent *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  return self->dest_path;
}

/**
 * hk_event_get_is_directory:
 * @self: an event
 *
 * Whether the entry is a directory.
 *
 * Returns: %TRUE for a directory
 *
 * Since: 1.0
 */
gboolean
hk_event_get_is_directory (const HkEvent *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return self->is_directory;
}

/**
 * hk_event_get_is_synthetic:
 * @self: an event
 *
 * Whether the library inferred this event rather than reading it from the
 * kernel: the contents of a directory that appeared (created or moved in),
 * and the differences found by a rescan after an overflow or on a subtree
 * that could not be watched.
 *
 * Returns: %TRUE for an inferred event
 *
 * Since: 1.0
 */
gboolean
hk_event_get_is_synthetic (const HkEvent *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return self->is_synthetic;
}

/**
 * hk_event_get_timestamp:
 * @self: an event
 *
 * Gets when the event was read from the kernel (or inferred), in the clock
 * of g_get_monotonic_time().
 *
 * Returns: monotonic time in microseconds
 *
 * Since: 1.0
 */
gint64
hk_event_get_timestamp (const HkEvent *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->timestamp;
}

/**
 * hk_event_get_pid:
 * @self: an event
 *
 * Gets the process id of the process that made the change, where the
 * backend learns it: the fanotify backend does (for a watcher without
 * `CAP_SYS_ADMIN` only for changes made by the watcher's own process), inotify,
 * GIO and polling do not. Synthetic events (see
 * [method@Hk.Event.get_is_synthetic]) never carry one.
 *
 * The process may have exited, and its id been reused, by the time the
 * event is handled.
 *
 * Returns: the process id, or -1 when unknown
 *
 * Since: 1.0
 */
gint
hk_event_get_pid (const HkEvent *self)
{
  g_return_val_if_fail (self != NULL, -1);

  return self->pid;
}
