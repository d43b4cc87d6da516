/* test-coalescer.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The coalescing rules (docs/coalescing.md): a table of raw sequences and
 * what they merge into, a randomized check that the merged stream replays
 * to the same tree as the raw one, the timing of the window, and the same
 * rules seen through a real watchdog.
 *
 * Environment:
 *   HK_COALESCER_SEED=N   run only that seed of the randomized check
 *   HK_COALESCER_SEEDS=N  how many seeds (default 3000)
 *   HK_COALESCER_STEPS=N  at most N operations per seed (default 40)
 *   HK_COALESCER_NAMES=N  names drawn from the first N of a, b, c, d, e
 */

#include <hachiko.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "hk-coalescer-private.h"
#include "hk-replay.h"
#include "hk-test-util.h"

#define ROOT "/r"

/* --- the notation of the tables ---------------------------------------- */

/* One event per "; "-separated item:
 *   c P  created file         C P  created directory
 *   d P  deleted file         D P  deleted directory
 *   m A B  moved file         M A B  moved directory
 *   w P  modified             a P  attribute changed
 *   x P  closed               o P  opened
 *   n P  closed without write
 * A change letter in upper case is about a directory. A leading "~" marks a
 * synthetic event. Paths are relative to ROOT. */

static const struct
{
  char        letter;
  HkEventType type;
} letters[] = {
  { 'c', HK_EVENT_CREATED },
  { 'd', HK_EVENT_DELETED },
  { 'm', HK_EVENT_MOVED },
  { 'w', HK_EVENT_MODIFIED },
  { 'a', HK_EVENT_ATTRIBUTE_CHANGED },
  { 'x', HK_EVENT_CLOSED },
  { 'o', HK_EVENT_OPENED },
  { 'n', HK_EVENT_CLOSED_NO_WRITE },
};

static char *
absolute (const char *relative)
{
  if (relative[0] == '\0')
    return g_strdup (ROOT);
  return g_strconcat (ROOT "/", relative, NULL);
}

static const char *
relative (const char *path)
{
  if (path == NULL || !g_str_has_prefix (path, ROOT))
    return path;
  path += strlen (ROOT);
  return *path == '/' ? path + 1 : path;
}

static HkEvent *
parse_event (const char *item,
             gint64      timestamp)
{
  g_auto(GStrv) words = NULL;
  gboolean is_synthetic = FALSE;
  g_autofree char *path = NULL;
  g_autofree char *dest = NULL;
  char letter;

  if (item[0] == '~')
    {
      is_synthetic = TRUE;
      item++;
    }
  words = g_strsplit (item, " ", -1);
  g_assert_cmpuint (g_strv_length (words), >=, 2);
  letter = words[0][0];
  path = absolute (words[1]);
  if (words[2] != NULL)
    dest = absolute (words[2]);

  for (guint i = 0; i < G_N_ELEMENTS (letters); i++)
    if (g_ascii_tolower (letter) == letters[i].letter)
      return hk_event_new (letters[i].type, path, dest, g_ascii_isupper (letter),
                           is_synthetic, timestamp);

  g_error ("bad event “%s”", item);
  return NULL;
}

static GPtrArray *
parse_events (const char *text)
{
  GPtrArray *events = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
  g_auto(GStrv) items = NULL;

  if (text[0] == '\0')
    return events;

  items = g_strsplit (text, "; ", -1);
  for (guint i = 0; items[i] != NULL; i++)
    g_ptr_array_add (events, parse_event (items[i], i));

  return events;
}

static char *
format_events (GPtrArray *events)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);
      char letter = '?';

      for (guint j = 0; j < G_N_ELEMENTS (letters); j++)
        if (letters[j].type == hk_event_get_event_type (event))
          letter = letters[j].letter;
      if (hk_event_get_is_directory (event))
        letter = g_ascii_toupper (letter);

      g_string_append_printf (out, "%s%s%c %s", i > 0 ? "; " : "",
                              hk_event_get_is_synthetic (event) ? "~" : "",
                              letter, relative (hk_event_get_path (event)));
      if (hk_event_get_dest_path (event) != NULL)
        g_string_append_printf (out, " %s", relative (hk_event_get_dest_path (event)));
    }

  return g_string_free (out, FALSE);
}

static char *
coalesce (const char *raw)
{
  g_autoptr(GPtrArray) events = parse_events (raw);
  g_autoptr(GPtrArray) merged = NULL;
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);

  hk_coalescer_add (coalescer, events, 0);
  g_assert_cmpuint (hk_coalescer_get_n_pending (coalescer), <=, events->len);
  merged = hk_coalescer_take_all (coalescer);
  g_assert_cmpuint (hk_coalescer_get_n_pending (coalescer), ==, 0);
  hk_coalescer_free (coalescer);

  return format_events (merged);
}

/* --- the table ------------------------------------------------------------ */

typedef struct
{
  const char *name;
  const char *raw;
  const char *merged;
} Rule;

