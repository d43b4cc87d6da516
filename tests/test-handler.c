/* test-handler.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* HkEventHandler subclassed from C: the order of the virtual methods, the
 * defaults, the per-handler filter, and attaching and removing handlers on
 * a real watchdog. tests/python/test_handler.py and
 * tests/gjs/test-handler.js check the same from Python and JavaScript. */

#include <hachiko.h>

#include <string.h>

#include <glib/gstdio.h>

#include "hk-test-util.h"

/* --- a handler that logs every call --------------------------------------- */

#define TEST_TYPE_HANDLER (test_handler_get_type ())
G_DECLARE_FINAL_TYPE (TestHandler, test_handler, TEST, HANDLER, HkEventHandler)

struct _TestHandler
{
  HkEventHandler  parent_instance;

  GPtrArray      *log;        /* char *, shared between handlers */
  char           *tag;        /* prefix of this handler's lines */
  char           *root;       /* paths are logged relative to it */
  HkWatchdog     *remove_from;  /* removes itself there on its first call */
  HkWatchdog     *stop;         /* stops it on its first call */
};

G_DEFINE_FINAL_TYPE (TestHandler, test_handler, HK_TYPE_EVENT_HANDLER)

static const char *
type_nick (HkEventType type)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);

  return g_enum_get_value (klass, type)->value_nick;
}

static const char *
relative_path (TestHandler *self,
               const char  *path)
{
  gsize len = self->root != NULL ? strlen (self->root) : 0;

  if (path == NULL || len == 0 || strncmp (path, self->root, len) != 0)
    return path;
  path += len;
  return *path == '/' ? path + 1 : path;
}

static void
log_call (TestHandler *self,
          const char  *method,
          HkEvent     *event)
{
  const char *dest = hk_event_get_dest_path (event);

  g_ptr_array_add (self->log,
                   g_strdup_printf ("%s%s %s%s%s", self->tag, method,
                                    relative_path (self, hk_event_get_path (event)),
                                    dest != NULL ? " -> " : "",
                                    dest != NULL ? relative_path (self, dest) : ""));
}

static void
test_handler_on_any_event (HkEventHandler *handler,
                           HkEvent        *event)
{
  TestHandler *self = TEST_HANDLER (handler);
  g_autofree char *method = g_strconcat ("any:", type_nick (hk_event_get_event_type (event)), NULL);

  log_call (self, method, event);

  if (self->remove_from != NULL)
    hk_watchdog_remove_handler (g_steal_pointer (&self->remove_from), handler);
  if (self->stop != NULL)
    hk_watchdog_stop (g_steal_pointer (&self->stop));
}

#define LOGGING_METHOD(name, nick)                                \
static void                                                       \
test_handler_##name (HkEventHandler *handler,                     \
                     HkEvent        *event)                       \
{                                                                 \
  log_call (TEST_HANDLER (handler), nick, event);                 \
}

LOGGING_METHOD (on_created, "created")
LOGGING_METHOD (on_deleted, "deleted")
LOGGING_METHOD (on_modified, "modified")
LOGGING_METHOD (on_moved, "moved")
LOGGING_METHOD (on_attribute_changed, "attribute-changed")
LOGGING_METHOD (on_closed, "closed")
LOGGING_METHOD (on_opened, "opened")
LOGGING_METHOD (on_closed_no_write, "closed-no-write")

#undef LOGGING_METHOD

static void
test_handler_finalize (GObject *object)
{
  TestHandler *self = TEST_HANDLER (object);

  g_ptr_array_unref (self->log);
  g_free (self->tag);
  g_free (self->root);

  G_OBJECT_CLASS (test_handler_parent_class)->finalize (object);
}

