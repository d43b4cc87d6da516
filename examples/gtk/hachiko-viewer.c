/* hachiko-viewer.c: a GTK 4 window listing the changes under a folder.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   hachiko-viewer [FOLDER]
 *
 * Pick a folder (or give it on the command line); a progress bar counts the
 * directories being watched while the watchdog starts, then every event
 * appears in a list (time, type, path). The entry takes glob patterns, applied
 * live: "*.c *.h" shows only C files, "!build/" hides a directory. Pause stops
 * the watchdog; Resume starts it again.
 *
 * The watchdog lives on the GTK main context: its signals arrive on the GTK
 * thread and update widgets directly. The app starts no thread of its own.
 *
 * Test hook: with HACHIKO_VIEWER_TEST=1 the app prints what it shows on
 * standard output ("ready", "row TYPE PATH", ...) and reads commands on
 * standard input: "filter TEXT", "pause", "resume", "draw" (answers
 * "drawn" after the next frame), "quit".
 * tests/examples/check-viewer.py drives it under Xvfb.
 */

#include <gio/gunixinputstream.h>
#include <gtk/gtk.h>
#include <hachiko.h>

#define MAX_ROWS 5000

/* --- one row of the list -------------------------------------------------- */

#define VIEWER_TYPE_ROW (viewer_row_get_type ())
G_DECLARE_FINAL_TYPE (ViewerRow, viewer_row, VIEWER, ROW, GObject)

struct _ViewerRow
{
  GObject  parent_instance;
  char    *time;
  char    *type;
  char    *path;   /* relative to the root, for display */
};

G_DEFINE_FINAL_TYPE (ViewerRow, viewer_row, G_TYPE_OBJECT)

static void
viewer_row_finalize (GObject *object)
{
  ViewerRow *self = VIEWER_ROW (object);

  g_free (self->time);
  g_free (self->type);
  g_free (self->path);
  G_OBJECT_CLASS (viewer_row_parent_class)->finalize (object);
}

static void
viewer_row_class_init (ViewerRowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = viewer_row_finalize;
}

static void
viewer_row_init (ViewerRow *self)
{
}

/* --- the window ----------------------------------------------------------- */

typedef struct
{
  GtkWindow     *window;
  GtkLabel      *title;
  GtkEntry      *filter_entry;
  GtkProgressBar *progress;
  GtkToggleButton *pause_button;
  GtkLabel      *status;
  GListStore    *rows;
  GtkListView   *list;

  HkWatchdog    *watchdog;
  GFile         *root;
  GCancellable  *starting;      /* set while start_async runs */
  GBinding      *count_binding; /* n-watched-directories -> progress text */
  guint          pulse_id;
  guint          n_events;
  gboolean       test_mode;
} Viewer;

static void viewer_start (Viewer *self);

static void
test_print (Viewer     *self,
            const char *format,
            ...) G_GNUC_PRINTF (2, 3);

/* One line per thing shown, for the test; g_print flushes. */
static void
test_print (Viewer     *self,
            const char *format,
            ...)
{
  g_autofree char *line = NULL;
  va_list args;

  if (!self->test_mode)
    return;
  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  g_print ("%s\n", line);
}

static const char *
relative_path (Viewer     *self,
               const char *path)
{
  const char *root = g_file_peek_path (self->root);
  gsize len = strlen (root);

  if (path != NULL && strncmp (path, root, len) == 0 && path[len] == '/')
    return path + len + 1;
  if (path != NULL && strcmp (path, root) == 0)
    return "";
  return path;
}

static char *
format_event_time (gint64 monotonic_us)
{
  gint64 real_us = g_get_real_time () - (g_get_monotonic_time () - monotonic_us);
  g_autoptr(GDateTime) time = g_date_time_new_from_unix_local (real_us / G_USEC_PER_SEC);
  g_autofree char *seconds = g_date_time_format (time, "%H:%M:%S");

  return g_strdup_printf ("%s.%03d", seconds, (int) (real_us % G_USEC_PER_SEC / 1000));
}

/* The watchdog applies the filter it had when it read an event; matching
 * again here keeps the list right for events already queued when the
 * pattern changed. */
static gboolean
viewer_shows_event (Viewer  *self,
                    HkEvent *event)
{
  HkFilter *filter = hk_watchdog_get_filter (self->watchdog);
  gboolean is_dir = hk_event_get_is_directory (event);
  const char *dest = hk_event_get_dest_path (event);

  if (filter == NULL)
    return TRUE;
  if (hk_filter_matches (filter, relative_path (self, hk_event_get_path (event)), is_dir))
    return TRUE;
  return dest != NULL && hk_filter_matches (filter, relative_path (self, dest), is_dir);
}