static const Rule rules[] = {
  /* Changes */
  { "modified-many-times", "w f; w f; w f; w f", "w f" },
  { "one-of-each-kind-latest-position", "w f; x f; a f; w f; x f", "a f; w f; x f" },
  { "closed-stays-after-modified", "x f; w f; x f", "w f; x f" },
  { "access-events", "o f; n f; o f; n f", "o f; n f" },
  { "different-files-stay-apart", "w f; w g; w f", "w g; w f" },
  { "directory-changes", "A d; W d; A d", "W d; A d" },
  { "changes-of-an-entry-follow-it", "w a; m a b; w b", "m a b; w b" },
  /* Creation */
  { "created-then-modified", "c f; w f; x f; a f", "c f" },
  { "created-then-deleted", "c f; w f; x f; d f", "" },
  { "created-deleted-created", "c f; d f; c f; w f", "c f" },
  { "deleted-then-created-stays", "d f; c f; w f", "d f; c f" },
  { "created-directory-with-contents-removed", "C d; ~c d/x; ~C d/s; ~c d/s/y; "
    "d d/s/y; D d/s; d d/x; D d", "" },
  { "created-directory-moved-out", "C d; ~c d/x; c d/y; D d", "" },
  /* Deletion */
  { "deleted-directory-absorbs-its-contents", "w d/x; d d/x; d d/s/y; D d/s; D d", "D d" },
  { "deleted-directory-absorbs-changes", "A d; w d/x; a d/s; D d", "D d" },
  { "deleted-file-absorbs-changes", "w f; x f; d f", "d f" },
  { "unrelated-deletions-stay", "d a; d b", "d a; d b" },
  { "sibling-with-common-prefix-stays", "d dx; D d", "d dx; D d" },
  { "moved-into-deleted-directory", "m x d/y; w d/y; D d", "d x; D d" },
  { "directory-moved-into-deleted-directory", "M s d/s; w d/s/f; D d", "D s; D d" },
  { "moved-then-deleted", "m a b; w b; d b", "d a" },
  { "moved-twice-then-deleted", "M a b; M b c; D c", "D a" },
  { "moved-out-of-deleted-directory-keeps-all", "m d/x y; d d/z; D d",
    "m d/x y; d d/z; D d" },
  /* Renames */
  { "rename-chain", "m a b; m b c", "m a c" },
  { "rename-chain-of-four", "m a b; m b c; m c d; m d e", "m a e" },
  { "directory-rename-chain", "M a b; M b c", "M a c" },
  { "rename-and-back", "m a b; m b a", "" },
  { "rename-and-back-keeps-changes", "m a b; w b; m b a", "w a" },
  { "rename-chain-keeps-changes", "m a b; w b; m b c", "m a c; w c" },
  { "rename-chain-repaths-contents", "M a b; w b/f; C b/s; M b c", "M a c; w c/f; C c/s" },
  { "rename-chain-through-busy-destination", "m a b; d c; m b c", "d c; m a c" },
  { "rename-chain-through-busy-source", "m a b; c a; d c; m b c", "m a b; c a; d c; m b c" },
  { "swap-through-temporary", "m a t; m b a; m t b", "m a t; m b a; m t b" },
  { "moves-are-never-delete-and-create", "m a b; M d e", "m a b; M d e" },
  { "replacing-move-is-kept", "w b; m a b; m b c", "w b; m a b; m b c" },
  /* Creation then move */
  { "created-then-moved", "c a; w a; m a b", "c b" },
  { "created-then-moved-twice", "c a; m a b; m b c", "c c" },
  { "created-moved-deleted", "c a; m a b; m b c; d c", "" },
  { "created-directory-then-moved", "C a; ~c a/x; C a/s; c a/s/y; M a b",
    "C b; ~c b/x; C b/s; c b/s/y" },
  { "created-then-moved-over-deleted", "d b; c a; w a; m a b", "d b; c b" },
  { "atomic-save", "c f.tmp; w f.tmp; x f.tmp; d f; m f.tmp f", "d f; c f" },
  { "created-into-new-directory", "c a; C d; m a d/a", "C d; c d/a" },
  { "created-into-moved-directory", "c a; M d e; m a e/a", "M d e; c e/a" },
  /* Parents moved */
  { "contents-follow-parent", "C d; c d/f; M d e; w e/f", "C e; c e/f" },
  { "events-under-moved-parent", "M d e; w e/f; M e g", "M d g; w g/f" },
  { "moved-out-of-new-directory", "C d; c d/f; m d/f g", "C d; c g" },
  /* Synthetic */
  { "synthetic-created-modified", "~c f; w f", "c f" },
  { "synthetic-created-synthetic-modified", "~c f; ~w f", "~c f" },
  { "synthetic-modified-twice", "~w f; w f", "w f" },
  { "synthetic-modified-then-real", "w f; ~w f", "w f" },
  { "synthetic-created-moved", "~c a; m a b", "c b" },
  /* Nothing to merge */
  { "empty", "", "" },
  { "root-changes", "A ; W ", "A ; W " },
};

static void
test_rule (gconstpointer data)
{
  const Rule *rule = data;
  g_autofree char *merged = coalesce (rule->raw);

  g_test_message ("raw:      %s", rule->raw);
  g_test_message ("merged:   %s", merged);
  g_test_message ("expected: %s", rule->merged);
  g_assert_cmpstr (merged, ==, rule->merged);
}

/* --- replay-consistency ----------------------------------------------- */

#define MAX_DEPTH 3

static const char * const names[] = { "a", "b", "c", "d", "e" };
static guint n_names = 4;
static guint max_steps = 40;

/* Random operations on a small tree, with the events the worker reports
 * for them: rm -rf reports the contents bottom-up, a directory moved in
 * from outside is created with its contents as synthetic creations, and a
 * replaced destination is deleted first. */
typedef struct
{
  GRand        *rand;
  HkReplayTree *tree;
  GPtrArray    *events;
  char         *last_moved;
} Gen;

static char *
join (const char *parent,
      const char *name)
{
  return parent[0] == '\0' ? g_strdup (name) : g_strconcat (parent, "/", name, NULL);
}

static guint
depth_of (const char *relative)
{
  guint depth = relative[0] != '\0';

  for (const char *p = relative; *p != '\0'; p++)
    depth += *p == '/';
  return depth;
}