static void
test_handler_class_init (TestHandlerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  HkEventHandlerClass *handler_class = HK_EVENT_HANDLER_CLASS (klass);

  object_class->finalize = test_handler_finalize;

  handler_class->on_any_event = test_handler_on_any_event;
  handler_class->on_created = test_handler_on_created;
  handler_class->on_deleted = test_handler_on_deleted;
  handler_class->on_modified = test_handler_on_modified;
  handler_class->on_moved = test_handler_on_moved;
  handler_class->on_attribute_changed = test_handler_on_attribute_changed;
  handler_class->on_closed = test_handler_on_closed;
  handler_class->on_opened = test_handler_on_opened;
  handler_class->on_closed_no_write = test_handler_on_closed_no_write;
}

static void
test_handler_init (TestHandler *self)
{
}

static TestHandler *
test_handler_new (GPtrArray  *log,
                  const char *tag,
                  const char *root)
{
  TestHandler *self = g_object_new (TEST_TYPE_HANDLER, NULL);

  self->log = g_ptr_array_ref (log);
  self->tag = g_strdup (tag);
  self->root = g_strdup (root);
  return self;
}

/* Overrides one method only. */
#define TEST_TYPE_PARTIAL_HANDLER (test_partial_handler_get_type ())
G_DECLARE_FINAL_TYPE (TestPartialHandler, test_partial_handler, TEST, PARTIAL_HANDLER, HkEventHandler)

struct _TestPartialHandler
{
  HkEventHandler parent_instance;
  guint          n_modified;
};

G_DEFINE_FINAL_TYPE (TestPartialHandler, test_partial_handler, HK_TYPE_EVENT_HANDLER)

static void
test_partial_handler_on_modified (HkEventHandler *handler,
                                  HkEvent        *event)
{
  TEST_PARTIAL_HANDLER (handler)->n_modified++;
}

static void
test_partial_handler_class_init (TestPartialHandlerClass *klass)
{
  HK_EVENT_HANDLER_CLASS (klass)->on_modified = test_partial_handler_on_modified;
}

static void
test_partial_handler_init (TestPartialHandler *self)
{
}

static GPtrArray *
log_new (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

static char *
log_join (GPtrArray *log)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < log->len; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? "; " : "", (const char *) g_ptr_array_index (log, i));
  return g_string_free (out, FALSE);
}

