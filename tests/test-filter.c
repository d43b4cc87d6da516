/* test-filter.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include <gio/gio.h>

#include "hk-filter-private.h"
#include "hk-test-util.h"

/* ------------------------------------------------------------------------ */
/* Glob syntax, table-driven: each behaviour is one test over its rows.     */
/* ------------------------------------------------------------------------ */

typedef struct
{
  const char *behaviour;
  const char *pattern;
  const char *path;
  gboolean is_directory;
  gboolean expected;
} GlobCase;

static const GlobCase glob_cases[] = {
  { "star-stays-within-a-component", "*.c", "main.c", FALSE, TRUE },
  { "star-stays-within-a-component", "*.c", "main.h", FALSE, FALSE },
  { "star-stays-within-a-component", "*.c", "main.cc", FALSE, FALSE },
  { "star-stays-within-a-component", "src/*.c", "src/x.c", FALSE, TRUE },
  { "star-stays-within-a-component", "src/*.c", "src/a/x.c", FALSE, FALSE },
  { "star-stays-within-a-component", "src/*.c", "lib/src/x.c", FALSE, FALSE },
  { "star-stays-within-a-component", "a*b*c", "aXXbYYc", FALSE, TRUE },
  { "star-stays-within-a-component", "a*b*c", "aXXbYY", FALSE, FALSE },
  { "star-stays-within-a-component", "*.tar.gz", "x.y.tar.gz", FALSE, TRUE },
  { "star-stays-within-a-component", "*", ".hidden", FALSE, TRUE },
  { "star-stays-within-a-component", "src*", "src/x", FALSE, FALSE },

  { "question-mark-is-one-character", "?.c", "a.c", FALSE, TRUE },
  { "question-mark-is-one-character", "?.c", "ab.c", FALSE, FALSE },
  { "question-mark-is-one-character", "?.c", ".c", FALSE, FALSE },
  { "question-mark-is-one-character", "caf?.txt", "café.txt", FALSE, TRUE },
  { "question-mark-is-one-character", "src?a", "src/a", FALSE, FALSE },

  { "bracket-matches-a-set", "[abc].txt", "b.txt", FALSE, TRUE },
  { "bracket-matches-a-set", "[abc].txt", "d.txt", FALSE, FALSE },
  { "bracket-matches-a-set", "[a-c]x", "bx", FALSE, TRUE },
  { "bracket-matches-a-set", "[a-c]x", "dx", FALSE, FALSE },
  { "bracket-matches-a-set", "[]]", "]", FALSE, TRUE },
  { "bracket-matches-a-set", "[a-]", "-", FALSE, TRUE },
  { "bracket-matches-a-set", "[é]t", "ét", FALSE, TRUE },
  { "bracket-matches-a-set", "[à-ï]", "é", FALSE, TRUE },

  { "negated-bracket-matches-outside-the-set", "[!a-c]x", "dx", FALSE, TRUE },
  { "negated-bracket-matches-outside-the-set", "[!a-c]x", "ax", FALSE, FALSE },
  { "negated-bracket-matches-outside-the-set", "[^0-9]*", "x1", FALSE, TRUE },
  { "negated-bracket-matches-outside-the-set", "[^0-9]*", "1x", FALSE, FALSE },
  { "negated-bracket-matches-outside-the-set", "[!]]", "]", FALSE, FALSE },

  { "double-star-crosses-directories", "a/**/b", "a/b", FALSE, TRUE },
  { "double-star-crosses-directories", "a/**/b", "a/x/b", FALSE, TRUE },
  { "double-star-crosses-directories", "a/**/b", "a/x/y/b", FALSE, TRUE },
  { "double-star-crosses-directories", "a/**/b", "a/x/y/c", FALSE, FALSE },
  { "double-star-crosses-directories", "a/**/b", "z/a/b", FALSE, FALSE },
  { "double-star-crosses-directories", "**/x", "x", FALSE, TRUE },
  { "double-star-crosses-directories", "**/x", "p/q/x", FALSE, TRUE },
  { "double-star-crosses-directories", "**/x", "p/xx", FALSE, FALSE },
  { "double-star-crosses-directories", "x/**", "x", TRUE, FALSE },
  { "double-star-crosses-directories", "x/**", "x/a", FALSE, TRUE },
  { "double-star-crosses-directories", "x/**", "x/a/b/c", FALSE, TRUE },
  { "double-star-crosses-directories", "x/**", "y/x/a", FALSE, FALSE },
  { "double-star-crosses-directories", "a/**/*.c", "a/b/c/d.c", FALSE, TRUE },
  { "double-star-crosses-directories", "a/**/**/b", "a/b", FALSE, TRUE },
  { "double-star-crosses-directories", "**", "deep/path/file", FALSE, TRUE },
  { "double-star-crosses-directories", "a**b", "aXb", FALSE, TRUE },
  { "double-star-crosses-directories", "a**b", "aX/Yb", FALSE, FALSE },

  { "leading-slash-anchors-to-the-root", "/TODO", "TODO", FALSE, TRUE },
  { "leading-slash-anchors-to-the-root", "/TODO", "doc/TODO", FALSE, FALSE },
  { "leading-slash-anchors-to-the-root", "/src/*.c", "src/x.c", FALSE, TRUE },
  { "leading-slash-anchors-to-the-root", "src//*.c", "src/x.c", FALSE, TRUE },

  { "basename-matches-at-any-depth", "node_modules", "node_modules", TRUE, TRUE },
  { "basename-matches-at-any-depth", "node_modules", "a/b/node_modules", TRUE, TRUE },
  { "basename-matches-at-any-depth", "Makefile", "sub/Makefile", FALSE, TRUE },
  { "basename-matches-at-any-depth", "Makefile", "sub/Makefile.am", FALSE, FALSE },
  { "basename-matches-at-any-depth", "*.py", "src/a/x.py", FALSE, TRUE },

  { "trailing-slash-matches-directories-only", "build/", "build", TRUE, TRUE },
  { "trailing-slash-matches-directories-only", "build/", "build", FALSE, FALSE },
  { "trailing-slash-matches-directories-only", "build/", "src/build", TRUE, TRUE },
  { "trailing-slash-matches-directories-only", "/build/", "src/build", TRUE, FALSE },
  { "trailing-slash-matches-directories-only", "x/**/", "x/a/b", TRUE, TRUE },
  { "trailing-slash-matches-directories-only", "x/**/", "x/a/b", FALSE, FALSE },

  { "backslash-escapes", "\\*.c", "*.c", FALSE, TRUE },
  { "backslash-escapes", "\\*.c", "x.c", FALSE, FALSE },
  { "backslash-escapes", "a\\?b", "a?b", FALSE, TRUE },
  { "backslash-escapes", "a\\?b", "axb", FALSE, FALSE },
  { "backslash-escapes", "\\[x]", "[x]", FALSE, TRUE },
  { "backslash-escapes", "[\\]]", "]", FALSE, TRUE },
  { "backslash-escapes", "a\\\\b", "a\\b", FALSE, TRUE },

  { "non-utf8-bytes-match-as-bytes", "caf\xe9.txt", "caf\xe9.txt", FALSE, TRUE },
  { "non-utf8-bytes-match-as-bytes", "caf?.txt", "caf\xe9.txt", FALSE, TRUE },
  { "non-utf8-bytes-match-as-bytes", "*.txt", "caf\xe9.txt", FALSE, TRUE },
  { "non-utf8-bytes-match-as-bytes", "caf\xe9.txt", "café.txt", FALSE, FALSE },
  { "non-utf8-bytes-match-as-bytes", "caf?.txt", "caf\xc3.txt", FALSE, TRUE },
  { "non-utf8-bytes-match-as-bytes", "[!a]x", "\xe9x", FALSE, TRUE },
  { "non-utf8-bytes-match-as-bytes", "[\xe9]x", "\xe9x", FALSE, TRUE },
  { "non-utf8-bytes-match-as-bytes", "[\xe9]x", "éx", FALSE, FALSE },
  { "non-utf8-bytes-match-as-bytes", "dir\xff/*.c", "dir\xff/a.c", FALSE, TRUE },
  { "non-utf8-bytes-match-as-bytes", "*\xff*", "a\xff\xfe" "b", FALSE, TRUE },
};

