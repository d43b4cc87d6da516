/* fuzz-filter.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* libFuzzer target for the filter parser: globs and regexes from
 * hk_filter_add_pattern() and friends, then matched against paths.
 *
 * Input: one flags byte (bits 0-1: which rule, bit 2: case-sensitive,
 * bit 3: ignore directories), the rule up to a NUL byte, then paths
 * separated by NUL bytes. */

#include <string.h>

#include "hk-filter-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  g_autoptr(HkFilterRules) rules = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  const char *rule, *end;
  guint8 flags;
  gboolean added;

  if (size < 1)
    return 0;
  flags = data[0];
  text = g_strndup ((const char *) data + 1, size - 1);  /* NUL-terminated */
  end = text + (size - 1);
  rule = text;

  /* Rules are UTF-8 by contract; paths may be any bytes. */
  if (!g_utf8_validate (rule, -1, NULL))
    return 0;

  hk_filter_set_case_sensitive (filter, (flags & 4) != 0);
  hk_filter_set_ignore_directories (filter, (flags & 8) != 0);
  switch (flags & 3)
    {
    case 0: added = hk_filter_add_pattern (filter, rule, &error); break;
    case 1: added = hk_filter_add_ignore_pattern (filter, rule, &error); break;
    case 2: added = hk_filter_add_regex (filter, rule, &error); break;
    default: added = hk_filter_add_ignore_regex (filter, rule, &error); break;
    }
  g_assert_true (added == (error == NULL));
  if (!added)
    {
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      return 0;
    }

  rules = hk_filter_dup_rules (filter);
  for (const char *path = rule + strlen (rule) + 1; path < end; path += strlen (path) + 1)
    {
      gboolean matches = hk_filter_matches (filter, path, FALSE);

      g_assert_true (matches == hk_filter_rules_matches (rules, path, FALSE));
      hk_filter_matches (filter, path, TRUE);
      hk_filter_excludes_directory (filter, path);
    }

  return 0;
}
