/* hk-tool-ignore.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Ignore files for the command: .gitignore, .ignore and .hgignore in every
 * directory of a watched tree, plus git's own exclude files when the tree
 * is in a git work tree: the .gitignore files above the root up to the top
 * of the work tree, $GIT_DIR/info/exclude and the user's global excludes
 * file (core.excludesFile, else $XDG_CONFIG_HOME/git/ignore). Git is never
 * run: its configuration files are read here.
 *
 * The tree is walked once at start (ignored directories are skipped, so
 * rules apply as they are found, top-down; only the root is read without
 * --recursive); afterwards events about ignore files reload them, and a
 * directory moved into the tree is walked. */

#include "config.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "hk-tool-private.h"

static gboolean
is_ignore_file_name (const char *name)
{
  for (guint i = 0; hk_tool_ignore_file_names[i] != NULL; i++)
    if (g_str_equal (name, hk_tool_ignore_file_names[i]))
      return TRUE;

  return FALSE;
}

/* Adds or, if it is gone, removes @path's rules. */
static void
reload_file (HkFilter   *filter,
             const char *path,
             GFile      *directory)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;

  if (hk_filter_add_ignore_file_for_directory (filter, file, directory, &error))
    return;

  hk_filter_remove_ignore_file (filter, file);
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY))
    hk_tool_report_watch_warning (error);
}

static const char *
relative_path (const char *root,
               const char *path)
{
  gsize len = strlen (root);

  if (g_str_equal (root, path))
    return "";
  if (strncmp (path, root, len) == 0 && path[len] == '/')
    return path + len + 1;
  if (g_str_equal (root, "/"))
    return path + 1;
  return NULL;
}

static void
read_ignore_files (HkFilter   *filter,
                   const char *dir)
{
  for (guint i = 0; hk_tool_ignore_file_names[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (dir, hk_tool_ignore_file_names[i], NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        reload_file (filter, path, NULL);
    }
}

/* Reads the ignore files of @dir and of every directory below it that the
 * filter does not exclude, until @cancellable is cancelled. Symbolic links
 * are not followed. */
static void
walk (HkFilter     *filter,
      const char   *root,
      const char   *dir,
      GCancellable *cancellable)
{
  g_autoptr(GPtrArray) subdirs = g_ptr_array_new_with_free_func (g_free);
  DIR *stream;
  struct dirent *entry;

  if (g_cancellable_is_cancelled (cancellable))
    return;
  read_ignore_files (filter, dir);

  stream = opendir (dir);
  if (stream == NULL)
    return;
  while ((entry = readdir (stream)) != NULL)
    {
      gboolean is_dir;

      if (g_str_equal (entry->d_name, ".") || g_str_equal (entry->d_name, ".."))
        continue;
      if (entry->d_type == DT_UNKNOWN)
        {
          g_autofree char *path = g_build_filename (dir, entry->d_name, NULL);
          struct stat st;

          is_dir = lstat (path, &st) == 0 && S_ISDIR (st.st_mode);
        }
      else
        is_dir = entry->d_type == DT_DIR;
      if (is_dir)
        g_ptr_array_add (subdirs, g_build_filename (dir, entry->d_name, NULL));
    }
  closedir (stream);

  for (guint i = 0; i < subdirs->len; i++)
    {
      const char *sub = g_ptr_array_index (subdirs, i);
      const char *relative = relative_path (root, sub);

      if (relative != NULL && !hk_filter_excludes_directory (filter, relative))
        walk (filter, root, sub, cancellable);
    }
}

/* The value of core.excludesFile in a git config file, or NULL. Only the
 * plain "[core]" section and "excludesFile = VALUE" lines are understood. */
static char *
config_excludes_file (const char *config_path)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  char *value = NULL;
  gboolean in_core = FALSE;

  if (!g_file_get_contents (config_path, &contents, NULL, NULL))
    return NULL;

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      char *equals;

      if (line[0] == '[')
        {
          in_core = g_ascii_strncasecmp (line, "[core]", 6) == 0;
          continue;
        }
      equals = strchr (line, '=');
      if (!in_core || equals == NULL)
        continue;
      *equals = '\0';
      if (g_ascii_strcasecmp (g_strstrip (line), "excludesfile") != 0)
        continue;

      g_free (value);
      value = g_strdup (g_strstrip (equals + 1));
      if (value[0] == '"' && strlen (value) >= 2 && value[strlen (value) - 1] == '"')
        {
          char *unquoted = g_strndup (value + 1, strlen (value) - 2);

          g_free (value);
          value = unquoted;
        }
    }

  if (value != NULL && g_str_has_prefix (value, "~/"))
    {
      char *expanded = g_build_filename (g_get_home_dir (), value + 2, NULL);

      g_free (value);
      value = expanded;
    }

  return value;
}

