/* hk-tool-escape.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* How paths are printed. Paths are bytes: they need not be UTF-8 and may
 * hold any byte but NUL and '/'-as-separator, newlines included. Both
 * output formats keep every path exact and every event on one line:
 *
 * Text: a path made only of printable UTF-8 without spaces, '"' or '\' is
 * printed as is. Any other path is put in double quotes, with '"' and '\'
 * backslash-escaped, \n \t \r for those controls, \xNN for every other
 * ASCII control byte and for each byte that is not part of valid UTF-8,
 * and \uNNNN for the Unicode controls (C1, bidi overrides and isolates,
 * line and paragraph separators) that could disguise the line on a
 * terminal. Unquoting is therefore unambiguous.
 *
 * JSON: strings are JSON strings (UTF-8, with control, C1, bidi and line
 * separator characters as \uNNNN escapes). A path that is not valid UTF-8
 * is given with U+FFFD in place of the bad bytes in "path", and exactly,
 * base64-encoded, in "path_bytes"; likewise "dest" and "dest_bytes". */

#include "config.h"

#include <string.h>

#include "hk-tool-private.h"

/* Characters that are valid UTF-8 but must not reach a terminal raw. */
static gboolean
is_disguising_char (gunichar c)
{
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
    return TRUE;
  switch (c)
    {
    case 0x061c:                     /* arabic letter mark */
    case 0x200e: case 0x200f:        /* LRM, RLM */
    case 0x2028: case 0x2029:        /* line, paragraph separator */
    case 0x202a: case 0x202b: case 0x202c: case 0x202d: case 0x202e:
    case 0x2066: case 0x2067: case 0x2068: case 0x2069:
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
text_needs_quotes (const char *path)
{
  const char *p = path;
  const char *end = path + strlen (path);

  if (*path == '\0')
    return TRUE;

  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        return TRUE;
      if (c == '"' || c == '\\' || is_disguising_char (c) ||
          g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR)
        return TRUE;
      p = g_utf8_next_char (p);
    }

  return FALSE;
}

/* Appends @text with the escapes described above, without quotes; '"'
 * and '\\' are left alone unless @quoted. */
static void
append_escaped (GString    *out,
                const char *text,
                gboolean    quoted)
{
  const char *p = text;
  const char *end = text + strlen (text);

  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (out, "\\x%02X", (guchar) *p);
          p++;
          continue;
        }

      switch (c)
        {
        case '"':  g_string_append (out, quoted ? "\\\"" : "\""); break;
        case '\\': g_string_append (out, quoted ? "\\\\" : "\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\r': g_string_append (out, "\\r"); break;
        default:
          if (c < 0x80 && is_disguising_char (c))
            g_string_append_printf (out, "\\x%02X", c);
          else if (is_disguising_char (c))
            g_string_append_printf (out, "\\u%04X", c);
          else
            g_string_append_len (out, p, g_utf8_next_char (p) - p);
          break;
        }
      p = g_utf8_next_char (p);
    }
}

/* Appends @path for the text format; a directory gets a trailing '/',
 * which no file name can end with. */
void
hk_tool_append_text_path (GString    *out,
                          const char *path,
                          gboolean    is_directory)
{
  if (!text_needs_quotes (path))
    {
      g_string_append (out, path);
      if (is_directory)
        g_string_append_c (out, '/');
      return;
    }

  g_string_append_c (out, '"');
  append_escaped (out, path, TRUE);
  if (is_directory)
    g_string_append_c (out, '/');
  g_string_append_c (out, '"');
}

/* Appends @utf8 (valid UTF-8) as a quoted JSON string. */
void
hk_tool_append_json_string (GString    *out,
                            const char *utf8)
{
  g_string_append_c (out, '"');
  for (const char *p = utf8; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      switch (c)
        {
        case '"':  g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\b': g_string_append (out, "\\b"); break;
        case '\f': g_string_append (out, "\\f"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (is_disguising_char (c))
            g_string_append_printf (out, "\\u%04x", c);
          else
            g_string_append_len (out, p, g_utf8_next_char (p) - p);
          break;
        }
    }
  g_string_append_c (out, '"');
}

/* Appends `"KEY":"…"` for @path (or `"KEY":null`), plus `,"KEY_bytes":"…"`
 * with the exact bytes in base64 when @path is not valid UTF-8. */
void
hk_tool_append_json_path (GString    *out,
                          const char *key,
                          const char *path)
{
  g_autofree char *valid = NULL;
  g_autofree char *bytes = NULL;

  g_string_append_printf (out, "\"%s\":", key);
  if (path == NULL)
    {
      g_string_append (out, "null");
      return;
    }

  if (g_utf8_validate (path, -1, NULL))
    {
      hk_tool_append_json_string (out, path);
      return;
    }

  valid = g_utf8_make_valid (path, -1);
  hk_tool_append_json_string (out, valid);
  bytes = g_base64_encode ((const guchar *) path, strlen (path));
  g_string_append_printf (out, ",\"%s_bytes\":\"%s\"", key, bytes);
}

/* Returns @text made safe for one line of a terminal: controls and bytes
 * that are not UTF-8 escaped as in the text format, no quotes added. */
char *
hk_tool_escape_line (const char *text)
{
  GString *out = g_string_new (NULL);

  append_escaped (out, text, FALSE);

  return g_string_free (out, FALSE);
}

/* The nick of the event's type ("created", "attribute-changed", ...), the
 * name used in every output. */
const char *
hk_tool_event_type_nick (HkEvent *event)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (HK_TYPE_EVENT_TYPE);
  GEnumValue *value = g_enum_get_value (klass, hk_event_get_event_type (event));

  return value != NULL ? value->value_nick : "unknown";
}
