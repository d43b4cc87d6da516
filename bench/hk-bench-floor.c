/* hk-bench-floor.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The physical floor: the least work any recursive inotify watcher can do.
 *
 *  - a recursive readdir() that trusts d_type (no stat, except for the rare
 *    file system that reports DT_UNKNOWN);
 *  - one inotify_add_watch() per directory, added before the directory is
 *    read so nothing created meanwhile is missed;
 *  - per watch, only what is needed to name an event's directory: the
 *    parent's watch descriptor and the directory's name;
 *  - one thread blocked in read() on the inotify descriptor. Its "handler"
 *    is the code right after read() returns.
 *
 * No GLib, no event objects, no queue, no main context hop. hachiko does
 * more than this (a snapshot, filtering, delivery on the owner's context);
 * the benchmark reports how much more it costs.
 *
 * Usage:
 *   hk-bench-floor DIR          watch DIR, print the ready time and memory, exit
 *   hk-bench-floor --serve DIR  speak the protocol of hk-bench-proto.h
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hk-bench-proto.h"

#define FLOOR_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | \
                    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | \
                    IN_DELETE_SELF | IN_MOVE_SELF | \
                    IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

typedef struct
{
  int   parent;   /* watch descriptor of the parent, -1 for the root */
  char *name;     /* the root's full path, or the directory's name */
} FloorDir;

typedef struct
{
  int             ifd;
  pthread_mutex_t lock;
  pthread_t       reader;

  FloorDir       *dirs;      /* indexed by watch descriptor */
  size_t          n_dirs;
  size_t          n_watched;
  size_t          n_errors;

  /* protocol state, under @lock */
  bool            lat_on;
  unsigned char  *tp_seen;
  long            tp_target;
  long            tp_count;
  int64_t         tp_last_ns;
  int64_t         tp_cpu0;
  bool            tp_reported;
  long            overflows;
} Floor;

