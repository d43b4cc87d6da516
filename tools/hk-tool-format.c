/* hk-tool-format.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* How `log` and `wait` print an event: the text line, a JSON object, or a
 * --format template with {placeholders}, like `inotifywait --format`. */

#include "config.h"

#include <string.h>
#include <time.h>

#include "hk-tool-private.h"

typedef enum
{
  PIECE_LITERAL,
  PIECE_TYPE,
  PIECE_PATH,
  PIECE_DEST,
  PIECE_TIME,
  PIECE_TIMESTAMP,
  PIECE_IS_DIR,
  PIECE_SYNTHETIC,
} PieceKind;

static const struct
{
  const char *name;
  PieceKind   kind;
} placeholders[] = {
  { "type", PIECE_TYPE },
  { "path", PIECE_PATH },
  { "dest", PIECE_DEST },
  { "time", PIECE_TIME },
  { "timestamp", PIECE_TIMESTAMP },
  { "is-dir", PIECE_IS_DIR },
  { "synthetic", PIECE_SYNTHETIC },
};

typedef struct
{
  PieceKind kind;
  char *literal;
} Piece;

struct _HkToolFormat
{
  gboolean json;
  GArray *pieces;   /* (element-type Piece); NULL for the default text */
};

static void
piece_clear (gpointer data)
{
  Piece *piece = data;

  g_clear_pointer (&piece->literal, g_free);
}

void
hk_tool_format_free (HkToolFormat *self)
{
  g_clear_pointer (&self->pieces, g_array_unref);
  g_free (self);
}

static void
add_literal (GArray  *pieces,
             GString *literal)
{
  Piece piece = { PIECE_LITERAL, NULL };

  if (literal->len == 0)
    return;
  piece.literal = g_strndup (literal->str, literal->len);
  g_array_append_val (pieces, piece);
  g_string_truncate (literal, 0);
}

/* Compiles @template: {name} placeholders, "{{" and "}}" for braces, and
 * the escapes \n, \t and \\. */
static GArray *
compile (const char  *template,
         GError     **error)
{
  g_autoptr(GArray) pieces = g_array_new (FALSE, FALSE, sizeof (Piece));
  g_autoptr(GString) literal = g_string_new (NULL);

  g_array_set_clear_func (pieces, piece_clear);
  for (const char *p = template; *p != '\0'; p++)
    {
      if (*p == '\\' && p[1] != '\0' && strchr ("nt\\", p[1]) != NULL)
        {
          p++;
          g_string_append_c (literal, *p == 'n' ? '\n' : *p == 't' ? '\t' : '\\');
        }
      else if ((*p == '{' && p[1] == '{') || (*p == '}' && p[1] == '}'))
        g_string_append_c (literal, *p++);
      else if (*p == '{')
        {
          const char *end = strchr (p, '}');
          g_autofree char *name = end != NULL ? g_strndup (p + 1, end - p - 1) : NULL;
          Piece piece = { PIECE_LITERAL, NULL };
          gboolean found = FALSE;

          for (guint i = 0; name != NULL && i < G_N_ELEMENTS (placeholders); i++)
            if (g_str_equal (name, placeholders[i].name))
              {
                piece.kind = placeholders[i].kind;
                found = TRUE;
              }
          if (!found)
            {
              g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "Unknown placeholder in --format “%s” (known: {type}, {path}, {dest}, "
                           "{time}, {timestamp}, {is-dir}, {synthetic}; “{{” for a brace)", template);
              return NULL;
            }
          add_literal (pieces, literal);
          g_array_append_val (pieces, piece);
          p = end;
        }
      else
        g_string_append_c (literal, *p);
    }
  add_literal (pieces, literal);

  return g_steal_pointer (&pieces);
}

HkToolFormat *
hk_tool_format_new (gboolean     json,
                    const char  *template,
                    GError     **error)
{
  HkToolFormat *self = g_new0 (HkToolFormat, 1);

  self->json = json;
  if (template != NULL)
    {
      if (json)
        {
          g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                               "--json and --format cannot be used together");
          hk_tool_format_free (self);
          return NULL;
        }
      self->pieces = compile (template, error);
      if (self->pieces == NULL)
        {
          hk_tool_format_free (self);
          return NULL;
        }
    }

  return self;
}

static void
append_time (GString *out,
             gint64   wall_us)
{
  time_t seconds = (time_t) (wall_us / G_USEC_PER_SEC);
  struct tm tm;

  localtime_r (&seconds, &tm);
  g_string_append_printf (out, "%02d:%02d:%02d.%03d",
                          tm.tm_hour, tm.tm_min, tm.tm_sec,
                          (int) (wall_us % G_USEC_PER_SEC) / 1000);
}

