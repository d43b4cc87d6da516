/* hk-coalescer.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The coalescer holds the events of one window and merges those about the
 * same entry. docs/coalescing.md states the rules; this says how they are
 * implemented.
 *
 * Whatever it merges, the stream stays *replay-consistent*: applying the
 * merged events to the tree as it was before the window gives the same
 * tree as applying the raw ones. Every merge below keeps that true, and
 * when one cannot be proved safe the raw event is kept instead.
 *
 * The pending events are `slots`, in arrival order; an event merged away
 * leaves an empty slot, so positions never shift. Some merges rewrite an
 * earlier slot: a rename chain a -> b -> c becomes one move a -> c at the
 * position of the first rename.
 *
 * To know which events are about the same entry, the coalescer keeps a
 * tree of *entries* (Node) that mirrors what the events said, keyed by
 * current path. An entry is an identity: a move re-attaches it, with
 * everything below it, under its new parent. Each entry remembers the slots
 * about itself (`own`) and every child it had during the window with the
 * time span it was there (`links`). Walking an entry's history thus finds
 * every pending event about anything that was inside it at the time, and
 * how many path components lie below the entry in that event's path, which
 * is all a re-path needs.
 *
 * Time: the event in slot k happens between the half-times 2k ("before":
 * the source of a move, a deletion, a change) and 2k + 1 ("after": the
 * destination of a move, a creation).
 *
 * A merge that moves an entry to a new path from an earlier position is
 * only valid if nothing happened at that path or above it in between:
 * `stamps` maps each path to the last slot with a created, deleted or moved
 * event exactly there. Since the worker reports a created path and the
 * destination of a move as vacant (a replaced destination is reported
 * deleted first), anything that happened *below* the new path meanwhile
 * shows up as such an event at the path itself.
 */

#include "config.h"

#include <string.h>

#include "hk-coalescer-private.h"
#include "hk-event-private.h"

#define N_TOUCH_KINDS 5
#define NO_SLOT       G_MAXUINT
#define FOREVER       G_MAXINT64
#define ALWAYS        G_MININT64
#define BEFORE(k)     ((gint64) (k) * 2)
#define AFTER(k)      ((gint64) (k) * 2 + 1)

typedef enum
{
  SIDE_PATH = 1 << 0,  /* the event's path */
  SIDE_DEST = 1 << 1,  /* a move's destination */
} Side;

typedef struct _Node Node;

typedef struct
{
  Node   *child;
  gint64  from;   /* half-time it came here, inclusive */
  gint64  until;  /* half-time it left, exclusive */
} Link;

typedef struct
{
  Node  *parent;
  guint  link;    /* index in parent->links */
} Place;

struct _Node
{
  Node       *parent;    /* where it is now; NULL once gone */
  char       *name;
  GArray     *places;    /* Place: where it was in the window, in order */
  GHashTable *children;  /* name -> Node: what is there now */
  GArray     *links;     /* Link: everything that was there in the window */
  GArray     *own;       /* guint: the slots about this entry itself */
  guint       arrival;   /* live CREATED or MOVED that put it here */
  guint       created;   /* its CREATED, when it is new */
  guint       touches[N_TOUCH_KINDS];  /* its latest change of each kind */
};

typedef struct
{
  HkEvent *event;      /* NULL once merged away */
  Node    *node;       /* the entry it is about */
  guint    visit;      /* the last walk that saw it */
  guint8   sides;      /* what that walk saw of it */
  guint8   replaces;   /* it landed on an entry that was there */
} Slot;

typedef struct
{
  guint slot;
  guint depth;         /* path components below the walked entry */
  Side  side;
} Visit;

struct _HkCoalescer
{
  GArray     *slots;         /* Slot, in arrival order */
  guint       n_live;
  Node       *root;          /* "/" */
  GPtrArray  *nodes;         /* every Node of the window */
  GHashTable *stamps;        /* path -> 1 + last structural slot there */
  guint       visit;
  gint64      first_added;   /* when the window opened */
  gint64      last_added;
  gint64      latency;       /* µs */
  gint64      max_latency;   /* µs */
};