static gboolean
is_within (const char *path,
           const char *ancestor)
{
  gsize len = strlen (ancestor);

  return strncmp (path, ancestor, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static void
emit (Gen         *gen,
      HkEventType  type,
      const char  *path,
      const char  *dest,
      gboolean     is_directory,
      gboolean     is_synthetic)
{
  g_autofree char *abs_path = absolute (path);
  g_autofree char *abs_dest = dest != NULL ? absolute (dest) : NULL;

  g_ptr_array_add (gen->events, hk_event_new (type, abs_path, abs_dest, is_directory,
                                              is_synthetic, gen->events->len));
}

static gboolean
gen_is_dir (Gen        *gen,
            const char *path)
{
  HkReplayKind kind;

  return path[0] == '\0' ||
         (hk_replay_tree_lookup (gen->tree, path, &kind) && kind == HK_REPLAY_KIND_DIR);
}

static char *
gen_pick (Gen      *gen,
          gboolean  dirs_only,
          gboolean  with_root)
{
  g_autoptr(GPtrArray) list = hk_replay_tree_list (gen->tree, dirs_only
                                                   ? HK_REPLAY_KIND_MASK (HK_REPLAY_KIND_DIR)
                                                   : HK_REPLAY_KIND_MASK_ALL);

  if (with_root)
    g_ptr_array_add (list, g_strdup (""));
  if (list->len == 0)
    return NULL;
  return g_strdup (g_ptr_array_index (list, g_rand_int_range (gen->rand, 0, list->len)));
}

static void
gen_create (Gen      *gen,
            gboolean  is_synthetic,
            int       levels)
{
  g_autofree char *parent = gen_pick (gen, TRUE, TRUE);
  g_autofree char *path = join (parent, names[g_rand_int_range (gen->rand, 0, n_names)]);
  gboolean is_dir = g_rand_boolean (gen->rand);

  if (depth_of (path) > MAX_DEPTH || hk_replay_tree_lookup (gen->tree, path, NULL))
    return;

  hk_replay_tree_insert (gen->tree, path, is_dir ? HK_REPLAY_KIND_DIR : HK_REPLAY_KIND_FILE);
  emit (gen, HK_EVENT_CREATED, path, NULL, is_dir, is_synthetic);

  /* A directory moved in from outside: its contents are found by a read. */
  if (is_dir && levels > 0 && g_rand_int_range (gen->rand, 0, 3) == 0)
    for (int i = g_rand_int_range (gen->rand, 0, 4); i > 0; i--)
      {
        g_autofree char *child = join (path, names[g_rand_int_range (gen->rand, 0, n_names)]);
        gboolean child_is_dir = g_rand_boolean (gen->rand);

        if (depth_of (child) > MAX_DEPTH || hk_replay_tree_lookup (gen->tree, child, NULL))
          continue;
        hk_replay_tree_insert (gen->tree, child,
                               child_is_dir ? HK_REPLAY_KIND_DIR : HK_REPLAY_KIND_FILE);
        emit (gen, HK_EVENT_CREATED, child, NULL, child_is_dir, TRUE);
      }
}

static void
gen_touch (Gen *gen)
{
  static const HkEventType types[] = {
    HK_EVENT_MODIFIED, HK_EVENT_ATTRIBUTE_CHANGED, HK_EVENT_CLOSED,
    HK_EVENT_OPENED, HK_EVENT_CLOSED_NO_WRITE,
  };
  g_autofree char *path = gen_pick (gen, FALSE, FALSE);

  if (path == NULL)
    return;
  emit (gen, types[g_rand_int_range (gen->rand, 0, G_N_ELEMENTS (types))], path, NULL,
        gen_is_dir (gen, path), g_rand_int_range (gen->rand, 0, 4) == 0);
}

static int
compare_deepest_first (gconstpointer a,
                       gconstpointer b)
{
  const char *pa = *(const char * const *) a;
  const char *pb = *(const char * const *) b;

  return (int) depth_of (pb) - (int) depth_of (pa);
}

static void
gen_delete (Gen *gen)
{
  g_autofree char *path = gen_pick (gen, FALSE, FALSE);
  gboolean is_dir;

  if (path == NULL)
    return;

  is_dir = gen_is_dir (gen, path);
  if (is_dir && g_rand_boolean (gen->rand))
    {
      /* rm -rf: the contents first, deepest first. */
      g_autoptr(GPtrArray) all = hk_replay_tree_list (gen->tree, HK_REPLAY_KIND_MASK_ALL);
      g_autoptr(GPtrArray) inside = g_ptr_array_new ();

      for (guint i = 0; i < all->len; i++)
        {
          const char *entry = g_ptr_array_index (all, i);

          if (is_within (entry, path) && strcmp (entry, path) != 0)
            g_ptr_array_add (inside, (gpointer) entry);
        }
      g_ptr_array_sort (inside, compare_deepest_first);
      for (guint i = 0; i < inside->len; i++)
        {
          const char *entry = g_ptr_array_index (inside, i);

          emit (gen, HK_EVENT_DELETED, entry, NULL, gen_is_dir (gen, entry), FALSE);
        }
    }

  emit (gen, HK_EVENT_DELETED, path, NULL, is_dir, FALSE);
  hk_replay_tree_remove_subtree (gen->tree, path);
}

static gboolean
is_empty_dir (Gen        *gen,
              const char *path)
{
  g_autoptr(GPtrArray) all = hk_replay_tree_list (gen->tree, HK_REPLAY_KIND_MASK_ALL);

  for (guint i = 0; i < all->len; i++)
    if (is_within (g_ptr_array_index (all, i), path) &&
        strcmp (g_ptr_array_index (all, i), path) != 0)
      return FALSE;
  return TRUE;
}

static void
gen_move (Gen *gen)
{
  g_autofree char *source = NULL;
  g_autofree char *parent = NULL;
  g_autofree char *dest = NULL;
  gboolean is_dir;

  /* Often the entry moved last: rename chains. */
  if (gen->last_moved != NULL && hk_replay_tree_lookup (gen->tree, gen->last_moved, NULL) &&
      g_rand_boolean (gen->rand))
    source = g_strdup (gen->last_moved);
  else
    source = gen_pick (gen, FALSE, FALSE);
  parent = gen_pick (gen, TRUE, TRUE);
  if (source == NULL)
    return;

  dest = join (parent, names[g_rand_int_range (gen->rand, 0, n_names)]);
  if (is_within (parent, source) || strcmp (dest, source) == 0 || depth_of (dest) > MAX_DEPTH)
    return;

  is_dir = gen_is_dir (gen, source);
  if (hk_replay_tree_lookup (gen->tree, dest, NULL))
    {
      /* rename(2) replaces a file by a file, or an empty directory by a
       * directory; the worker reports the replaced entry deleted first. */
      if (gen_is_dir (gen, dest) != is_dir || (is_dir && !is_empty_dir (gen, dest)))
        return;
      emit (gen, HK_EVENT_DELETED, dest, NULL, is_dir, FALSE);
      hk_replay_tree_remove_subtree (gen->tree, dest);
    }

  emit (gen, HK_EVENT_MOVED, source, dest, is_dir, FALSE);
  hk_replay_tree_move_subtree (gen->tree, source, dest);
  g_free (gen->last_moved);
  gen->last_moved = g_strdup (dest);
}

static void
gen_step (Gen *gen)
{
  switch (g_rand_int_range (gen->rand, 0, 10))
    {
    case 0:
    case 1:
      gen_create (gen, FALSE, 1);
      break;
    case 2:
    case 3:
      gen_touch (gen);
      break;
    case 4:
    case 5:
      gen_delete (gen);
      break;
    default:
      gen_move (gen);
      break;
    }
}

static HkReplayTree *
replay (HkReplayTree  *initial,
        GPtrArray     *events,
        GPtrArray    **anomalies)
{
  g_autoptr(HkReplayModel) model = hk_replay_model_new (ROOT, initial);

  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);
      HkReplayChange change;

      switch (hk_event_get_event_type (event))
        {
        case HK_EVENT_CREATED:
          change = HK_REPLAY_CHANGE_CREATE;
          break;
        case HK_EVENT_DELETED:
          change = HK_REPLAY_CHANGE_DELETE;
          break;
        case HK_EVENT_MOVED:
          change = HK_REPLAY_CHANGE_MOVE;
          break;
        default:
          change = HK_REPLAY_CHANGE_TOUCH;
          break;
        }
      hk_replay_model_apply (model, change, hk_event_get_path (event),
                             hk_event_get_dest_path (event), hk_event_get_is_directory (event));
    }

  *anomalies = hk_replay_model_get_anomalies (model);
  return hk_replay_tree_copy (hk_replay_model_get_tree (model));
}