static void
test_glob_behaviour (gconstpointer data)
{
  const char *behaviour = data;
  guint n_rows = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (glob_cases); i++)
    {
      const GlobCase *c = &glob_cases[i];
      g_autoptr(HkFilter) filter = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *pattern = NULL;
      g_autofree char *path = NULL;

      if (strcmp (c->behaviour, behaviour) != 0)
        continue;

      pattern = g_strescape (c->pattern, NULL);
      path = g_strescape (c->path, NULL);
      g_test_message ("pattern “%s”, path “%s”%s, expecting %s", pattern, path,
                      c->is_directory ? " (directory)" : "",
                      c->expected ? "a match" : "no match");

      filter = hk_filter_new ();
      hk_filter_add_pattern (filter, c->pattern, &error);
      g_assert_no_error (error);
      g_assert_cmpint (hk_filter_matches (filter, c->path, c->is_directory), ==, c->expected);
      n_rows++;
    }

  g_assert_cmpuint (n_rows, >, 0);
}

/* ------------------------------------------------------------------------ */
/* Filter semantics                                                         */
/* ------------------------------------------------------------------------ */

static void
add_pattern (HkFilter   *filter,
             const char *glob)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (hk_filter_add_pattern (filter, glob, &error));
  g_assert_no_error (error);
}

static void
add_ignore_pattern (HkFilter   *filter,
                    const char *glob)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (hk_filter_add_ignore_pattern (filter, glob, &error));
  g_assert_no_error (error);
}

static void
add_regex (HkFilter   *filter,
           const char *regex)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (hk_filter_add_regex (filter, regex, &error));
  g_assert_no_error (error);
}

static void
add_ignore_regex (HkFilter   *filter,
                  const char *regex)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (hk_filter_add_ignore_regex (filter, regex, &error));
  g_assert_no_error (error);
}

static void
test_empty_filter_matches_everything (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  g_assert_true (hk_filter_get_case_sensitive (filter));
  g_assert_false (hk_filter_get_ignore_directories (filter));

  g_assert_true (hk_filter_matches (filter, "", TRUE));
  g_assert_true (hk_filter_matches (filter, "a", FALSE));
  g_assert_true (hk_filter_matches (filter, "a/b/c", TRUE));
  g_assert_true (hk_filter_matches (filter, "caf\xe9/x", FALSE));
  g_assert_false (hk_filter_excludes_directory (filter, ""));
  g_assert_false (hk_filter_excludes_directory (filter, ".git"));
}

static void
test_root_is_never_excluded (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_pattern (filter, "*.c");
  add_ignore_pattern (filter, "*");
  add_ignore_regex (filter, "");

  g_assert_true (hk_filter_matches (filter, "", TRUE));
  g_assert_false (hk_filter_excludes_directory (filter, ""));
  g_assert_false (hk_filter_matches (filter, "x.c", FALSE));

  hk_filter_set_ignore_directories (filter, TRUE);
  g_assert_false (hk_filter_matches (filter, "", TRUE));
}

