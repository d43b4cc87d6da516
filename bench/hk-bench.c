/* hk-bench.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The benchmark driver: measures hachiko, the physical floor
 * (hk-bench-floor) and a naive GFileMonitor baseline on the same trees in
 * the same run, and writes docs/performance.md.
 *
 * Every subject runs in its own process (see hk-bench-proto.h), so its
 * memory, CPU time and wake-ups are its own. The driver generates the
 * trees, produces the file system activity, samples the subjects' /proc
 * entries and writes the report.
 *
 * `hk-bench --subject=hachiko|gfilemonitor DIR` is the subject side,
 * started by the driver itself. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-bench.h"
#include "hk-bench-proto.h"
#include "hk-bench-subject.h"

Results results[N_SUBJECTS];
const char *subject_ids[N_SUBJECTS] = { "floor", "hachiko", "gfilemonitor", "hachiko-gio", "hachiko-poll", "hachiko-fanotify" };
const char *subject_titles[N_SUBJECTS] = { "floor", "hachiko", "GFileMonitor", "hachiko (gio)", "hachiko (poll, 50 ms)", "hachiko (fanotify)" };

/* What the signal handler needs to undo. */
static char          saved_max_watches[32];
static volatile GPid running_child = 0;
static char          current_tree[4096];

/* --- inotify limits --------------------------------------------------- */

/* Writes @value to a /proc/sys file (g_file_set_contents() cannot: it
 * writes a temporary file and renames it). Async-signal-safe, for
 * restore_max_watches() in the signal handler. */
static gboolean
write_sysctl (const char *path,
              const char *value)
{
  int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  size_t len = strlen (value);
  gboolean ok;

  if (fd < 0)
    return FALSE;

  ok = write (fd, value, len) == (ssize_t) len;
  close (fd);
  return ok;
}

static gboolean
restore_max_watches (void)
{
  gboolean ok;

  if (saved_max_watches[0] == '\0')
    return FALSE;

  ok = write_sysctl (MAX_WATCHES_PATH, saved_max_watches);
  saved_max_watches[0] = '\0';
  return ok;
}

static void
on_fatal_signal (int signum)
{
  static const char msg[] = "hk-bench: interrupted; inotify limit restored\n";
  static const char left[] = "hk-bench: the temporary tree is left behind: ";

  if (running_child > 0)
    kill (running_child, SIGKILL);
  restore_max_watches ();

  /* the return values are ignored: nothing more can be done here */
  if (write (STDERR_FILENO, msg, sizeof msg - 1) < 0 ||
      (current_tree[0] != '\0' &&
       (write (STDERR_FILENO, left, sizeof left - 1) < 0 ||
        write (STDERR_FILENO, current_tree, strlen (current_tree)) < 0 ||
        write (STDERR_FILENO, "\n", 1) < 0)))
    {
    }
  signal (signum, SIG_DFL);
  raise (signum);
}

guint64
read_sysctl (const char *path)
{
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;

  return g_ascii_strtoull (contents, NULL, 10);
}

/* Two subjects' watches can briefly coexist (the kernel frees a closed
 * instance's marks asynchronously), so ask for twice the largest tree. */
static char *
ensure_max_watches (const Config *cfg)
{
  guint64 current = read_sysctl (MAX_WATCHES_PATH);
  guint64 needed = 0;
  g_autofree char *value = NULL;
  int saved_errno;

  for (guint i = 0; i < cfg->n_sizes; i++)
    needed = MAX (needed, 2 * (guint64) cfg->sizes[i] + 16384);

  if (current >= needed)
    return g_strdup_printf ("`max_user_watches` %" G_GUINT64_FORMAT ", left unchanged",
                            current);

  value = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", needed);
  g_snprintf (saved_max_watches, sizeof saved_max_watches,
              "%" G_GUINT64_FORMAT "\n", current);
  if (!write_sysctl (MAX_WATCHES_PATH, value))
    {
      saved_errno = errno;
      saved_max_watches[0] = '\0';
      g_printerr ("hk-bench: could not raise max_user_watches from %" G_GUINT64_FORMAT
                  " to %" G_GUINT64_FORMAT ": %s\n", current, needed, g_strerror (saved_errno));
      return g_strdup_printf ("`max_user_watches` %" G_GUINT64_FORMAT
                              " (raising it to %" G_GUINT64_FORMAT " failed)",
                              current, needed);
    }

  g_printerr ("hk-bench: raised %s from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
              " for this run; it is restored on exit\n",
              MAX_WATCHES_PATH, current, needed);
  return g_strdup_printf ("`max_user_watches` raised from %" G_GUINT64_FORMAT
                          " to %" G_GUINT64_FORMAT " during the run and restored after",
                          current, needed);
}

/* --- trees ------------------------------------------------------------ */

typedef struct
{
  char      *root;
  GPtrArray *dirs;        /* absolute paths, breadth-first; dirs[0] is the root */
  guint      n_generated; /* dirs[0 .. n_generated - 1] are the generated tree */
  guint      fanout;
} Tree;

static int
remove_entry (const char        *path,
              const struct stat *st,
              int                flag,
              struct FTW        *ftw)
{
  if (remove (path) != 0 && errno != ENOENT)
    g_printerr ("hk-bench: could not remove %s: %s\n", path, g_strerror (errno));
  return 0;
}

static void
tree_free (Tree *tree)
{
  if (tree == NULL)
    return;

  if (tree->root != NULL)
    nftw (tree->root, remove_entry, 64, FTW_DEPTH | FTW_PHYS);
  current_tree[0] = '\0';
  g_clear_pointer (&tree->dirs, g_ptr_array_unref);
  g_free (tree->root);
  g_free (tree);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Tree, tree_free)

static gboolean
touch (const char  *path,
       GError     **error)
{
  int fd = open (path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "%s: %s", path, g_strerror (saved));
      return FALSE;
    }

  close (fd);
  return TRUE;
}