static void
print_lines (const char *title,
             GPtrArray  *lines)
{
  g_printerr ("%s:\n", title);
  for (guint i = 0; i < lines->len; i++)
    g_printerr ("  %s\n", (const char *) g_ptr_array_index (lines, i));
}

/* Returns FALSE, after printing why, if the merged stream of one seed does
 * not replay to the tree the raw one gives. */
static gboolean
check_seed (guint32  seed,
            guint   *n_raw,
            guint   *n_merged)
{
  g_autoptr(HkReplayTree) initial = NULL;
  g_autoptr(HkReplayTree) raw_tree = NULL;
  g_autoptr(HkReplayTree) merged_tree = NULL;
  g_autoptr(GPtrArray) raw_anomalies = NULL;
  g_autoptr(GPtrArray) merged_anomalies = NULL;
  g_autoptr(GPtrArray) diff = NULL;
  g_autoptr(GPtrArray) merged = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);
  Gen gen = { 0 };
  guint n_steps;
  gboolean ok;

  gen.rand = g_rand_new_with_seed (seed);
  gen.tree = hk_replay_tree_new ();
  gen.events = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);

  for (int i = g_rand_int_range (gen.rand, 0, 12); i > 0; i--)
    gen_create (&gen, FALSE, 0);
  initial = hk_replay_tree_copy (gen.tree);
  g_ptr_array_set_size (gen.events, 0);

  n_steps = g_rand_int_range (gen.rand, 1, max_steps);
  for (guint i = 0; i < n_steps; i++)
    gen_step (&gen);

  /* Feed it in chunks, and close the window now and then. */
  for (guint i = 0; i < gen.events->len; )
    {
      g_autoptr(GPtrArray) chunk = g_ptr_array_new ();
      guint n = g_rand_int_range (gen.rand, 1, 6);

      for (; n > 0 && i < gen.events->len; n--, i++)
        g_ptr_array_add (chunk, g_ptr_array_index (gen.events, i));
      hk_coalescer_add (coalescer, chunk, 0);

      if (i == gen.events->len || g_rand_int_range (gen.rand, 0, 8) == 0)
        {
          g_autoptr(GPtrArray) taken = hk_coalescer_take_all (coalescer);

          for (guint j = 0; j < taken->len; j++)
            g_ptr_array_add (merged, hk_event_ref (g_ptr_array_index (taken, j)));
        }
    }
  hk_coalescer_free (coalescer);

  raw_tree = replay (initial, gen.events, &raw_anomalies);
  merged_tree = replay (initial, merged, &merged_anomalies);
  diff = hk_replay_tree_diff (raw_tree, merged_tree, HK_REPLAY_DIFF_DIRECTORIES);
  ok = raw_anomalies->len == 0 && merged_anomalies->len == 0 && diff->len == 0 &&
       merged->len <= gen.events->len;

  if (!ok)
    {
      g_autoptr(GPtrArray) before = hk_replay_tree_list (initial, HK_REPLAY_KIND_MASK_ALL);
      g_autofree char *raw_text = format_events (gen.events);
      g_autofree char *merged_text = format_events (merged);

      g_printerr ("seed %u\n", seed);
      print_lines ("initial tree", before);
      g_printerr ("raw:    %s\nmerged: %s\n", raw_text, merged_text);
      print_lines ("raw anomalies (a bug in the test)", raw_anomalies);
      print_lines ("merged anomalies", merged_anomalies);
      print_lines ("trees differ (raw vs merged)", diff);
    }

  *n_raw += gen.events->len;
  *n_merged += merged->len;
  g_ptr_array_unref (gen.events);
  hk_replay_tree_free (gen.tree);
  g_free (gen.last_moved);
  g_rand_free (gen.rand);

  return ok;
}