static void
test_include_rules_restrict (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_pattern (filter, "*.c");
  add_regex (filter, "^docs/.*\\.md$");

  g_assert_true (hk_filter_matches (filter, "a/b/main.c", FALSE));
  g_assert_true (hk_filter_matches (filter, "docs/x/y.md", FALSE));
  g_assert_false (hk_filter_matches (filter, "README.md", FALSE));
  g_assert_false (hk_filter_matches (filter, "main.h", FALSE));
  /* Directories are subject to include rules too. */
  g_assert_false (hk_filter_matches (filter, "src", TRUE));
}

static void
test_include_rules_ignore_ancestors (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  /* "src/" includes the directory, not what is inside it... */
  add_pattern (filter, "src/");
  g_assert_true (hk_filter_matches (filter, "src", TRUE));
  g_assert_true (hk_filter_matches (filter, "lib/src", TRUE));
  g_assert_false (hk_filter_matches (filter, "src/x.c", FALSE));

  /* ...which is what a trailing "**" is for. Include rules never exclude. */
  add_pattern (filter, "src/**");
  g_assert_true (hk_filter_matches (filter, "src/x.c", FALSE));
  g_assert_true (hk_filter_matches (filter, "src/a/b/x.c", FALSE));
  g_assert_false (hk_filter_excludes_directory (filter, "lib"));
}

static void
test_ignore_wins_over_include (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_pattern (filter, "*.c");
  add_ignore_pattern (filter, "generated-*.c");
  add_ignore_regex (filter, "_test\\.c$");

  g_assert_true (hk_filter_matches (filter, "src/main.c", FALSE));
  g_assert_false (hk_filter_matches (filter, "src/generated-x.c", FALSE));
  g_assert_false (hk_filter_matches (filter, "src/main_test.c", FALSE));
}

static void
test_ignore_hides_descendants (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_pattern (filter, "*.js");
  add_ignore_pattern (filter, "node_modules");
  add_ignore_pattern (filter, "build/");

  g_assert_true (hk_filter_matches (filter, "src/app.js", FALSE));
  g_assert_true (hk_filter_matches (filter, "src/node_modules.js", FALSE));
  g_assert_false (hk_filter_matches (filter, "node_modules", TRUE));
  g_assert_false (hk_filter_matches (filter, "node_modules/x/y.js", FALSE));
  g_assert_false (hk_filter_matches (filter, "a/node_modules/b.js", FALSE));

  /* "build/" only names directories, but any ancestor is a directory. */
  g_assert_false (hk_filter_matches (filter, "build/app.js", FALSE));
  g_assert_false (hk_filter_matches (filter, "sub/build/deep/app.js", FALSE));
  g_assert_true (hk_filter_matches (filter, "build.js", FALSE));
}

static void
test_ignore_regex_hides_descendants (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_ignore_regex (filter, "^build$");

  g_assert_false (hk_filter_matches (filter, "build", TRUE));
  g_assert_false (hk_filter_matches (filter, "build/x.o", FALSE));
  g_assert_true (hk_filter_matches (filter, "rebuild/x.o", FALSE));
  g_assert_true (hk_filter_matches (filter, "src/build", TRUE));
  g_assert_true (hk_filter_excludes_directory (filter, "build/sub"));
  g_assert_false (hk_filter_excludes_directory (filter, "src/build"));
}

static void
test_excludes_directory (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_pattern (filter, "*.c");
  add_ignore_pattern (filter, ".git");
  add_ignore_pattern (filter, "/build/");
  add_ignore_pattern (filter, "*.tmp");

  g_assert_true (hk_filter_excludes_directory (filter, ".git"));
  g_assert_true (hk_filter_excludes_directory (filter, "sub/.git"));
  g_assert_true (hk_filter_excludes_directory (filter, ".git/objects/ab"));
  g_assert_true (hk_filter_excludes_directory (filter, "build"));
  g_assert_true (hk_filter_excludes_directory (filter, "x.tmp"));
  g_assert_false (hk_filter_excludes_directory (filter, "src/build"));
  g_assert_false (hk_filter_excludes_directory (filter, "src"));
  g_assert_false (hk_filter_excludes_directory (filter, ".github"));

  /* Neither include rules nor ignore-directories exclude a directory. */
  hk_filter_set_ignore_directories (filter, TRUE);
  g_assert_false (hk_filter_excludes_directory (filter, "src"));
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  guint *notifies = user_data;

  (*notifies)++;
}

static void
test_ignore_directories (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  gboolean value = FALSE;
  guint notifies = 0;

  g_signal_connect (filter, "notify::ignore-directories",
                    G_CALLBACK (count_notify), &notifies);

  hk_filter_set_ignore_directories (filter, TRUE);
  g_assert_true (hk_filter_get_ignore_directories (filter));
  g_assert_cmpuint (notifies, ==, 1);
  hk_filter_set_ignore_directories (filter, TRUE);
  g_assert_cmpuint (notifies, ==, 1);

  g_assert_false (hk_filter_matches (filter, "src", TRUE));
  g_assert_true (hk_filter_matches (filter, "src/main.c", FALSE));

  g_object_set (filter, "ignore-directories", FALSE, NULL);
  g_assert_cmpuint (notifies, ==, 2);
  g_object_get (filter, "ignore-directories", &value, NULL);
  g_assert_false (value);
  g_assert_true (hk_filter_matches (filter, "src", TRUE));
}