/* --- paths ---------------------------------------------------------------- */

/* "/a//b/" -> "/a/b": the form used as key and for comparisons. */
static char *
canonical (const char *path)
{
  GString *out = g_string_sized_new (strlen (path) + 1);
  const char *p = path;

  while (*p != '\0')
    {
      const char *end;

      while (*p == '/')
        p++;
      if (*p == '\0')
        break;
      end = strchr (p, '/');
      if (end == NULL)
        end = p + strlen (p);
      g_string_append_c (out, '/');
      g_string_append_len (out, p, end - p);
      p = end;
    }

  if (out->len == 0)
    g_string_append_c (out, '/');
  return g_string_free (out, FALSE);
}

static gboolean
same_path (const char *a,
           const char *b)
{
  g_autofree char *ca = canonical (a);
  g_autofree char *cb = canonical (b);

  return strcmp (ca, cb) == 0;
}

/* @prefix followed by the last @depth components of @path. */
static char *
replace_prefix (const char *path,
                guint       depth,
                const char *prefix)
{
  const char *end = path + strlen (path);
  const char *p;

  if (depth == 0)
    return g_strdup (prefix);

  while (end > path && end[-1] == '/')
    end--;
  p = end;
  for (guint i = 0; i < depth && p > path; i++)
    {
      while (p > path && p[-1] == '/')
        p--;
      while (p > path && p[-1] != '/')
        p--;
    }

  return g_strdup_printf ("%s/%.*s", prefix, (int) (end - p), p);
}

/* --- slots ---------------------------------------------------------------- */

static inline Slot *
get_slot (HkCoalescer *self,
          guint        k)
{
  return &g_array_index (self->slots, Slot, k);
}

static gboolean
is_live (HkCoalescer *self,
         guint        k)
{
  return k != NO_SLOT && get_slot (self, k)->event != NULL;
}

static HkEventType
slot_type (HkCoalescer *self,
           guint        k)
{
  return hk_event_get_event_type (get_slot (self, k)->event);
}

static gboolean
is_structural (HkEventType type)
{
  return type == HK_EVENT_CREATED || type == HK_EVENT_DELETED || type == HK_EVENT_MOVED;
}

/* A rewritten slot is stamped again: a stamp only ever grows. */
static void
stamp (HkCoalescer *self,
       const char  *path,
       guint        k)
{
  char *key = canonical (path);
  guint stamped = GPOINTER_TO_UINT (g_hash_table_lookup (self->stamps, key));

  if (stamped >= k + 1)
    {
      g_free (key);
      return;
    }
  g_hash_table_replace (self->stamps, key, GUINT_TO_POINTER (k + 1));
}

static void
stamp_event (HkCoalescer *self,
             guint        k)
{
  HkEvent *event = get_slot (self, k)->event;

  if (!is_structural (hk_event_get_event_type (event)))
    return;
  stamp (self, hk_event_get_path (event), k);
  if (hk_event_get_dest_path (event) != NULL)
    stamp (self, hk_event_get_dest_path (event), k);
}

/* Whether a created, deleted or moved event happened at @path, or above
 * it, after slot @since. */
static gboolean
conflicts (HkCoalescer *self,
           const char  *path,
           guint        since)
{
  g_autofree char *key = canonical (path);

  for (char *p = key + 1; ; p++)
    {
      char c = *p;
      guint stamped;

      if (c != '/' && c != '\0')
        continue;

      *p = '\0';
      stamped = GPOINTER_TO_UINT (g_hash_table_lookup (self->stamps, key));
      *p = c;
      if (stamped > since + 1)
        return TRUE;
      if (c == '\0')
        return FALSE;
    }
}

static void
own_add (Node  *node,
         guint  k)
{
  if (node->own == NULL)
    node->own = g_array_new (FALSE, FALSE, sizeof (guint));
  g_array_append_val (node->own, k);
}

