/* hk-nodes.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "hk-nodes-private.h"

/* The snapshot: every entry of a watched tree, as a node with its parent,
 * its siblings and a set keyed by (parent, name). It knows nothing of
 * backends, queues or threads; whoever owns it is told when a directory
 * node is freed. */

/* The stamp fits the padding of HkNode: files still cost 48 bytes. */
G_STATIC_ASSERT (GLIB_SIZEOF_VOID_P != 8 || sizeof (HkNode) == 48);

static guint
node_hash (gconstpointer key)
{
  const HkNode *node = key;

  return g_str_hash (node->name) ^ (guint) (GPOINTER_TO_SIZE (node->parent) >> 4) * 2654435761u;
}

static gboolean
node_equal (gconstpointer a,
            gconstpointer b)
{
  const HkNode *na = a, *nb = b;

  return na->parent == nb->parent && strcmp (na->name, nb->name) == 0;
}

HkNode *
hk_node_lookup (HkNodes    *nodes,
             HkDirNode  *parent,
             const char *name)
{
  HkNode key = { .parent = parent, .name = (char *) name };

  return g_hash_table_lookup (nodes->set, &key);
}

HkNode *
hk_node_new (HkNodes    *nodes,
          HkDirNode  *parent,
          const char *name,
          HkNodeKind  kind,
          guint64     ino)
{
  gsize len = strlen (name) + 1;
  gsize size = kind == HK_NODE_DIR ? sizeof (HkDirNode) : sizeof (HkNode);
  HkNode *node = g_malloc0 (size + len);

  node->name = (char *) node + size;
  memcpy (node->name, name, len);
  node->name_is_inline = TRUE;
  node->kind = kind;
  node->ino = ino;
  node->parent = parent;

  if (parent != NULL)
    {
      node->next = parent->children;
      if (parent->children != NULL)
        parent->children->prev = node;
      parent->children = node;
      g_hash_table_add (nodes->set, node);
    }

  return node;
}

void
hk_node_unlink (HkNodes *nodes,
             HkNode *node)
{
  HkDirNode *parent = node->parent;

  if (parent == NULL)
    return;

  g_hash_table_remove (nodes->set, node);
  if (node->prev != NULL)
    node->prev->next = node->next;
  else
    parent->children = node->next;
  if (node->next != NULL)
    node->next->prev = node->prev;
  node->prev = node->next = NULL;
  node->parent = NULL;
}

static void
node_free (HkNodes *nodes,
           HkNode  *node)
{
  if (node->kind == HK_NODE_DIR && nodes->dir_freed != NULL)
    nodes->dir_freed ((HkDirNode *) node, nodes->user_data);

  if (!node->name_is_inline)
    g_free (node->name);
  g_free (node);
}

/* Removes @node and everything below it, without recursion (trees can be
 * deeper than the stack). */
void
hk_node_remove_subtree (HkNodes *nodes,
                     HkNode *node)
{
  g_autoptr(GPtrArray) stack = g_ptr_array_new ();

  hk_node_unlink (nodes, node);
  g_ptr_array_add (stack, node);

  while (stack->len > 0)
    {
      HkNode *top = g_ptr_array_steal_index_fast (stack, stack->len - 1);

      if (top->kind == HK_NODE_DIR)
        {
          HkDirNode *dir = (HkDirNode *) top;

          while (dir->children != NULL)
            {
              HkNode *child = dir->children;

              hk_node_unlink (nodes, child);
              g_ptr_array_add (stack, child);
            }
        }
      node_free (nodes, top);
    }
}

void
hk_node_rename (HkNodes    *nodes,
             HkNode     *node,
             HkDirNode  *new_parent,
             const char *new_name)
{
  char *name = g_strdup (new_name);

  hk_node_unlink (nodes, node);
  if (!node->name_is_inline)
    g_free (node->name);
  node->name = name;
  node->name_is_inline = FALSE;

  node->parent = new_parent;
  node->next = new_parent->children;
  if (new_parent->children != NULL)
    new_parent->children->prev = node;
  new_parent->children = node;
  g_hash_table_add (nodes->set, node);
}