static void
test_regex_is_searched_anywhere (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_regex (filter, "\\.c$");
  add_regex (filter, "^docs/");

  g_assert_true (hk_filter_matches (filter, "src/main.c", FALSE));
  g_assert_false (hk_filter_matches (filter, "src/main.cc", FALSE));
  g_assert_true (hk_filter_matches (filter, "docs/index.md", FALSE));
  g_assert_false (hk_filter_matches (filter, "src/docs/index.md", FALSE));
}

static void
test_regex_matches_non_utf8_paths (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_regex (filter, "^caf.\\.txt$");
  add_regex (filter, "\xff$");

  /* One character in a UTF-8 path, one byte in another path. */
  g_assert_true (hk_filter_matches (filter, "café.txt", FALSE));
  g_assert_true (hk_filter_matches (filter, "caf\xe9.txt", FALSE));
  g_assert_false (hk_filter_matches (filter, "caf\xc3\xc3.txt", FALSE));
  /* A regex that is not UTF-8 itself matches bytes. */
  g_assert_true (hk_filter_matches (filter, "x\xff", FALSE));
  g_assert_false (hk_filter_matches (filter, "x\xfe", FALSE));
}

static void
test_case_insensitive_globs (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();

  add_pattern (filter, "*.JPG");
  add_pattern (filter, "[A-C].txt");
  add_pattern (filter, "ÉTÉ/*.md");
  add_pattern (filter, "caf\xe9.TXT");

  g_assert_true (hk_filter_matches (filter, "a/photo.JPG", FALSE));
  g_assert_false (hk_filter_matches (filter, "a/photo.jpg", FALSE));
  g_assert_false (hk_filter_matches (filter, "b.txt", FALSE));
  g_assert_false (hk_filter_matches (filter, "été/x.md", FALSE));

  hk_filter_set_case_sensitive (filter, FALSE);
  g_assert_true (hk_filter_matches (filter, "a/photo.jpg", FALSE));
  g_assert_true (hk_filter_matches (filter, "a/Photo.Jpg", FALSE));
  g_assert_true (hk_filter_matches (filter, "b.txt", FALSE));
  g_assert_true (hk_filter_matches (filter, "B.TXT", FALSE));
  g_assert_false (hk_filter_matches (filter, "d.txt", FALSE));
  g_assert_true (hk_filter_matches (filter, "été/x.md", FALSE));
  g_assert_true (hk_filter_matches (filter, "Été/X.MD", FALSE));
  /* Non-UTF-8 bytes are kept, ASCII around them is folded. */
  g_assert_true (hk_filter_matches (filter, "CAF\xe9.txt", FALSE));
  g_assert_false (hk_filter_matches (filter, "CAF\xc9.txt", FALSE));

  hk_filter_set_case_sensitive (filter, TRUE);
  g_assert_false (hk_filter_matches (filter, "a/photo.jpg", FALSE));
}

static void
test_case_insensitive_regexes (void)
{
  g_autoptr(HkFilter) filter = g_object_new (HK_TYPE_FILTER, "case-sensitive", FALSE, NULL);

  g_assert_false (hk_filter_get_case_sensitive (filter));

  add_regex (filter, "^readme");
  add_ignore_regex (filter, "(^|/)TMP$");

  g_assert_true (hk_filter_matches (filter, "README.md", FALSE));
  g_assert_true (hk_filter_matches (filter, "ReadMe\xff", FALSE));
  g_assert_false (hk_filter_matches (filter, "readme/tmp/x", FALSE));
  g_assert_true (hk_filter_excludes_directory (filter, "a/tmp"));

  hk_filter_set_case_sensitive (filter, TRUE);
  g_assert_false (hk_filter_matches (filter, "README.md", FALSE));
  g_assert_true (hk_filter_matches (filter, "readme/tmp/x", FALSE));
}

static void
test_case_sensitive_notifies (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  gboolean value = TRUE;
  guint notifies = 0;

  g_signal_connect (filter, "notify::case-sensitive",
                    G_CALLBACK (count_notify), &notifies);

  hk_filter_set_case_sensitive (filter, TRUE);
  g_assert_cmpuint (notifies, ==, 0);
  hk_filter_set_case_sensitive (filter, FALSE);
  g_assert_cmpuint (notifies, ==, 1);
  g_object_get (filter, "case-sensitive", &value, NULL);
  g_assert_false (value);
}