/* A tree of @n_dirs directories (the root included), @depth levels below
 * the root with the smallest fan-out that fits, filled breadth-first, and
 * @files_per_dir empty files in every directory. */
static Tree *
tree_create (const Config  *cfg,
             guint          n_dirs,
             GError       **error)
{
  g_autoptr(Tree) tree = g_new0 (Tree, 1);
  g_autofree char *template = g_build_filename (cfg->base_dir, "hk-bench-XXXXXX", NULL);
  g_autoptr(GArray) levels = g_array_new (FALSE, FALSE, sizeof (guint));
  guint zero = 0;
  guint next = 0;

  if (g_mkdtemp (template) == NULL)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "%s: %s", template, g_strerror (saved));
      return NULL;
    }

  tree->root = g_strdup (template);
  g_strlcpy (current_tree, tree->root, sizeof current_tree);
  tree->dirs = g_ptr_array_new_full (n_dirs, g_free);
  g_ptr_array_add (tree->dirs, g_strdup (tree->root));
  g_array_append_val (levels, zero);

  /* the smallest fan-out whose @depth levels hold the other directories */
  for (tree->fanout = 1; ; tree->fanout++)
    {
      guint64 capacity = 0;
      guint64 level = 1;

      for (guint d = 0; d < cfg->depth; d++)
        capacity += (level *= tree->fanout);
      if (capacity + 1 >= n_dirs)
        break;
    }

  while (tree->dirs->len < n_dirs && next < tree->dirs->len)
    {
      const char *parent = g_ptr_array_index (tree->dirs, next);
      guint level = g_array_index (levels, guint, next) + 1;

      next++;
      if (level > cfg->depth)
        continue;

      for (guint j = 0; j < tree->fanout && tree->dirs->len < n_dirs; j++)
        {
          char *path = g_strdup_printf ("%s/d%03u", parent, j);

          if (g_mkdir (path, 0755) != 0)
            {
              int saved = errno;

              g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                           "%s: %s", path, g_strerror (saved));
              g_free (path);
              return NULL;
            }
          g_ptr_array_add (tree->dirs, path);
          g_array_append_val (levels, level);
        }
    }

  tree->n_generated = tree->dirs->len;
  for (guint i = 0; i < tree->dirs->len; i++)
    {
      for (guint j = 0; j < cfg->files_per_dir; j++)
        {
          g_autofree char *path =
            g_strdup_printf ("%s/f%03u.txt", (char *) g_ptr_array_index (tree->dirs, i), j);

          if (!touch (path, error))
            return NULL;
        }
    }

  return g_steal_pointer (&tree);
}

/* Reads every directory and stats every entry, so that the timed runs find
 * a warm dentry and inode cache. */
static guint64
warm_walk (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  guint64 n = 1;

  if (dir == NULL)
    return 0;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      GStatBuf st;

      if (g_lstat (child, &st) == 0 && S_ISDIR (st.st_mode))
        n += warm_walk (child);
    }

  return n;
}

/* --- subject processes ------------------------------------------------ */

typedef struct
{
  SubjectKind kind;
  GPid        pid;
  int         to_child;
  int         from_child;
  GString    *input;
  gboolean    eof;
} Child;

static char * G_GNUC_WARN_UNUSED_RESULT
child_read_line (Child *child,
                 int    timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      char *nl = memchr (child->input->str, '\n', child->input->len);
      struct pollfd pfd = { .fd = child->from_child, .events = POLLIN };
      gint64 remaining;
      char buf[4096];
      gssize n;

      if (nl != NULL)
        {
          char *line = g_strndup (child->input->str, nl - child->input->str);

          g_string_erase (child->input, 0, nl - child->input->str + 1);
          return line;
        }

      if (child->eof)
        return NULL;

      remaining = deadline - g_get_monotonic_time ();
      if (remaining <= 0)
        return NULL;

      if (poll (&pfd, 1, (int) ((remaining + 999) / 1000)) <= 0)
        continue;

      n = read (child->from_child, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          child->eof = TRUE;
          continue;
        }

      g_string_append_len (child->input, buf, n);
    }
}

static gboolean G_GNUC_PRINTF (2, 3)
child_send (Child      *child,
            const char *format,
            ...)
{
  g_autofree char *line = NULL;
  va_list args;
  gsize len;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);

  len = strlen (line);
  return write (child->to_child, line, len) == (gssize) len;
}

/* Reads lines until one starts with @prefix (other lines are dropped). */
static char *
child_expect (Child      *child,
              const char *prefix,
              int         timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      gint64 remaining = (deadline - g_get_monotonic_time ()) / 1000;
      g_autofree char *line = NULL;

      if (remaining <= 0)
        return NULL;

      line = child_read_line (child, (int) remaining);
      if (line == NULL)
        return NULL;
      if (g_str_has_prefix (line, prefix) || g_str_has_prefix (line, "error "))
        return g_steal_pointer (&line);
    }
}

static gboolean
wait_child_exit (GPid pid,
                 int  timeout_ms)
{
  int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
  int status;

  if (pidfd >= 0)
    {
      struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
      int r = poll (&pfd, 1, timeout_ms);

      close (pidfd);
      if (r == 0)
        return FALSE;
    }

  return waitpid (pid, &status, 0) == pid;
}

static void
child_free (Child *child)
{
  if (child == NULL)
    return;

  if (!child->eof && child_send (child, "quit\n"))
    g_free (child_expect (child, "bye", 120000));

  close (child->to_child);
  close (child->from_child);

  if (!wait_child_exit (child->pid, 120000))
    {
      g_printerr ("hk-bench: %s did not exit, killing it\n", subject_ids[child->kind]);
      kill (child->pid, SIGKILL);
      waitpid (child->pid, NULL, 0);
    }

  running_child = 0;
  g_string_free (child->input, TRUE);
  g_free (child);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Child, child_free)