static void
test_replay_consistency (void)
{
  const char *only = g_getenv ("HK_COALESCER_SEED");
  const char *count = g_getenv ("HK_COALESCER_SEEDS");
  guint n_seeds = count != NULL ? (guint) atoi (count) : 3000;
  guint n_raw = 0, n_merged = 0, n_failed = 0;

  if (g_getenv ("HK_COALESCER_STEPS") != NULL)
    max_steps = MAX (2, atoi (g_getenv ("HK_COALESCER_STEPS")));
  if (g_getenv ("HK_COALESCER_NAMES") != NULL)
    n_names = CLAMP (atoi (g_getenv ("HK_COALESCER_NAMES")), 1, (int) G_N_ELEMENTS (names));

  if (only != NULL)
    {
      g_assert_true (check_seed ((guint32) atoi (only), &n_raw, &n_merged));
      return;
    }

  for (guint32 seed = 1; seed <= n_seeds && n_failed < 3; seed++)
    if (!check_seed (seed, &n_raw, &n_merged))
      n_failed++;

  g_test_message ("%u raw events, %u merged", n_raw, n_merged);
  g_assert_cmpuint (n_failed, ==, 0);
  g_assert_cmpuint (n_merged, <, n_raw);
}

/* --- scale ---------------------------------------------------------------- */

static void
add_one (HkCoalescer *coalescer,
         HkEvent     *event)
{
  g_autoptr(GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);

  g_ptr_array_add (events, event);
  hk_coalescer_add (coalescer, events, 0);
}

/* 100 000 pending events of each common shape; would take minutes if
 * anything were quadratic. */
static void
test_many_events (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);
  g_autoptr(GPtrArray) merged = NULL;
  gint64 start = g_get_monotonic_time ();
  const guint n = 100000;

  /* One file written over and over. */
  for (guint i = 0; i < n; i++)
    add_one (coalescer, hk_event_new (HK_EVENT_MODIFIED, ROOT "/log", NULL, FALSE, FALSE, i));
  g_assert_cmpuint (hk_coalescer_get_n_pending (coalescer), ==, 1);

  /* A directory copied in, with its contents, then renamed twice. */
  add_one (coalescer, hk_event_new (HK_EVENT_CREATED, ROOT "/copy", NULL, TRUE, FALSE, 0));
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf (ROOT "/copy/d%u/f%u", i % 100, i);

      if (i < 100)
        {
          g_autofree char *dir = g_strdup_printf (ROOT "/copy/d%u", i);

          add_one (coalescer, hk_event_new (HK_EVENT_CREATED, dir, NULL, TRUE, TRUE, i));
        }
      add_one (coalescer, hk_event_new (HK_EVENT_CREATED, path, NULL, FALSE, TRUE, i));
      add_one (coalescer, hk_event_new (HK_EVENT_MODIFIED, path, NULL, FALSE, FALSE, i));
    }
  add_one (coalescer, hk_event_new (HK_EVENT_MOVED, ROOT "/copy", ROOT "/tmp", TRUE, FALSE, 0));
  add_one (coalescer, hk_event_new (HK_EVENT_MOVED, ROOT "/tmp", ROOT "/final", TRUE, FALSE, 0));
  g_assert_cmpuint (hk_coalescer_get_n_pending (coalescer), ==, 1 + 1 + 100 + n);

  /* Many files, each created and changed, then the tree removed. */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *path = g_strdup_printf (ROOT "/old/f%u", i);

      add_one (coalescer, hk_event_new (HK_EVENT_ATTRIBUTE_CHANGED, path, NULL, FALSE, FALSE, i));
      add_one (coalescer, hk_event_new (HK_EVENT_DELETED, path, NULL, FALSE, FALSE, i));
    }
  add_one (coalescer, hk_event_new (HK_EVENT_DELETED, ROOT "/old", NULL, TRUE, FALSE, 0));

  merged = hk_coalescer_take_all (coalescer);
  g_assert_cmpuint (merged->len, ==, 1 + 1 + 100 + n + 1);
  g_assert_cmpstr (hk_event_get_path (g_ptr_array_index (merged, 1)), ==, ROOT "/final");
  g_assert_cmpstr (hk_event_get_path (g_ptr_array_index (merged, merged->len - 2)), ==,
                   ROOT "/final/d99/f99999");
  g_assert_cmpstr (hk_event_get_path (g_ptr_array_index (merged, merged->len - 1)), ==,
                   ROOT "/old");
  g_test_message ("%u raw events merged in %" G_GINT64_FORMAT " ms", 5 * n + 104,
                  (g_get_monotonic_time () - start) / 1000);
  hk_coalescer_free (coalescer);
}

/* --- the window ----------------------------------------------------------- */

#define MS(x) ((gint64) (x) * 1000)

static void
test_window_quiet (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);
  g_autoptr(GPtrArray) events = parse_events ("w f");
  g_autoptr(GPtrArray) early = NULL;
  g_autoptr(GPtrArray) ready = NULL;
  gint64 next;

  g_assert_cmpint (hk_coalescer_get_deadline (coalescer), ==, 0);
  hk_coalescer_add (coalescer, events, MS (1000));
  g_assert_cmpint (hk_coalescer_get_deadline (coalescer), ==, MS (1050));
  hk_coalescer_add (coalescer, events, MS (1040));
  g_assert_cmpint (hk_coalescer_get_deadline (coalescer), ==, MS (1090));

  early = hk_coalescer_take_ready (coalescer, MS (1089), &next);
  g_assert_cmpuint (early->len, ==, 0);
  g_assert_cmpint (next, ==, MS (1090));

  ready = hk_coalescer_take_ready (coalescer, MS (1090), &next);
  g_assert_cmpuint (ready->len, ==, 1);
  g_assert_cmpint (next, ==, 0);
  g_assert_cmpint (hk_coalescer_get_deadline (coalescer), ==, 0);
  hk_coalescer_free (coalescer);
}