static gboolean
log_has (GPtrArray  *log,
         const char *line)
{
  for (guint i = 0; i < log->len; i++)
    if (strcmp (g_ptr_array_index (log, i), line) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
log_has_prefix (GPtrArray  *log,
                const char *prefix)
{
  for (guint i = 0; i < log->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (log, i), prefix))
      return TRUE;
  return FALSE;
}

typedef struct
{
  GPtrArray  *log;
  const char *line;
} LogWait;

static gboolean
check_log (gpointer data)
{
  LogWait *wait = data;

  return log_has (wait->log, wait->line);
}

static void
wait_for_line (GPtrArray  *log,
               const char *line)
{
  LogWait wait = { log, line };

  if (!hk_test_wait_until (check_log, &wait, 5000))
    {
      g_autofree char *text = log_join (log);

      g_error ("“%s” never came; the log: %s", line, text);
    }
}

/* --- by hand --------------------------------------------------------------- */

static void
test_dispatch_order (void)
{
  g_autoptr(GPtrArray) log = log_new ();
  g_autoptr(TestHandler) handler = test_handler_new (log, "", NULL);

  for (HkEventType type = HK_EVENT_CREATED; type <= HK_EVENT_CLOSED_NO_WRITE; type++)
    {
      g_autoptr(HkEvent) event = hk_event_new (type, "/r/f",
                                               type == HK_EVENT_MOVED ? "/r/g" : NULL,
                                               FALSE, FALSE, 0);
      g_autofree char *any = NULL;
      g_autofree char *specific = NULL;

      g_ptr_array_set_size (log, 0);
      hk_event_handler_dispatch (HK_EVENT_HANDLER (handler), event);

      any = g_strdup_printf ("any:%s /r/f%s", type_nick (type), type == HK_EVENT_MOVED ? " -> /r/g" : "");
      specific = g_strdup_printf ("%s /r/f%s", type_nick (type), type == HK_EVENT_MOVED ? " -> /r/g" : "");
      g_assert_cmpuint (log->len, ==, 2);
      g_assert_cmpstr (g_ptr_array_index (log, 0), ==, any);
      g_assert_cmpstr (g_ptr_array_index (log, 1), ==, specific);
    }
}

static void
test_dispatch_defaults (void)
{
  g_autoptr(HkEventHandler) base = hk_event_handler_new ();
  g_autoptr(TestPartialHandler) partial = g_object_new (TEST_TYPE_PARTIAL_HANDLER, NULL);

  for (HkEventType type = HK_EVENT_CREATED; type <= HK_EVENT_CLOSED_NO_WRITE; type++)
    {
      g_autoptr(HkEvent) event = hk_event_new (type, "/r/f", NULL, FALSE, FALSE, 0);

      /* The base class does nothing, and a subclass only what it overrides. */
      hk_event_handler_dispatch (base, event);
      hk_event_handler_dispatch (HK_EVENT_HANDLER (partial), event);
    }
  g_assert_cmpuint (partial->n_modified, ==, 1);
  g_assert_true (G_TYPE_IS_DERIVABLE (HK_TYPE_EVENT_HANDLER));
  g_assert_false (G_TYPE_IS_ABSTRACT (HK_TYPE_EVENT_HANDLER));
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              guint      *n)
{
  (*n)++;
}

static void
test_filter_property (void)
{
  g_autoptr(HkEventHandler) handler = hk_event_handler_new ();
  g_autoptr(HkFilter) filter = hk_filter_new ();
  g_autoptr(HkFilter) got = NULL;
  guint n_notify = 0;

  g_assert_null (hk_event_handler_get_filter (handler));
  g_signal_connect (handler, "notify::filter", G_CALLBACK (count_notify), &n_notify);

  hk_event_handler_set_filter (handler, filter);
  g_assert_true (hk_event_handler_get_filter (handler) == filter);
  g_assert_cmpuint (n_notify, ==, 1);
  hk_event_handler_set_filter (handler, filter);
  g_assert_cmpuint (n_notify, ==, 1);

  g_object_get (handler, "filter", &got, NULL);
  g_assert_true (got == filter);

  g_object_set (handler, "filter", NULL, NULL);
  g_assert_null (hk_event_handler_get_filter (handler));
  g_assert_cmpuint (n_notify, ==, 2);

  /* Also settable at construction, as bindings do. */
  g_clear_object (&handler);
  handler = g_object_new (HK_TYPE_EVENT_HANDLER, "filter", filter, NULL);
  g_assert_true (hk_event_handler_get_filter (handler) == filter);
}

/* --- on a watchdog ---------------------------------------------------------- */

typedef struct
{
  char       *root;
  HkWatchdog *watchdog;
  GPtrArray  *log;
  GPtrArray  *handlers;   /* TestHandler, added by fixture_add_handler() */
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->root = hk_test_make_tmpdir ();
  fixture->watchdog = hk_test_watchdog_new (fixture->root);
  fixture->log = log_new ();
  fixture->handlers = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  if (fixture->watchdog != NULL)
    hk_watchdog_stop (fixture->watchdog);
  g_clear_object (&fixture->watchdog);
  g_ptr_array_unref (fixture->handlers);
  g_ptr_array_unref (fixture->log);
  hk_test_rm_rf (fixture->root);
  g_free (fixture->root);
}

/* Returns a handler the fixture owns. */
static TestHandler *
fixture_add_handler (Fixture    *fixture,
                     const char *tag)
{
  TestHandler *handler = test_handler_new (fixture->log, tag, fixture->root);

  g_ptr_array_add (fixture->handlers, handler);
  hk_watchdog_add_handler (fixture->watchdog, HK_EVENT_HANDLER (handler));
  return handler;
}

static void
on_event_signal (HkWatchdog *watchdog,
                 HkEvent    *event,
                 Fixture    *fixture)
{
  const char *path = hk_event_get_path (event) + strlen (fixture->root) + 1;

  g_ptr_array_add (fixture->log, g_strdup_printf ("signal:%s %s",
                                                  type_nick (hk_event_get_event_type (event)), path));
}

/* For each event: the `event` signal, then on_any_event, then the specific
 * method. */
static void
test_watchdog_order (Fixture       *fixture,
                     gconstpointer  data)
{
  fixture_add_handler (fixture, "");

  g_signal_connect (fixture->watchdog, "event", G_CALLBACK (on_event_signal), fixture);
  hk_test_start (fixture->watchdog);
  hk_test_write (fixture->root, "f", "x");

  wait_for_line (fixture->log, "closed f");
  g_assert_cmpuint (fixture->log->len, >=, 3);
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 0), ==, "signal:created f");
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 1), ==, "any:created f");
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 2), ==, "created f");
  g_assert_cmpstr (g_ptr_array_index (fixture->log, fixture->log->len - 3), ==, "signal:closed f");
  g_assert_cmpstr (g_ptr_array_index (fixture->log, fixture->log->len - 2), ==, "any:closed f");
}

