/* hk-fanotify-auto.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hk-fanotify-auto-private.h"

/* AUTO's fanotify question, asked once per start for a local root: is a
 * filesystem mark possible here, and is the tree big enough for it to pay?
 *
 * A filesystem mark costs nothing per directory in the kernel (inotify
 * holds about 1 KiB of kernel memory per watch, and stops at
 * fs.inotify.max_user_watches) but puts every change on the filesystem in
 * the queue, to be dropped by one hash lookup each: on a small tree of a
 * busy filesystem that is more work than inotify. The count stops at the
 * threshold, so asking costs at most that many directory reads. */

static gboolean
filesystem_mark_permitted (const char  *root,
                           char       **why_not)
{
  int fd = fanotify_init (FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC, O_RDONLY);
  int errsv;

  if (fd < 0)
    {
      *why_not = g_strdup_printf ("fanotify is unavailable (%s)", g_strerror (errno));
      return FALSE;
    }

  if (fanotify_mark (fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CREATE | FAN_ONDIR,
                     AT_FDCWD, root) == 0)
    {
      close (fd);
      return TRUE;
    }

  errsv = errno;
  close (fd);
  if (errsv == EPERM)
    *why_not = g_strdup ("filesystem marks need CAP_SYS_ADMIN");
  else if (errsv == EXDEV)
    *why_not = g_strdup ("the filesystem refuses a filesystem mark (a btrfs subvolume?)");
  else
    *why_not = g_strdup_printf ("no filesystem mark here (%s)", g_strerror (errsv));
  return FALSE;
}

/* Directories under @root, counted breadth first up to @limit. */
static guint
count_directories (const char *root,
                   guint       limit)
{
  g_autoptr(GPtrArray) pending = g_ptr_array_new_with_free_func (g_free);
  guint n = 0;

  g_ptr_array_add (pending, g_strdup (root));
  while (pending->len > 0 && n < limit)
    {
      g_autofree char *dir = g_ptr_array_steal_index_fast (pending, pending->len - 1);
      DIR *dirp = opendir (dir);
      struct dirent *de;

      if (dirp == NULL)
        continue;
      while (n < limit && (de = readdir (dirp)) != NULL)
        {
          if (de->d_type != DT_DIR ||
              strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
            continue;
          n++;
          g_ptr_array_add (pending, g_build_filename (dir, de->d_name, NULL));
        }
      closedir (dirp);
    }

  return n;
}

gboolean
hk_fanotify_auto_prefers (const char  *root,
                          guint        min_directories,
                          char       **reason)
{
  g_autofree char *why_not = NULL;
  struct statvfs vfs;
  guint n;

  if (!filesystem_mark_permitted (root, &why_not))
    {
      if (reason != NULL)
        *reason = g_strdup_printf ("inotify: %s", why_not);
      return FALSE;
    }

  /* A filesystem with fewer inodes in use cannot hold a large tree. */
  if (statvfs (root, &vfs) == 0 && vfs.f_files > 0 &&
      vfs.f_files - vfs.f_ffree < min_directories)
    {
      if (reason != NULL)
        *reason = g_strdup_printf ("inotify: the filesystem holds fewer than %u entries",
                                   min_directories);
      return FALSE;
    }

  n = count_directories (root, min_directories);
  if (n < min_directories)
    {
      if (reason != NULL)
        *reason = g_strdup_printf ("inotify: %u directories, fewer than the %u that "
                                   "make fanotify worth it", n, min_directories);
      return FALSE;
    }

  if (reason != NULL)
    *reason = g_strdup_printf ("fanotify: at least %u directories on a filesystem "
                               "that can be marked whole", min_directories);
  return TRUE;
}