static void
update_status (Viewer *self)
{
  g_autofree char *text = NULL;

  if (self->watchdog == NULL)
    text = g_strdup ("Pick a folder to watch");
  else if (gtk_toggle_button_get_active (self->pause_button))
    text = g_strdup_printf ("Paused · %u events", self->n_events);
  else if (self->starting != NULL)
    text = g_strdup ("Starting…");
  else
    text = g_strdup_printf ("Watching %u directories · %u events",
                            hk_watchdog_get_n_watched_directories (self->watchdog),
                            self->n_events);
  gtk_label_set_text (self->status, text);
}

/* One splice per delivery, so a burst of events updates the view once. */
static void
on_batch (HkWatchdog *watchdog,
          GPtrArray  *events,
          Viewer     *self)
{
  g_autoptr(GPtrArray) new_rows = g_ptr_array_new_with_free_func (g_object_unref);
  guint n_items;

  for (guint i = events->len; i > 0; i--)  /* newest first */
    {
      HkEvent *event = g_ptr_array_index (events, i - 1);
      const char *type = hk_event_type_to_string (hk_event_get_event_type (event));
      const char *dest = hk_event_get_dest_path (event);
      ViewerRow *row;

      if (!viewer_shows_event (self, event))
        continue;

      row = g_object_new (VIEWER_TYPE_ROW, NULL);
      row->time = format_event_time (hk_event_get_timestamp (event));
      row->type = g_strdup (type);
      /* Paths are in the filename encoding; labels want UTF-8. */
      row->path = g_filename_display_name (relative_path (self, hk_event_get_path (event)));
      if (dest != NULL)
        {
          g_autofree char *dest_name = g_filename_display_name (relative_path (self, dest));
          char *both = g_strconcat (row->path, " → ", dest_name, NULL);

          g_free (row->path);
          row->path = both;
        }
      g_ptr_array_add (new_rows, row);
    }

  /* For the test: in the order the events happened. */
  for (guint i = 0; i < events->len; i++)
    {
      HkEvent *event = g_ptr_array_index (events, i);

      if (!viewer_shows_event (self, event))
        continue;
      if (hk_event_get_dest_path (event) != NULL)
        test_print (self, "row %s %s -> %s",
                    hk_event_type_to_string (hk_event_get_event_type (event)),
                    hk_event_get_path (event), hk_event_get_dest_path (event));
      else
        test_print (self, "row %s %s",
                    hk_event_type_to_string (hk_event_get_event_type (event)),
                    hk_event_get_path (event));
    }

  if (new_rows->len == 0)
    return;
  self->n_events += new_rows->len;
  g_list_store_splice (self->rows, 0, 0, new_rows->pdata, new_rows->len);
  /* Newest first: keep the top of the list in view, not the row that
   * was first before the insertion. */
  if (gtk_adjustment_get_value (gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (self->list))) < 1)
    gtk_widget_activate_action (GTK_WIDGET (self->list), "list.scroll-to-item", "u", 0);
  n_items = g_list_model_get_n_items (G_LIST_MODEL (self->rows));
  if (n_items > MAX_ROWS)
    g_list_store_splice (self->rows, MAX_ROWS, n_items - MAX_ROWS, NULL, 0);
  update_status (self);
}

static void
on_watchdog_error (HkWatchdog   *watchdog,
                   const GError *error,
                   Viewer       *self)
{
  gtk_label_set_text (self->status, error->message);
  test_print (self, "error %s", error->message);
}

/* --- starting, with a progress bar --------------------------------------- */

static gboolean
count_to_text (GBinding     *binding,
               const GValue *from,
               GValue       *to,
               gpointer      user_data)
{
  g_value_take_string (to, g_strdup_printf ("Watching %u directories…", g_value_get_uint (from)));
  return TRUE;
}

static gboolean
pulse_progress (gpointer user_data)
{
  Viewer *self = user_data;

  gtk_progress_bar_pulse (self->progress);
  /* Without the notifying property, read the count while pulsing. */
  if (self->count_binding == NULL)
    {
      g_autofree char *text =
        g_strdup_printf ("Watching %u directories…",
                         hk_watchdog_get_n_watched_directories (self->watchdog));
      gtk_progress_bar_set_text (self->progress, text);
    }
  return G_SOURCE_CONTINUE;
}