/* Takes @event. */
static guint
append (HkCoalescer *self,
        HkEvent     *event,
        Node        *node)
{
  Slot slot = { event, node, 0, 0, FALSE };
  guint k = self->slots->len;

  g_array_append_val (self->slots, slot);
  self->n_live++;
  own_add (node, k);
  stamp_event (self, k);

  return k;
}

static void
drop (HkCoalescer *self,
      guint        k)
{
  Slot *slot = get_slot (self, k);

  if (slot->event == NULL)
    return;
  g_clear_pointer (&slot->event, hk_event_unref);
  self->n_live--;
}

/* Takes @event. */
static void
replace (HkCoalescer *self,
         guint        k,
         HkEvent     *event)
{
  Slot *slot = get_slot (self, k);

  hk_event_unref (slot->event);
  slot->event = event;
  stamp_event (self, k);
}

/* A copy of @event with other fields; takes @path and @dest_path. */
static HkEvent *
rewrite (HkEvent     *event,
         HkEventType  event_type,
         char        *path,
         char        *dest_path,
         gboolean     is_synthetic)
{
  HkEvent *copy = hk_event_new_take (event_type, path, dest_path,
                                     hk_event_get_is_directory (event), is_synthetic,
                                     hk_event_get_timestamp (event));

  hk_event_set_pid (copy, hk_event_get_pid (event));
  return copy;
}

/* A merged event is synthetic only if every event merged into it was. */
static void
merge_synthetic (HkCoalescer *self,
                 guint        k,
                 HkEvent     *other)
{
  HkEvent *event = get_slot (self, k)->event;

  if (hk_event_get_is_synthetic (other) || !hk_event_get_is_synthetic (event))
    return;
  replace (self, k, rewrite (event, hk_event_get_event_type (event),
                             g_strdup (hk_event_get_path (event)),
                             g_strdup (hk_event_get_dest_path (event)),
                             FALSE));
}

/* --- entries -------------------------------------------------------------- */

static void
node_free (Node *node)
{
  g_clear_pointer (&node->children, g_hash_table_unref);
  g_clear_pointer (&node->links, g_array_unref);
  g_clear_pointer (&node->own, g_array_unref);
  g_clear_pointer (&node->places, g_array_unref);
  g_free (node->name);
  g_free (node);
}

static Node *
node_new (HkCoalescer *self,
          const char  *name)
{
  Node *node = g_new0 (Node, 1);

  node->name = g_strdup (name);
  node->arrival = NO_SLOT;
  node->created = NO_SLOT;
  for (guint i = 0; i < N_TOUCH_KINDS; i++)
    node->touches[i] = NO_SLOT;
  g_ptr_array_add (self->nodes, node);

  return node;
}

static void
node_attach (Node       *node,
             Node       *parent,
             const char *name,
             gint64      from)
{
  Link link = { node, from, FOREVER };
  Place place = { parent, 0 };

  g_assert (node->parent == NULL);

  if (strcmp (node->name, name) != 0)
    {
      g_free (node->name);
      node->name = g_strdup (name);
    }
  if (parent->children == NULL)
    parent->children = g_hash_table_new (g_str_hash, g_str_equal);
  if (parent->links == NULL)
    parent->links = g_array_new (FALSE, FALSE, sizeof (Link));
  if (node->places == NULL)
    node->places = g_array_new (FALSE, FALSE, sizeof (Place));

  node->parent = parent;
  place.link = parent->links->len;
  g_array_append_val (parent->links, link);
  g_array_append_val (node->places, place);
  g_hash_table_insert (parent->children, node->name, node);
}

/* The entry leaves its parent at half-time @until. */
static void
node_detach (Node   *node,
             gint64  until)
{
  Node *parent = node->parent;
  Place *place;

  node->parent = NULL;
  /* A deleted parent forgets its history (see on_deleted()). */
  if (parent == NULL || parent->links == NULL)
    return;

  place = &g_array_index (node->places, Place, node->places->len - 1);
  g_array_index (parent->links, Link, place->link).until = until;
  if (g_hash_table_lookup (parent->children, node->name) == node)
    g_hash_table_remove (parent->children, node->name);
}