static Child *
child_spawn (const Config  *cfg,
             SubjectKind    kind,
             const char    *root,
             GError       **error)
{
  g_autoptr(Child) child = NULL;
  g_autofree char *subject_arg = g_strdup_printf ("--subject=%s", subject_ids[kind]);
  g_autofree char *hello = NULL;
  const char *argv[4];
  GPid pid;
  int to_child, from_child;

  if (kind == SUBJECT_FLOOR)
    {
      argv[0] = cfg->floor_path;
      argv[1] = "--serve";
    }
  else
    {
      argv[0] = cfg->self_path;
      argv[1] = subject_arg;
    }
  argv[2] = root;
  argv[3] = NULL;

  if (!g_spawn_async_with_pipes (NULL, (char **) argv, NULL,
                                 G_SPAWN_DO_NOT_REAP_CHILD,
                                 NULL, NULL, &pid, &to_child, &from_child, NULL,
                                 error))
    return NULL;

  child = g_new0 (Child, 1);
  child->kind = kind;
  child->pid = pid;
  child->to_child = to_child;
  child->from_child = from_child;
  child->input = g_string_new (NULL);
  running_child = pid;

  hello = child_read_line (child, 30000);
  if (g_strcmp0 (hello, "hello") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%s did not start: %s", subject_ids[kind],
                   hello ? hello : "no answer");
      return NULL;
    }

  return g_steal_pointer (&child);
}

typedef struct
{
  gint64 ready_ns;
  long   rss_before_kb;
  long   rss_after_kb;
  guint  n_watched;
} ReadyLine;

static gboolean
child_start (Child      *child,
             guint       n_dirs,
             ReadyLine  *out,
             GError    **error)
{
  g_autofree char *line = NULL;

  child_send (child, "start %u\n", n_dirs);
  line = child_expect (child, "ready ", 600000);
  if (line == NULL || g_str_has_prefix (line, "error "))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                   line ? line + 6 : "no answer within 600 s");
      return FALSE;
    }

  if (sscanf (line, "ready %" G_GINT64_FORMAT " %ld %ld %u", &out->ready_ns,
              &out->rss_before_kb, &out->rss_after_kb, &out->n_watched) != 4)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "bad answer “%s”", line);
      return FALSE;
    }

  if (out->n_watched != n_dirs)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "watched %u of %u directories", out->n_watched, n_dirs);
      return FALSE;
    }

  return TRUE;
}

/* --- /proc sampling, for the idle window -------------------------------- */

typedef struct
{
  guint64 ctxsw;       /* voluntary + involuntary context switches */
  guint64 run_ns;      /* time on CPU */
  char    name[32];
} TaskSample;

static gboolean
read_task (const char *task_dir,
           TaskSample *sample)
{
  g_autofree char *status_path = g_build_filename (task_dir, "status", NULL);
  g_autofree char *schedstat_path = g_build_filename (task_dir, "schedstat", NULL);
  g_autofree char *status = NULL;
  g_autofree char *schedstat = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (status_path, &status, NULL, NULL))
    return FALSE;

  lines = g_strsplit (status, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];

      if (g_str_has_prefix (line, "Name:"))
        g_strlcpy (sample->name, g_strstrip ((char *) line + 5), sizeof sample->name);
      else if (g_str_has_prefix (line, "voluntary_ctxt_switches:"))
        sample->ctxsw += g_ascii_strtoull (line + 24, NULL, 10);
      else if (g_str_has_prefix (line, "nonvoluntary_ctxt_switches:"))
        sample->ctxsw += g_ascii_strtoull (line + 27, NULL, 10);
    }

  if (g_file_get_contents (schedstat_path, &schedstat, NULL, NULL))
    sample->run_ns = g_ascii_strtoull (schedstat, NULL, 10);

  return TRUE;
}

/* tid -> TaskSample */
static GHashTable *
sample_process (GPid pid)
{
  g_autofree char *dir_path = g_strdup_printf ("/proc/%d/task", (int) pid);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  GHashTable *tasks = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  const char *name;

  if (dir == NULL)
    return tasks;

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *task_dir = g_build_filename (dir_path, name, NULL);
      TaskSample *sample = g_new0 (TaskSample, 1);

      if (read_task (task_dir, sample))
        g_hash_table_insert (tasks, GINT_TO_POINTER (atoi (name)), sample);
      else
        g_free (sample);
    }

  return tasks;
}

/* --- statistics --------------------------------------------------------- */

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return (x > y) - (x < y);
}

/* Nearest-rank percentile of @values (sorted in place). */
static double
percentile (GArray *values,
            double  p)
{
  gsize rank;

  if (values->len == 0)
    return 0;

  g_array_sort (values, compare_doubles);
  rank = (gsize) ((p / 100.0) * values->len + 0.999999);
  rank = CLAMP (rank, 1, values->len);
  return g_array_index (values, double, rank - 1);
}

static double
median_of (double *values,
           guint   n)
{
  g_autoptr(GArray) array = g_array_new (FALSE, FALSE, sizeof (double));

  g_array_append_vals (array, values, n);
  return percentile (array, 50);
}

/* --- phases ------------------------------------------------------------- */

/* Set when a measurement could not be made; the exit status says so. */
static gboolean any_failed;

static void G_GNUC_PRINTF (3, 0)
note_valist (char       **note,
             gboolean     failed,
             const char  *format,
             va_list      args)
{
  g_free (*note);
  *note = g_strdup_vprintf (format, args);
  g_printerr ("hk-bench:   %s\n", *note);
  any_failed |= failed;
}

/* Notes something the report should say about a measurement. */
static void G_GNUC_PRINTF (2, 3)
set_note (char       **note,
          const char  *format,
          ...)
{
  va_list args;

  va_start (args, format);
  note_valist (note, FALSE, format, args);
  va_end (args);
}

/* Notes why a measurement could not be made. */
static void G_GNUC_PRINTF (2, 3)
set_failed (char       **note,
            const char  *format,
            ...)
{
  va_list args;

  va_start (args, format);
  note_valist (note, TRUE, format, args);
  va_end (args);
}

