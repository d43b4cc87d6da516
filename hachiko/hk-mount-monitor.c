/* hk-mount-monitor.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib-unix.h>

#include "hk-mount-monitor-private.h"

struct _HkMountMonitor
{
  int                 fd;
  GSource            *source;
  GHashTable         *mounts;     /* "mount-id mount-point" (escaped) -> NULL */
  HkMountMonitorFunc  func;
  gpointer            user_data;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *
unescape_mount_point (const char *escaped)
{
  GString *out = g_string_sized_new (strlen (escaped));

  for (const char *p = escaped; *p != '\0'; p++)
    {
      if (p[0] == '\\' &&
          p[1] >= '0' && p[1] <= '3' &&
          p[2] >= '0' && p[2] <= '7' &&
          p[3] >= '0' && p[3] <= '7')
        {
          g_string_append_c (out, (char) (((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0')));
          p += 3;
        }
      else
        g_string_append_c (out, *p);
    }

  return g_string_free (out, FALSE);
}

/* The set of mounts, keyed by mount id and mount point (the 1st and 5th
 * fields): a mount replaced at the same point has a new id. */
static GHashTable *
read_mounts (int fd)
{
  GHashTable *mounts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GString) text = g_string_new (NULL);
  g_auto(GStrv) lines = NULL;
  char buf[8192];
  gssize n;

  if (lseek (fd, 0, SEEK_SET) != 0)
    return mounts;
  while ((n = read (fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      g_string_append_len (text, buf, n);

  lines = g_strsplit (text->str, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (lines[i], " ", 6);

      if (g_strv_length (fields) < 5)
        continue;
      g_hash_table_add (mounts, g_strconcat (fields[0], " ", fields[4], NULL));
    }

  return mounts;
}

static void
add_mount_point (GPtrArray  *mount_points,
                 const char *key)
{
  const char *space = strchr (key, ' ');

  g_ptr_array_add (mount_points, unescape_mount_point (space != NULL ? space + 1 : key));
}

static gboolean
on_mountinfo_changed (gint          fd,
                      GIOCondition  condition,
                      gpointer      data)
{
  HkMountMonitor *self = data;
  g_autoptr(GHashTable) mounts = read_mounts (self->fd);
  g_autoptr(GPtrArray) changed = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, mounts);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (self->mounts, key))
      add_mount_point (changed, key);
  g_hash_table_iter_init (&iter, self->mounts);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (mounts, key))
      add_mount_point (changed, key);

  g_hash_table_unref (self->mounts);
  self->mounts = g_steal_pointer (&mounts);

  if (changed->len > 0)
    self->func (changed, self->user_data);

  return G_SOURCE_CONTINUE;
}

/* Returns NULL when the mount table cannot be watched (no /proc): mounts
 * are then noticed only as the kernel reports them (IN_UNMOUNT). */
HkMountMonitor *
hk_mount_monitor_new (GMainContext       *context,
                      HkMountMonitorFunc  func,
                      gpointer            user_data)
{
  HkMountMonitor *self;
  int fd = open ("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);

  if (fd < 0)
    return NULL;

  self = g_new0 (HkMountMonitor, 1);
  self->fd = fd;
  self->func = func;
  self->user_data = user_data;
  self->mounts = read_mounts (fd);

  self->source = g_unix_fd_source_new (fd, G_IO_PRI | G_IO_ERR);
  g_source_set_callback (self->source, G_SOURCE_FUNC (on_mountinfo_changed), self, NULL);
  g_source_set_static_name (self->source, "[hachiko] mount table");
  g_source_attach (self->source, context);

  return self;
}

void
hk_mount_monitor_free (HkMountMonitor *self)
{
  if (self == NULL)
    return;

  g_source_destroy (self->source);
  g_source_unref (self->source);
  g_hash_table_unref (self->mounts);
  close (self->fd);
  g_free (self);
}