/* Detaches the entry and rewrites its history as if it had not been
 * anywhere since the half-time @since. */
static void
node_erase_since (Node   *node,
                  gint64  since)
{
  node_detach (node, FOREVER);

  for (guint i = node->places != NULL ? node->places->len : 0; i > 0; i--)
    {
      Place *place = &g_array_index (node->places, Place, i - 1);
      Link *link;

      /* A deleted parent forgets its history (see on_deleted()). */
      if (place->parent->links == NULL)
        continue;
      link = &g_array_index (place->parent->links, Link, place->link);
      if (link->from < since)
        break;
      link->until = link->from;
    }
}

static Node *
child_of (Node       *parent,
          const char *name)
{
  return parent->children != NULL ? g_hash_table_lookup (parent->children, name) : NULL;
}

/* The entry at @path now. Missing ones are added as entries that were
 * there all along: an event names a path only while it exists. Returns the
 * parent of @path instead when @basename is given, and sets it to the last
 * component (NULL for the root). */
static Node *
lookup (HkCoalescer  *self,
        const char   *path,
        char        **basename)
{
  g_autofree char *copy = g_strdup (path);
  g_autofree char *last = NULL;
  Node *node = self->root;
  char *saveptr = NULL;
  char *name = strtok_r (copy, "/", &saveptr);

  while (name != NULL)
    {
      char *next = strtok_r (NULL, "/", &saveptr);
      Node *child;

      if (next == NULL && basename != NULL)
        {
          last = g_strdup (name);
          break;
        }

      child = child_of (node, name);
      if (child == NULL)
        {
          child = node_new (self, name);
          node_attach (child, node, name, ALWAYS);
        }
      node = child;
      name = next;
    }

  if (basename != NULL)
    *basename = g_steal_pointer (&last);
  return node;
}

static gboolean
is_within (Node *node,
           Node *ancestor)
{
  for (; node != NULL; node = node->parent)
    if (node == ancestor)
      return TRUE;
  return FALSE;
}

/* The latest live CREATED or MOVED about @node. */
static guint
find_arrival (HkCoalescer *self,
              Node        *node)
{
  for (guint i = node->own != NULL ? node->own->len : 0; i > 0; i--)
    {
      guint k = g_array_index (node->own, guint, i - 1);

      if (is_live (self, k) && slot_type (self, k) != HK_EVENT_DELETED &&
          is_structural (slot_type (self, k)))
        return k;
    }
  return NO_SLOT;
}

/* --- walking an entry's history ------------------------------------------- */

static void
add_visit (GArray *visits,
           guint   k,
           Side    side,
           guint   depth)
{
  Visit visit = { k, depth, side };

  g_array_append_val (visits, visit);
}

/* Every pending event about @node or something inside it, between the
 * half-times @from and @until. */
static void
walk (HkCoalescer *self,
      Node        *node,
      gint64       from,
      gint64       until,
      guint        depth,
      GArray      *visits)
{
  if (node->own != NULL)
    {
      guint kept = 0;

      for (guint i = 0; i < node->own->len; i++)
        {
          guint k = g_array_index (node->own, guint, i);
          HkEventType type;
          gint64 at;

          if (!is_live (self, k))
            continue;
          g_array_index (node->own, guint, kept++) = k;

          type = slot_type (self, k);
          at = type == HK_EVENT_CREATED ? AFTER (k) : BEFORE (k);
          if (from <= at && at < until)
            add_visit (visits, k, SIDE_PATH, depth);
          if (type == HK_EVENT_MOVED && from <= AFTER (k) && AFTER (k) < until)
            add_visit (visits, k, SIDE_DEST, depth);
        }
      g_array_set_size (node->own, kept);
    }

  if (node->links == NULL)
    return;

  for (guint i = 0; i < node->links->len; i++)
    {
      Link link = g_array_index (node->links, Link, i);
      gint64 link_from = MAX (from, link.from);
      gint64 link_until = MIN (until, link.until);

      if (link_from < link_until)
        walk (self, link.child, link_from, link_until, depth + 1, visits);
    }
}