static gboolean
subject_skipped (const Config *cfg,
                 SubjectKind   kind,
                 guint         n_dirs)
{
  return kind == SUBJECT_GFM && cfg->gfm_max_dirs > 0 && n_dirs > cfg->gfm_max_dirs;
}

static void
measure_ready (const Config *cfg,
               Tree         *tree,
               guint         size_index)
{
  guint n_dirs = tree->dirs->len;
  double ms[N_SUBJECTS][MAX_RUNS];
  double bytes[N_SUBJECTS][MAX_RUNS];
  guint n_ok[N_SUBJECTS] = { 0 };

  for (guint run = 0; run < cfg->runs; run++)
    {
      /* rotate the order, so no subject always runs right after another */
      for (guint k = 0; k < N_SUBJECTS; k++)
        {
          SubjectKind kind = (k + run) % N_SUBJECTS;
          ReadyResult *result = &results[kind].ready[size_index];
          g_autoptr(Child) child = NULL;
          g_autoptr(GError) error = NULL;
          ReadyLine ready;

          if (!cfg->enabled[kind] || result->note != NULL)
            continue;

          if (subject_skipped (cfg, kind, n_dirs))
            {
              set_note (&result->note, "%s skipped: more than --gfm-max-dirs=%u directories",
                        subject_titles[kind], cfg->gfm_max_dirs);
              continue;
            }

          g_printerr ("hk-bench: ready, %u directories, %s, run %u/%u\n",
                      n_dirs, subject_ids[kind], run + 1, cfg->runs);

          child = child_spawn (cfg, kind, tree->root, &error);
          if (child == NULL || !child_start (child, n_dirs, &ready, &error))
            {
              set_failed (&result->note, "%s failed: %s", subject_titles[kind], error->message);
              continue;
            }

          ms[kind][n_ok[kind]] = ready.ready_ns / 1e6;
          bytes[kind][n_ok[kind]] =
            (ready.rss_after_kb - ready.rss_before_kb) * 1024.0 / ready.n_watched;
          n_ok[kind]++;
          result->n_watched = ready.n_watched;
          g_printerr ("hk-bench:   %.1f ms, %.0f bytes per directory\n",
                      ready.ready_ns / 1e6,
                      (ready.rss_after_kb - ready.rss_before_kb) * 1024.0 / ready.n_watched);

          g_clear_pointer (&child, child_free);
          /* let the kernel finish freeing the closed instance's watches */
          g_usleep (G_USEC_PER_SEC / 2);
        }
    }

  for (guint kind = 0; kind < N_SUBJECTS; kind++)
    {
      ReadyResult *result = &results[kind].ready[size_index];

      if (n_ok[kind] == 0 || result->note != NULL)
        continue;

      result->done = TRUE;
      result->ms = median_of (ms[kind], n_ok[kind]);
      result->n_runs = n_ok[kind];
      memcpy (result->runs_ms, ms[kind], n_ok[kind] * sizeof (double));
      result->bytes_per_dir = median_of (bytes[kind], n_ok[kind]);
    }
}

static const char *
event_dir (Tree  *tree,
           guint  i)
{
  /* 7919 is prime: consecutive events land in directories all over the
   * generated tree (not in the throughput directories added after it) */
  return g_ptr_array_index (tree->dirs, ((guint64) i * 7919 + 1) % tree->n_generated);
}

typedef struct
{
  GArray *total;      /* µs from before open() to the handler */
  GArray *reader;     /* µs from before open() to the subject's reader */
  GArray *dispatch;   /* µs from the subject's reader to the handler */
  GArray *opens;      /* µs spent in open() itself */
  guint   missed;
} LatencySamples;

static void
latency_samples_init (LatencySamples *samples)
{
  samples->total = g_array_new (FALSE, FALSE, sizeof (double));
  samples->reader = g_array_new (FALSE, FALSE, sizeof (double));
  samples->dispatch = g_array_new (FALSE, FALSE, sizeof (double));
  samples->opens = g_array_new (FALSE, FALSE, sizeof (double));
  samples->missed = 0;
}

static void
latency_samples_clear (LatencySamples *samples)
{
  g_clear_pointer (&samples->total, g_array_unref);
  g_clear_pointer (&samples->reader, g_array_unref);
  g_clear_pointer (&samples->dispatch, g_array_unref);
  g_clear_pointer (&samples->opens, g_array_unref);
}

/* Creates @n files one at a time, each named with the next global index,
 * and waits for each to reach the subject's handler. */
static gboolean
measure_latency_round (const Config   *cfg,
                       Child          *child,
                       Tree           *tree,
                       guint           n,
                       LatencySamples *samples,
                       LatencyResult  *result)
{
  static guint next_index = 0;
  g_autofree char *ok = NULL;

  child_send (child, "lat\n");
  ok = child_expect (child, "ok", 10000);
  if (g_strcmp0 (ok, "ok") != 0)
    {
      set_failed (&result->note, "no answer to “lat”");
      return FALSE;
    }

  for (guint e = 0; e < n; e++)
    {
      guint i = next_index++;
      g_autofree char *path = g_strdup_printf ("%s/" HK_BENCH_LAT_PREFIX "%u",
                                               event_dir (tree, i), i);
      gint64 deadline;
      gint64 t0;
      int fd;

      t0 = hk_bench_now_ns ();
      fd = open (path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0)
        {
          set_failed (&result->note, "%s: %s", path, g_strerror (errno));
          return FALSE;
        }
      g_array_append_val (samples->opens, (double) { (hk_bench_now_ns () - t0) / 1e3 });
      close (fd);

      deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
      for (;;)
        {
          gint64 remaining = (deadline - g_get_monotonic_time ()) / 1000;
          g_autofree char *line = NULL;
          gint64 handler_ns, reader_ns;
          guint index;

          if (remaining <= 0 ||
              (line = child_read_line (child, (int) remaining)) == NULL)
            {
              samples->missed++;
              break;
            }

          if (sscanf (line, "L %u %" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                      &index, &handler_ns, &reader_ns) != 3 || index != i)
            continue;   /* a late answer to an earlier event */

          g_array_append_val (samples->total, (double) { (handler_ns - t0) / 1e3 });
          if (reader_ns > 0 && reader_ns != handler_ns)
            {
              g_array_append_val (samples->reader, (double) { (reader_ns - t0) / 1e3 });
              g_array_append_val (samples->dispatch,
                                  (double) { (handler_ns - reader_ns) / 1e3 });
            }
          break;
        }

      if (child->eof)
        {
          set_failed (&result->note, "the subject exited");
          return FALSE;
        }

      g_usleep (cfg->latency_pace_us);
    }

  return TRUE;
}