/* Every kind of event reaches its own method. */
static void
test_watchdog_every_method (Fixture       *fixture,
                            gconstpointer  data)
{
  fixture_add_handler (fixture, "");
  g_autofree char *f = hk_test_path (fixture->root, "f");
  g_autofree char *g = hk_test_path (fixture->root, "g");
  g_autofree char *contents = NULL;

  hk_watchdog_set_access_events (fixture->watchdog, TRUE);
  hk_test_start (fixture->watchdog);

  hk_test_write (fixture->root, "f", "x");                     /* created, opened, modified, closed */
  wait_for_line (fixture->log, "closed f");
  g_assert_true (g_file_get_contents (f, &contents, NULL, NULL));  /* opened, closed-no-write */
  wait_for_line (fixture->log, "closed-no-write f");
  g_assert_cmpint (g_chmod (f, 0600), ==, 0);       /* attribute-changed */
  wait_for_line (fixture->log, "attribute-changed f");
  g_assert_cmpint (g_rename (f, g), ==, 0);         /* moved */
  wait_for_line (fixture->log, "moved f -> g");
  g_assert_cmpint (g_unlink (g), ==, 0);            /* deleted */
  wait_for_line (fixture->log, "deleted g");

  g_assert_true (log_has (fixture->log, "created f"));
  g_assert_true (log_has (fixture->log, "opened f"));
  g_assert_true (log_has (fixture->log, "modified f"));
  g_assert_true (log_has (fixture->log, "any:moved f -> g"));
  g_assert_true (log_has (fixture->log, "any:deleted g"));
}

/* Handlers run in the order they were added, each any-then-specific. */
static void
test_watchdog_several (Fixture       *fixture,
                       gconstpointer  data)
{
  fixture_add_handler (fixture, "1:");
  fixture_add_handler (fixture, "2:");

  g_autofree char *dir = hk_test_path (fixture->root, "d");

  hk_test_start (fixture->watchdog);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);

  wait_for_line (fixture->log, "2:created d");
  g_assert_cmpuint (fixture->log->len, ==, 4);
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 0), ==, "1:any:created d");
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 1), ==, "1:created d");
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 2), ==, "2:any:created d");
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 3), ==, "2:created d");
}