/* Rewrites the paths the visits point at so that @prefix replaces what
 * was the walked entry's path. */
static void
repath (HkCoalescer *self,
        GArray      *visits,
        const char  *prefix,
        guint        skip)
{
  for (guint i = 0; i < visits->len; i++)
    {
      Visit *visit = &g_array_index (visits, Visit, i);
      HkEvent *event = get_slot (self, visit->slot)->event;
      const char *path = hk_event_get_path (event);
      const char *dest = hk_event_get_dest_path (event);

      if (visit->slot == skip)
        continue;

      if (visit->side == SIDE_PATH)
        replace (self, visit->slot,
                 rewrite (event, hk_event_get_event_type (event),
                          replace_prefix (path, visit->depth, prefix), g_strdup (dest),
                          hk_event_get_is_synthetic (event)));
      else
        replace (self, visit->slot,
                 rewrite (event, hk_event_get_event_type (event),
                          g_strdup (path), replace_prefix (dest, visit->depth, prefix),
                          hk_event_get_is_synthetic (event)));
    }
}

/* Moves @node to @dest, as if it had been there since it arrived where it
 * is: every pending event about it, or inside it, since then follows. The
 * slot @skip is left alone. */
static void
move_since_arrival (HkCoalescer *self,
                    Node        *node,
                    Node        *parent,
                    const char  *name,
                    const char  *dest,
                    guint        skip)
{
  g_autoptr(GArray) visits = g_array_new (FALSE, FALSE, sizeof (Visit));
  gint64 since = AFTER (node->arrival);

  walk (self, node, since, FOREVER, 0, visits);
  repath (self, visits, dest, skip);
  node_erase_since (node, since);
  node_attach (node, parent, name, since);
}

/* --- the rules ------------------------------------------------------------ */

static int
touch_kind (HkEventType type)
{
  switch (type)
    {
    case HK_EVENT_MODIFIED:          return 0;
    case HK_EVENT_ATTRIBUTE_CHANGED: return 1;
    case HK_EVENT_CLOSED:            return 2;
    case HK_EVENT_OPENED:            return 3;
    case HK_EVENT_CLOSED_NO_WRITE:   return 4;
    case HK_EVENT_CREATED:
    case HK_EVENT_DELETED:
    case HK_EVENT_MOVED:
    default:                         return -1;
    }
}

/* Modified, attribute-changed, closed, opened, closed-no-write: nothing
 * for an entry created in the window, else one of each kind per entry, at
 * the position of the latest. */
static void
on_touched (HkCoalescer *self,
            HkEvent     *event)
{
  Node *node = lookup (self, hk_event_get_path (event), NULL);
  int kind = touch_kind (hk_event_get_event_type (event));
  gboolean is_synthetic = hk_event_get_is_synthetic (event);
  guint previous;

  g_return_if_fail (kind >= 0);

  previous = node->touches[kind];
  if (is_live (self, node->created))
    {
      merge_synthetic (self, node->created, event);
      return;
    }

  if (is_live (self, previous))
    {
      is_synthetic = is_synthetic && hk_event_get_is_synthetic (get_slot (self, previous)->event);
      drop (self, previous);
    }

  if (is_synthetic == hk_event_get_is_synthetic (event))
    event = hk_event_ref (event);
  else
    event = rewrite (event, hk_event_get_event_type (event),
                     g_strdup (hk_event_get_path (event)), NULL, is_synthetic);
  node->touches[kind] = append (self, event, node);
}