/* Events every 10 ms with a latency of 100 ms and a maximum of 300 ms: the
 * window closes 300 ms after it opened, then a new one opens. */
static void
test_window_max_latency (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (100, 300);
  g_autoptr(GPtrArray) events = parse_events ("w f");
  GArray *flushes = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (gint64 t = 0; t <= MS (1500); t += MS (10))
    {
      g_autoptr(GPtrArray) ready = NULL;
      gint64 next;

      ready = hk_coalescer_take_ready (coalescer, t, &next);
      if (ready->len > 0)
        g_array_append_val (flushes, t);
      hk_coalescer_add (coalescer, events, t);
    }

  g_assert_cmpuint (flushes->len, ==, 5);
  g_assert_cmpint (g_array_index (flushes, gint64, 0), ==, MS (300));
  g_assert_cmpint (g_array_index (flushes, gint64, 1), ==, MS (600));
  g_array_unref (flushes);
  hk_coalescer_free (coalescer);
}

/* A max-latency below the latency is raised to it. */
static void
test_window_max_below_latency (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (200, 100);
  g_autoptr(GPtrArray) events = parse_events ("w f");

  hk_coalescer_add (coalescer, events, MS (10));
  g_assert_cmpint (hk_coalescer_get_deadline (coalescer), ==, MS (210));
  hk_coalescer_free (coalescer);
}

/* Everything merged away: the window still closes, with nothing. */
static void
test_window_all_merged (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);
  g_autoptr(GPtrArray) events = parse_events ("c f; d f");
  g_autoptr(GPtrArray) ready = NULL;
  gint64 next;

  hk_coalescer_add (coalescer, events, MS (0));
  g_assert_cmpuint (hk_coalescer_get_n_pending (coalescer), ==, 0);
  g_assert_cmpint (hk_coalescer_get_deadline (coalescer), ==, MS (50));
  ready = hk_coalescer_take_ready (coalescer, MS (50), &next);
  g_assert_cmpuint (ready->len, ==, 0);
  g_assert_cmpint (next, ==, 0);
  g_assert_cmpint (hk_coalescer_get_deadline (coalescer), ==, 0);
  hk_coalescer_free (coalescer);
}

/* Windows are independent: what was taken is not merged with what comes
 * next. */
static void
test_window_independent (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);
  g_autoptr(GPtrArray) first = parse_events ("c f");
  g_autoptr(GPtrArray) second = parse_events ("w f; d f");
  g_autoptr(GPtrArray) taken1 = NULL;
  g_autoptr(GPtrArray) taken2 = NULL;
  g_autofree char *text1 = NULL;
  g_autofree char *text2 = NULL;

  hk_coalescer_add (coalescer, first, 0);
  taken1 = hk_coalescer_take_all (coalescer);
  hk_coalescer_add (coalescer, second, 0);
  taken2 = hk_coalescer_take_all (coalescer);
  text1 = format_events (taken1);
  text2 = format_events (taken2);
  g_assert_cmpstr (text1, ==, "c f");
  g_assert_cmpstr (text2, ==, "d f");
  hk_coalescer_free (coalescer);
}

/* The events handed out are the very ones added when nothing merged. */
static void
test_events_kept (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);
  g_autoptr(GPtrArray) events = parse_events ("c a; w b; m c d");
  g_autoptr(GPtrArray) taken = NULL;

  hk_coalescer_add (coalescer, events, 0);
  taken = hk_coalescer_take_all (coalescer);
  g_assert_cmpuint (taken->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_true (g_ptr_array_index (taken, i) == g_ptr_array_index (events, i));
  hk_coalescer_free (coalescer);
}

/* The timestamp of a merged event is its first source's. */
static void
test_merged_timestamp (void)
{
  HkCoalescer *coalescer = hk_coalescer_new (50, 1000);
  g_autoptr(GPtrArray) events = parse_events ("m a b; w x; m b c");
  g_autoptr(GPtrArray) taken = NULL;

  hk_coalescer_add (coalescer, events, 0);
  taken = hk_coalescer_take_all (coalescer);
  g_assert_cmpuint (taken->len, ==, 2);
  g_assert_cmpint (hk_event_get_timestamp (g_ptr_array_index (taken, 0)), ==, 0);
  g_assert_cmpstr (hk_event_get_dest_path (g_ptr_array_index (taken, 0)), ==, ROOT "/c");
  hk_coalescer_free (coalescer);
}

/* --- through a watchdog --------------------------------------------------- */

typedef struct
{
  char       *root;
  HkWatchdog *watchdog;
  HkRecorder *recorder;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->root = hk_test_make_tmpdir ();
}

static void
fixture_start (Fixture *fixture,
               guint    latency,
               guint    max_latency)
{
  fixture->watchdog = hk_test_watchdog_new (fixture->root);
  hk_watchdog_set_latency (fixture->watchdog, latency);
  if (max_latency > 0)
    hk_watchdog_set_max_latency (fixture->watchdog, max_latency);
  fixture->recorder = hk_recorder_new (fixture->watchdog, fixture->root);
  hk_test_start (fixture->watchdog);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  if (fixture->watchdog != NULL)
    hk_watchdog_stop (fixture->watchdog);
  g_clear_pointer (&fixture->recorder, hk_recorder_free);
  g_clear_object (&fixture->watchdog);
  hk_test_rm_rf (fixture->root);
  g_free (fixture->root);
}

static void
append_to (const char *path)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "x", 1), ==, 1);
  close (fd);
}

/* Waits for @type on @relative, then a little longer so that anything
 * else that was coming shows up. */
static void
wait_then_settle (Fixture     *fixture,
                  HkEventType  type,
                  const char  *relative)
{
  if (!hk_recorder_wait_for (fixture->recorder, type, relative, 5000))
    {
      hk_recorder_dump (fixture->recorder);
      g_error ("no event for %s", relative);
    }
  hk_test_drain (200);
}