/* A handler's filter applies to it alone, after the watchdog's own. */
static void
test_watchdog_filter (Fixture       *fixture,
                      gconstpointer  data)
{
  TestHandler *texts = fixture_add_handler (fixture, "txt:");
  fixture_add_handler (fixture, "all:");
  g_autoptr(HkFilter) text_filter = hk_filter_new ();
  g_autoptr(HkFilter) watchdog_filter = hk_filter_new ();
  g_autoptr(GError) error = NULL;

  hk_filter_add_pattern (text_filter, "*.txt", &error);
  g_assert_no_error (error);
  hk_event_handler_set_filter (HK_EVENT_HANDLER (texts), text_filter);
  hk_filter_add_ignore_pattern (watchdog_filter, "*.tmp", &error);
  g_assert_no_error (error);
  hk_watchdog_set_filter (fixture->watchdog, watchdog_filter);
  hk_test_start (fixture->watchdog);

  hk_test_write (fixture->root, "a.log", "x");
  hk_test_write (fixture->root, "b.tmp", "x");
  hk_test_write (fixture->root, "c.txt", "x");
  hk_test_write (fixture->root, "last", "x");

  wait_for_line (fixture->log, "all:closed last");
  g_assert_true (log_has (fixture->log, "all:created a.log"));
  g_assert_true (log_has (fixture->log, "all:created c.txt"));
  g_assert_true (log_has (fixture->log, "txt:any:created c.txt"));
  g_assert_true (log_has (fixture->log, "txt:created c.txt"));
  g_assert_true (log_has (fixture->log, "txt:closed c.txt"));
  g_assert_false (log_has_prefix (fixture->log, "txt:created a.log"));
  g_assert_false (log_has_prefix (fixture->log, "txt:any:created last"));
  for (guint i = 0; i < fixture->log->len; i++)
    g_assert_null (strstr (g_ptr_array_index (fixture->log, i), "b.tmp"));

  /* Changing the filter takes effect for the next events. */
  hk_event_handler_set_filter (HK_EVENT_HANDLER (texts), NULL);
  hk_test_write (fixture->root, "d.log", "x");
  wait_for_line (fixture->log, "txt:created d.log");
}

static void
test_watchdog_remove (Fixture       *fixture,
                      gconstpointer  data)
{
  TestHandler *removed = fixture_add_handler (fixture, "removed:");
  fixture_add_handler (fixture, "kept:");
  g_autoptr(HkEventHandler) stranger = hk_event_handler_new ();

  hk_test_start (fixture->watchdog);
  hk_test_write (fixture->root, "f", "x");
  wait_for_line (fixture->log, "removed:created f");

  hk_watchdog_remove_handler (fixture->watchdog, HK_EVENT_HANDLER (removed));
  /* Removing one that was never added does nothing. */
  hk_watchdog_remove_handler (fixture->watchdog, stranger);
  g_assert_cmpuint (G_OBJECT (stranger)->ref_count, ==, 1);

  hk_test_write (fixture->root, "g", "x");
  wait_for_line (fixture->log, "kept:closed g");
  hk_test_drain (50);
  g_assert_false (log_has_prefix (fixture->log, "removed:any:created g"));
  g_assert_false (log_has_prefix (fixture->log, "removed:created g"));

  /* And it can be added again. */
  hk_watchdog_add_handler (fixture->watchdog, HK_EVENT_HANDLER (removed));
  hk_test_write (fixture->root, "h", "x");
  wait_for_line (fixture->log, "removed:created h");
}

/* A handler may remove itself while it runs: it gets nothing of the
 * batches that follow. */
static void
test_watchdog_remove_in_handler (Fixture       *fixture,
                                 gconstpointer  data)
{
  TestHandler *handler = fixture_add_handler (fixture, "self:");
  fixture_add_handler (fixture, "witness:");

  handler->remove_from = fixture->watchdog;
  hk_test_start (fixture->watchdog);

  hk_test_write (fixture->root, "f", "x");
  wait_for_line (fixture->log, "witness:closed f");
  g_assert_true (log_has (fixture->log, "self:any:created f"));

  hk_test_write (fixture->root, "g", "x");
  wait_for_line (fixture->log, "witness:closed g");
  g_assert_false (log_has_prefix (fixture->log, "self:any:created g"));
}

/* The watchdog keeps its handlers alive, and lets go of them when it
 * goes. */
static void
test_watchdog_keeps_handler (Fixture       *fixture,
                             gconstpointer  data)
{
  TestHandler *handler = test_handler_new (fixture->log, "", fixture->root);
  gpointer weak = handler;

  hk_watchdog_add_handler (fixture->watchdog, HK_EVENT_HANDLER (handler));
  g_object_add_weak_pointer (G_OBJECT (handler), &weak);
  g_object_unref (handler);
  g_assert_nonnull (weak);

  hk_test_start (fixture->watchdog);
  hk_test_write (fixture->root, "f", "x");
  wait_for_line (fixture->log, "created f");

  hk_watchdog_stop (fixture->watchdog);
  g_clear_object (&fixture->watchdog);
  g_assert_null (weak);
}