static void
latency_finish (const Config   *cfg,
                LatencySamples *samples,
                LatencyResult  *result)
{
  result->n = samples->total->len;
  result->missed = samples->missed;
  result->open_median_us = percentile (samples->opens, 50);
  result->median_us = percentile (samples->total, 50);
  result->p99_us = percentile (samples->total, 99);
  result->max_us = percentile (samples->total, 100);
  result->have_split = samples->reader->len > 0;
  result->reader_median_us = percentile (samples->reader, 50);
  result->reader_p99_us = percentile (samples->reader, 99);
  result->dispatch_median_us = percentile (samples->dispatch, 50);
  result->dispatch_p99_us = percentile (samples->dispatch, 99);
  result->done = result->n > 0 && result->note == NULL;
  if (result->missed > 0 && result->note == NULL)
    set_note (&result->note, "%u of %u latency events not delivered within 2 s",
              result->missed, cfg->latency_events);
}

/* The latency events are split in rounds, and every round starts each
 * subject afresh in turn, so that a noisy stretch of time on the machine
 * does not fall on one subject only. */
static void
measure_latency (const Config *cfg,
                 Tree         *tree)
{
  LatencySamples samples[N_SUBJECTS];
  guint per_round = (cfg->latency_events + cfg->latency_rounds - 1) / cfg->latency_rounds;
  guint done[N_SUBJECTS] = { 0 };

  for (guint k = 0; k < N_SUBJECTS; k++)
    latency_samples_init (&samples[k]);

  for (guint round = 0; round < cfg->latency_rounds; round++)
    {
      for (guint j = 0; j < N_SUBJECTS; j++)
        {
          SubjectKind kind = (j + round) % N_SUBJECTS;
          LatencyResult *result = &results[kind].latency;
          guint n = MIN (per_round, cfg->latency_events - done[kind]);
          g_autoptr(Child) child = NULL;
          g_autoptr(GError) error = NULL;
          ReadyLine ready;

          if (!cfg->enabled[kind] || result->note != NULL || n == 0)
            continue;

          g_printerr ("hk-bench: latency, %s, round %u/%u, %u events\n",
                      subject_ids[kind], round + 1, cfg->latency_rounds, n);

          child = child_spawn (cfg, kind, tree->root, &error);
          if (child == NULL || !child_start (child, tree->dirs->len, &ready, &error))
            {
              set_failed (&result->note, "%s failed to start: %s", subject_titles[kind],
                          error->message);
              continue;
            }

          if (measure_latency_round (cfg, child, tree, n, &samples[kind], result))
            done[kind] += n;
        }
    }

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      if (cfg->enabled[k])
        {
          latency_finish (cfg, &samples[k], &results[k].latency);
          g_printerr ("hk-bench:   %s: median %.1f µs, p99 %.1f µs, max %.1f µs\n",
                      subject_ids[k], results[k].latency.median_us,
                      results[k].latency.p99_us, results[k].latency.max_us);
        }
      latency_samples_clear (&samples[k]);
    }
}

static void
measure_idle (const Config *cfg,
              Child        *child,
              IdleResult   *result)
{
  g_autoptr(GHashTable) before = NULL;
  g_autoptr(GHashTable) after = NULL;
  g_autoptr(GString) detail = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;
  guint64 run_ns = 0;

  g_printerr ("hk-bench: idle, %s, %u s (after %u s to settle)\n",
              subject_ids[child->kind], cfg->idle_seconds, cfg->settle_seconds);

  /* Nothing to wait for: this is the quiet time after the throughput
   * burst, in which a subject's own timers (GFileMonitor's rate limit,
   * anything delayed) may still run; they do not count as idle wake-ups. */
  g_usleep ((gulong) cfg->settle_seconds * G_USEC_PER_SEC);

  /* Sampled from outside: reading /proc does not wake the subject. */
  before = sample_process (child->pid);
  g_usleep ((gulong) cfg->idle_seconds * G_USEC_PER_SEC);
  after = sample_process (child->pid);

  if (g_hash_table_size (after) == 0)
    {
      set_failed (&result->note, "the subject exited");
      return;
    }

  g_hash_table_iter_init (&iter, after);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const TaskSample *a = value;
      const TaskSample *b = g_hash_table_lookup (before, key);
      guint64 wakeups = a->ctxsw - (b ? b->ctxsw : 0);

      result->wakeups += wakeups;
      run_ns += a->run_ns - (b ? b->run_ns : 0);
      if (wakeups > 0)
        g_string_append_printf (detail, "%s`%s` (tid %d): %" G_GUINT64_FORMAT,
                                detail->len ? ", " : "", a->name,
                                GPOINTER_TO_INT (key), wakeups);
    }

  if (g_hash_table_size (before) != g_hash_table_size (after))
    g_string_append_printf (detail, "%sthreads: %u before, %u after",
                            detail->len ? "; " : "",
                            g_hash_table_size (before), g_hash_table_size (after));

  result->cpu_ms = run_ns / 1e6;
  result->detail = g_string_free (g_steal_pointer (&detail), FALSE);
  result->done = TRUE;

  g_printerr ("hk-bench:   %" G_GUINT64_FORMAT " wake-ups, %.3f ms CPU\n",
              result->wakeups, result->cpu_ms);
}

typedef struct
{
  gint64  seen;
  gint64  last_ns;
  int     overflows;
  guint   synthetic;
  gint64  cpu_us;
} TpLine;

