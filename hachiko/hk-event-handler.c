/* hk-event-handler.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "hk-event-handler-private.h"

/**
 * HkEventHandler:
 *
 * An object that receives a watchdog's events through virtual methods.
 *
 * This is the GObject form of watchdog's `FileSystemEventHandler` and
 * hachiko's `AIOEventHandler`: subclass it (in C, Python or JavaScript),
 * override the methods for the events of interest, and attach it with
 * [method@Hk.Watchdog.add_handler]. Each handler may have its own
 * [property@Hk.EventHandler:filter], applied after the watchdog's.
 *
 * For every event, `on_any_event` runs first, then the method for the
 * event's type (`on_created`, `on_deleted`, `on_modified`, `on_moved`,
 * `on_attribute_changed`, `on_closed`, `on_opened`, `on_closed_no_write`).
 * They run on the watchdog's owner context.
 *
 * ```python
 * class Printer(Hk.EventHandler):
 *     def do_on_created(self, event):
 *         print("created", event.get_path())
 *
 * watchdog.add_handler(Printer())
 * ```
 *
 * Since: 1.0
 */

typedef struct
{
  HkFilter *filter;
} HkEventHandlerPrivate;

enum {
  PROP_0,
  PROP_FILTER,
  N_PROPS
};

G_DEFINE_TYPE_WITH_PRIVATE (HkEventHandler, hk_event_handler, G_TYPE_OBJECT)

static GParamSpec *properties[N_PROPS];

static void
hk_event_handler_dispose (GObject *object)
{
  HkEventHandler *self = HK_EVENT_HANDLER (object);
  HkEventHandlerPrivate *priv = hk_event_handler_get_instance_private (self);

  g_clear_object (&priv->filter);

  G_OBJECT_CLASS (hk_event_handler_parent_class)->dispose (object);
}

static void
hk_event_handler_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  HkEventHandler *self = HK_EVENT_HANDLER (object);

  switch (prop_id)
    {
    case PROP_FILTER:
      g_value_set_object (value, hk_event_handler_get_filter (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_event_handler_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  HkEventHandler *self = HK_EVENT_HANDLER (object);

  switch (prop_id)
    {
    case PROP_FILTER:
      hk_event_handler_set_filter (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_event_handler_class_init (HkEventHandlerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hk_event_handler_dispose;
  object_class->get_property = hk_event_handler_get_property;
  object_class->set_property = hk_event_handler_set_property;

  /**
   * HkEventHandler:filter:
   *
   * Which events this handler receives, on top of the watchdog's own
   * filter. %NULL (the default) receives everything.
   *
   * Since: 1.0
   */
  properties[PROP_FILTER] =
    g_param_spec_object ("filter", NULL, NULL,
                         HK_TYPE_FILTER,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hk_event_handler_init (HkEventHandler *self)
{
}

/**
 * hk_event_handler_new:
 *
 * Creates a handler whose methods do nothing; useful only as a base, or to
 * hold a filter.
 *
 * Returns: (transfer full): a new handler
 *
 * Since: 1.0
 */
HkEventHandler *
hk_event_handler_new (void)
{
  return g_object_new (HK_TYPE_EVENT_HANDLER, NULL);
}

/**
 * hk_event_handler_get_filter:
 * @self: a handler
 *
 * Gets [property@Hk.EventHandler:filter].
 *
 * Returns: (transfer none) (nullable): the filter
 *
 * Since: 1.0
 */
HkFilter *
hk_event_handler_get_filter (HkEventHandler *self)
{
  HkEventHandlerPrivate *priv = hk_event_handler_get_instance_private (self);

  g_return_val_if_fail (HK_IS_EVENT_HANDLER (self), NULL);

  return priv->filter;
}

/**
 * hk_event_handler_set_filter:
 * @self: a handler
 * @filter: (nullable): a filter, or %NULL to receive everything
 *
 * Sets [property@Hk.EventHandler:filter].
 *
 * Since: 1.0
 */
void
hk_event_handler_set_filter (HkEventHandler *self,
                             HkFilter       *filter)
{
  HkEventHandlerPrivate *priv = hk_event_handler_get_instance_private (self);

  g_return_if_fail (HK_IS_EVENT_HANDLER (self));
  g_return_if_fail (filter == NULL || HK_IS_FILTER (filter));

  if (g_set_object (&priv->filter, filter))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILTER]);
}

HkFilterRules *
hk_event_handler_dup_rules (HkEventHandler *self)
{
  HkEventHandlerPrivate *priv = hk_event_handler_get_instance_private (self);

  return priv->filter != NULL ? hk_filter_dup_rules (priv->filter) : NULL;
}

/**
 * hk_event_handler_dispatch:
 * @self: a handler
 * @event: an event
 *
 * Calls `on_any_event`, then the method for @event's type. The handler's
 * filter is not consulted here: the watchdog applies it before calling
 * this. Useful to drive a handler by hand, in tests for instance.
 *
 * Since: 1.0
 */
void
hk_event_handler_dispatch (HkEventHandler *self,
                           HkEvent        *event)
{
  g_return_if_fail (HK_IS_EVENT_HANDLER (self));
  g_return_if_fail (event != NULL);

  hk_event_handler_call (self, event, TRUE);
  hk_event_handler_call (self, event, FALSE);
}

void
hk_event_handler_call (HkEventHandler *self,
                       HkEvent        *event,
                       gboolean        any)
{
  HkEventHandlerClass *klass = HK_EVENT_HANDLER_GET_CLASS (self);
  void (*method) (HkEventHandler *, HkEvent *) = NULL;

  if (any)
    {
      if (klass->on_any_event != NULL)
        klass->on_any_event (self, event);
      return;
    }

  switch (hk_event_get_event_type (event))
    {
    case HK_EVENT_CREATED:           method = klass->on_created; break;
    case HK_EVENT_DELETED:           method = klass->on_deleted; break;
    case HK_EVENT_MODIFIED:          method = klass->on_modified; break;
    case HK_EVENT_MOVED:             method = klass->on_moved; break;
    case HK_EVENT_ATTRIBUTE_CHANGED: method = klass->on_attribute_changed; break;
    case HK_EVENT_CLOSED:            method = klass->on_closed; break;
    case HK_EVENT_OPENED:            method = klass->on_opened; break;
    case HK_EVENT_CLOSED_NO_WRITE:   method = klass->on_closed_no_write; break;
    default: break;
    }

  if (method != NULL)
    method (self, event);
}