static void
on_created (HkCoalescer *self,
            HkEvent     *event)
{
  g_autofree char *name = NULL;
  Node *parent = lookup (self, hk_event_get_path (event), &name);
  Node *there, *node;
  guint k;

  if (name == NULL)
    {
      append (self, hk_event_ref (event), parent);
      return;
    }

  there = child_of (parent, name);
  node = node_new (self, name);
  k = append (self, hk_event_ref (event), node);
  if (there != NULL)
    {
      get_slot (self, k)->replaces = TRUE;
      node_detach (there, AFTER (k));
    }
  node_attach (node, parent, name, AFTER (k));
  node->arrival = k;
  node->created = k;
}

/* The same merges at the position of the last move, for when the
 * destination was busy in between: possible if nothing else is pending
 * about the entry since it arrived and, for a move, if its source stayed
 * free. */
static gboolean
merge_move_late (HkCoalescer *self,
                 Node        *node,
                 HkEvent     *event,
                 Node        *parent,
                 const char  *name)
{
  g_autoptr(GArray) visits = g_array_new (FALSE, FALSE, sizeof (Visit));
  const char *dest = hk_event_get_dest_path (event);
  guint arrival = node->arrival;
  HkEvent *first = get_slot (self, arrival)->event;
  gboolean is_synthetic = hk_event_get_is_synthetic (first) && hk_event_get_is_synthetic (event);
  gboolean is_move = hk_event_get_event_type (first) == HK_EVENT_MOVED;
  HkEvent *merged;
  guint k;

  walk (self, node, AFTER (arrival), FOREVER, 0, visits);
  for (guint i = 0; i < visits->len; i++)
    if (g_array_index (visits, Visit, i).slot != arrival)
      return FALSE;
  if (is_move && conflicts (self, hk_event_get_path (first), arrival))
    return FALSE;

  if (is_move)
    merged = rewrite (first, HK_EVENT_MOVED, g_strdup (hk_event_get_path (first)),
                      g_strdup (dest), is_synthetic);
  else
    merged = rewrite (first, HK_EVENT_CREATED, g_strdup (dest), NULL, is_synthetic);

  node_erase_since (node, AFTER (arrival));
  drop (self, arrival);
  k = append (self, merged, node);
  if (is_move)
    {
      /* It stayed where it was until now. */
      g_autofree char *source_name = NULL;
      Node *source_parent = lookup (self, hk_event_get_path (merged), &source_name);

      node_attach (node, source_parent, source_name, AFTER (arrival));
      node_detach (node, AFTER (k));
    }
  else
    node->created = k;
  node_attach (node, parent, name, AFTER (k));
  node->arrival = k;

  return TRUE;
}

/* created a, moved a -> b: created b. Moved a -> b, moved b -> c: moved
 * a -> c, or nothing when c is a. At the position of the first event, with
 * every pending event about the entry since then following it. */
static gboolean
merge_move (HkCoalescer *self,
            Node        *node,
            HkEvent     *event,
            Node        *parent,
            const char  *name)
{
  const char *dest = hk_event_get_dest_path (event);
  guint arrival = node->arrival;
  HkEvent *first;

  if (!is_live (self, arrival) || get_slot (self, arrival)->replaces)
    return FALSE;
  if (conflicts (self, dest, arrival))
    return merge_move_late (self, node, event, parent, name);

  first = get_slot (self, arrival)->event;
  if (hk_event_get_event_type (first) == HK_EVENT_MOVED &&
      same_path (hk_event_get_path (first), dest))
    {
      move_since_arrival (self, node, parent, name, dest, arrival);
      drop (self, arrival);
      node->arrival = find_arrival (self, node);
      return TRUE;
    }

  move_since_arrival (self, node, parent, name, dest, NO_SLOT);
  merge_synthetic (self, arrival, event);
  return TRUE;
}