static void
test_deep_paths (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  g_autoptr(GString) path = g_string_new (NULL);

  for (guint i = 0; i < 100; i++)
    g_string_append (path, "Dir/");
  g_string_append (path, "X.c");

  add_pattern (filter, "**/dir/x.c");
  add_ignore_pattern (filter, "/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/"
                              "dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/"
                              "dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/"
                              "dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/"
                              "dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/"
                              "dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/"
                              "dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/dir/"
                              "dir/dir/dir/x.c");

  g_assert_false (hk_filter_matches (filter, path->str, FALSE));
  hk_filter_set_case_sensitive (filter, FALSE);
  g_assert_true (hk_filter_matches (filter, path->str, FALSE));
  g_assert_false (hk_filter_excludes_directory (filter, path->str));

  /* 101 levels: the anchored ignore pattern now matches, and hides what
   * would be inside. */
  g_string_prepend (path, "Dir/");
  g_assert_false (hk_filter_matches (filter, path->str, FALSE));
  g_string_append (path, "/Dir");
  g_assert_true (hk_filter_excludes_directory (filter, path->str));
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_invalid_patterns (void)
{
  static const struct {
    const char *glob;
    const char *reason;
  } cases[] = {
    { "[abc", "unterminated character class" },
    { "a[!", "unterminated character class" },
    { "[a-", "unterminated character class" },
    { "x[\\", "unterminated character class" },
    { "", "empty pattern" },
    { "/", "empty pattern" },
    { "//", "empty pattern" },
    { "abc\\", "trailing backslash" },
    { "a\\/b", "cannot be escaped" },
    { "a[/]b", "cannot contain" },
    { "[z-a]", "out of order" },
  };
  g_autoptr(HkFilter) filter = hk_filter_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) ignore_error = NULL;
      g_autofree char *quoted = g_strdup_printf ("Invalid pattern “%s”: ", cases[i].glob);

      g_assert_false (hk_filter_add_pattern (filter, cases[i].glob, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, quoted));
      g_assert_nonnull (strstr (error->message, cases[i].reason));

      g_assert_false (hk_filter_add_ignore_pattern (filter, cases[i].glob, &ignore_error));
      g_assert_error (ignore_error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_cmpstr (ignore_error->message, ==, error->message);
    }

  /* A non-UTF-8 pattern still gives a UTF-8 message. */
  {
    g_autoptr(GError) error = NULL;

    g_assert_false (hk_filter_add_pattern (filter, "caf\xe9[", &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_assert_true (g_utf8_validate (error->message, -1, NULL));
    g_assert_nonnull (strstr (error->message, "caf"));
  }

  /* Nothing was added. */
  g_assert_true (hk_filter_matches (filter, "anything", FALSE));
  g_assert_false (hk_filter_excludes_directory (filter, "abc"));
}

static void
test_invalid_regexes (void)
{
  static const char * const cases[] = { "(unclosed", "*oops", "a{2,1}", "[z-a]" };
  g_autoptr(HkFilter) filter = hk_filter_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) ignore_error = NULL;

      g_assert_false (hk_filter_add_regex (filter, cases[i], &error));
      g_assert_nonnull (error);
      g_assert_true (error->domain == G_REGEX_ERROR);
      g_assert_true (g_str_has_prefix (error->message, "Invalid regular expression “"));
      g_assert_nonnull (strstr (error->message, cases[i]));

      g_assert_false (hk_filter_add_ignore_regex (filter, cases[i], &ignore_error));
      g_assert_nonnull (ignore_error);
      g_assert_true (ignore_error->domain == G_REGEX_ERROR);
      g_assert_cmpint (ignore_error->code, ==, error->code);
    }

  g_assert_true (hk_filter_matches (filter, "anything", FALSE));
  g_assert_false (hk_filter_excludes_directory (filter, "anything"));
}

/* Issue 10, item 12: GLib's own message quotes the raw pattern, so a
 * regex that is not UTF-8 used to give a message that is not UTF-8. */
static void
test_invalid_non_utf8_regex_message_is_utf8 (void)
{
  static const char * const cases[] = { "caf\xe9(", "\xff\xfe[", "(\xc3" };
  g_autoptr(HkFilter) filter = hk_filter_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GError) ignore_error = NULL;

      g_assert_false (hk_filter_add_regex (filter, cases[i], &error));
      g_assert_nonnull (error);
      g_assert_true (error->domain == G_REGEX_ERROR);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_true (g_str_has_prefix (error->message, "Invalid regular expression “"));

      g_assert_false (hk_filter_add_ignore_regex (filter, cases[i], &ignore_error));
      g_assert_nonnull (ignore_error);
      g_assert_true (g_utf8_validate (ignore_error->message, -1, NULL));
    }

  g_assert_true (hk_filter_matches (filter, "anything", FALSE));
}

/* ------------------------------------------------------------------------ */
/* Ignore files                                                             */
/* ------------------------------------------------------------------------ */

typedef struct
{
  char *root;
  HkFilter *filter;
} IgnoreFixture;

static void
ignore_fixture_set_up (IgnoreFixture *fixture,
                       gconstpointer  data)
{
  g_autoptr(GFile) base = NULL;

  fixture->root = hk_test_make_tmpdir ();
  fixture->filter = hk_filter_new ();
  base = g_file_new_for_path (fixture->root);
  hk_filter_set_base (fixture->filter, base);
}

static void
ignore_fixture_tear_down (IgnoreFixture *fixture,
                          gconstpointer  data)
{
  g_clear_object (&fixture->filter);
  hk_test_rm_rf (fixture->root);
  g_clear_pointer (&fixture->root, g_free);
}