static gboolean
parse_tp_line (const char *line,
               TpLine     *out)
{
  char tag;

  return sscanf (line, "%c %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %d %u %" G_GINT64_FORMAT,
                 &tag, &out->seen, &out->last_ns, &out->overflows, &out->synthetic,
                 &out->cpu_us) == 6 && (tag == 'T' || tag == 'P');
}

/* Waits for every file to be reported, asking for progress every second
 * and giving up once nothing new arrived for @stall_s seconds. */
static gboolean
wait_throughput (Child  *child,
                 guint   stall_s,
                 TpLine *out)
{
  gint64 last_change = g_get_monotonic_time ();
  gint64 last_seen = -1;

  for (;;)
    {
      g_autofree char *line = child_read_line (child, 1000);

      if (line == NULL)
        {
          if (child->eof)
            return FALSE;
          child_send (child, "report\n");
          continue;
        }

      if (!parse_tp_line (line, out))
        continue;
      if (line[0] == 'T')
        return TRUE;

      if (out->seen != last_seen)
        {
          last_seen = out->seen;
          last_change = g_get_monotonic_time ();
        }
      else if (g_get_monotonic_time () - last_change > (gint64) stall_s * G_USEC_PER_SEC)
        {
          return TRUE;
        }
    }
}

/* Gives @kind its own directories for the throughput phase: created before
 * any subject starts, so every subject watches them from its start, and
 * used by @kind only. No subject creates its files where another's were
 * just deleted (which can be slower on some file systems): the files stay
 * until the tree is removed. */
static gboolean
add_throughput_dirs (const Config  *cfg,
                     Tree          *tree,
                     SubjectKind    kind,
                     guint         *first,
                     GError       **error)
{
  g_autofree char *top = g_strdup_printf ("%s/tp-%s", tree->root, subject_ids[kind]);

  if (g_mkdir (top, 0755) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "%s: %s", top, g_strerror (saved));
      return FALSE;
    }
  g_ptr_array_add (tree->dirs, g_steal_pointer (&top));

  *first = tree->dirs->len;
  for (guint j = 0; j < cfg->tp_dirs; j++)
    {
      char *path = g_strdup_printf ("%s/tp-%s/d%03u", tree->root, subject_ids[kind], j);

      if (g_mkdir (path, 0755) != 0)
        {
          int saved = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       "%s: %s", path, g_strerror (saved));
          g_free (path);
          return FALSE;
        }
      g_ptr_array_add (tree->dirs, path);
    }

  return TRUE;
}

/* The producer's files, round-robin over the @cfg->tp_dirs directories
 * starting at @first. */
static GPtrArray *
throughput_paths (const Config *cfg,
                  Tree         *tree,
                  guint         first)
{
  GPtrArray *paths = g_ptr_array_new_full (cfg->tp_files, g_free);

  for (guint i = 0; i < cfg->tp_files; i++)
    g_ptr_array_add (paths,
                     g_strdup_printf ("%s/" HK_BENCH_TP_PREFIX "%u",
                                      (char *) g_ptr_array_index (tree->dirs,
                                                                  first + i % cfg->tp_dirs),
                                      i));
  return paths;
}

static void
measure_throughput (const Config     *cfg,
                    Child            *child,
                    GPtrArray        *paths,
                    ThroughputResult *result)
{
  g_autofree char *ok = NULL;
  gint64 t_start, t_end;
  TpLine tp = { 0 };

  g_printerr ("hk-bench: throughput, %s, %u files\n", subject_ids[child->kind], paths->len);

  child_send (child, "tp %u\n", paths->len);
  ok = child_expect (child, "ok", 10000);
  if (g_strcmp0 (ok, "ok") != 0)
    {
      set_failed (&result->note, "no answer to “tp”");
      return;
    }

  t_start = hk_bench_now_ns ();
  for (guint i = 0; i < paths->len; i++)
    {
      int fd = open (g_ptr_array_index (paths, i), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

      if (fd < 0)
        {
          result->produce_errors++;
          continue;
        }
      close (fd);
    }
  t_end = hk_bench_now_ns ();

  if (!wait_throughput (child, 5, &tp))
    {
      set_failed (&result->note, "the subject exited");
      return;
    }

  result->n = paths->len;
  result->seen = tp.seen;
  result->produce_s = (t_end - t_start) / 1e9;
  result->produce_rate = paths->len / result->produce_s;
  result->overflows = tp.overflows;
  result->synthetic = tp.synthetic;
  result->cpu_us_per_event = tp.seen ? (double) tp.cpu_us / tp.seen : 0;
  if (tp.seen > 0 && tp.last_ns > t_start)
    {
      result->delivered_rate = tp.seen / ((tp.last_ns - t_start) / 1e9);
      /* the last event can reach the handler before the producer's clock read */
      result->lag_ms = MAX (0, tp.last_ns - t_end) / 1e6;
    }
  result->done = TRUE;
  if (result->produce_errors > 0)
    set_failed (&result->note, "the producer failed to create %u files", result->produce_errors);

  g_printerr ("hk-bench:   producer %.0f files/s, delivered %.0f events/s, "
              "%" G_GUINT64_FORMAT " lost, %d overflows, %.2f µs CPU per event\n",
              result->produce_rate, result->delivered_rate, result->n - result->seen,
              result->overflows, result->cpu_us_per_event);
}

/* Throughput, then the idle window once the burst has settled, in one
 * subject process. */
static void
measure_throughput_and_idle (const Config *cfg,
                             Tree         *tree,
                             SubjectKind   kind,
                             guint         tp_first)
{
  g_autoptr(GPtrArray) tp_paths = throughput_paths (cfg, tree, tp_first);
  g_autoptr(Child) child = NULL;
  g_autoptr(GError) error = NULL;
  Results *r = &results[kind];
  ReadyLine ready;

  child = child_spawn (cfg, kind, tree->root, &error);
  if (child == NULL || !child_start (child, tree->dirs->len, &ready, &error))
    {
      set_failed (&r->tp.note, "%s failed to start: %s", subject_titles[kind],
                  error->message);
      r->idle.note = g_strdup (r->tp.note);
      return;
    }

  measure_throughput (cfg, child, tp_paths, &r->tp);
  if (!child->eof)
    measure_idle (cfg, child, &r->idle);
}

/* Latency, throughput and idle, on the first tree. */
static void
measure_events (const Config *cfg,
                Tree         *tree)
{
  guint tp_first[N_SUBJECTS] = { 0 };

  for (guint k = 0; k < N_SUBJECTS; k++)
    {
      g_autoptr(GError) error = NULL;

      if (cfg->enabled[k] && !add_throughput_dirs (cfg, tree, k, &tp_first[k], &error))
        {
          g_printerr ("hk-bench: %s\n", error->message);
          any_failed = TRUE;
          return;
        }
    }

  measure_latency (cfg, tree);

  for (guint k = 0; k < N_SUBJECTS; k++)
    if (cfg->enabled[k])
      measure_throughput_and_idle (cfg, tree, k, tp_first[k]);
}

/* --- main ----------------------------------------------------------------- */

static char *
quote_command (int    argc,
               char **argv)
{
  g_autoptr(GString) command = g_string_new (NULL);

  for (int i = 0; i < argc; i++)
    {
      g_autofree char *quoted = NULL;
      gboolean plain = TRUE;

      for (const char *p = argv[i]; *p; p++)
        if (!g_ascii_isalnum (*p) && strchr ("-_./=,:+@%", *p) == NULL)
          plain = FALSE;

      quoted = plain && argv[i][0] ? g_strdup (argv[i]) : g_shell_quote (argv[i]);
      g_string_append_printf (command, "%s%s", i ? " " : "", quoted);
    }

  return g_string_free (g_steal_pointer (&command), FALSE);
}

static gboolean
parse_sizes (const char  *text,
             Config      *cfg,
             GError     **error)
{
  g_auto(GStrv) parts = g_strsplit (text, ",", -1);

  cfg->n_sizes = 0;
  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 n;

      if (cfg->n_sizes == MAX_SIZES ||
          !g_ascii_string_to_unsigned (g_strstrip (parts[i]), 10, 2, 10000000, &n, NULL))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--sizes takes up to %u numbers ≥ 2, comma-separated", MAX_SIZES);
          return FALSE;
        }
      cfg->sizes[cfg->n_sizes++] = (guint) n;
    }

  return cfg->n_sizes > 0;
}