static void
test_watchdog_defaults (void)
{
  g_autoptr(GFile) file = g_file_new_for_path ("/");
  g_autoptr(HkWatchdog) watchdog = hk_watchdog_new (file);
  guint latency, max_latency;

  g_object_get (watchdog, "latency", &latency, "max-latency", &max_latency, NULL);
  g_assert_cmpuint (latency, ==, 0);
  g_assert_cmpuint (max_latency, ==, 1000);
}

static void
test_watchdog_modified_once (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autofree char *path = hk_test_path (fixture->root, "f");

  hk_test_write_file (path, "start");
  fixture_start (fixture, 50, 0);

  for (int i = 0; i < 20; i++)
    append_to (path);

  wait_then_settle (fixture, HK_EVENT_CLOSED, "f");
  hk_recorder_dump (fixture->recorder);
  g_assert_cmpuint (hk_recorder_count (fixture->recorder, HK_EVENT_MODIFIED, "f"), ==, 1);
  g_assert_cmpuint (hk_recorder_count (fixture->recorder, HK_EVENT_CLOSED, "f"), ==, 1);
  g_assert_cmpuint (fixture->recorder->events->len, ==, 2);
}

static void
test_watchdog_new_file_written (Fixture       *fixture,
                                gconstpointer  data)
{
  g_autofree char *path = hk_test_path (fixture->root, "f");

  fixture_start (fixture, 50, 0);

  for (int i = 0; i < 20; i++)
    append_to (path);

  wait_then_settle (fixture, HK_EVENT_CREATED, "f");
  hk_recorder_dump (fixture->recorder);
  g_assert_cmpuint (fixture->recorder->events->len, ==, 1);
}

static void
test_watchdog_created_deleted (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autofree char *path = hk_test_path (fixture->root, "tmp");
  g_autofree char *sentinel = hk_test_path (fixture->root, "sentinel");

  fixture_start (fixture, 50, 0);

  hk_test_write_file (path, "scratch");
  g_assert_cmpint (g_unlink (path), ==, 0);
  hk_test_write_file (sentinel, "");

  wait_then_settle (fixture, HK_EVENT_CREATED, "sentinel");
  hk_recorder_dump (fixture->recorder);
  g_assert_cmpuint (fixture->recorder->events->len, ==, 1);
}

static void
test_watchdog_rm_rf (Fixture       *fixture,
                     gconstpointer  data)
{
  const char * const dirs[] = { "d", "d/s", "d/s/t", "d/u" };
  const char * const files[] = { "d/a", "d/s/b", "d/s/t/c", "d/u/e", "d/u/f" };
  g_autofree char *top = hk_test_path (fixture->root, "d");

  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *path = hk_test_path (fixture->root, dirs[i]);

      g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
    }
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = hk_test_path (fixture->root, files[i]);

      hk_test_write_file (path, "x");
    }
  fixture_start (fixture, 50, 0);

  hk_test_rm_rf (top);

  wait_then_settle (fixture, HK_EVENT_DELETED, "d");
  hk_recorder_dump (fixture->recorder);
  g_assert_cmpuint (fixture->recorder->events->len, ==, 1);
}

static void
test_watchdog_rename_chain (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *a = hk_test_path (fixture->root, "a");
  g_autofree char *b = hk_test_path (fixture->root, "b");
  g_autofree char *c = hk_test_path (fixture->root, "c");

  hk_test_write_file (a, "x");
  fixture_start (fixture, 50, 0);

  g_assert_cmpint (g_rename (a, b), ==, 0);
  g_assert_cmpint (g_rename (b, c), ==, 0);

  wait_then_settle (fixture, HK_EVENT_MOVED, "a -> c");
  hk_recorder_dump (fixture->recorder);
  g_assert_cmpuint (fixture->recorder->events->len, ==, 1);
}

static void
test_watchdog_directory_moved_twice (Fixture       *fixture,
                                     gconstpointer  data)
{
  g_autofree char *a = hk_test_path (fixture->root, "a");
  g_autofree char *b = hk_test_path (fixture->root, "b");
  g_autofree char *c = hk_test_path (fixture->root, "c");
  g_autofree char *inside = hk_test_path (fixture->root, "b/f");

  g_assert_cmpint (g_mkdir (a, 0755), ==, 0);
  fixture_start (fixture, 50, 0);

  g_assert_cmpint (g_rename (a, b), ==, 0);
  hk_test_write_file (inside, "x");
  g_assert_cmpint (g_rename (b, c), ==, 0);

  wait_then_settle (fixture, HK_EVENT_MOVED, "a -> c");
  hk_recorder_dump (fixture->recorder);
  g_assert_true (hk_recorder_has (fixture->recorder, HK_EVENT_CREATED, "c/f"));
  g_assert_cmpuint (fixture->recorder->events->len, ==, 2);
}

typedef struct
{
  GMutex  lock;
  gint64  started;    /* monotonic µs of the first write */
  gint    stop;       /* atomic */
  char   *path;
} Writer;

static gpointer
writer_thread (gpointer data)
{
  Writer *writer = data;
  gint64 end;

  g_mutex_lock (&writer->lock);
  writer->started = g_get_monotonic_time ();
  g_mutex_unlock (&writer->lock);

  end = writer->started + 1500 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < end && !g_atomic_int_get (&writer->stop))
    {
      append_to (writer->path);
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);   /* the workload's pace */
    }

  return NULL;
}

typedef struct
{
  GArray *times;   /* gint64: when each batch came */
} Batches;

static void
on_batch_time (HkWatchdog *watchdog,
               GPtrArray  *events,
               Batches    *batches)
{
  gint64 now = g_get_monotonic_time ();

  g_array_append_val (batches->times, now);
}

static gboolean
has_batches (gpointer data)
{
  Batches *batches = data;

  return batches->times->len >= 2;
}

/* A writer every 10 ms for 1.5 s never lets the window be quiet for the
 * 100 ms latency: the max-latency of 300 ms must flush it anyway. */