/* Writes @contents to ROOT/@relative (creating directories) and adds it. */
static void
add_ignore_file (IgnoreFixture *fixture,
                 const char    *relative,
                 const char    *contents)
{
  g_autofree char *path = g_build_filename (fixture->root, relative, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  g_assert_true (hk_filter_add_ignore_file (fixture->filter, file, &error));
  g_assert_no_error (error);
}

typedef struct
{
  const char *path;
  gboolean is_directory;
  gboolean reported;
} PathCase;

static void
assert_paths (HkFilter       *filter,
              const PathCase *cases,
              gsize           n)
{
  for (gsize i = 0; i < n; i++)
    {
      gboolean reported = hk_filter_matches (filter, cases[i].path, cases[i].is_directory);

      if (reported != cases[i].reported)
        g_error ("“%s”%s: expected %s", cases[i].path, cases[i].is_directory ? " (dir)" : "",
                 cases[i].reported ? "reported" : "ignored");
    }
}

static void
test_ignore_file_git_syntax (IgnoreFixture *fixture,
                             gconstpointer  data)
{
  static const PathCase cases[] = {
    { "x.o", FALSE, FALSE },                 /* no slash: any depth */
    { "src/deep/y.o", FALSE, FALSE },
    { "important.o", FALSE, TRUE },          /* negation, later line wins */
    { "build", TRUE, FALSE },                /* directory-only */
    { "build", FALSE, TRUE },
    { "build/out.txt", FALSE, FALSE },       /* inside an ignored directory */
    { "src/build/gen.c", FALSE, FALSE },
    { "TODO", FALSE, FALSE },                /* anchored by a leading slash */
    { "doc/TODO", FALSE, TRUE },
    { "doc/api/x.html", FALSE, FALSE },      /* anchored by a middle slash */
    { "src/doc/api/x.html", FALSE, TRUE },
    { "logs/a/b/c.log", FALSE, FALSE },      /* ** */
    { "logs/c.txt", FALSE, TRUE },
    { "#hash", FALSE, FALSE },               /* escaped # */
    { "!bang", FALSE, FALSE },               /* escaped ! */
    { "trailing", FALSE, FALSE },            /* trailing spaces dropped */
    { "space ", FALSE, FALSE },              /* an escaped one kept */
    { "space", FALSE, TRUE },
    { "comment", FALSE, TRUE },
    { "main.c", FALSE, TRUE },
    { "", TRUE, TRUE },
  };

  add_ignore_file (fixture, ".gitignore",
                   "# a comment\n"
                   "comment-not\n"
                   "*.o\n"
                   "!important.o\n"
                   "build/\n"
                   "/TODO\n"
                   "doc/api/\n"
                   "logs/**/*.log\n"
                   "\\#hash\n"
                   "\\!bang\n"
                   "trailing   \n"
                   "space\\ \n"
                   "\n"
                   "[z-a]\n");   /* invalid: skipped */
  assert_paths (fixture->filter, cases, G_N_ELEMENTS (cases));

  g_assert_true (hk_filter_excludes_directory (fixture->filter, "build"));
  g_assert_true (hk_filter_excludes_directory (fixture->filter, "src/build"));
  g_assert_false (hk_filter_excludes_directory (fixture->filter, "src"));
}

static void
test_ignore_file_deeper_files_override (IgnoreFixture *fixture,
                                        gconstpointer  data)
{
  static const PathCase cases[] = {
    { "a.tmp", FALSE, FALSE },
    { "sub/a.tmp", FALSE, FALSE },
    { "sub/keep.tmp", FALSE, TRUE },        /* re-included by the deeper file */
    { "keep.tmp", FALSE, FALSE },           /* the deeper file is not about the top */
    { "sub/local.c", FALSE, FALSE },        /* relative to sub/ */
    { "local.c", FALSE, TRUE },
    { "other/sub/local.c", FALSE, TRUE },
    { "sub/x/local.c", FALSE, TRUE },       /* anchored to sub/ itself */
    { "sub/gen", TRUE, FALSE },
    { "sub/gen/keep.c", FALSE, FALSE },     /* no way back from an ignored directory */
    { "sub/deeper/z.tmp", FALSE, TRUE },    /* the deepest file re-includes */
    { "sub//deeper/z.tmp", FALSE, TRUE },   /* empty components are skipped */
    { "sub//keep.tmp/", FALSE, TRUE },
    { "sub//a.tmp", FALSE, FALSE },
  };

  add_ignore_file (fixture, ".gitignore", "*.tmp\n");
  add_ignore_file (fixture, "sub/.gitignore", "!keep.tmp\n/local.c\ngen/\n!gen/keep.c\n");
  add_ignore_file (fixture, "sub/deeper/.gitignore", "!*.tmp\n");
  assert_paths (fixture->filter, cases, G_N_ELEMENTS (cases));
}

static void
count_changes (guint *changes)
{
  (*changes)++;
}

static void
test_ignore_file_is_replaced_and_removed (IgnoreFixture *fixture,
                                          gconstpointer  data)
{
  g_autofree char *path = g_build_filename (fixture->root, ".gitignore", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autofree char *missing_path = g_build_filename (fixture->root, "gone", ".gitignore", NULL);
  g_autoptr(GFile) missing = g_file_new_for_path (missing_path);
  g_autoptr(GError) error = NULL;
  guint changes = 0;

  g_signal_connect_swapped (fixture->filter, "changed", G_CALLBACK (count_changes), &changes);

  add_ignore_file (fixture, ".gitignore", "*.a\n");
  g_assert_false (hk_filter_matches (fixture->filter, "x.a", FALSE));
  add_ignore_file (fixture, ".gitignore", "*.b\n");
  g_assert_true (hk_filter_matches (fixture->filter, "x.a", FALSE));
  g_assert_false (hk_filter_matches (fixture->filter, "x.b", FALSE));
  g_assert_cmpuint (changes, ==, 2);

  g_assert_true (hk_filter_remove_ignore_file (fixture->filter, file));
  g_assert_true (hk_filter_matches (fixture->filter, "x.b", FALSE));
  g_assert_false (hk_filter_remove_ignore_file (fixture->filter, file));
  g_assert_cmpuint (changes, ==, 3);

  g_assert_false (hk_filter_add_ignore_file (fixture->filter, missing, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

static void
test_ignore_file_other_directory_and_base (IgnoreFixture *fixture,
                                           gconstpointer  data)
{
  g_autofree char *exclude_path = g_build_filename (fixture->root, ".git", "info", "exclude", NULL);
  g_autofree char *sub = g_build_filename (fixture->root, "sub", NULL);
  g_autoptr(GFile) exclude = g_file_new_for_path (exclude_path);
  g_autoptr(GFile) root = g_file_new_for_path (fixture->root);
  g_autoptr(GFile) sub_file = g_file_new_for_path (sub);
  g_autoptr(GFile) elsewhere = g_file_new_for_path ("/usr");
  g_autoptr(GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (sub, 0755), ==, 0);
  add_ignore_file (fixture, ".gitignore", "/sub/top-only\n*.log\n");
  add_ignore_file (fixture, ".git/info/unused", "");
  hk_test_write_file (exclude_path, "/excluded\n");

  /* $GIT_DIR/info/exclude: relative to the work tree, not to .git/info. */
  g_assert_true (hk_filter_add_ignore_file_for_directory (fixture->filter, exclude, root, &error));
  g_assert_no_error (error);
  g_assert_false (hk_filter_matches (fixture->filter, "excluded", FALSE));
  g_assert_true (hk_filter_matches (fixture->filter, "sub/excluded", FALSE));

  /* A directory unrelated to the base is refused. */
  g_assert_false (hk_filter_add_ignore_file_for_directory (fixture->filter, exclude, elsewhere, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);

  /* Watching sub/ of the work tree: the top .gitignore still applies. */
  hk_filter_set_base (fixture->filter, sub_file);
  g_assert_false (hk_filter_matches (fixture->filter, "top-only", FALSE));
  g_assert_false (hk_filter_matches (fixture->filter, "a/b.log", FALSE));
  g_assert_true (hk_filter_matches (fixture->filter, "a/top-only", FALSE));
  g_assert_true (hk_filter_matches (fixture->filter, "excluded", FALSE));
}

static void
test_ignore_file_hgignore_syntax (IgnoreFixture *fixture,
                                  gconstpointer  data)
{
  static const PathCase cases[] = {
    { "x.pyc", FALSE, FALSE },
    { "a/b/x.pyc", FALSE, FALSE },
    { "out/bin", FALSE, FALSE },
    { "deep/out/bin", FALSE, FALSE },
    { "x.orig", FALSE, FALSE },
    { "x.rej", FALSE, FALSE },
    { "main.c", FALSE, TRUE },
  };

  add_ignore_file (fixture, ".hgignore",
                   "\\.orig$\n"
                   "syntax: glob\n"
                   "*.pyc\n"
                   "out/bin\n"
                   "re:\\.rej$\n");
  assert_paths (fixture->filter, cases, G_N_ELEMENTS (cases));
}

static void
test_ignore_file_combines_with_ignore_rules (IgnoreFixture *fixture,
                                             gconstpointer  data)
{
  add_pattern (fixture->filter, "*.c");
  add_ignore_pattern (fixture->filter, "vendor/");
  add_ignore_file (fixture, ".gitignore", "*.c\n!keep.c\n!vendor/\n");

  g_assert_false (hk_filter_matches (fixture->filter, "x.c", FALSE));
  g_assert_true (hk_filter_matches (fixture->filter, "keep.c", FALSE));
  g_assert_false (hk_filter_matches (fixture->filter, "keep.h", FALSE));   /* include rules */
  g_assert_false (hk_filter_matches (fixture->filter, "vendor/keep.c", FALSE));  /* ignore wins */
}

/* ------------------------------------------------------------------------ */
/* Snapshots and threads                                                    */
/* ------------------------------------------------------------------------ */

static void
test_snapshot_is_unchanged_by_edits (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  g_autoptr(HkFilterRules) before = NULL;
  g_autoptr(HkFilterRules) after = NULL;
  HkFilterRules *extra;

  add_pattern (filter, "*.c");
  before = hk_filter_dup_rules (filter);

  add_pattern (filter, "*.h");
  add_ignore_pattern (filter, "old");
  add_ignore_regex (filter, "^tmp/");
  hk_filter_set_case_sensitive (filter, FALSE);
  hk_filter_set_ignore_directories (filter, TRUE);
  after = hk_filter_dup_rules (filter);

  g_assert_true (hk_filter_rules_matches (before, "old/x.c", FALSE));
  g_assert_true (hk_filter_rules_matches (before, "tmp/x.c", FALSE));
  g_assert_false (hk_filter_rules_matches (before, "x.h", FALSE));
  g_assert_false (hk_filter_rules_matches (before, "X.C", FALSE));
  g_assert_true (hk_filter_rules_matches (before, "d.c", TRUE));
  g_assert_false (hk_filter_rules_excludes_directory (before, "old"));

  g_assert_false (hk_filter_rules_matches (after, "old/x.c", FALSE));
  g_assert_false (hk_filter_rules_matches (after, "tmp/x.c", FALSE));
  g_assert_true (hk_filter_rules_matches (after, "x.h", FALSE));
  g_assert_true (hk_filter_rules_matches (after, "X.C", FALSE));
  g_assert_false (hk_filter_rules_matches (after, "d.c", TRUE));
  g_assert_true (hk_filter_rules_excludes_directory (after, "old"));

  /* A snapshot outlives its filter. */
  g_clear_object (&filter);
  extra = hk_filter_rules_ref (after);
  g_assert_true (extra == after);
  hk_filter_rules_unref (extra);
  g_assert_true (hk_filter_rules_matches (after, "x.h", FALSE));
}

#define N_EDITS 300

typedef struct
{
  HkFilter *filter;
  gint started;
  gint stop;
  gint iterations;
} ThreadData;

/* Each snapshot must show a prefix of the edits: if "tmpK" is ignored, so are
 * all earlier ones, and the rules added first always apply. */
static gpointer
match_in_thread (gpointer user_data)
{
  ThreadData *data = user_data;
  guint seed = 1;

  g_atomic_int_inc (&data->started);

  do
    {
      g_autoptr(HkFilterRules) rules = hk_filter_dup_rules (data->filter);
      char path[32];
      guint k;

      seed = seed * 1103515245 + 12345;
      k = 1 + (seed >> 8) % (N_EDITS - 1);

      g_assert_true (hk_filter_rules_matches (rules, "src/keep.c", FALSE));
      g_assert_false (hk_filter_rules_matches (rules, "src/drop.o", FALSE));
      g_assert_true (hk_filter_rules_excludes_directory (rules, ".git"));

      g_snprintf (path, sizeof path, "tmp%u/x.c", k);
      if (!hk_filter_rules_matches (rules, path, FALSE))
        {
          g_snprintf (path, sizeof path, "tmp%u/x.c", k - 1);
          g_assert_false (hk_filter_rules_matches (rules, path, FALSE));
          g_snprintf (path, sizeof path, "tmp%u", k - 1);
          g_assert_true (hk_filter_rules_excludes_directory (rules, path));
        }

      g_atomic_int_inc (&data->iterations);
    }
  while (!g_atomic_int_get (&data->stop));

  return NULL;
}

static void
test_rules_match_concurrently_with_edits (void)
{
  g_autoptr(HkFilter) filter = hk_filter_new ();
  ThreadData data = { filter, 0, 0, 0 };
  GThread *threads[2];

  add_pattern (filter, "*.c");
  add_ignore_pattern (filter, ".git/");

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("hk-test-match", match_in_thread, &data);

  /* Edit only once both threads are matching, so that they overlap. */
  while (g_atomic_int_get (&data.started) < (gint) G_N_ELEMENTS (threads))
    g_thread_yield ();

  for (guint i = 0; i < N_EDITS; i++)
    {
      g_autofree char *glob = g_strdup_printf ("/tmp%u/", i);

      add_ignore_pattern (filter, glob);
      hk_filter_set_case_sensitive (filter, i % 2 == 0);
    }

  g_atomic_int_set (&data.stop, 1);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);

  g_test_message ("%d matching rounds during %d edits", g_atomic_int_get (&data.iterations), N_EDITS);
  g_assert_cmpint (g_atomic_int_get (&data.iterations), >=, 2);
  g_assert_false (hk_filter_matches (filter, "tmp299/x.c", FALSE));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (glob_cases); i++)
    {
      g_autofree char *name = NULL;

      if (i > 0 && strcmp (glob_cases[i - 1].behaviour, glob_cases[i].behaviour) == 0)
        continue;

      name = g_strconcat ("/filter/glob/", glob_cases[i].behaviour, NULL);
      g_test_add_data_func (name, glob_cases[i].behaviour, test_glob_behaviour);
    }

  g_test_add_func ("/filter/empty-filter-matches-everything", test_empty_filter_matches_everything);
  g_test_add_func ("/filter/root-is-never-excluded", test_root_is_never_excluded);
  g_test_add_func ("/filter/include/restricts-to-matching-paths", test_include_rules_restrict);
  g_test_add_func ("/filter/include/does-not-apply-to-descendants", test_include_rules_ignore_ancestors);
  g_test_add_func ("/filter/ignore/wins-over-include", test_ignore_wins_over_include);
  g_test_add_func ("/filter/ignore/hides-descendants-of-ignored-directory", test_ignore_hides_descendants);
  g_test_add_func ("/filter/ignore/regex-hides-descendants", test_ignore_regex_hides_descendants);
  g_test_add_func ("/filter/excludes-directory/only-for-ignore-rules", test_excludes_directory);
  g_test_add_func ("/filter/ignore-directories/directories-never-match", test_ignore_directories);
  g_test_add_func ("/filter/regex/is-searched-anywhere-in-the-path", test_regex_is_searched_anywhere);
  g_test_add_func ("/filter/regex/matches-non-utf8-paths", test_regex_matches_non_utf8_paths);
  g_test_add_func ("/filter/case-insensitive/globs-fold-case", test_case_insensitive_globs);
  g_test_add_func ("/filter/case-insensitive/regexes-fold-case", test_case_insensitive_regexes);
  g_test_add_func ("/filter/case-insensitive/property-notifies-on-change", test_case_sensitive_notifies);
  g_test_add_func ("/filter/deep-paths-match", test_deep_paths);
  g_test_add_func ("/filter/invalid/pattern-is-rejected-with-its-text", test_invalid_patterns);
  g_test_add_func ("/filter/invalid/regex-is-rejected-with-its-text", test_invalid_regexes);
  g_test_add_func ("/filter/invalid/non-utf8-regex-message-is-utf8", test_invalid_non_utf8_regex_message_is_utf8);
#define ADD_IGNORE_TEST(name, func)   g_test_add ("/filter/ignore-file/" name, IgnoreFixture, NULL,               ignore_fixture_set_up, func, ignore_fixture_tear_down)
  ADD_IGNORE_TEST ("git-syntax", test_ignore_file_git_syntax);
  ADD_IGNORE_TEST ("deeper-files-override-shallower", test_ignore_file_deeper_files_override);
  ADD_IGNORE_TEST ("adding-again-replaces-and-remove-removes", test_ignore_file_is_replaced_and_removed);
  ADD_IGNORE_TEST ("other-directory-and-base", test_ignore_file_other_directory_and_base);
  ADD_IGNORE_TEST ("hgignore-syntax", test_ignore_file_hgignore_syntax);
  ADD_IGNORE_TEST ("combines-with-ignore-rules", test_ignore_file_combines_with_ignore_rules);
  g_test_add_func ("/filter/rules/snapshot-is-unchanged-by-edits", test_snapshot_is_unchanged_by_edits);
  g_test_add_func ("/filter/rules/match-concurrently-with-edits", test_rules_match_concurrently_with_edits);

  return g_test_run ();
}