static void
append_text (GString *out,
             HkEvent *event,
             gint64   wall_us)
{
  gboolean is_dir = hk_event_get_is_directory (event);
  const char *dest = hk_event_get_dest_path (event);

  append_time (out, wall_us);
  g_string_append_printf (out, " %s ", hk_tool_event_type_nick (event));
  hk_tool_append_text_path (out, hk_event_get_path (event), is_dir);
  if (dest != NULL)
    {
      g_string_append (out, " -> ");
      hk_tool_append_text_path (out, dest, is_dir);
    }
  if (hk_event_get_is_synthetic (event))
    g_string_append (out, " (synthetic)");
  g_string_append_c (out, '\n');
}

void
hk_tool_append_json_event (GString *out,
                           HkEvent *event,
                           gint64   wall_us)
{
  g_string_append (out, "{\"type\":");
  hk_tool_append_json_string (out, hk_tool_event_type_nick (event));
  g_string_append_c (out, ',');
  hk_tool_append_json_path (out, "path", hk_event_get_path (event));
  g_string_append_c (out, ',');
  hk_tool_append_json_path (out, "dest", hk_event_get_dest_path (event));
  g_string_append_printf (out, ",\"is_directory\":%s,\"synthetic\":%s,"
                          "\"timestamp\":%" G_GINT64_FORMAT ".%06d}\n",
                          hk_event_get_is_directory (event) ? "true" : "false",
                          hk_event_get_is_synthetic (event) ? "true" : "false",
                          wall_us / G_USEC_PER_SEC, (int) (wall_us % G_USEC_PER_SEC));
}

/* Paths are escaped as in the text format (quoted only when needed), so
 * that one event stays one line; directories get no trailing '/'. */
static void
append_template (const HkToolFormat *self,
                 GString            *out,
                 HkEvent            *event,
                 gint64              wall_us)
{
  for (guint i = 0; i < self->pieces->len; i++)
    {
      const Piece *piece = &g_array_index (self->pieces, Piece, i);
      const char *dest = hk_event_get_dest_path (event);

      switch (piece->kind)
        {
        case PIECE_LITERAL:
          g_string_append (out, piece->literal);
          break;
        case PIECE_TYPE:
          g_string_append (out, hk_tool_event_type_nick (event));
          break;
        case PIECE_PATH:
          hk_tool_append_text_path (out, hk_event_get_path (event), FALSE);
          break;
        case PIECE_DEST:
          if (dest != NULL)
            hk_tool_append_text_path (out, dest, FALSE);
          break;
        case PIECE_TIME:
          append_time (out, wall_us);
          break;
        case PIECE_TIMESTAMP:
          g_string_append_printf (out, "%" G_GINT64_FORMAT ".%06d",
                                  wall_us / G_USEC_PER_SEC, (int) (wall_us % G_USEC_PER_SEC));
          break;
        case PIECE_IS_DIR:
          g_string_append_c (out, hk_event_get_is_directory (event) ? '1' : '0');
          break;
        case PIECE_SYNTHETIC:
          g_string_append_c (out, hk_event_get_is_synthetic (event) ? '1' : '0');
          break;
        default:
          g_assert_not_reached ();
        }
    }
  g_string_append_c (out, '\n');
}

/* Event timestamps are monotonic; the wall clock is what people read. The
 * two clocks cannot be read at once, so their difference jitters by a
 * microsecond or two from one reading to the next: it is kept while it stays
 * within a millisecond, so that events in order keep their order. A step of
 * the wall clock (date, NTP) is taken at once. */
static gint64
wall_time_of (gint64 monotonic_us)
{
  static gint64 offset_us;
  static gboolean known;
  gint64 now_offset_us = g_get_real_time () - g_get_monotonic_time ();

  if (!known || ABS (now_offset_us - offset_us) > 1000)
    {
      offset_us = now_offset_us;
      known = TRUE;
    }
  return monotonic_us + offset_us;
}

void
hk_tool_format_append (const HkToolFormat *self,
                       GString            *out,
                       HkEvent            *event)
{
  gint64 wall_us = wall_time_of (hk_event_get_timestamp (event));

  if (self->json)
    hk_tool_append_json_event (out, event, wall_us);
  else if (self->pieces != NULL)
    append_template (self, out, event, wall_us);
  else
    append_text (out, event, wall_us);
}
