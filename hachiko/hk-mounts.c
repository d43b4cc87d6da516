/* hk-mounts.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>
#include <sys/vfs.h>

#include "hk-mounts-private.h"

/* Filesystems where changes made elsewhere (another client of a network
 * share, the other side of a FUSE or 9p mount) reach no kernel notification
 * here: only polling sees them. By statfs(2) f_type. */
static const struct
{
  guint32     magic;
  const char *name;
} polled_filesystems[] = {
  { 0x6969,     "nfs" },
  { 0x517B,     "smb" },
  { 0xFE534D42, "smb2" },
  { 0xFF534D42, "cifs" },
  { 0x65735546, "fuse" },
  { 0x01021997, "9p" },
  { 0x00C36400, "ceph" },
  { 0x5346414F, "afs" },
  { 0x6B414653, "kafs" },
  { 0x73757245, "coda" },
  { 0x564C,     "ncp" },
  { 0x47504653, "gpfs" },
  { 0x0BD00BD0, "lustre" },
  { 0x013111A8, "ibrix" },
  { 0xAAD7AAEA, "panfs" },
  { 0x7461636F, "ocfs2" },
  { 0x01161970, "gfs2" },
};

/* Filesystem names of /proc/self/mountinfo's type field polled the same way
 * (covers the fuse.* subtypes: sshfs, rclone, ...). */
static gboolean
type_is_polled (const char *type)
{
  static const char *prefixes[] = { "nfs", "cifs", "smb", "fuse", "9p", "ceph", "afs",
                                    "coda", "ncpfs", "lustre", "gpfs", "gfs2", "ocfs2",
                                    "virtiofs", "sshfs" };

  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    if (g_str_has_prefix (type, prefixes[i]))
      return TRUE;
  return FALSE;
}

HkBackendKind
hk_mounts_choose_backend (const char  *path,
                          char       **reason)
{
  struct statfs sfs;

  if (statfs (path, &sfs) != 0)
    {
      if (reason != NULL)
        *reason = g_strdup ("inotify: the filesystem type is unknown");
      return HK_BACKEND_KIND_INOTIFY;
    }

  for (guint i = 0; i < G_N_ELEMENTS (polled_filesystems); i++)
    if ((guint32) sfs.f_type == polled_filesystems[i].magic)
      {
        if (reason != NULL)
          *reason = g_strdup_printf ("poll: %s is a network or user-space filesystem "
                                     "whose changes the kernel does not report",
                                     polled_filesystems[i].name);
        return HK_BACKEND_KIND_POLL;
      }

  if (reason != NULL)
    *reason = g_strdup ("inotify: a local filesystem");
  return HK_BACKEND_KIND_INOTIFY;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *
unescape_mount_path (const char *field)
{
  GString *out = g_string_new (NULL);

  for (const char *p = field; *p != '\0'; p++)
    {
      if (p[0] == '\\' && g_ascii_isdigit (p[1]) && g_ascii_isdigit (p[2]) && g_ascii_isdigit (p[3]))
        {
          g_string_append_c (out, (char) ((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
          p += 3;
        }
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

GHashTable *
hk_mounts_inside (const char *root)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  GHashTable *mounts = NULL;
  gsize root_len = strlen (root);

  if (!g_file_get_contents ("/proc/self/mountinfo", &contents, NULL, NULL))
    return NULL;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = g_strsplit (lines[i], " ", -1);
      g_autofree char *mount_point = NULL;
      guint n = g_strv_length (fields);
      guint sep;

      /* id parent major:minor root mount-point options [optional...] - type source super */
      if (n < 10)
        continue;
      for (sep = 6; sep < n && strcmp (fields[sep], "-") != 0; sep++)
        ;
      if (sep + 1 >= n)
        continue;

      mount_point = unescape_mount_path (fields[4]);
      if (strncmp (mount_point, root, root_len) != 0 ||
          (root_len > 1 && mount_point[root_len] != '/'))
        continue;
      if (mount_point[root_len] == '\0' || (root_len == 1 && mount_point[1] == '\0'))
        continue;

      if (mounts == NULL)
        mounts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (mounts, g_steal_pointer (&mount_point),
                           GINT_TO_POINTER (type_is_polled (fields[sep + 1])
                                            ? HK_BACKEND_KIND_POLL
                                            : HK_BACKEND_KIND_INOTIFY));
    }

  return mounts;
}