static void
stop_progress (Viewer *self)
{
  g_clear_handle_id (&self->pulse_id, g_source_remove);
  if (self->count_binding != NULL)
    g_binding_unbind (g_steal_pointer (&self->count_binding));
  gtk_widget_set_visible (GTK_WIDGET (self->progress), FALSE);
}

static void
on_started (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Viewer *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!hk_watchdog_start_finish (HK_WATCHDOG (source), result, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;  /* paused or switched folder: that code cleaned up */
      g_clear_object (&self->starting);
      stop_progress (self);
      gtk_label_set_text (self->status, error->message);
      test_print (self, "error %s", error->message);
      return;
    }

  g_clear_object (&self->starting);
  stop_progress (self);
  update_status (self);
  test_print (self, "ready %u", hk_watchdog_get_n_watched_directories (self->watchdog));
}

static void
viewer_start (Viewer *self)
{
  self->starting = g_cancellable_new ();
  gtk_progress_bar_set_text (self->progress, "Watching 0 directories…");
  gtk_widget_set_visible (GTK_WIDGET (self->progress), TRUE);
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (self->watchdog), "n-watched-directories"))
    self->count_binding = g_object_bind_property_full (self->watchdog, "n-watched-directories",
                                                       self->progress, "text",
                                                       G_BINDING_SYNC_CREATE,
                                                       count_to_text, NULL, NULL, NULL);
  self->pulse_id = g_timeout_add (100, pulse_progress, self);
  update_status (self);
  hk_watchdog_start_async (self->watchdog, self->starting, on_started, self);
}

static void
viewer_stop (Viewer *self)
{
  if (self->starting != NULL)
    {
      g_cancellable_cancel (self->starting);
      g_clear_object (&self->starting);
    }
  stop_progress (self);
  if (self->watchdog != NULL)
    hk_watchdog_stop (self->watchdog);
}

/* --- the filter entry ----------------------------------------------------- */

/* "*.c *.h !build/": include globs, and ignore globs after "!". */
static HkFilter *
filter_from_text (const char  *text,
                  GError     **error)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  g_auto(GStrv) words = g_strsplit_set (text, " \t", -1);

  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *word = words[i];
      gboolean ok;

      if (*word == '\0' || strcmp (word, "!") == 0)
        continue;
      if (word[0] == '!')
        ok = hk_filter_add_ignore_pattern (filter, word + 1, error);
      else
        ok = hk_filter_add_pattern (filter, word, error);
      if (!ok)
        return NULL;
    }
  return g_steal_pointer (&filter);
}

static void
on_filter_changed (GtkEditable *entry,
                   Viewer      *self)
{
  const char *text = gtk_editable_get_text (entry);
  g_autoptr(GError) error = NULL;
  g_autoptr(HkFilter) filter = filter_from_text (text, &error);

  if (filter == NULL)
    {
      gtk_widget_add_css_class (GTK_WIDGET (entry), "error");
      gtk_widget_set_tooltip_text (GTK_WIDGET (entry), error->message);
      return;
    }
  gtk_widget_remove_css_class (GTK_WIDGET (entry), "error");
  gtk_widget_set_tooltip_text (GTK_WIDGET (entry), NULL);
  if (self->watchdog != NULL)
    hk_watchdog_set_filter (self->watchdog, filter);
  test_print (self, "filter-applied %s", text);
}

/* --- choosing a folder ---------------------------------------------------- */

static void
viewer_watch (Viewer *self,
              GFile  *root)
{
  g_autofree char *title = NULL;

  viewer_stop (self);
  g_clear_object (&self->watchdog);
  g_set_object (&self->root, root);
  g_list_store_remove_all (self->rows);
  self->n_events = 0;

  title = g_file_get_parse_name (root);
  gtk_label_set_text (self->title, title);

  self->watchdog = hk_watchdog_new (root);
  g_signal_connect (self->watchdog, "batch", G_CALLBACK (on_batch), self);
  g_signal_connect (self->watchdog, "error", G_CALLBACK (on_watchdog_error), self);
  on_filter_changed (GTK_EDITABLE (self->filter_entry), self);

  gtk_toggle_button_set_active (self->pause_button, FALSE);
  gtk_widget_set_sensitive (GTK_WIDGET (self->pause_button), TRUE);
  viewer_start (self);
}

static void
on_folder_chosen (GtkNativeDialog *dialog,
                  int              response,
                  Viewer          *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));

      if (folder != NULL)
        viewer_watch (self, folder);
    }
  g_object_unref (dialog);
}