static void
test_watchdog_continuous_writer (Fixture       *fixture,
                                 gconstpointer  data)
{
  Batches batches = { g_array_new (FALSE, FALSE, sizeof (gint64)) };
  Writer writer = { 0 };
  GThread *thread;
  gint64 first_delay;

  writer.path = hk_test_path (fixture->root, "f");
  hk_test_write_file (writer.path, "");
  fixture_start (fixture, 100, 300);
  g_signal_connect (fixture->watchdog, "batch", G_CALLBACK (on_batch_time), &batches);

  g_mutex_init (&writer.lock);
  thread = g_thread_new ("writer", writer_thread, &writer);
  g_assert_true (hk_test_wait_until (has_batches, &batches, 5000));
  g_atomic_int_set (&writer.stop, 1);
  g_thread_join (thread);

  g_mutex_lock (&writer.lock);
  first_delay = g_array_index (batches.times, gint64, 0) - writer.started;
  g_mutex_unlock (&writer.lock);
  g_test_message ("first batch %" G_GINT64_FORMAT " ms after the first write, "
                  "second %" G_GINT64_FORMAT " ms", first_delay / 1000,
                  (g_array_index (batches.times, gint64, 1) - writer.started) / 1000);
  /* 300 ms, with room for a loaded machine; without the max-latency the
   * first batch would only come after the writer stops, at 1.6 s. */
  g_assert_cmpint (first_delay, <, 1000 * G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (hk_recorder_count (fixture->recorder, HK_EVENT_MODIFIED, "f"), >=, 1);

  g_mutex_clear (&writer.lock);
  g_free (writer.path);
  g_array_unref (batches.times);
}

typedef struct
{
  GPtrArray *batch;     /* the last batch */
  guint      n_batches;
  guint      n_events;
  gboolean   out_of_order;
} BatchOrder;

static void
on_batch (HkWatchdog *watchdog,
          GPtrArray  *events,
          BatchOrder *order)
{
  /* Every event of the previous batch was emitted before this one. */
  if (order->batch != NULL && order->batch->len > 0)
    order->out_of_order = TRUE;
  g_clear_pointer (&order->batch, g_ptr_array_unref);
  order->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
  for (guint i = 0; i < events->len; i++)
    g_ptr_array_add (order->batch, hk_event_ref (g_ptr_array_index (events, i)));
  order->n_batches++;
}

static void
on_batch_event (HkWatchdog *watchdog,
                HkEvent    *event,
                BatchOrder *order)
{
  /* Comes after its batch, in the batch's order. */
  if (order->batch == NULL || order->batch->len == 0 ||
      g_ptr_array_index (order->batch, 0) != event)
    order->out_of_order = TRUE;
  else
    g_ptr_array_remove_index (order->batch, 0);
  order->n_events++;
}

static void
test_watchdog_batch_order (Fixture       *fixture,
                           gconstpointer  data)
{
  guint latency = GPOINTER_TO_UINT (data);
  BatchOrder order = { 0 };

  fixture_start (fixture, latency, 0);
  g_signal_connect (fixture->watchdog, "batch", G_CALLBACK (on_batch), &order);
  g_signal_connect (fixture->watchdog, "event", G_CALLBACK (on_batch_event), &order);

  for (int i = 0; i < 5; i++)
    {
      g_autofree char *name = g_strdup_printf ("f%d", i);
      g_autofree char *path = hk_test_path (fixture->root, name);

      hk_test_write_file (path, "x");
    }

  wait_then_settle (fixture, HK_EVENT_CREATED, "f4");
  g_assert_false (order.out_of_order);
  g_assert_cmpuint (order.n_batches, >=, 1);
  g_assert_cmpuint (order.n_events, ==, fixture->recorder->events->len);
  g_assert_cmpuint (order.batch->len, ==, 0);
  if (latency > 0)
    {
      /* Merged: one creation per file, all in one window. */
      g_assert_cmpuint (order.n_events, ==, 5);
      g_assert_cmpuint (order.n_batches, ==, 1);
    }
  g_clear_pointer (&order.batch, g_ptr_array_unref);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (rules); i++)
    {
      g_autofree char *path = g_strdup_printf ("/coalescer/rule/%s", rules[i].name);

      g_test_add_data_func (path, &rules[i], test_rule);
    }
  g_test_add_func ("/coalescer/replay-consistency", test_replay_consistency);
  g_test_add_func ("/coalescer/many-events", test_many_events);
  g_test_add_func ("/coalescer/window/quiet", test_window_quiet);
  g_test_add_func ("/coalescer/window/max-latency", test_window_max_latency);
  g_test_add_func ("/coalescer/window/max-below-latency", test_window_max_below_latency);
  g_test_add_func ("/coalescer/window/all-merged", test_window_all_merged);
  g_test_add_func ("/coalescer/window/independent", test_window_independent);
  g_test_add_func ("/coalescer/events-kept", test_events_kept);
  g_test_add_func ("/coalescer/merged-timestamp", test_merged_timestamp);

  g_test_add_func ("/coalescer/watchdog/defaults", test_watchdog_defaults);
#define ADD(path, func, data) \
  g_test_add ("/coalescer/watchdog/" path, Fixture, data, fixture_set_up, func, fixture_tear_down)
  ADD ("modified-once", test_watchdog_modified_once, NULL);
  ADD ("new-file-written", test_watchdog_new_file_written, NULL);
  ADD ("created-deleted", test_watchdog_created_deleted, NULL);
  ADD ("rm-rf", test_watchdog_rm_rf, NULL);
  ADD ("rename-chain", test_watchdog_rename_chain, NULL);
  ADD ("directory-moved-twice", test_watchdog_directory_moved_twice, NULL);
  ADD ("continuous-writer", test_watchdog_continuous_writer, NULL);
  ADD ("batch-order/latency-0", test_watchdog_batch_order, GUINT_TO_POINTER (0));
  ADD ("batch-order/latency-50", test_watchdog_batch_order, GUINT_TO_POINTER (50));
#undef ADD

  return g_test_run ();
}
