/* hk-backend.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "hk-backend-private.h"

/* The registry: the first backend that can be created wins. */
static const HkBackendClass *backend_classes[] = {
  &hk_inotify_backend_class,
};

static guint watch_limit_for_testing;

void
hk_backend_set_watch_limit_for_testing (guint limit)
{
  g_atomic_int_set (&watch_limit_for_testing, limit);
}

HkBackend *
hk_backend_new (GMainContext  *context,
                GError       **error)
{
  g_autoptr(GError) first_error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (backend_classes); i++)
    {
      g_autoptr(GError) local_error = NULL;
      HkBackend *self = backend_classes[i]->create (context, &local_error);

      if (self != NULL)
        {
          self->klass = backend_classes[i];
          self->trees = g_ptr_array_new ();
          return self;
        }

      if (first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }

  g_propagate_error (error, g_steal_pointer (&first_error));
  return NULL;
}

void
hk_backend_free (HkBackend *self)
{
  g_autoptr(GPtrArray) trees = NULL;

  if (self == NULL)
    return;

  trees = g_steal_pointer (&self->trees);
  g_warn_if_fail (trees->len == 0);
  self->klass->destroy (self);
}

gboolean
hk_backend_add_watch (HkBackend   *self,
                      HkDirNode   *dir,
                      const char  *path,
                      guint32      flags,
                      GError     **error)
{
  g_assert (dir->watch < 0);

  guint limit = g_atomic_int_get (&watch_limit_for_testing);

  if (limit > 0 && self->n_watches >= limit)
    {
      g_autofree char *display = g_filename_display_name (path);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   "Cannot watch “%s”: the inotify watch limit "
                   "(fs.inotify.max_user_watches) is reached", display);
      return FALSE;
    }

  if (!self->klass->add_watch (self, dir, path, flags, error))
    return FALSE;

  self->n_watches++;
  return TRUE;
}

void
hk_backend_remove_watch (HkBackend *self,
                         HkDirNode *dir)
{
  if (dir->watch < 0)
    return;

  self->klass->remove_watch (self, dir);
  g_assert (dir->watch < 0);
  self->n_watches--;
}

void
hk_backend_add_tree (HkBackend *self,
                     HkTree    *tree)
{
  g_ptr_array_add (self->trees, tree);
}

void
hk_backend_remove_tree (HkBackend *self,
                        HkTree    *tree)
{
  g_ptr_array_remove (self->trees, tree);
}
