/* hk-bench-snapshot.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* Take, save, load and diff of a large generated tree (HkSnapshot), and
 * what a snapshot costs in memory and on disk. Writes
 * docs/performance-snapshots.md with `ninja -C BUILDDIR bench-snapshot`.
 *
 *   hk-bench-snapshot [--entries N] [--dir DIR] [--output FILE]
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hk-snapshot-private.h"

/* Each leaf directory holds this many files; 100 leaves per middle one. */
#define FILES_PER_DIR 9
#define DIRS_PER_GROUP 100

typedef struct
{
  double take_cold_s;
  double take_s;
  double save_s;
  double load_s;
  double diff_same_s;
  double diff_changed_s;
  double build_sorted_s;
  double build_unsorted_s;
  guint  n_changed_events;
  guint  n_entries;
  guint  n_requested;
  gsize  file_bytes;
  gsize  table_bytes;
  gssize rss_delta;
} Results;

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

static gssize
rss_bytes (void)
{
  g_autofree char *statm = NULL;
  long pages, resident;

  if (!g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL) ||
      sscanf (statm, "%ld %ld", &pages, &resident) != 2)
    return 0;
  return (gssize) resident * sysconf (_SC_PAGESIZE);
}

static void
touch_at (int         dir_fd,
          const char *name)
{
  int fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

  if (fd < 0)
    g_error ("cannot create %s: %s", name, g_strerror (errno));
  close (fd);
}