/* core.excludesFile as git finds it: the global config files, the later
 * one winning; else $XDG_CONFIG_HOME/git/ignore. */
static char *
global_excludes_file (void)
{
  const char *xdg = g_getenv ("XDG_CONFIG_HOME");
  g_autofree char *xdg_dir = xdg != NULL && *xdg != '\0' ? g_strdup (xdg)
                                                         : g_build_filename (g_get_home_dir (), ".config", NULL);
  g_autofree char *xdg_config = g_build_filename (xdg_dir, "git", "config", NULL);
  g_autofree char *home_config = g_build_filename (g_get_home_dir (), ".gitconfig", NULL);
  char *value = config_excludes_file (home_config);

  if (value == NULL)
    value = config_excludes_file (xdg_config);
  if (value == NULL)
    value = g_build_filename (xdg_dir, "git", "ignore", NULL);

  return value;
}

/* The git directory of the work tree @top: @top/.git, or where a ".git"
 * file ("gitdir: PATH") points. */
static char *
git_dir_of (const char *top)
{
  g_autofree char *dot_git = g_build_filename (top, ".git", NULL);
  g_autofree char *contents = NULL;
  char *target;

  if (g_file_test (dot_git, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&dot_git);
  if (!g_file_get_contents (dot_git, &contents, NULL, NULL) ||
      !g_str_has_prefix (contents, "gitdir:"))
    return NULL;

  target = g_strstrip (contents + strlen ("gitdir:"));
  return g_canonicalize_filename (target, top);
}

void
hk_tool_ignore_load (HkFilter     *filter,
                     const char   *root,
                     gboolean      recursive,
                     GCancellable *cancellable)
{
  g_autofree char *top = g_strdup (root);
  g_autoptr(GFile) top_file = NULL;
  g_autoptr(GPtrArray) above = g_ptr_array_new_with_free_func (g_free);

  /* The top of the git work tree, if any. */
  for (;;)
    {
      g_autofree char *dot_git = g_build_filename (top, ".git", NULL);
      char *parent;

      if (g_file_test (dot_git, G_FILE_TEST_EXISTS))
        break;
      parent = g_path_get_dirname (top);
      if (g_str_equal (parent, top))
        {
          g_free (parent);
          g_clear_pointer (&top, g_free);
          break;
        }
      g_free (top);
      top = parent;
      g_ptr_array_add (above, g_strdup (top));
    }

  if (top != NULL)
    {
      g_autofree char *global = global_excludes_file ();
      g_autofree char *git_dir = git_dir_of (top);

      top_file = g_file_new_for_path (top);
      if (g_file_test (global, G_FILE_TEST_IS_REGULAR))
        reload_file (filter, global, top_file);
      if (git_dir != NULL)
        {
          g_autofree char *exclude = g_build_filename (git_dir, "info", "exclude", NULL);

          if (g_file_test (exclude, G_FILE_TEST_IS_REGULAR))
            reload_file (filter, exclude, top_file);
        }

      /* .gitignore files above the root, from the top down. */
      for (guint i = above->len; i-- > 0;)
        {
          g_autofree char *path = g_build_filename (g_ptr_array_index (above, i), ".gitignore", NULL);

          if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
            reload_file (filter, path, NULL);
        }
    }

  if (recursive)
    walk (filter, root, root, cancellable);
  else
    read_ignore_files (filter, root);
}

gboolean
hk_tool_ignore_update (HkFilter   *filter,
                       HkEvent    *event,
                       const char *root)
{
  const char *path = hk_event_get_path (event);
  const char *dest = hk_event_get_dest_path (event);
  HkEventType type = hk_event_get_event_type (event);
  g_autofree char *name = g_path_get_basename (path);
  gboolean changed = FALSE;

  if (hk_event_get_is_directory (event))
    {
      /* A directory moved in brings its ignore files along. */
      if (type == HK_EVENT_MOVED && dest != NULL)
        {
          const char *relative = relative_path (root, dest);

          if (relative != NULL && !hk_filter_excludes_directory (filter, relative))
            {
              walk (filter, root, dest, NULL);
              changed = TRUE;
            }
        }
      return changed;
    }

  if (is_ignore_file_name (name))
    switch (type)
      {
      case HK_EVENT_CREATED:
      case HK_EVENT_MODIFIED:
      case HK_EVENT_CLOSED:
      case HK_EVENT_DELETED:
      case HK_EVENT_MOVED:
        reload_file (filter, path, NULL);
        changed = TRUE;
        break;
      default:
        break;
      }

  if (type == HK_EVENT_MOVED && dest != NULL)
    {
      g_autofree char *dest_name = g_path_get_basename (dest);

      if (is_ignore_file_name (dest_name))
        {
          reload_file (filter, dest, NULL);
          changed = TRUE;
        }
    }

  return changed;
}