static void
on_open_clicked (GtkButton *button,
                 Viewer    *self)
{
  /* GtkFileDialog is GTK 4.10; this targets 4.8. */
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new ("Watch Folder", self->window,
                                 GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, "_Watch", "_Cancel");

  g_signal_connect (chooser, "response", G_CALLBACK (on_folder_chosen), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
on_pause_toggled (GtkToggleButton *button,
                  Viewer          *self)
{
  gboolean paused = gtk_toggle_button_get_active (button);

  gtk_button_set_label (GTK_BUTTON (button), paused ? "Resume" : "Pause");
  if (self->watchdog == NULL)
    return;
  if (paused)
    {
      viewer_stop (self);
      update_status (self);
      test_print (self, "paused");
    }
  else if (self->starting == NULL && !hk_watchdog_get_running (self->watchdog))
    viewer_start (self);
}

/* --- the list ------------------------------------------------------------- */

static void
setup_row (GtkSignalListItemFactory *factory,
           GtkListItem              *item,
           gpointer                  user_data)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *time = gtk_label_new (NULL);
  GtkWidget *type = gtk_label_new (NULL);
  GtkWidget *path = gtk_label_new (NULL);

  gtk_widget_add_css_class (time, "dim-label");
  gtk_widget_add_css_class (time, "numeric");
  gtk_label_set_width_chars (GTK_LABEL (type), 16);
  gtk_label_set_xalign (GTK_LABEL (type), 0);
  gtk_label_set_xalign (GTK_LABEL (path), 0);
  gtk_label_set_ellipsize (GTK_LABEL (path), PANGO_ELLIPSIZE_MIDDLE);
  gtk_widget_set_hexpand (path, TRUE);
  gtk_box_append (GTK_BOX (box), time);
  gtk_box_append (GTK_BOX (box), type);
  gtk_box_append (GTK_BOX (box), path);
  gtk_list_item_set_child (item, box);
}

static void
bind_row (GtkSignalListItemFactory *factory,
          GtkListItem              *item,
          gpointer                  user_data)
{
  ViewerRow *row = gtk_list_item_get_item (item);
  GtkWidget *time = gtk_widget_get_first_child (gtk_list_item_get_child (item));
  GtkWidget *type = gtk_widget_get_next_sibling (time);
  GtkWidget *path = gtk_widget_get_next_sibling (type);

  gtk_label_set_text (GTK_LABEL (time), row->time);
  gtk_label_set_text (GTK_LABEL (type), row->type);
  gtk_label_set_text (GTK_LABEL (path), row->path[0] != '\0' ? row->path : ".");
}

/* --- the test hook -------------------------------------------------------- */

static void read_command (GDataInputStream *input, Viewer *self);

static void
on_after_paint (GdkFrameClock *clock,
                Viewer        *self)
{
  g_signal_handlers_disconnect_by_func (clock, on_after_paint, self);
  test_print (self, "drawn");
}

static void
run_command (Viewer     *self,
             const char *line)
{
  if (g_str_has_prefix (line, "filter "))
    gtk_editable_set_text (GTK_EDITABLE (self->filter_entry), line + strlen ("filter "));
  else if (strcmp (line, "filter") == 0)
    gtk_editable_set_text (GTK_EDITABLE (self->filter_entry), "");
  else if (strcmp (line, "pause") == 0)
    gtk_toggle_button_set_active (self->pause_button, TRUE);
  else if (strcmp (line, "resume") == 0)
    gtk_toggle_button_set_active (self->pause_button, FALSE);
  else if (strcmp (line, "draw") == 0)
    {
      /* Answers "drawn" once the window has painted what it shows now. */
      g_signal_connect (gtk_widget_get_frame_clock (GTK_WIDGET (self->window)), "after-paint",
                        G_CALLBACK (on_after_paint), self);
      gtk_widget_queue_draw (GTK_WIDGET (self->window));
    }
  else if (strcmp (line, "quit") == 0)
    gtk_window_destroy (self->window);
  else
    test_print (self, "error unknown command %s", line);
}

static void
on_command_read (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GDataInputStream *input = G_DATA_INPUT_STREAM (source);
  Viewer *self = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (input, result, NULL, NULL);

  if (line == NULL)
    {
      g_object_unref (input);  /* end of input: the test is gone */
      return;
    }
  run_command (self, line);
  read_command (input, self);
}

static void
read_command (GDataInputStream *input,
              Viewer           *self)
{
  g_data_input_stream_read_line_async (input, G_PRIORITY_DEFAULT, NULL, on_command_read, self);
}

/* --- the application ------------------------------------------------------ */

/* Runs when the window is finalized, its widgets already gone. */
static void
viewer_free (Viewer *self)
{
  g_clear_handle_id (&self->pulse_id, g_source_remove);
  if (self->count_binding != NULL)
    g_binding_unbind (g_steal_pointer (&self->count_binding));
  if (self->starting != NULL)
    g_cancellable_cancel (self->starting);
  g_clear_object (&self->starting);
  if (self->watchdog != NULL)
    hk_watchdog_stop (self->watchdog);
  g_clear_object (&self->watchdog);
  g_clear_object (&self->root);
  g_clear_object (&self->rows);
  g_free (self);
}

static Viewer *
viewer_new (GtkApplication *app)
{
  Viewer *self = g_new0 (Viewer, 1);
  GtkWidget *header = gtk_header_bar_new ();
  GtkWidget *open_button = gtk_button_new_with_mnemonic ("_Open Folder…");
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();

  self->test_mode = g_strcmp0 (g_getenv ("HACHIKO_VIEWER_TEST"), "1") == 0;
  self->rows = g_list_store_new (VIEWER_TYPE_ROW);
  self->window = GTK_WINDOW (gtk_application_window_new (app));
  gtk_window_set_title (self->window, "hachiko viewer");
  gtk_window_set_default_size (self->window, 760, 480);
  g_object_set_data_full (G_OBJECT (self->window), "viewer", self, (GDestroyNotify) viewer_free);

  self->title = GTK_LABEL (gtk_label_new ("hachiko viewer"));
  gtk_widget_add_css_class (GTK_WIDGET (self->title), "title");
  gtk_label_set_ellipsize (self->title, PANGO_ELLIPSIZE_START);
  gtk_header_bar_set_title_widget (GTK_HEADER_BAR (header), GTK_WIDGET (self->title));
  gtk_header_bar_pack_start (GTK_HEADER_BAR (header), open_button);
  self->pause_button = GTK_TOGGLE_BUTTON (gtk_toggle_button_new_with_label ("Pause"));
  gtk_widget_set_sensitive (GTK_WIDGET (self->pause_button), FALSE);
  gtk_header_bar_pack_end (GTK_HEADER_BAR (header), GTK_WIDGET (self->pause_button));
  gtk_window_set_titlebar (self->window, header);

  self->filter_entry = GTK_ENTRY (gtk_entry_new ());
  gtk_entry_set_placeholder_text (self->filter_entry, "Glob patterns: *.c *.h !build/");
  gtk_entry_set_icon_from_icon_name (self->filter_entry, GTK_ENTRY_ICON_PRIMARY, "edit-find-symbolic");

  self->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  gtk_progress_bar_set_show_text (self->progress, TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->progress), FALSE);

  g_signal_connect (factory, "setup", G_CALLBACK (setup_row), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_row), NULL);
  self->list = GTK_LIST_VIEW (gtk_list_view_new (GTK_SELECTION_MODEL (gtk_no_selection_new (G_LIST_MODEL (g_object_ref (self->rows)))),
                            factory));
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), GTK_WIDGET (self->list));
  gtk_widget_set_vexpand (scrolled, TRUE);

  self->status = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->status, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->status), "dim-label");

  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_bottom (box, 12);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->filter_entry));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->progress));
  gtk_box_append (GTK_BOX (box), scrolled);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->status));
  gtk_window_set_child (self->window, box);

  g_signal_connect (open_button, "clicked", G_CALLBACK (on_open_clicked), self);
  g_signal_connect (self->pause_button, "toggled", G_CALLBACK (on_pause_toggled), self);
  g_signal_connect (self->filter_entry, "changed", G_CALLBACK (on_filter_changed), self);
  update_status (self);

  if (self->test_mode)
    read_command (g_data_input_stream_new (g_unix_input_stream_new (0, FALSE)), self);

  return self;
}

static void
on_activate (GtkApplication *app)
{
  Viewer *self = viewer_new (app);

  gtk_window_present (self->window);
}

static void
on_open (GtkApplication  *app,
         GFile          **files,
         int              n_files,
         const char      *hint)
{
  Viewer *self = viewer_new (app);

  viewer_watch (self, files[0]);
  gtk_window_present (self->window);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GtkApplication) app =
    gtk_application_new ("org.gnome.Hachiko.Viewer",
                         G_APPLICATION_HANDLES_OPEN | G_APPLICATION_NON_UNIQUE);

  g_signal_connect (app, "activate", G_CALLBACK (on_activate), NULL);
  g_signal_connect (app, "open", G_CALLBACK (on_open), NULL);
  return g_application_run (G_APPLICATION (app), argc, argv);
}