/* Absolute path of @node; *relative points inside it, at the path
 * relative to the root ("" for the root itself). */
char *
hk_node_path (HkNodes     *nodes,
           HkNode      *node,
           const char  *child_name,
           const char **relative)
{
  const char *parts[256];
  g_autoptr(GPtrArray) many = NULL;
  const char **names = parts;
  guint n = 0;
  gsize root_len = strlen (nodes->root_path);
  gsize len = root_len;
  GString *path;

  if (child_name != NULL)
    {
      parts[n++] = child_name;
      len += strlen (child_name) + 1;
    }

  for (HkNode *it = node; it != NULL && it->parent != NULL; it = &it->parent->node)
    {
      if (n == G_N_ELEMENTS (parts) && many == NULL)
        {
          many = g_ptr_array_new ();
          for (guint i = 0; i < n; i++)
            g_ptr_array_add (many, (gpointer) parts[i]);
        }
      if (many != NULL)
        g_ptr_array_add (many, it->name);
      else
        parts[n] = it->name;
      n++;
      len += strlen (it->name) + 1;
    }
  if (many != NULL)
    names = (const char **) many->pdata;

  path = g_string_sized_new (len + 1);
  g_string_append_len (path, nodes->root_path, root_len);
  for (guint i = n; i > 0; i--)
    {
      if (path->len == 0 || path->str[path->len - 1] != '/')
        g_string_append_c (path, '/');
      g_string_append (path, names[i - 1]);
    }

  if (relative != NULL)
    {
      const char *rel = path->str + MIN (root_len, path->len);

      while (*rel == '/')
        rel++;
      *relative = rel;
    }

  /* g_string_free (.., FALSE) keeps str at the same address. */
  return g_string_free (path, FALSE);
}

HkNodeKind
hk_node_kind_from_mode (mode_t mode)
{
  if (S_ISDIR (mode))
    return HK_NODE_DIR;
  if (S_ISREG (mode))
    return HK_NODE_FILE;
  if (S_ISLNK (mode))
    return HK_NODE_SYMLINK;
  return HK_NODE_OTHER;
}

HkNodeKind
hk_node_kind_from_dtype (unsigned char d_type)
{
  switch (d_type)
    {
    case DT_DIR: return HK_NODE_DIR;
    case DT_REG: return HK_NODE_FILE;
    case DT_LNK: return HK_NODE_SYMLINK;
    default:     return HK_NODE_OTHER;
    }
}

/* What a file looked like when it was last reported or read, folded into
 * 32 bits (0: unknown). A rescan reports `modified` for a file only when it
 * no longer matches: the user was told about that state already. */
guint32
hk_node_stamp_from_stat (const struct stat *st)
{
  guint64 parts[] = { st->st_mtim.tv_sec, st->st_mtim.tv_nsec, st->st_size,
                      st->st_ctim.tv_sec, st->st_ctim.tv_nsec };
  guint64 h = G_GUINT64_CONSTANT (14695981039346656037);
  guint32 stamp;

  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    h = (h ^ parts[i]) * G_GUINT64_CONSTANT (1099511628211);
  h ^= h >> 33;
  h *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  h ^= h >> 33;
  stamp = (guint32) h;

  return stamp != 0 ? stamp : 1;
}

void
hk_nodes_init (HkNodes         *nodes,
               HkNodesDirFreed  dir_freed,
               gpointer         user_data)
{
  nodes->set = g_hash_table_new (node_hash, node_equal);
  nodes->root_path = NULL;
  nodes->dir_freed = dir_freed;
  nodes->user_data = user_data;
}

void
hk_nodes_set_root_path (HkNodes    *nodes,
                        const char *root_path)
{
  g_free (nodes->root_path);
  nodes->root_path = g_strdup (root_path);
}

void
hk_nodes_clear (HkNodes *nodes)
{
  g_clear_pointer (&nodes->set, g_hash_table_unref);
  g_clear_pointer (&nodes->root_path, g_free);
}