static void
on_moved (HkCoalescer *self,
          HkEvent     *event)
{
  const char *dest = hk_event_get_dest_path (event);
  g_autofree char *name = NULL;
  Node *node, *parent, *there;
  guint k;

  node = lookup (self, hk_event_get_path (event), NULL);
  if (dest == NULL || node == self->root)
    {
      append (self, hk_event_ref (event), node);
      return;
    }

  parent = lookup (self, dest, &name);
  there = name != NULL ? child_of (parent, name) : NULL;
  if (name == NULL || there == node || is_within (parent, node))
    {
      /* Not something the kernel reports; passed on as it is. */
      append (self, hk_event_ref (event), node);
      return;
    }

  if (there == NULL && merge_move (self, node, event, parent, name))
    return;

  k = append (self, hk_event_ref (event), node);
  if (there != NULL)
    {
      get_slot (self, k)->replaces = TRUE;
      node_detach (there, AFTER (k));
    }
  node_detach (node, AFTER (k));
  node_attach (node, parent, name, AFTER (k));
  node->arrival = k;
}

/* Deleting an entry deletes everything inside it: every pending event
 * about it or its contents goes, what was moved into it becomes the
 * deletion of where it came from, and one deletion remains, at the
 * entry's path before the window, or none if it was created in the window.
 * Not done when something left it meanwhile (the events that made that
 * something exist must stay), or when it replaced another entry. */
static void
on_deleted (HkCoalescer *self,
            HkEvent     *event)
{
  g_autoptr(GArray) visits = g_array_new (FALSE, FALSE, sizeof (Visit));
  g_autoptr(GArray) seen = g_array_new (FALSE, FALSE, sizeof (guint));
  Node *node = lookup (self, hk_event_get_path (event), NULL);
  guint first_move = NO_SLOT;
  gboolean is_new;
  guint k;

  if (node == self->root)
    {
      append (self, hk_event_ref (event), node);
      return;
    }

  self->visit++;
  walk (self, node, ALWAYS, FOREVER, 0, visits);
  for (guint i = 0; i < visits->len; i++)
    {
      Visit *visit = &g_array_index (visits, Visit, i);
      Slot *slot = get_slot (self, visit->slot);

      if (slot->visit != self->visit)
        {
          slot->visit = self->visit;
          slot->sides = 0;
          g_array_append_val (seen, visit->slot);
        }
      slot->sides |= visit->side;
    }

  for (guint i = 0; i < seen->len; i++)
    {
      guint j = g_array_index (seen, guint, i);
      Slot *slot = get_slot (self, j);
      HkEventType type = hk_event_get_event_type (slot->event);

      if (slot->node == node)
        {
          if (slot->replaces)
            goto keep;
          if (type == HK_EVENT_MOVED && first_move == NO_SLOT)
            first_move = j;
        }
      else if (type == HK_EVENT_MOVED && slot->sides == SIDE_PATH)
        goto keep;
    }

  is_new = is_live (self, node->created);
  for (guint i = 0; i < seen->len; i++)
    {
      guint j = g_array_index (seen, guint, i);
      Slot *slot = get_slot (self, j);

      if (slot->node != node && slot->sides == SIDE_DEST)
        {
          /* Moved in: it is deleted where it was. */
          replace (self, j, rewrite (slot->event, HK_EVENT_DELETED,
                                     g_strdup (hk_event_get_path (slot->event)), NULL,
                                     hk_event_get_is_synthetic (slot->event)));
          continue;
        }
      if (j != first_move || is_new)
        drop (self, j);
    }

  k = self->slots->len;
  if (is_new)
    ;  /* created and deleted: nothing */
  else if (first_move != NO_SLOT)
    {
      HkEvent *move = get_slot (self, first_move)->event;

      replace (self, first_move,
               rewrite (move, HK_EVENT_DELETED, g_strdup (hk_event_get_path (move)), NULL,
                        hk_event_get_is_synthetic (move) && hk_event_get_is_synthetic (event)));
    }
  else
    k = append (self, hk_event_ref (event), node);

  node_detach (node, AFTER (k));
  /* Nothing inside it matters any more: later walks can skip it. */
  g_clear_pointer (&node->children, g_hash_table_unref);
  g_clear_pointer (&node->links, g_array_unref);
  return;

keep:
  k = append (self, hk_event_ref (event), node);
  node_detach (node, AFTER (k));
}