/* With a latency, handlers see the merged events. */
static void
test_watchdog_latency (Fixture       *fixture,
                       gconstpointer  data)
{
  fixture_add_handler (fixture, "");

  hk_watchdog_set_latency (fixture->watchdog, 50);
  hk_test_start (fixture->watchdog);
  hk_test_write (fixture->root, "f", "x");

  wait_for_line (fixture->log, "created f");
  hk_test_drain (200);
  g_assert_cmpuint (fixture->log->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (fixture->log, 0), ==, "any:created f");
}

/* A handler that stops the watchdog in on_any_event: nothing more runs for
 * the events after that one. */
static void
test_watchdog_stop_in_handler (Fixture       *fixture,
                               gconstpointer  data)
{
  TestHandler *handler = fixture_add_handler (fixture, "");
  fixture_add_handler (fixture, "witness:");

  handler->stop = fixture->watchdog;
  hk_test_start (fixture->watchdog);
  hk_test_write (fixture->root, "f", "x");

  wait_for_line (fixture->log, "any:created f");
  hk_test_drain (100);
  g_assert_false (hk_watchdog_get_running (fixture->watchdog));
  g_assert_false (log_has_prefix (fixture->log, "witness:"));
  g_assert_false (log_has_prefix (fixture->log, "any:closed"));
}

/* hk_watchdog_stop() promises that no handler runs once it returns: not
 * even the specific method for the event at hand. */
static void
test_during_dispatch_stop (Fixture       *fixture,
                           gconstpointer  data)
{
  TestHandler *handler = fixture_add_handler (fixture, "");

  handler->stop = fixture->watchdog;
  hk_test_start (fixture->watchdog);
  hk_test_write (fixture->root, "f", "x");

  wait_for_line (fixture->log, "any:created f");
  hk_test_drain (100);
  g_assert_false (log_has (fixture->log, "created f"));
}

/* A handler removed while a batch is being emitted gets nothing more of
 * it. */
static void
test_during_dispatch_remove (Fixture       *fixture,
                             gconstpointer  data)
{
  TestHandler *handler = fixture_add_handler (fixture, "self:");
  fixture_add_handler (fixture, "witness:");

  /* One batch with both creations. */
  hk_watchdog_set_latency (fixture->watchdog, 50);
  handler->remove_from = fixture->watchdog;
  hk_test_start (fixture->watchdog);
  hk_test_write (fixture->root, "f1", "x");
  hk_test_write (fixture->root, "f2", "x");

  wait_for_line (fixture->log, "witness:created f2");
  g_assert_true (log_has (fixture->log, "self:any:created f1"));
  g_assert_false (log_has_prefix (fixture->log, "self:any:created f2"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/handler/dispatch/order", test_dispatch_order);
  g_test_add_func ("/handler/dispatch/defaults", test_dispatch_defaults);
  g_test_add_func ("/handler/filter-property", test_filter_property);

#define ADD(path, func) \
  g_test_add ("/handler/watchdog/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("order", test_watchdog_order);
  ADD ("every-method", test_watchdog_every_method);
  ADD ("several", test_watchdog_several);
  ADD ("filter", test_watchdog_filter);
  ADD ("remove", test_watchdog_remove);
  ADD ("remove-in-handler", test_watchdog_remove_in_handler);
  ADD ("keeps-handler", test_watchdog_keeps_handler);
  ADD ("latency", test_watchdog_latency);
  ADD ("stop-in-handler", test_watchdog_stop_in_handler);
  ADD ("during-dispatch/stop", test_during_dispatch_stop);
  ADD ("during-dispatch/remove", test_during_dispatch_remove);
#undef ADD

  return g_test_run ();
}