static Floor self = { .ifd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void __attribute__ ((format (printf, 1, 2)))
emit (const char *format,
      ...)
{
  char line[512];
  va_list args;
  int len;

  va_start (args, format);
  len = vsnprintf (line, sizeof line, format, args);
  va_end (args);

  if (len > 0 && (size_t) len < sizeof line)
    {
      /* one write() per line: lines below PIPE_BUF never interleave */
      if (write (STDOUT_FILENO, line, len) != len)
        _exit (1);
    }
}

static void
remember_dir (int         wd,
              int         parent,
              const char *name)
{
  if ((size_t) wd >= self.n_dirs)
    {
      size_t n = self.n_dirs ? self.n_dirs : 1024;

      while (n <= (size_t) wd)
        n *= 2;
      self.dirs = realloc (self.dirs, n * sizeof (FloorDir));
      if (self.dirs == NULL)
        abort ();
      memset (self.dirs + self.n_dirs, 0, (n - self.n_dirs) * sizeof (FloorDir));
      self.n_dirs = n;
    }

  if (self.dirs[wd].name == NULL)
    self.n_watched++;
  free (self.dirs[wd].name);
  self.dirs[wd].parent = parent;
  self.dirs[wd].name = strdup (name);
}

static void
forget_dir (int wd)
{
  if (wd < 0 || (size_t) wd >= self.n_dirs || self.dirs[wd].name == NULL)
    return;

  free (self.dirs[wd].name);
  self.dirs[wd].name = NULL;
  self.n_watched--;
}

/* Writes the path of watch @wd into @buf; returns its length, or -1. */
static int
dir_path (int    wd,
          char  *buf,
          size_t size)
{
  const FloorDir *dir;
  int len = 0;
  int n;

  if (wd < 0 || (size_t) wd >= self.n_dirs || self.dirs[wd].name == NULL)
    return -1;

  dir = &self.dirs[wd];
  if (dir->parent >= 0)
    {
      len = dir_path (dir->parent, buf, size);
      if (len < 0)
        return -1;
      buf[len++] = '/';
    }

  n = snprintf (buf + len, size - len, "%s", dir->name);
  if (n < 0 || (size_t) n >= size - len)
    return -1;

  return len + n;
}

/* @path holds @len bytes and has room for PATH_MAX; @name points into it or
 * is the whole path for the root. */
static void
walk (char       *path,
      size_t      len,
      int         parent,
      const char *name)
{
  struct dirent *entry;
  DIR *dir;
  int wd;

  wd = inotify_add_watch (self.ifd, path, FLOOR_MASK);
  if (wd < 0)
    {
      self.n_errors++;
      return;
    }
  remember_dir (wd, parent, name);

  dir = opendir (path);
  if (dir == NULL)
    return;

  while ((entry = readdir (dir)) != NULL)
    {
      size_t name_len;

      if (entry->d_type != DT_DIR && entry->d_type != DT_UNKNOWN)
        continue;
      if (entry->d_name[0] == '.' &&
          (entry->d_name[1] == '\0' ||
           (entry->d_name[1] == '.' && entry->d_name[2] == '\0')))
        continue;

      name_len = strlen (entry->d_name);
      if (len + 1 + name_len >= PATH_MAX)
        continue;

      path[len] = '/';
      memcpy (path + len + 1, entry->d_name, name_len + 1);

      if (entry->d_type == DT_UNKNOWN)
        {
          struct stat st;

          if (lstat (path, &st) != 0 || !S_ISDIR (st.st_mode))
            {
              path[len] = '\0';
              continue;
            }
        }

      walk (path, len + 1 + name_len, wd, path + len + 1);
      path[len] = '\0';
    }

  closedir (dir);
}

/* @tag: 'T' when every file was seen, 'P' for progress on request */
static void
report_throughput (char tag)
{
  emit ("%c %ld %lld %ld 0 %lld\n",
        tag, self.tp_count, (long long) self.tp_last_ns, self.overflows,
        (long long) (hk_bench_cpu_us () - self.tp_cpu0));
}

static void
on_created_file (const char *name,
                 int64_t     now)
{
  long i;

  if (self.lat_on && (i = hk_bench_parse_index (name, HK_BENCH_LAT_PREFIX)) >= 0)
    {
      emit ("L %ld %lld %lld\n", i, (long long) now, (long long) now);
      return;
    }

  if (self.tp_target <= 0 || self.tp_reported)
    return;

  i = hk_bench_parse_index (name, HK_BENCH_TP_PREFIX);
  if (i < 0 || i >= self.tp_target || (self.tp_seen[i / 8] & (1 << (i % 8))))
    return;

  self.tp_seen[i / 8] |= 1 << (i % 8);
  self.tp_last_ns = now;
  if (++self.tp_count == self.tp_target)
    {
      report_throughput ('T');
      self.tp_reported = true;
    }
}

static void
on_event (const struct inotify_event *event,
          int64_t                     now)
{
  if (event->mask & IN_Q_OVERFLOW)
    {
      self.overflows++;
      return;
    }

  if (event->mask & IN_IGNORED)
    {
      forget_dir (event->wd);
      return;
    }

  if (event->len == 0 || !(event->mask & (IN_CREATE | IN_MOVED_TO)))
    return;

  if (event->mask & IN_ISDIR)
    {
      char path[PATH_MAX];
      int len = dir_path (event->wd, path, sizeof path);
      size_t name_len = strlen (event->name);

      if (len < 0 || (size_t) len + 1 + name_len >= sizeof path)
        return;
      path[len] = '/';
      memcpy (path + len + 1, event->name, name_len + 1);
      walk (path, len + 1 + name_len, event->wd, path + len + 1);
      return;
    }

  if (event->mask & IN_CREATE)
    on_created_file (event->name, now);
}

static void *
reader_thread (void *data)
{
  static char buf[65536] __attribute__ ((aligned (__alignof__ (struct inotify_event))));

  for (;;)
    {
      ssize_t n = read (self.ifd, buf, sizeof buf);
      int64_t now = hk_bench_now_ns ();
      char *p;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;

      pthread_mutex_lock (&self.lock);
      for (p = buf; p < buf + n; )
        {
          const struct inotify_event *event = (const struct inotify_event *) p;

          on_event (event, now);
          p += sizeof (struct inotify_event) + event->len;
        }
      pthread_mutex_unlock (&self.lock);
    }

  return NULL;
}

static int
floor_start (const char *root)
{
  char path[PATH_MAX];
  size_t len = strlen (root);

  if (len == 0 || len >= sizeof path)
    return -1;

  self.ifd = inotify_init1 (IN_CLOEXEC);
  if (self.ifd < 0)
    return -1;

  if (pthread_create (&self.reader, NULL, reader_thread, NULL) != 0)
    return -1;

  memcpy (path, root, len + 1);
  while (len > 1 && path[len - 1] == '/')
    path[--len] = '\0';

  pthread_mutex_lock (&self.lock);
  walk (path, len, -1, path);
  pthread_mutex_unlock (&self.lock);

  return 0;
}

static int
serve (const char *root)
{
  char line[256];

  emit ("hello\n");

  while (fgets (line, sizeof line, stdin) != NULL)
    {
      if (strncmp (line, "start", 5) == 0)
        {
          long rss_before = hk_bench_rss_kb ();
          int64_t t0 = hk_bench_now_ns ();
          int64_t t1;

          if (floor_start (root) < 0)
            {
              emit ("error %s\n", strerror (errno));
              continue;
            }
          t1 = hk_bench_now_ns ();

          pthread_mutex_lock (&self.lock);
          emit ("ready %lld %ld %ld %zu\n", (long long) (t1 - t0),
                rss_before, hk_bench_rss_kb (), self.n_watched);
          pthread_mutex_unlock (&self.lock);
        }
      else if (strcmp (line, "lat\n") == 0)
        {
          pthread_mutex_lock (&self.lock);
          self.lat_on = true;
          pthread_mutex_unlock (&self.lock);
          emit ("ok\n");
        }
      else if (strncmp (line, "tp ", 3) == 0)
        {
          long n = strtol (line + 3, NULL, 10);

          pthread_mutex_lock (&self.lock);
          free (self.tp_seen);
          self.tp_seen = calloc (n / 8 + 1, 1);
          self.tp_target = n;
          self.tp_count = 0;
          self.tp_last_ns = 0;
          self.tp_reported = false;
          self.overflows = 0;
          self.tp_cpu0 = hk_bench_cpu_us ();
          pthread_mutex_unlock (&self.lock);
          emit ("ok\n");
        }
      else if (strcmp (line, "report\n") == 0)
        {
          pthread_mutex_lock (&self.lock);
          report_throughput ('P');
          pthread_mutex_unlock (&self.lock);
        }
      else if (strcmp (line, "quit\n") == 0)
        {
          break;
        }
    }

  emit ("bye\n");
  return 0;
}

static int
run_once (const char *root)
{
  long rss_before = hk_bench_rss_kb ();
  int64_t t0 = hk_bench_now_ns ();
  int64_t t1;
  long rss_after;
  size_t n;

  if (floor_start (root) < 0)
    {
      fprintf (stderr, "hk-bench-floor: %s: %s\n", root, strerror (errno));
      return 1;
    }
  t1 = hk_bench_now_ns ();
  rss_after = hk_bench_rss_kb ();

  pthread_mutex_lock (&self.lock);
  n = self.n_watched;
  printf ("watched %zu directories in %.3f ms (%zu failed)\n",
          n, (t1 - t0) / 1e6, self.n_errors);
  printf ("user-space memory: +%ld KiB RSS, %.1f bytes per directory\n",
          rss_after - rss_before,
          n ? (rss_after - rss_before) * 1024.0 / n : 0.0);
  pthread_mutex_unlock (&self.lock);

  return self.n_errors ? 1 : 0;
}

int
main (int   argc,
      char *argv[])
{
  if (argc == 3 && strcmp (argv[1], "--serve") == 0)
    return serve (argv[2]);

  if (argc == 2 && argv[1][0] != '-')
    return run_once (argv[1]);

  fprintf (stderr,
           "Usage: %s DIR\n"
           "       %s --serve DIR   (driven by hk-bench)\n"
           "Watches DIR recursively with the least work possible and reports\n"
           "the time until every directory is watched.\n",
           argv[0], argv[0]);
  return 2;
}