static gboolean
parse_subjects (const char  *text,
                Config      *cfg,
                GError     **error)
{
  g_auto(GStrv) parts = g_strsplit (text, ",", -1);

  memset (cfg->enabled, 0, sizeof cfg->enabled);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      gboolean found = FALSE;

      for (guint k = 0; k < N_SUBJECTS; k++)
        if (g_str_equal (g_strstrip (parts[i]), subject_ids[k]))
          found = cfg->enabled[k] = TRUE;

      if (!found)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "unknown subject “%s” (floor, hachiko, gfilemonitor, hachiko-gio, hachiko-poll, hachiko-fanotify)", parts[i]);
          return FALSE;
        }
    }

  if (!cfg->enabled[SUBJECT_FLOOR])
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "the floor is the reference; --subjects must include it");
      return FALSE;
    }

  return TRUE;
}

static guint
or_default (int   value,
            guint fallback)
{
  return value > 0 ? (guint) value : fallback;
}

static gboolean
parse_options (int       argc,
               char    **argv,
               Config   *cfg,
               char    **subject,
               char   ***rest,
               GError  **error)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autofree char *sizes = NULL;
  g_autofree char *subjects = NULL;
  int files = -1, depth = 0, lat = 0, tp = 0, tp_dirs = 0, idle = -1, runs = 0, gfm_max = -1;
  GOptionEntry entries[] = {
    { "small", 0, 0, G_OPTION_ARG_NONE, &cfg->small,
      "Quick run that only proves the benchmark works (CI)", NULL },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &cfg->output,
      "Where to write the report (default: docs/performance.md)", "FILE" },
    { "dir", 'd', 0, G_OPTION_ARG_FILENAME, &cfg->base_dir,
      "Directory to create the trees in (default: the temporary directory)", "DIR" },
    { "sizes", 0, 0, G_OPTION_ARG_STRING, &sizes,
      "Directories per tree, comma-separated (default: 10000,100000); the first tree "
      "is also used for latency, throughput and idle", "N,N" },
    { "files-per-dir", 0, 0, G_OPTION_ARG_INT, &files,
      "Empty files in every directory (default: 5)", "N" },
    { "depth", 0, 0, G_OPTION_ARG_INT, &depth,
      "Levels below the root (default: 4)", "N" },
    { "latency-events", 0, 0, G_OPTION_ARG_INT, &lat,
      "Files created one at a time for latency (default: 2000)", "N" },
    { "throughput-files", 0, 0, G_OPTION_ARG_INT, &tp,
      "Files the producer creates (default: 200000)", "N" },
    { "throughput-dirs", 0, 0, G_OPTION_ARG_INT, &tp_dirs,
      "Directories the producer spreads them over (default: 100)", "N" },
    { "idle-seconds", 0, 0, G_OPTION_ARG_INT, &idle,
      "Length of the idle window (default: 10)", "S" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs,
      "Runs per subject and size for ready, the median is kept (default: 3)", "N" },
    { "subjects", 0, 0, G_OPTION_ARG_STRING, &subjects,
      "Subjects to measure (default: floor,hachiko,gfilemonitor)", "LIST" },
    { "gfm-max-dirs", 0, 0, G_OPTION_ARG_INT, &gfm_max,
      "Skip GFileMonitor on larger trees, 0 for no limit (default: 0)", "N" },
    { "floor", 0, 0, G_OPTION_ARG_FILENAME, &cfg->floor_path,
      "The floor program (default: hk-bench-floor next to this program)", "PATH" },
    { "subject", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, subject,
      "Run as a subject (internal)", "NAME" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, rest, NULL, NULL },
    { NULL }
  };

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context,
    "Measures hachiko against the physical floor of recursive inotify watching\n"
    "and a naive GFileMonitor baseline, and writes docs/performance.md.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, error))
    return FALSE;

  if (*subject != NULL)
    return TRUE;

  if (!parse_sizes (sizes ? sizes : (cfg->small ? "200" : "10000,100000"), cfg, error) ||
      !parse_subjects (subjects ? subjects : "floor,hachiko,gfilemonitor", cfg, error))
    return FALSE;

  cfg->files_per_dir = files >= 0 ? (guint) files : (cfg->small ? 2 : 5);
  cfg->depth = or_default (depth, cfg->small ? 3 : 4);
  cfg->latency_events = or_default (lat, cfg->small ? 200 : 2000);
  cfg->tp_files = or_default (tp, cfg->small ? 2000 : 200000);
  cfg->tp_dirs = or_default (tp_dirs, cfg->small ? 20 : 100);
  cfg->idle_seconds = idle >= 0 ? (guint) idle : (cfg->small ? 1 : 10);
  cfg->settle_seconds = cfg->small ? 1 : 2;
  cfg->runs = MIN (or_default (runs, cfg->small ? 1 : 3), MAX_RUNS);
  cfg->gfm_max_dirs = gfm_max >= 0 ? (guint) gfm_max : 0;
  cfg->latency_pace_us = 1000;
  cfg->latency_rounds = MAX (1, MIN (cfg->small ? 2 : 4, cfg->latency_events));

  if (cfg->output == NULL)
    cfg->output = g_strdup ("docs/performance.md");
  if (cfg->base_dir == NULL)
    cfg->base_dir = g_strdup (g_get_tmp_dir ());

  cfg->self_path = g_file_read_link ("/proc/self/exe", error);
  if (cfg->self_path == NULL)
    return FALSE;
  if (cfg->floor_path == NULL)
    {
      g_autofree char *dir = g_path_get_dirname (cfg->self_path);

      cfg->floor_path = g_build_filename (dir, "hk-bench-floor", NULL);
    }

  return TRUE;
}