/* root/gNNN/dNN/fN: about @n_entries entries in all. */
static guint
make_tree (const char *root,
           guint       n_entries)
{
  guint n_leaves = MAX (1, n_entries / (FILES_PER_DIR + 1));
  guint made = 0;
  int root_fd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  for (guint leaf = 0; leaf < n_leaves; leaf++)
    {
      char group[32], dir[32], file[32];
      int group_fd, dir_fd;

      g_snprintf (group, sizeof group, "g%04u", leaf / DIRS_PER_GROUP);
      g_snprintf (dir, sizeof dir, "d%02u", leaf % DIRS_PER_GROUP);
      if (leaf % DIRS_PER_GROUP == 0)
        {
          mkdirat (root_fd, group, 0755);
          made++;
        }
      group_fd = openat (root_fd, group, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      mkdirat (group_fd, dir, 0755);
      dir_fd = openat (group_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      made++;
      for (guint i = 0; i < FILES_PER_DIR; i++)
        {
          g_snprintf (file, sizeof file, "file-%u.txt", i);
          touch_at (dir_fd, file);
          made++;
        }
      close (dir_fd);
      close (group_fd);
    }

  close (root_fd);
  return made;
}

/* 1,000 renames (half of them directories), 1,000 new files, 1,000
 * deletions: what a diff after a day's work may look like. */
static void
change_tree (const char *root)
{
  for (guint i = 0; i < 1000; i++)
    {
      g_autofree char *from = NULL;
      g_autofree char *to = NULL;
      g_autofree char *created = g_strdup_printf ("%s/g0001/d%02u/new-%u", root, i % DIRS_PER_GROUP, i);
      g_autofree char *deleted = g_strdup_printf ("%s/g0002/d%02u/file-%u.txt", root,
                                                  i % DIRS_PER_GROUP, i / DIRS_PER_GROUP % FILES_PER_DIR);

      if (i < 500)
        {
          from = g_strdup_printf ("%s/g0003/d%02u/file-%u.txt", root, i % DIRS_PER_GROUP, i / DIRS_PER_GROUP);
          to = g_strdup_printf ("%s/g0003/d%02u/renamed-%u.txt", root, i % DIRS_PER_GROUP, i / DIRS_PER_GROUP);
        }
      else
        {
          from = g_strdup_printf ("%s/g%04u/d00", root, 4 + (i - 500));
          to = g_strdup_printf ("%s/g%04u/moved", root, 4 + (i - 500));
        }
      if (rename (from, to) != 0 && errno != ENOENT)
        g_error ("rename: %s", g_strerror (errno));
      touch_at (AT_FDCWD, created);
      unlink (deleted);
    }
}

static HkSnapshot *
take (const char *root)
{
  g_autoptr(GFile) file = g_file_new_for_path (root);
  g_autoptr(GError) error = NULL;
  HkSnapshot *snapshot = hk_snapshot_take (file, NULL, NULL, &error);

  if (snapshot == NULL)
    g_error ("take: %s", error->message);
  return snapshot;
}

/* The private builder, as the watchdog would use it to copy its live tree:
 * about @n_entries entries (1,000 directories of files), added breadth
 * first with sorted names (the fast path), or in an order that needs
 * sorting (parents first, names reversed, directories interleaved). */
static double
measure_builder (guint    n_entries,
                 gboolean sorted)
{
  guint n_dirs = 1000, per_dir = MAX (1, n_entries / n_dirs - 1);
  g_autofree guint32 *handles = g_new (guint32, n_dirs);
  g_autoptr(HkSnapshotBuilder) builder = hk_snapshot_builder_new ("/bench", 0);
  g_autoptr(HkSnapshot) snapshot = NULL;
  char name[32];
  double t = now_s ();

  for (guint k = 0; k < n_dirs; k++)
    {
      guint d = sorted ? k : n_dirs - 1 - k;

      g_snprintf (name, sizeof name, "dir-%04u", d);
      handles[d] = hk_snapshot_builder_add (builder, HK_SNAPSHOT_ROOT_DIR, name, G_FILE_TYPE_DIRECTORY,
                                            1, 1000000 + d, 0, 5, 5, 0755);
    }
  for (guint a = 0; a < (sorted ? n_dirs : per_dir); a++)
    for (guint b = 0; b < (sorted ? per_dir : n_dirs); b++)
      {
        guint d = sorted ? a : (b * 7919) % n_dirs;
        guint i = sorted ? b : per_dir - 1 - a;

        g_snprintf (name, sizeof name, "file-%06u.txt", i);
        hk_snapshot_builder_add (builder, handles[d], name, G_FILE_TYPE_REGULAR,
                                 1, (guint64) d * per_dir + i, 100, 5, 5, 0644);
      }
  snapshot = hk_snapshot_builder_end (g_steal_pointer (&builder));
  return now_s () - t;
}

static void
run (const char *root,
     const char *file_path,
     guint       n_entries,
     Results    *r)
{
  g_autoptr(GFile) file = g_file_new_for_path (file_path);
  g_autoptr(GError) error = NULL;
  g_autoptr(HkSnapshot) taken = NULL;
  g_autoptr(HkSnapshot) loaded = NULL;
  g_autoptr(HkSnapshot) changed = NULL;
  g_autoptr(GPtrArray) events = NULL;
  struct stat st;
  gssize rss_before;
  double t;

  t = now_s ();
  g_clear_object (&taken);
  taken = take (root);
  r->take_cold_s = now_s () - t;   /* right after creation: mostly cached */
  g_clear_object (&taken);

  t = now_s ();
  taken = take (root);
  r->take_s = now_s () - t;
  r->n_entries = hk_snapshot_get_n_entries (taken);
  r->table_bytes = hk_snapshot_get_memory_size (taken);

  t = now_s ();
  if (!hk_snapshot_save (taken, file, NULL, &error))
    g_error ("save: %s", error->message);
  r->save_s = now_s () - t;
  stat (file_path, &st);
  r->file_bytes = st.st_size;

  rss_before = rss_bytes ();
  t = now_s ();
  loaded = hk_snapshot_load (file, NULL, &error);
  if (loaded == NULL)
    g_error ("load: %s", error->message);
  r->load_s = now_s () - t;
  r->rss_delta = rss_bytes () - rss_before;

  t = now_s ();
  events = hk_snapshot_diff (taken, loaded);
  r->diff_same_s = now_s () - t;
  if (events->len != 0)
    g_error ("a loaded snapshot differs from the one saved (%u events)", events->len);
  g_clear_pointer (&events, g_ptr_array_unref);

  r->build_sorted_s = measure_builder (n_entries, TRUE);
  r->build_unsorted_s = measure_builder (n_entries, FALSE);

  change_tree (root);
  changed = take (root);
  t = now_s ();
  events = hk_snapshot_diff (loaded, changed);
  r->diff_changed_s = now_s () - t;
  r->n_changed_events = events->len;
}

static char *
first_line_with (const char *path,
                 const char *prefix)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      {
        const char *colon = strchr (lines[i], ':');

        return g_strstrip (g_strdup (colon ? colon + 1 : lines[i]));
      }
  return NULL;
}

static const char *
fs_type_name (const char *path)
{
  struct statfs st;

  if (statfs (path, &st) != 0)
    return "unknown";
  switch ((unsigned long) st.f_type)
    {
    case 0xEF53: return "ext4 (or ext2/3)";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlayfs";
    default: return "other";
    }
}

static const char *
verdict (gboolean met)
{
  return met ? "**met**" : "**not met**";
}

static char *
report (const Results *r,
        const char    *dir,
        gboolean       dir_given)
{
  GString *out = g_string_new (NULL);
  g_autofree char *cpu = first_line_with ("/proc/cpuinfo", "model name");
  g_autofree char *mem = first_line_with ("/proc/meminfo", "MemTotal");
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *date = g_date_time_format (now, "%Y-%m-%d %H:%M UTC");
  double n = r->n_entries;
  struct utsname uts;

  uname (&uts);
  g_string_append (out, "# Snapshot performance\n\n");
  g_string_append (out,
                   "Take, save, load and diff of a generated tree with `HkSnapshot`, and what a\n"
                   "snapshot costs in memory and on disk. Produced by:\n\n"
                   "```sh\nninja -C _build bench-snapshot   # runs:\n");
  g_string_append_printf (out, "_build/bench/hk-bench-snapshot --entries %u%s%s "
                          "--output docs/performance-snapshots.md\n```\n\n",
                          r->n_requested, dir_given ? " --dir " : "", dir_given ? dir : "");
  g_string_append_printf (out,
                          "The tree: %u entries (the root's `gNNNN` directories included), in directories of %u empty files grouped %u to a\n"
                          "parent (`gNNNN/dNN/file-N.txt`), created on the fly in a temporary directory.\n"
                          "The cache is warm: the tree was just created and walked once before the\n"
                          "timed take. One run; %s.\n\n",
                          r->n_entries, FILES_PER_DIR, DIRS_PER_GROUP, date);

  g_string_append (out, "## Machine\n\n");
  g_string_append_printf (out, "- CPU: %s, %u logical cores online (shared with other jobs while measured)\n",
                          cpu ? cpu : "unknown", g_get_num_processors ());
  g_string_append_printf (out, "- Memory: %s\n", mem ? mem : "unknown");
  g_string_append_printf (out, "- Kernel: %s %s %s\n", uts.sysname, uts.release, uts.machine);
  g_string_append_printf (out, "- File system of the temporary directory%s: %s\n",
                          dir_given ? "" : " (the default, $TMPDIR or /tmp)", fs_type_name (dir));
  g_string_append_printf (out, "- GLib %u.%u.%u; hachiko %s; built with the project's default "
                          "(debugoptimized)\n\n",
                          glib_major_version, glib_minor_version, glib_micro_version, PACKAGE_VERSION);

  g_string_append (out, "## Results\n\n| step | time | per entry |\n|---|---:|---:|\n");
  g_string_append_printf (out, "| first take (right after creating the tree) | %.3f s | %.2f µs |\n",
                          r->take_cold_s, r->take_cold_s * 1e6 / n);
  g_string_append_printf (out, "| take, warm cache | %.3f s | %.2f µs |\n", r->take_s, r->take_s * 1e6 / n);
  g_string_append_printf (out, "| save | %.3f s | %.2f µs |\n", r->save_s, r->save_s * 1e6 / n);
  g_string_append_printf (out, "| load | %.3f s | %.2f µs |\n", r->load_s, r->load_s * 1e6 / n);
  g_string_append_printf (out, "| diff, no change | %.3f s | %.2f µs |\n",
                          r->diff_same_s, r->diff_same_s * 1e6 / n);
  g_string_append_printf (out, "| diff, 3,000 changes (%u events) | %.3f s | %.2f µs |\n",
                          r->n_changed_events, r->diff_changed_s, r->diff_changed_s * 1e6 / n);

  g_string_append_printf (out, "| private builder, %u entries breadth first with sorted names "
                          "(the walk's and the loader's path) | %.3f s | %.2f µs |\n",
                          r->n_requested, r->build_sorted_s, r->build_sorted_s * 1e6 / n);
  g_string_append_printf (out, "| private builder, the same in an order that needs sorting "
                          "(as from a live tree) | %.3f s | %.2f µs |\n\n",
                          r->build_unsorted_s, r->build_unsorted_s * 1e6 / n);
  g_string_append (out, "| size | total | per entry |\n|---|---:|---:|\n");
  g_string_append_printf (out, "| saved file | %.1f MB | %.1f bytes |\n", r->file_bytes / 1e6, r->file_bytes / n);
  g_string_append_printf (out, "| in-memory tables (entries, directories, names) | %.1f MB | %.1f bytes |\n",
                          r->table_bytes / 1e6, r->table_bytes / n);
  g_string_append_printf (out, "| RSS growth of the process by a load | %.1f MB | %.1f bytes |\n\n",
                          r->rss_delta / 1e6, r->rss_delta / n);

  g_string_append (out, "## Goals\n\n");
  g_string_append_printf (out, "- Load at least 2× faster than a fresh take with a warm cache: "
                          "%.1f× — %s.\n", r->take_s / r->load_s, verdict (r->take_s >= 2 * r->load_s));
  g_string_append_printf (out, "- Diff under 0.5 s: %.3f s unchanged, %.3f s with changes — %s.\n",
                          r->diff_same_s, r->diff_changed_s,
                          verdict (r->diff_same_s < 0.5 && r->diff_changed_s < 0.5));
  g_string_append (out,
                   "\nAn entry costs 40 bytes in the table (name offset and length, mode, inode,\n"
                   "size, mtime and ctime in nanoseconds) plus its name and a NUL; a directory 32\n"
                   "more. The \"RSS growth\" line is what a loaded snapshot keeps resident (the file's\n"
                   "bytes are freed once parsed). These figures are for a standalone `HkSnapshot`;\n"
                   "the watchdog's live tree (issue 12's per-directory RSS goal) is not measured here.\n");

  return g_string_free (out, FALSE);
}

int
main (int    argc,
      char **argv)
{
  int n_entries = 1000000;
  g_autofree char *dir = NULL;
  g_autofree char *output = NULL;
  const GOptionEntry entries[] = {
    { "entries", 'n', 0, G_OPTION_ARG_INT, &n_entries, "How many entries to create (default 1000000)", "N" },
    { "dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir, "Where to create the temporary tree", "DIR" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Write the Markdown report here", "FILE" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- benchmark HkSnapshot");
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *root = NULL;
  g_autofree char *file = NULL;
  g_autofree char *text = NULL;
  Results results = { 0 };
  guint made;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "hk-bench-snapshot: %s\n", error->message);
      return 2;
    }

  tmp = g_build_filename (dir != NULL ? dir : g_get_tmp_dir (), "hk-bench-snapshot-XXXXXX", NULL);
  if (g_mkdtemp (tmp) == NULL)
    g_error ("cannot create a temporary directory: %s", g_strerror (errno));
  root = g_build_filename (tmp, "tree", NULL);
  file = g_build_filename (tmp, "tree.snapshot", NULL);
  mkdir (root, 0755);

  fprintf (stderr, "hk-bench-snapshot: creating %d entries...\n", n_entries);
  made = make_tree (root, (guint) n_entries);
  fprintf (stderr, "hk-bench-snapshot: %u entries created; measuring\n", made);
  results.n_requested = (guint) n_entries;
  run (root, file, (guint) n_entries, &results);

  {
    const char *argv_rm[] = { "rm", "-rf", tmp, NULL };

    g_spawn_sync (NULL, (char **) argv_rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }

  text = report (&results, dir != NULL ? dir : g_get_tmp_dir (), dir != NULL);
  fputs (text, stdout);
  if (output != NULL && !g_file_set_contents (output, text, -1, &error))
    {
      fprintf (stderr, "hk-bench-snapshot: %s\n", error->message);
      return 1;
    }

  /* The goals are reported, not enforced: timings depend on the machine. */
  return 0;
}