static void
add_event (HkCoalescer *self,
           HkEvent     *event)
{
  switch (hk_event_get_event_type (event))
    {
    case HK_EVENT_CREATED:
      on_created (self, event);
      break;
    case HK_EVENT_DELETED:
      on_deleted (self, event);
      break;
    case HK_EVENT_MOVED:
      on_moved (self, event);
      break;
    case HK_EVENT_MODIFIED:
    case HK_EVENT_ATTRIBUTE_CHANGED:
    case HK_EVENT_CLOSED:
    case HK_EVENT_OPENED:
    case HK_EVENT_CLOSED_NO_WRITE:
    default:
      on_touched (self, event);
      break;
    }
}

/* --- the window ----------------------------------------------------------- */

static void
reset (HkCoalescer *self)
{
  for (guint i = 0; i < self->slots->len; i++)
    g_clear_pointer (&get_slot (self, i)->event, hk_event_unref);
  g_array_set_size (self->slots, 0);
  self->n_live = 0;
  g_ptr_array_set_size (self->nodes, 0);
  g_hash_table_remove_all (self->stamps);
  self->root = node_new (self, "");
}

HkCoalescer *
hk_coalescer_new (guint latency_ms,
                  guint max_latency_ms)
{
  HkCoalescer *self = g_new0 (HkCoalescer, 1);

  self->slots = g_array_new (FALSE, FALSE, sizeof (Slot));
  self->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  self->stamps = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->latency = (gint64) latency_ms * 1000;
  self->max_latency = (gint64) MAX (max_latency_ms, latency_ms) * 1000;
  reset (self);

  return self;
}

void
hk_coalescer_free (HkCoalescer *self)
{
  reset (self);
  g_array_unref (self->slots);
  g_ptr_array_unref (self->nodes);
  g_hash_table_unref (self->stamps);
  g_free (self);
}

void
hk_coalescer_add (HkCoalescer *self,
                  GPtrArray   *events,
                  gint64       now)
{
  if (events->len == 0)
    return;

  if (self->slots->len == 0)
    self->first_added = now;
  self->last_added = now;

  for (guint i = 0; i < events->len; i++)
    add_event (self, g_ptr_array_index (events, i));
}

void
hk_coalescer_add_one (HkCoalescer *self,
                      HkEvent     *event,
                      gint64       now)
{
  if (self->slots->len == 0)
    self->first_added = now;
  self->last_added = now;

  add_event (self, event);
}

guint
hk_coalescer_get_n_pending (HkCoalescer *self)
{
  return self->n_live;
}

gint64
hk_coalescer_get_deadline (HkCoalescer *self)
{
  /* Even when everything merged away, the window stays open: what comes
   * next may still merge with what it remembers. */
  if (self->slots->len == 0)
    return 0;

  /* Quiet for `latency`, or held for `max-latency`: whichever comes first,
   * so continuous activity cannot starve delivery. */
  return MIN (self->last_added + self->latency, self->first_added + self->max_latency);
}

GPtrArray *
hk_coalescer_take_all (HkCoalescer *self)
{
  GPtrArray *events = g_ptr_array_new_full (self->n_live, (GDestroyNotify) hk_event_unref);

  for (guint i = 0; i < self->slots->len; i++)
    {
      Slot *slot = get_slot (self, i);

      if (slot->event != NULL)
        g_ptr_array_add (events, g_steal_pointer (&slot->event));
    }
  reset (self);

  return events;
}

GPtrArray *
hk_coalescer_take_ready (HkCoalescer *self,
                         gint64       now,
                         gint64      *next)
{
  gint64 deadline = hk_coalescer_get_deadline (self);

  if (deadline > 0 && now >= deadline)
    {
      *next = 0;
      return hk_coalescer_take_all (self);
    }

  *next = deadline;
  return g_ptr_array_new_with_free_func ((GDestroyNotify) hk_event_unref);
}