static char *
read_loadavg (void)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &contents, NULL, NULL))
    return g_strdup ("unknown");

  fields = g_strsplit (contents, " ", 4);
  if (g_strv_length (fields) < 3)
    return g_strdup ("unknown");

  return g_strdup_printf ("%s, %s, %s", fields[0], fields[1], fields[2]);
}

static int
run_benchmark (Config *cfg)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *watches_note = NULL;
  g_autofree char *load_before = NULL;
  g_autofree char *load_after = NULL;
  Report report = { 0 };

  if (!g_file_test (cfg->floor_path, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_printerr ("hk-bench: the floor program %s is missing (see --floor)\n", cfg->floor_path);
      return 1;
    }

  load_before = read_loadavg ();
  watches_note = ensure_max_watches (cfg);

  for (guint s = 0; s < cfg->n_sizes; s++)
    {
      g_autoptr(Tree) tree = NULL;
      gint64 t0 = g_get_monotonic_time ();

      g_printerr ("hk-bench: creating a tree of %u directories × %u files in %s\n",
                  cfg->sizes[s], cfg->files_per_dir, cfg->base_dir);
      tree = tree_create (cfg, cfg->sizes[s], &error);
      if (tree == NULL)
        {
          g_printerr ("hk-bench: %s\n", error->message);
          return 1;
        }
      g_printerr ("hk-bench:   fan-out %u, created in %.1f s; warming the cache\n",
                  tree->fanout, (g_get_monotonic_time () - t0) / 1e6);
      if (warm_walk (tree->root) != tree->dirs->len)
        g_printerr ("hk-bench:   warning: the tree does not hold %u directories\n",
                    tree->dirs->len);

      measure_ready (cfg, tree, s);

      if (s == 0)
        {
          report.events_n_dirs = tree->dirs->len;
          measure_events (cfg, tree);
          report.events_fanout = tree->fanout;
        }

      g_printerr ("hk-bench: removing the tree\n");
    }

  load_after = read_loadavg ();
  report.watches_note = watches_note;
  report.load_before = load_before;
  report.load_after = load_after;

  if (!write_report (cfg, &report, &error))
    {
      g_printerr ("hk-bench: %s\n", error->message);
      return 1;
    }

  g_printerr ("hk-bench: wrote %s\n", cfg->output);
  if (any_failed)
    {
      g_printerr ("hk-bench: some measurements failed; see the report\n");
      return 1;
    }
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *subject = NULL;
  g_auto(GStrv) rest = NULL;
  Config cfg = { 0 };
  int status;

  setlocale (LC_ALL, "");
  cfg.command_line = quote_command (argc, argv);

  if (!parse_options (argc, argv, &cfg, &subject, &rest, &error))
    {
      g_printerr ("hk-bench: %s\n", error->message);
      return 2;
    }

  if (subject != NULL)
    {
      if (rest == NULL || rest[0] == NULL || rest[1] != NULL)
        {
          g_printerr ("hk-bench: --subject takes exactly one directory\n");
          return 2;
        }
      return hk_bench_subject_main (subject, rest[0]);
    }

  if (rest != NULL && rest[0] != NULL)
    {
      g_printerr ("hk-bench: unexpected argument “%s”\n", rest[0]);
      return 2;
    }

  signal (SIGPIPE, SIG_IGN);
  signal (SIGINT, on_fatal_signal);
  signal (SIGTERM, on_fatal_signal);
  signal (SIGHUP, on_fatal_signal);
  signal (SIGQUIT, on_fatal_signal);
  signal (SIGABRT, on_fatal_signal);
  signal (SIGSEGV, on_fatal_signal);

  status = run_benchmark (&cfg);
  if (restore_max_watches ())
    g_printerr ("hk-bench: restored %s\n", MAX_WATCHES_PATH);

  return status;
}
