/* hk-filter.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "hk-filter-private.h"

#include <string.h>

#include <gio/gio.h>

/**
 * HkFilter:
 *
 * Decides which paths of a watched tree are reported.
 *
 * A filter holds *include* rules and *ignore* rules. Each rule is either a
 * glob ([method@Hk.Filter.add_pattern], [method@Hk.Filter.add_ignore_pattern])
 * or a regular expression ([method@Hk.Filter.add_regex],
 * [method@Hk.Filter.add_ignore_regex]). Paths are always relative to the
 * watched root, use `/` as separator and have no leading `/`; the empty
 * string is the root itself.
 *
 * A path is reported when:
 *
 * 1. it is not a directory, or [property@Hk.Filter:ignore-directories] is
 *    %FALSE;
 * 2. no ignore rule matches the path or any of its ancestor directories
 *    (ignore wins over include);
 * 3. there are no include rules, or at least one include rule matches the
 *    path itself.
 *
 * Globs follow `.gitignore` conventions:
 *
 * - `*` matches any run of characters except `/`, `?` matches one
 *   character, `[a-z]`, `[!0-9]` and `[^0-9]` match one character of (or
 *   not of) a set, and a backslash makes the next character literal;
 * - a glob without `/` is matched against the last component of the path,
 *   at any depth: `*.py` matches `x.py` and `src/a/x.py`;
 * - a glob containing `/` is matched against the whole path: <code>src/&#42;.c</code>
 *   matches `src/x.c` but neither `src/a/x.c` nor `lib/src/x.c`; a leading
 *   `/` only anchors the glob to the root: `/TODO` matches `TODO` but not
 *   `doc/TODO`;
 * - `**` as a whole component matches any number of directories:
 *   <code>a/&#42;&#42;/b</code> matches `a/b`, `a/x/b` and `a/x/y/b`,
 *   <code>&#42;&#42;/x</code> matches `x` at any depth and <code>x/&#42;*</code> matches
 *   everything inside `x` (but not `x` itself);
 * - a trailing `/` restricts the glob to directories: `build/` matches the
 *   directory `build` (and, as an ignore rule, hides everything inside it)
 *   but not a file named `build`.
 *
 * Regular expressions use [struct@GLib.Regex] syntax and are searched for
 * anywhere in the relative path; use `^` and `$` to anchor them.
 *
 * Rules can also be read from `.gitignore`-style files with
 * [method@Hk.Filter.add_ignore_file], with git's meaning (negation, last
 * match wins, deeper files override shallower ones); they are relative to
 * [property@Hk.Filter:base].
 *
 * For example, to watch only C sources while skipping version control and
 * build output:
 *
 * ```c
 * g_autoptr(HkFilter) filter = hk_filter_new ();
 *
 * hk_filter_add_pattern (filter, "*.[ch]", NULL);
 * hk_filter_add_ignore_pattern (filter, ".git/", NULL);
 * hk_filter_add_ignore_pattern (filter, "/build/", NULL);
 * hk_filter_add_ignore_regex (filter, "(^|/)#[^/]*#$", NULL);
 *
 * hk_filter_matches (filter, "src/main.c", FALSE);      // TRUE
 * hk_filter_matches (filter, "src/main.o", FALSE);      // FALSE: no include rule matches
 * hk_filter_matches (filter, "build/gen.c", FALSE);     // FALSE: an ancestor is ignored
 * hk_filter_excludes_directory (filter, ".git");        // TRUE: not even watched
 * ```
 *
 * Matching is case-sensitive unless [property@Hk.Filter:case-sensitive] is
 * set to %FALSE. Paths are file names in the file system encoding and need
 * not be valid UTF-8; bytes that are not part of valid UTF-8 are matched as
 * themselves.
 *
 * A filter is meant to be used from one thread, but each change replaces an
 * immutable snapshot of its rules, so the watcher's worker thread can keep
 * matching against the rules it was given while the filter is edited.
 *
 * Since: 1.0
 */

/* ------------------------------------------------------------------------ */
/* Characters                                                               */
/* ------------------------------------------------------------------------ */

/* Paths and patterns are decoded as UTF-8 where they are valid; any byte that
 * is not part of a valid UTF-8 sequence becomes RAW_BYTE_BASE + byte, outside
 * the Unicode range, so it only ever equals the very same byte. */
#define RAW_BYTE_BASE 0x110000

static const char *
next_char (const char *p,
           const char *end,
           gunichar   *out)
{
  gunichar c = g_utf8_get_char_validated (p, end - p);

  if (c == (gunichar) -1 || c == (gunichar) -2)
    {
      *out = RAW_BYTE_BASE + (guchar) *p;
      return p + 1;
    }

  *out = c;
  return g_utf8_next_char (p);
}

/* Case-folds @len bytes: runs of valid UTF-8 with g_utf8_casefold(), while
 * other bytes are kept as they are, so non-UTF-8 file names survive. */
static char *
fold_bytes (const char *s,
            gsize       len)
{
  const char *end = s + len;
  GString *out = g_string_sized_new (len);

  while (s < end)
    {
      const char *valid_end;

      g_utf8_validate_len (s, end - s, &valid_end);
      if (valid_end > s)
        {
          g_autofree char *folded = g_utf8_casefold (s, valid_end - s);

          g_string_append (out, folded);
          s = valid_end;
        }

      if (s < end)
        g_string_append_c (out, *s++);
    }

  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Globs                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum
{
  TOKEN_LITERAL,  /* these exact bytes */
  TOKEN_ANY,      /* ?: any one character */
  TOKEN_STAR,     /* *: any run of characters, possibly empty */
  TOKEN_CLASS,    /* [...]: one character in (or not in) a set */
} TokenKind;

typedef struct
{
  gunichar first;
  gunichar last;
} CharRange;

typedef struct
{
  TokenKind kind;
  gboolean negated;   /* TOKEN_CLASS */
  guint len;          /* bytes of @literal, or number of @ranges */
  char *literal;      /* TOKEN_LITERAL */
  CharRange *ranges;  /* TOKEN_CLASS */
} Token;

/* One path component of a glob, or "**" (any number of components). */
typedef struct
{
  gboolean any_depth;
  guint n_tokens;
  Token *tokens;
} Segment;

typedef struct
{
  guint n_segments;
  Segment *segments;
  gboolean anchored;  /* matched against the whole path, else the basename */
  gboolean dir_only;  /* had a trailing '/' */
  gboolean folded;    /* literals are case-folded; classes fold when matching */
} Glob;

static void
token_clear (gpointer data)
{
  Token *token = data;

  g_clear_pointer (&token->literal, g_free);
  g_clear_pointer (&token->ranges, g_free);
}

static void
segment_clear (gpointer data)
{
  Segment *segment = data;

  for (guint i = 0; i < segment->n_tokens; i++)
    token_clear (&segment->tokens[i]);
  g_clear_pointer (&segment->tokens, g_free);
}

static void
glob_free (Glob *glob)
{
  for (guint i = 0; i < glob->n_segments; i++)
    segment_clear (&glob->segments[i]);
  g_free (glob->segments);
  g_free (glob);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Glob, glob_free)

typedef struct
{
  const char *pattern;  /* the whole glob, for error messages */
  gboolean folded;
  GArray *segments;     /* (element-type Segment) */
  GArray *tokens;       /* (element-type Token) of the segment being parsed */
  GString *literal;     /* pending literal bytes */
} GlobParser;

static GArray *
token_array_new (void)
{
  GArray *tokens = g_array_new (FALSE, FALSE, sizeof (Token));

  g_array_set_clear_func (tokens, token_clear);
  return tokens;
}

static void
glob_parser_clear (GlobParser *parser)
{
  g_clear_pointer (&parser->segments, g_array_unref);
  g_clear_pointer (&parser->tokens, g_array_unref);
  if (parser->literal != NULL)
    g_string_free (g_steal_pointer (&parser->literal), TRUE);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GlobParser, glob_parser_clear)

static gboolean
glob_error (const GlobParser  *parser,
            GError           **error,
            const char        *reason)
{
  g_autofree char *printable = g_utf8_make_valid (parser->pattern, -1);

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "Invalid pattern “%s”: %s", printable, reason);
  return FALSE;
}

static void
glob_parser_flush_literal (GlobParser *parser)
{
  Token token = { TOKEN_LITERAL, };

  if (parser->literal->len == 0)
    return;

  if (parser->folded)
    token.literal = fold_bytes (parser->literal->str, parser->literal->len);
  else
    token.literal = g_strndup (parser->literal->str, parser->literal->len);
  token.len = strlen (token.literal);
  g_array_append_val (parser->tokens, token);
  g_string_truncate (parser->literal, 0);
}

static void
glob_parser_add_token (GlobParser *parser,
                       Token      *token)
{
  glob_parser_flush_literal (parser);

  /* "a**b" is the same as "a*b" */
  if (token->kind == TOKEN_STAR && parser->tokens->len > 0 &&
      g_array_index (parser->tokens, Token, parser->tokens->len - 1).kind == TOKEN_STAR)
    return;

  g_array_append_val (parser->tokens, *token);
}

static void
glob_parser_add_segment (GlobParser *parser,
                         gboolean    any_depth)
{
  Segment segment = { any_depth, };
  guint n = parser->segments->len;

  glob_parser_flush_literal (parser);

  /* Empty components ("a//b") are dropped, and so is a "**" that follows
   * another one. */
  if (!any_depth && parser->tokens->len == 0)
    return;
  if (any_depth && n > 0 && g_array_index (parser->segments, Segment, n - 1).any_depth)
    return;

  segment.n_tokens = parser->tokens->len;
  segment.tokens = (Token *) (gpointer) g_array_free (g_steal_pointer (&parser->tokens), FALSE);
  parser->tokens = token_array_new ();
  g_array_append_val (parser->segments, segment);
}

/* Reads one (possibly backslash-escaped) character of a bracket expression. */
static gboolean
glob_parser_class_char (GlobParser  *parser,
                        const char **p,
                        const char  *end,
                        gunichar    *out,
                        GError     **error)
{
  if (*p < end && **p == '\\')
    (*p)++;
  if (*p >= end)
    return glob_error (parser, error, "unterminated character class");
  if (**p == '/')
    return glob_error (parser, error, "a character class cannot contain “/”");

  *p = next_char (*p, end, out);
  return TRUE;
}

/* Parses the bracket expression starting at *p (on the '['). */
static gboolean
glob_parser_class (GlobParser  *parser,
                   const char **p,
                   const char  *end,
                   GError     **error)
{
  g_autoptr(GArray) ranges = g_array_new (FALSE, FALSE, sizeof (CharRange));
  const char *q = *p + 1;
  Token token = { TOKEN_CLASS, };

  if (q < end && (*q == '!' || *q == '^'))
    {
      token.negated = TRUE;
      q++;
    }

  /* A ']' right after the opening bracket is a member, not the end. */
  while (q >= end || *q != ']' || ranges->len == 0)
    {
      CharRange range;

      if (!glob_parser_class_char (parser, &q, end, &range.first, error))
        return FALSE;
      range.last = range.first;

      if (q + 1 < end && *q == '-' && q[1] != ']')
        {
          q++;
          if (!glob_parser_class_char (parser, &q, end, &range.last, error))
            return FALSE;
          if (range.last < range.first)
            return glob_error (parser, error, "character range is out of order");
        }

      g_array_append_val (ranges, range);
    }

  token.len = ranges->len;
  token.ranges = (CharRange *) (gpointer) g_array_free (g_steal_pointer (&ranges), FALSE);
  glob_parser_add_token (parser, &token);
  *p = q + 1;
  return TRUE;
}

static gboolean
glob_parser_run (GlobParser  *parser,
                 const char  *p,
                 const char  *end,
                 GError     **error)
{
  const char *segment_start = p;

  while (p < end)
    {
      Token token = { TOKEN_ANY, };

      switch (*p)
        {
        case '/':
          glob_parser_add_segment (parser, FALSE);
          segment_start = ++p;
          break;

        case '*':
          if (p == segment_start && p + 1 < end && p[1] == '*' &&
              (p + 2 == end || p[2] == '/'))
            {
              glob_parser_add_segment (parser, TRUE);
              p += 2;
              break;
            }
          token.kind = TOKEN_STAR;
          glob_parser_add_token (parser, &token);
          p++;
          break;

        case '?':
          glob_parser_add_token (parser, &token);
          p++;
          break;

        case '[':
          if (!glob_parser_class (parser, &p, end, error))
            return FALSE;
          break;

        case '\\':
          if (p + 1 == end)
            return glob_error (parser, error, "trailing backslash");
          if (p[1] == '/')
            return glob_error (parser, error, "“/” cannot be escaped");
          g_string_append_c (parser->literal, p[1]);
          p += 2;
          break;

        default:
          g_string_append_c (parser->literal, *p++);
          break;
        }
    }

  glob_parser_add_segment (parser, FALSE);
  return TRUE;
}

/* Compiles @pattern into a list of components, each a list of tokens. With
 * @folded, the glob is meant to be matched against case-folded paths. */
static Glob *
glob_compile (const char  *pattern,
              gboolean     folded,
              GError     **error)
{
  g_auto(GlobParser) parser = { pattern, folded, };
  g_autoptr(Glob) glob = g_new0 (Glob, 1);
  gsize len = strlen (pattern);

  parser.segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  g_array_set_clear_func (parser.segments, segment_clear);
  parser.tokens = token_array_new ();
  parser.literal = g_string_new (NULL);

  glob->folded = folded;
  glob->anchored = pattern[0] == '/';
  glob->dir_only = len > 0 && pattern[len - 1] == '/';

  if (!glob_parser_run (&parser, pattern, pattern + len, error))
    return NULL;

  if (parser.segments->len == 0)
    {
      glob_error (&parser, error, "empty pattern");
      return NULL;
    }

  if (parser.segments->len > 1)
    glob->anchored = TRUE;

  if (glob->anchored)
    {
      Segment *last = &g_array_index (parser.segments, Segment, parser.segments->len - 1);

      /* A trailing "**" matches what is inside "x", not "x" itself: put a
       * "*" component (exactly one) before the "**" (any number). */
      if (last->any_depth)
        {
          Segment one = { FALSE, 1, g_new0 (Token, 1) };

          one.tokens[0].kind = TOKEN_STAR;
          g_array_insert_val (parser.segments, parser.segments->len - 1, one);
        }
    }
  else
    {
      Segment *only = &g_array_index (parser.segments, Segment, 0);

      /* A basename glob "**" is just "*". */
      if (only->any_depth)
        {
          only->any_depth = FALSE;
          only->n_tokens = 1;
          only->tokens = g_new0 (Token, 1);
          only->tokens[0].kind = TOKEN_STAR;
        }
    }

  g_array_set_clear_func (parser.segments, NULL);
  glob->n_segments = parser.segments->len;
  glob->segments = (Segment *) (gpointer) g_array_free (g_steal_pointer (&parser.segments), FALSE);

  return g_steal_pointer (&glob);
}

static gboolean
ranges_contain (const Token *token,
                gunichar     c)
{
  for (guint i = 0; i < token->len; i++)
    {
      if (token->ranges[i].first <= c && c <= token->ranges[i].last)
        return TRUE;
    }

  return FALSE;
}

static gboolean
class_contains (const Token *token,
                gunichar     c,
                gboolean     folded)
{
  gunichar variants[3];

  if (ranges_contain (token, c))
    return TRUE;
  if (!folded || c >= RAW_BYTE_BASE)
    return FALSE;

  /* The path was case-folded but the class was not: "[A-Z]" must still
   * match the folded "a". */
  variants[0] = g_unichar_toupper (c);
  variants[1] = g_unichar_tolower (c);
  variants[2] = g_unichar_totitle (c);
  for (guint i = 0; i < G_N_ELEMENTS (variants); i++)
    {
      if (variants[i] != c && ranges_contain (token, variants[i]))
        return TRUE;
    }

  return FALSE;
}

/* Matches one non-star token at *s, advancing *s past what it consumed. */
static gboolean
token_matches (const Token  *token,
               const char  **s,
               const char   *end,
               gboolean      folded)
{
  gunichar c;

  switch (token->kind)
    {
    case TOKEN_LITERAL:
      if ((gsize) (end - *s) < token->len || memcmp (*s, token->literal, token->len) != 0)
        return FALSE;
      *s += token->len;
      return TRUE;

    case TOKEN_ANY:
      if (*s >= end)
        return FALSE;
      *s = next_char (*s, end, &c);
      return TRUE;

    case TOKEN_CLASS:
      if (*s >= end)
        return FALSE;
      *s = next_char (*s, end, &c);
      return class_contains (token, c, folded) != token->negated;

    case TOKEN_STAR:
    default:
      g_assert_not_reached ();
      break;
    }

  return FALSE;
}

/* Matches one path component [s, end) against @segment. Stars are handled
 * by retrying from the most recent star one character further along. */
static gboolean
segment_matches (const Segment *segment,
                 const char    *s,
                 const char    *end,
                 gboolean       folded)
{
  const char *star_s = NULL;
  guint star_ti = 0;
  guint ti = 0;

  for (;;)
    {
      gunichar c;

      if (ti < segment->n_tokens && segment->tokens[ti].kind == TOKEN_STAR)
        {
          star_ti = ++ti;
          star_s = s;
          continue;
        }

      if (ti == segment->n_tokens && s == end)
        return TRUE;

      if (ti < segment->n_tokens && token_matches (&segment->tokens[ti], &s, end, folded))
        {
          ti++;
          continue;
        }

      if (star_s == NULL || star_s >= end)
        return FALSE;

      star_s = next_char (star_s, end, &c);
      s = star_s;
      ti = star_ti;
    }
}

typedef struct
{
  const char *start;
  const char *end;
} Span;

/* Matches the path made of @components against @glob; "**" segments are
 * handled like stars, one component at a time. */
static gboolean
glob_matches (const Glob *glob,
              const Span *components,
              guint       n_components,
              gboolean    is_directory)
{
  guint star_pi = G_MAXUINT;
  guint star_ci = 0;
  guint pi = 0;
  guint ci = 0;

  if (glob->dir_only && !is_directory)
    return FALSE;

  if (!glob->anchored)
    {
      const Span *last = &components[n_components - 1];

      return segment_matches (&glob->segments[0], last->start, last->end, glob->folded);
    }

  while (ci < n_components)
    {
      const Segment *segment = pi < glob->n_segments ? &glob->segments[pi] : NULL;

      if (segment != NULL && segment->any_depth)
        {
          star_pi = ++pi;
          star_ci = ci;
          continue;
        }

      if (segment != NULL &&
          segment_matches (segment, components[ci].start, components[ci].end, glob->folded))
        {
          pi++;
          ci++;
          continue;
        }

      if (star_pi == G_MAXUINT)
        return FALSE;

      pi = star_pi;
      ci = ++star_ci;
    }

  while (pi < glob->n_segments && glob->segments[pi].any_depth)
    pi++;

  return pi == glob->n_segments;
}

/* ------------------------------------------------------------------------ */
/* Rules                                                                    */
/* ------------------------------------------------------------------------ */

typedef enum
{
  RULE_GLOB,
  RULE_REGEX,
} RuleKind;

/* An immutable compiled rule, shared by every snapshot that contains it.
 * Each form is compiled for both values of HkFilter:case-sensitive (index 0:
 * case-sensitive, 1: case-insensitive), so toggling the property never has
 * to recompile, and so can never fail. */
typedef struct
{
  RuleKind kind;
  Glob *globs[2];
  GRegex *utf8_regexes[2];  /* for UTF-8 paths; NULL if the regex is not UTF-8 */
  GRegex *raw_regexes[2];   /* G_REGEX_RAW, for other paths; may be NULL */
} Rule;

static void
rule_clear (gpointer data)
{
  Rule *rule = data;

  for (guint i = 0; i < 2; i++)
    {
      g_clear_pointer (&rule->globs[i], glob_free);
      g_clear_pointer (&rule->utf8_regexes[i], g_regex_unref);
      g_clear_pointer (&rule->raw_regexes[i], g_regex_unref);
    }
}

static gpointer
rule_ref (gconstpointer  rule,
          gpointer       user_data)
{
  return g_atomic_rc_box_acquire ((gpointer) rule);
}

static void
rule_unref (gpointer rule)
{
  g_atomic_rc_box_release_full (rule, rule_clear);
}

static Rule *
rule_new_glob (const char  *pattern,
               GError     **error)
{
  Rule *rule;
  Glob *exact;

  exact = glob_compile (pattern, FALSE, error);
  if (exact == NULL)
    return NULL;

  rule = g_atomic_rc_box_new0 (Rule);
  rule->kind = RULE_GLOB;
  rule->globs[0] = exact;
  /* Same syntax, so this cannot fail once the exact glob compiled. */
  rule->globs[1] = glob_compile (pattern, TRUE, NULL);
  g_assert (rule->globs[1] != NULL);

  return rule;
}

static gboolean
regex_error (const char  *source,
             GError     **error)
{
  g_autofree char *printable = g_utf8_make_valid (source, -1);

  /* GLib's message quotes the pattern as it is, bytes and all: GError
   * messages must be UTF-8. */
  if (error != NULL && *error != NULL && !g_utf8_validate ((*error)->message, -1, NULL))
    {
      char *valid = g_utf8_make_valid ((*error)->message, -1);

      g_free ((*error)->message);
      (*error)->message = valid;
    }

  g_prefix_error (error, "Invalid regular expression “%s”: ", printable);
  return FALSE;
}

static Rule *
rule_new_regex (const char  *source,
                GError     **error)
{
  static const GRegexCompileFlags caseless[2] = { 0, G_REGEX_CASELESS };
  Rule *rule = g_atomic_rc_box_new0 (Rule);
  gboolean is_utf8 = g_utf8_validate (source, -1, NULL);

  rule->kind = RULE_REGEX;

  /* No G_REGEX_OPTIMIZE: GRegex compiles it lazily, on first match, by
   * writing to the GRegex, which would race between matching threads. */
  for (guint i = 0; i < 2; i++)
    {
      /* The form used for UTF-8 paths decides whether the regex is valid;
       * a regex that only makes sense in UTF-8 mode (say "\x{263a}") just
       * never matches non-UTF-8 paths. */
      if (is_utf8)
        {
          rule->utf8_regexes[i] = g_regex_new (source, caseless[i], 0, error);
          if (rule->utf8_regexes[i] == NULL)
            goto failed;
          rule->raw_regexes[i] = g_regex_new (source, G_REGEX_RAW | caseless[i], 0, NULL);
        }
      else
        {
          rule->raw_regexes[i] = g_regex_new (source, G_REGEX_RAW | caseless[i], 0, error);
          if (rule->raw_regexes[i] == NULL)
            goto failed;
        }
    }

  return rule;

failed:
  rule_unref (rule);
  regex_error (source, error);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Ignore files                                                             */
/* ------------------------------------------------------------------------ */

/* One rule line of an ignore file. */
typedef struct
{
  Rule *rule;
  gboolean negated;   /* "!pattern": re-includes */
} IgnoreLine;

static void
ignore_line_clear (gpointer data)
{
  IgnoreLine *line = data;

  g_clear_pointer (&line->rule, rule_unref);
}

/* The rules read from one file, immutable and shared by every snapshot
 * that holds them. Where they apply depends on the filter's base: for a
 * directory inside the base, to paths below @scope; for one above the
 * base, to every path, seen as @prefix + "/" + path. */
typedef struct
{
  char *key;            /* the file's path: adding it again replaces these rules */
  char *directory;      /* absolute path of the directory the rules are relative to */
  GArray *lines;        /* (element-type IgnoreLine), shared between copies */
  guint64 sequence;     /* order of first addition, among files of one depth */
  guint depth;          /* components in @directory */

  gboolean applies;     /* FALSE if @directory is unrelated to the base */
  guint n_scope;
  char **scope;         /* components of @directory below the base */
  char *scope_key;      /* the same, joined with '/' ("" for the base) */
  char *prefix;         /* the base relative to @directory, when above it */
} IgnoreFile;

static void
ignore_file_clear (gpointer data)
{
  IgnoreFile *file = data;

  g_clear_pointer (&file->key, g_free);
  g_clear_pointer (&file->directory, g_free);
  g_clear_pointer (&file->lines, g_array_unref);
  g_clear_pointer (&file->scope, g_strfreev);
  g_clear_pointer (&file->scope_key, g_free);
  g_clear_pointer (&file->prefix, g_free);
}

static gpointer
ignore_file_ref (gconstpointer  file,
                 gpointer       user_data)
{
  return g_atomic_rc_box_acquire ((gpointer) file);
}

static void
ignore_file_unref (gpointer file)
{
  g_atomic_rc_box_release_full (file, ignore_file_clear);
}

static guint
count_path_depth (const char *path)
{
  guint n = 0;

  for (const char *p = path; *p != '\0'; p++)
    if (*p != '/' && (p == path || p[-1] == '/'))
      n++;

  return n;
}

/* Where @directory's rules apply for @base (NULL: as if @directory were the
 * root). Returns FALSE when @directory is neither @base, inside it, nor
 * above it. */
static gboolean
compute_scope (const char  *base,
               const char  *directory,
               char      ***scope,
               char       **prefix)
{
  gsize base_len = base != NULL ? strlen (base) : 0;
  gsize dir_len = strlen (directory);

  *scope = NULL;
  *prefix = NULL;

  if (base == NULL || g_str_equal (base, directory))
    return TRUE;

  if (dir_len > base_len && strncmp (directory, base, base_len) == 0 &&
      (directory[base_len] == '/' || g_str_equal (base, "/")))
    {
      *scope = g_strsplit (directory + base_len + (directory[base_len] == '/'), "/", -1);
      return TRUE;
    }

  if (base_len > dir_len && strncmp (base, directory, dir_len) == 0 &&
      (base[dir_len] == '/' || g_str_equal (directory, "/")))
    {
      *prefix = g_strdup (base + dir_len + (base[dir_len] == '/'));
      return TRUE;
    }

  return FALSE;
}

static IgnoreFile *
ignore_file_new (const char *key,
                 const char *directory,
                 GArray     *lines,
                 guint64     sequence,
                 const char *base)
{
  IgnoreFile *file = g_atomic_rc_box_new0 (IgnoreFile);

  file->key = g_strdup (key);
  file->directory = g_strdup (directory);
  file->lines = g_array_ref (lines);
  file->sequence = sequence;
  file->depth = count_path_depth (directory);
  file->applies = compute_scope (base, directory, &file->scope, &file->prefix);
  file->n_scope = file->scope != NULL ? g_strv_length (file->scope) : 0;
  file->scope_key = file->scope != NULL ? g_strjoinv ("/", file->scope) : g_strdup ("");

  return file;
}

/* Deeper directories last, so that their rules win as in git; files of
 * one directory in the order they were first added. */
static int
compare_ignore_files (gconstpointer a,
                      gconstpointer b)
{
  const IgnoreFile *fa = *(IgnoreFile * const *) a;
  const IgnoreFile *fb = *(IgnoreFile * const *) b;

  if (fa->depth != fb->depth)
    return fa->depth < fb->depth ? -1 : 1;
  if (fa->sequence != fb->sequence)
    return fa->sequence < fb->sequence ? -1 : 1;
  return 0;
}

/* Git's rules: a blank line or one starting with '#' is nothing, trailing
 * spaces go unless escaped, '!' negates, and the rest is a glob (leading
 * '\' escapes '#' and '!'). Lines that do not compile are skipped, as git
 * does. */
static void
parse_gitignore_line (GArray *lines,
                      char   *text)
{
  gsize len = strlen (text);
  IgnoreLine line = { NULL, FALSE };

  if (len > 0 && text[len - 1] == '\r')
    text[--len] = '\0';
  if (len == 0 || text[0] == '#')
    return;
  while (len > 0 && text[len - 1] == ' ' && !(len >= 2 && text[len - 2] == '\\'))
    text[--len] = '\0';
  if (text[0] == '!')
    {
      line.negated = TRUE;
      text++;
    }
  if (*text == '\0')
    return;

  line.rule = rule_new_glob (text, NULL);
  if (line.rule != NULL)
    g_array_append_val (lines, line);
}

/* Mercurial's: "syntax: glob" or "syntax: regexp" (the default) switch the
 * syntax of the lines that follow, "glob:" and "re:" prefixes that of one
 * line. A glob applies at any depth, like a gitignore glob without a
 * leading '/'; a regular expression is searched for in the relative path. */
static void
parse_hgignore_line (GArray   *lines,
                     char     *text,
                     gboolean *glob_syntax)
{
  IgnoreLine line = { NULL, FALSE };
  gboolean glob = *glob_syntax;

  g_strchomp (text);
  if (*text == '\0' || *text == '#')
    return;

  if (g_str_has_prefix (text, "syntax:"))
    {
      const char *name = g_strstrip (text + strlen ("syntax:"));

      if (g_str_equal (name, "glob") || g_str_equal (name, "relglob"))
        *glob_syntax = TRUE;
      else if (g_str_equal (name, "regexp") || g_str_equal (name, "re"))
        *glob_syntax = FALSE;
      return;
    }

  if (g_str_has_prefix (text, "glob:") || g_str_has_prefix (text, "relglob:"))
    {
      glob = TRUE;
      text = strchr (text, ':') + 1;
    }
  else if (g_str_has_prefix (text, "re:") || g_str_has_prefix (text, "regexp:"))
    {
      glob = FALSE;
      text = strchr (text, ':') + 1;
    }

  if (*text == '\0')
    return;

  if (glob)
    {
      g_autofree char *anywhere = NULL;

      /* A glob with "/" matches at any depth in Mercurial: no anchor. */
      while (*text == '/')
        text++;
      if (strchr (text, '/') != NULL && strchr (text, '/')[1] != '\0')
        anywhere = g_strconcat ("**/", text, NULL);
      line.rule = rule_new_glob (anywhere != NULL ? anywhere : text, NULL);
    }
  else
    line.rule = rule_new_regex (text, NULL);

  if (line.rule != NULL)
    g_array_append_val (lines, line);
}

static GArray *
parse_ignore_file (const char *contents,
                   gsize       length,
                   gboolean    hg_syntax)
{
  GArray *lines = g_array_new (FALSE, FALSE, sizeof (IgnoreLine));
  g_auto(GStrv) texts = NULL;
  g_autofree char *copy = g_strndup (contents, length);
  gboolean glob_syntax = FALSE;

  g_array_set_clear_func (lines, ignore_line_clear);
  texts = g_strsplit (copy, "\n", -1);
  for (guint i = 0; texts[i] != NULL; i++)
    {
      if (hg_syntax)
        parse_hgignore_line (lines, texts[i], &glob_syntax);
      else
        parse_gitignore_line (lines, texts[i]);
    }

  return lines;
}

/* A run of bytes, to look a directory up by a prefix of a path. */
typedef struct
{
  const char *str;
  gsize len;
} ByteRange;

static guint
byte_range_hash (gconstpointer data)
{
  const ByteRange *range = data;
  guint hash = 5381;

  for (gsize i = 0; i < range->len; i++)
    hash = hash * 33 + (guchar) range->str[i];

  return hash;
}

static gboolean
byte_range_equal (gconstpointer a,
                  gconstpointer b)
{
  const ByteRange *ra = a;
  const ByteRange *rb = b;

  return ra->len == rb->len && memcmp (ra->str, rb->str, ra->len) == 0;
}

struct _HkFilterRules
{
  GPtrArray *include;       /* (element-type Rule) */
  GPtrArray *ignore;        /* (element-type Rule) */
  GPtrArray *ignore_files;  /* (element-type IgnoreFile), sorted */
  gboolean ignore_directories;
  gboolean case_sensitive;

  /* Built from @ignore_files when committed, so that a query only looks at
   * the files of the directories above its path. */
  GHashTable *files_by_scope;  /* ByteRange of scope_key -> GPtrArray of IgnoreFile, sorted */
  GPtrArray *files_above;      /* IgnoreFile of directories above the base, sorted */
  guint max_scope;             /* the deepest n_scope */
};

static void
rules_index_ignore_files (HkFilterRules *rules)
{
  g_clear_pointer (&rules->files_by_scope, g_hash_table_unref);
  g_clear_pointer (&rules->files_above, g_ptr_array_unref);
  rules->max_scope = 0;
  if (rules->ignore_files->len == 0)
    return;

  rules->files_by_scope = g_hash_table_new_full (byte_range_hash, byte_range_equal,
                                                 g_free, (GDestroyNotify) g_ptr_array_unref);
  rules->files_above = g_ptr_array_new ();
  for (guint i = 0; i < rules->ignore_files->len; i++)
    {
      IgnoreFile *file = rules->ignore_files->pdata[i];
      ByteRange key = { file->scope_key, strlen (file->scope_key) };
      GPtrArray *files;

      if (!file->applies)
        continue;
      if (file->prefix != NULL)
        {
          g_ptr_array_add (rules->files_above, file);
          continue;
        }

      files = g_hash_table_lookup (rules->files_by_scope, &key);
      if (files == NULL)
        {
          files = g_ptr_array_new ();
          g_hash_table_insert (rules->files_by_scope, g_memdup2 (&key, sizeof key), files);
        }
      g_ptr_array_add (files, file);
      rules->max_scope = MAX (rules->max_scope, file->n_scope);
    }
}

static void
rules_clear (gpointer data)
{
  HkFilterRules *rules = data;

  g_clear_pointer (&rules->include, g_ptr_array_unref);
  g_clear_pointer (&rules->ignore, g_ptr_array_unref);
  g_clear_pointer (&rules->files_by_scope, g_hash_table_unref);
  g_clear_pointer (&rules->files_above, g_ptr_array_unref);
  g_clear_pointer (&rules->ignore_files, g_ptr_array_unref);
}

static HkFilterRules *
rules_new (void)
{
  HkFilterRules *rules = g_atomic_rc_box_new0 (HkFilterRules);

  rules->include = g_ptr_array_new_with_free_func (rule_unref);
  rules->ignore = g_ptr_array_new_with_free_func (rule_unref);
  rules->ignore_files = g_ptr_array_new_with_free_func (ignore_file_unref);
  rules->case_sensitive = TRUE;

  return rules;
}

static HkFilterRules *
rules_copy (const HkFilterRules *rules)
{
  HkFilterRules *copy = g_atomic_rc_box_new0 (HkFilterRules);

  copy->include = g_ptr_array_copy (rules->include, rule_ref, NULL);
  g_ptr_array_set_free_func (copy->include, rule_unref);
  copy->ignore = g_ptr_array_copy (rules->ignore, rule_ref, NULL);
  g_ptr_array_set_free_func (copy->ignore, rule_unref);
  copy->ignore_files = g_ptr_array_copy (rules->ignore_files, ignore_file_ref, NULL);
  g_ptr_array_set_free_func (copy->ignore_files, ignore_file_unref);
  copy->ignore_directories = rules->ignore_directories;
  copy->case_sensitive = rules->case_sensitive;

  return copy;
}

/*
 * hk_filter_rules_ref:
 * @rules: a rules snapshot
 *
 * Acquires a reference on @rules. Thread-safe.
 *
 * Returns: (transfer full): @rules
 */
HkFilterRules *
hk_filter_rules_ref (HkFilterRules *rules)
{
  g_return_val_if_fail (rules != NULL, NULL);

  return g_atomic_rc_box_acquire (rules);
}

/*
 * hk_filter_rules_unref:
 * @rules: (transfer full): a rules snapshot
 *
 * Releases a reference on @rules, from any thread.
 */
void
hk_filter_rules_unref (HkFilterRules *rules)
{
  g_return_if_fail (rules != NULL);

  g_atomic_rc_box_release_full (rules, rules_clear);
}

/* A path split into components, prepared once per query. */
#define N_STACK_COMPONENTS 32

typedef struct
{
  const char *path;
  gboolean is_utf8;
  char *folded;              /* case-folded @path, or NULL */
  guint n_components;
  Span *components;          /* of @path, for regexes (their ends) */
  Span *glob_components;     /* of @folded if set, else of @path */
  Span components_buf[N_STACK_COMPONENTS];
  Span folded_buf[N_STACK_COMPONENTS];
} PathView;

static guint
count_components (const char *s)
{
  guint n = 0;

  for (const char *p = s; *p != '\0'; p++)
    {
      if (*p != '/' && (p == s || p[-1] == '/'))
        n++;
    }

  return n;
}

/* Fills @spans with the non-empty '/'-separated components of @s. */
static void
split_components (const char *s,
                  Span       *spans)
{
  guint n = 0;

  for (const char *p = s; *p != '\0';)
    {
      if (*p == '/')
        {
          p++;
          continue;
        }

      spans[n].start = p;
      p = strchrnul (p, '/');
      spans[n].end = p;
      n++;
    }
}

static Span *
path_view_spans (PathView *view,
                 Span     *buf)
{
  return view->n_components <= N_STACK_COMPONENTS ? buf : g_new (Span, view->n_components);
}

static void
path_view_init (PathView   *view,
                const char *path,
                gboolean    fold)
{
  gsize len = strlen (path);

  view->path = path;
  view->is_utf8 = g_utf8_validate_len (path, len, NULL);
  view->folded = fold ? fold_bytes (path, len) : NULL;
  view->n_components = count_components (path);

  view->components = path_view_spans (view, view->components_buf);
  split_components (path, view->components);

  view->glob_components = view->components;
  if (view->folded != NULL)
    {
      /* Case folding neither adds nor removes '/', so the components line
       * up one to one with those of @path. */
      g_assert (count_components (view->folded) == view->n_components);
      view->glob_components = path_view_spans (view, view->folded_buf);
      split_components (view->folded, view->glob_components);
    }
}

static void
path_view_clear (PathView *view)
{
  if (view->components != view->components_buf)
    g_free (view->components);
  if (view->glob_components != view->components &&
      view->glob_components != view->folded_buf)
    g_free (view->glob_components);
  g_clear_pointer (&view->folded, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PathView, path_view_clear)

/* Whether @rule matches components @first to @n_components - 1 of the
 * path, taken as a path of their own. */
static gboolean
rule_matches_range (const Rule     *rule,
                    gboolean        case_sensitive,
                    const PathView *view,
                    guint           first,
                    guint           n_components,
                    gboolean        is_directory)
{
  guint i = case_sensitive ? 0 : 1;
  const char *start = view->components[first].start;
  GRegex *regex;
  gsize len;

  if (rule->kind == RULE_GLOB)
    return glob_matches (rule->globs[i], view->glob_components + first,
                         n_components - first, is_directory);

  regex = view->is_utf8 && rule->utf8_regexes[i] != NULL ? rule->utf8_regexes[i] : rule->raw_regexes[i];
  if (regex == NULL)
    return FALSE;

  len = view->components[n_components - 1].end - start;
  return g_regex_match_full (regex, start, len, 0, 0, NULL, NULL);
}

/* Whether @rule matches the first @n_components components of the path. */
static gboolean
rule_matches (const Rule     *rule,
              gboolean        case_sensitive,
              const PathView *view,
              guint           n_components,
              gboolean        is_directory)
{
  return rule_matches_range (rule, case_sensitive, view, 0, n_components, is_directory);
}

/* The last matching line of @file about components @first to @last - 1 of
 * @view: 1 ignored, -1 re-included, 0 none. */
static int
ignore_file_decide (const HkFilterRules *rules,
                    const IgnoreFile    *file,
                    const PathView      *view,
                    guint                first,
                    guint                last,
                    gboolean             is_directory)
{
  for (guint l = file->lines->len; l-- > 0;)
    {
      const IgnoreLine *line = &g_array_index (file->lines, IgnoreLine, l);

      if (rule_matches_range (line->rule, rules->case_sensitive, view, first, last, is_directory))
        return line->negated ? -1 : 1;
    }

  return 0;
}

/* The decision of the ignore files about the first @n components of the
 * path (a directory if @is_directory): the last matching line of the
 * deepest file with one wins. The files that can apply are those of the
 * directories above the path: looked up by each prefix of @view (which
 * must be a clean path), deepest first, then those above the base, seen
 * through @above_views (one per file, made lazily). */
static gboolean
ignore_files_exclude (const HkFilterRules *rules,
                      const PathView      *view,
                      PathView           **above_views,
                      guint                n,
                      gboolean             is_directory)
{
  for (guint k = MIN (n - 1, rules->max_scope) + 1; k-- > 0;)
    {
      ByteRange key = { view->path, k > 0 ? (gsize) (view->components[k - 1].end - view->path) : 0 };
      GPtrArray *files = g_hash_table_lookup (rules->files_by_scope, &key);

      for (guint f = files != NULL ? files->len : 0; f-- > 0;)
        {
          int decision = ignore_file_decide (rules, files->pdata[f], view, k, n, is_directory);

          if (decision != 0)
            return decision > 0;
        }
    }

  for (guint f = rules->files_above->len; f-- > 0;)
    {
      const IgnoreFile *file = rules->files_above->pdata[f];
      int decision;

      if (above_views[f] == NULL)
        {
          above_views[f] = g_new0 (PathView, 1);
          path_view_init (above_views[f], g_strconcat (file->prefix, "/", view->path, NULL),
                          !rules->case_sensitive);
        }
      decision = ignore_file_decide (rules, file, above_views[f], 0,
                                     n + above_views[f]->n_components - view->n_components,
                                     is_directory);
      if (decision != 0)
        return decision > 0;
    }

  return FALSE;
}

/* Whether @path has no empty component: no leading, trailing or double
 * '/', so that its prefixes are the keys of files_by_scope. */
static gboolean
path_is_clean (const char *path)
{
  gsize len = strlen (path);

  return path[0] != '/' && (len == 0 || path[len - 1] != '/') && strstr (path, "//") == NULL;
}

/* Whether the ignore files hide the path: itself, or a directory above it
 * (git does not look inside an ignored directory, so a "!" rule cannot
 * bring back anything below one). */
static gboolean
ignore_files_hide (const HkFilterRules *rules,
                   const PathView      *view,
                   gboolean             is_directory)
{
  g_auto(PathView) clean_view = { NULL, };
  g_autofree char *clean_path = NULL;
  g_autofree PathView **above_views = NULL;
  gboolean hidden = FALSE;

  if (rules->files_by_scope == NULL)
    return FALSE;

  if (!path_is_clean (view->path))
    {
      g_autoptr(GString) clean = g_string_new (NULL);

      for (guint i = 0; i < view->n_components; i++)
        {
          if (i > 0)
            g_string_append_c (clean, '/');
          g_string_append_len (clean, view->components[i].start,
                               view->components[i].end - view->components[i].start);
        }
      clean_path = g_string_free (g_steal_pointer (&clean), FALSE);
      path_view_init (&clean_view, clean_path, !rules->case_sensitive);
      view = &clean_view;
    }

  if (rules->files_above->len > 0)
    above_views = g_new0 (PathView *, rules->files_above->len);
  for (guint n = 1; n <= view->n_components && !hidden; n++)
    hidden = ignore_files_exclude (rules, view, above_views, n, n < view->n_components || is_directory);

  for (guint f = 0; above_views != NULL && f < rules->files_above->len; f++)
    if (above_views[f] != NULL)
      {
        g_free ((char *) above_views[f]->path);
        path_view_clear (above_views[f]);
        g_free (above_views[f]);
      }

  return hidden;
}

/* Whether an ignore rule matches the path or one of its ancestors. Ancestors
 * are directories, whatever @is_directory says about the path itself. */
static gboolean
rules_ignore (const HkFilterRules *rules,
              const PathView      *view,
              gboolean             is_directory)
{
  for (guint n = 1; n <= view->n_components; n++)
    {
      gboolean is_dir = n < view->n_components || is_directory;

      for (guint i = 0; i < rules->ignore->len; i++)
        {
          if (rule_matches (rules->ignore->pdata[i], rules->case_sensitive, view, n, is_dir))
            return TRUE;
        }
    }

  return ignore_files_hide (rules, view, is_directory);
}

/*
 * hk_filter_rules_matches:
 * @rules: a rules snapshot
 * @relative_path: (type filename): a path relative to the watched root
 * @is_directory: whether @relative_path is a directory
 *
 * Like hk_filter_matches(), on a snapshot. Safe to call from any
 * thread, concurrently with edits of the filter the snapshot came from.
 *
 * Returns: %TRUE if events for @relative_path should be reported
 */
gboolean
hk_filter_rules_matches (HkFilterRules *rules,
                         const char    *relative_path,
                         gboolean       is_directory)
{
  g_auto(PathView) view = { NULL, };

  g_return_val_if_fail (rules != NULL, FALSE);
  g_return_val_if_fail (relative_path != NULL, FALSE);

  if (is_directory && rules->ignore_directories)
    return FALSE;
  if (rules->include->len == 0 && rules->ignore->len == 0 && rules->ignore_files->len == 0)
    return TRUE;

  path_view_init (&view, relative_path, !rules->case_sensitive);
  if (view.n_components == 0)
    return TRUE;

  if (rules_ignore (rules, &view, is_directory))
    return FALSE;
  if (rules->include->len == 0)
    return TRUE;

  for (guint i = 0; i < rules->include->len; i++)
    {
      if (rule_matches (rules->include->pdata[i], rules->case_sensitive, &view,
                        view.n_components, is_directory))
        return TRUE;
    }

  return FALSE;
}

/*
 * hk_filter_rules_excludes_directory:
 * @rules: a rules snapshot
 * @relative_path: (type filename): a directory relative to the watched root
 *
 * Like hk_filter_excludes_directory(), on a snapshot. Safe to call
 * from any thread, concurrently with edits of the filter.
 *
 * Returns: %TRUE if nothing inside @relative_path can ever be reported
 */
gboolean
hk_filter_rules_excludes_directory (HkFilterRules *rules,
                                    const char    *relative_path)
{
  g_auto(PathView) view = { NULL, };

  g_return_val_if_fail (rules != NULL, FALSE);
  g_return_val_if_fail (relative_path != NULL, FALSE);

  if (rules->ignore->len == 0 && rules->ignore_files->len == 0)
    return FALSE;

  path_view_init (&view, relative_path, !rules->case_sensitive);

  return rules_ignore (rules, &view, TRUE);
}

/* ------------------------------------------------------------------------ */
/* HkFilter                                                                 */
/* ------------------------------------------------------------------------ */

struct _HkFilter
{
  GObject parent_instance;

  GMutex mutex;           /* guards the @rules pointer, not the rules */
  HkFilterRules *rules;   /* (owned): replaced, never modified */

  GFile *base;            /* (nullable): what relative paths are relative to */
  guint64 next_sequence;  /* for the order of ignore files */
};

G_DEFINE_FINAL_TYPE (HkFilter, hk_filter, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_IGNORE_DIRECTORIES,
  PROP_CASE_SENSITIVE,
  PROP_BASE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* Copy-on-write: takes the lock and returns a private copy of the current
 * rules, to be modified and handed to hk_filter_commit_rules(). */
static HkFilterRules *
hk_filter_edit_rules (HkFilter *self)
{
  g_mutex_lock (&self->mutex);

  return rules_copy (self->rules);
}

static void
hk_filter_commit_rules (HkFilter      *self,
                        HkFilterRules *rules)
{
  HkFilterRules *old = g_steal_pointer (&self->rules);

  rules_index_ignore_files (rules);
  self->rules = rules;
  g_mutex_unlock (&self->mutex);

  hk_filter_rules_unref (old);
  g_signal_emit (self, signals[CHANGED], 0);
}

static gboolean
hk_filter_add_rule (HkFilter *self,
                    Rule     *rule,
                    gboolean  ignore)
{
  HkFilterRules *rules;

  if (rule == NULL)
    return FALSE;

  rules = hk_filter_edit_rules (self);
  g_ptr_array_add (ignore ? rules->ignore : rules->include, rule);
  hk_filter_commit_rules (self, rules);

  return TRUE;
}

static void
hk_filter_finalize (GObject *object)
{
  HkFilter *self = (HkFilter *) object;

  g_clear_pointer (&self->rules, hk_filter_rules_unref);
  g_clear_object (&self->base);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (hk_filter_parent_class)->finalize (object);
}

static void
hk_filter_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  HkFilter *self = HK_FILTER (object);

  switch (prop_id)
    {
    case PROP_IGNORE_DIRECTORIES:
      g_value_set_boolean (value, hk_filter_get_ignore_directories (self));
      break;

    case PROP_CASE_SENSITIVE:
      g_value_set_boolean (value, hk_filter_get_case_sensitive (self));
      break;

    case PROP_BASE:
      g_value_set_object (value, hk_filter_get_base (self));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_filter_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  HkFilter *self = HK_FILTER (object);

  switch (prop_id)
    {
    case PROP_IGNORE_DIRECTORIES:
      hk_filter_set_ignore_directories (self, g_value_get_boolean (value));
      break;

    case PROP_CASE_SENSITIVE:
      hk_filter_set_case_sensitive (self, g_value_get_boolean (value));
      break;

    case PROP_BASE:
      hk_filter_set_base (self, g_value_get_object (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hk_filter_class_init (HkFilterClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hk_filter_finalize;
  object_class->get_property = hk_filter_get_property;
  object_class->set_property = hk_filter_set_property;

  /**
   * HkFilter:ignore-directories:
   *
   * Whether directories never match, so that only events about
   * non-directories are reported.
   *
   * Files inside directories are still reported; to skip a whole subtree,
   * use an ignore rule such as `node_modules/`.
   *
   * Since: 1.0
   */
  properties[PROP_IGNORE_DIRECTORIES] =
    g_param_spec_boolean ("ignore-directories", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * HkFilter:case-sensitive:
   *
   * Whether patterns and regular expressions are matched case-sensitively.
   *
   * When %FALSE, globs compare case-folded text and regular expressions are
   * matched as if compiled with %G_REGEX_CASELESS. Rules added before the
   * change are affected too.
   *
   * Since: 1.0
   */
  properties[PROP_CASE_SENSITIVE] =
    g_param_spec_boolean ("case-sensitive", NULL, NULL,
                          TRUE,
                          (G_PARAM_READWRITE |
                           G_PARAM_EXPLICIT_NOTIFY |
                           G_PARAM_STATIC_STRINGS));

  /**
   * HkFilter:base:
   *
   * The directory that relative paths are relative to: the root of the
   * [class@Hk.Watchdog] the filter is used with.
   *
   * Only rules read from ignore files need it, to know where each file's
   * rules apply (see [method@Hk.Filter.add_ignore_file]). Changing it
   * moves the rules of the ignore files already added accordingly.
   *
   * Since: 1.0
   */
  properties[PROP_BASE] =
    g_param_spec_object ("base", NULL, NULL,
                         G_TYPE_FILE,
                         (G_PARAM_READWRITE |
                          G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * HkFilter::changed:
   * @self: the filter
   *
   * Emitted after any rule or property of the filter changed. A running
   * [class@Hk.Watchdog] using the filter applies the new rules to the
   * events that follow.
   *
   * Emitted on the thread that made the change.
   *
   * Since: 1.0
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
hk_filter_init (HkFilter *self)
{
  g_mutex_init (&self->mutex);
  self->rules = rules_new ();
}

/**
 * hk_filter_new:
 *
 * Creates a filter without rules, which matches every path.
 *
 * Returns: (transfer full): a new filter
 *
 * Since: 1.0
 */
HkFilter *
hk_filter_new (void)
{
  return g_object_new (HK_TYPE_FILTER, NULL);
}

/**
 * hk_filter_add_pattern:
 * @self: a filter
 * @glob: a glob, such as `*.c` or <code>src/&#42;.h</code>
 * @error: return location for a #GError
 *
 * Adds an include rule: once a filter has include rules, only the paths
 * that one of them matches are reported.
 *
 * A glob without `/` (other than a trailing one) matches the last path
 * component at any depth; one with `/` matches the whole relative path. See
 * [class@Hk.Filter] for the syntax.
 *
 * An include rule only looks at the path itself: `src/` includes the
 * directory `src` but not the files inside it; use <code>src/&#42;*</code> for those.
 *
 * Returns: %TRUE on success; %FALSE with %G_IO_ERROR_INVALID_ARGUMENT set if
 *   @glob is invalid, in which case nothing is added
 *
 * Since: 1.0
 */
gboolean
hk_filter_add_pattern (HkFilter    *self,
                       const char  *glob,
                       GError     **error)
{
  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (glob != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return hk_filter_add_rule (self, rule_new_glob (glob, error), FALSE);
}

/**
 * hk_filter_add_ignore_pattern:
 * @self: a filter
 * @glob: a glob, such as `.git/` or `*.o`
 * @error: return location for a #GError
 *
 * Adds an ignore rule: a path is not reported if @glob matches it or any
 * of its ancestor directories, whatever the include rules say. With
 * `node_modules`, nothing inside any directory named `node_modules` is
 * reported, and [method@Hk.Filter.excludes_directory] tells the watcher not
 * to descend into it.
 *
 * See [class@Hk.Filter] for the syntax.
 *
 * Returns: %TRUE on success; %FALSE with %G_IO_ERROR_INVALID_ARGUMENT set if
 *   @glob is invalid, in which case nothing is added
 *
 * Since: 1.0
 */
gboolean
hk_filter_add_ignore_pattern (HkFilter    *self,
                              const char  *glob,
                              GError     **error)
{
  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (glob != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return hk_filter_add_rule (self, rule_new_glob (glob, error), TRUE);
}

/**
 * hk_filter_add_regex:
 * @self: a filter
 * @regex: a regular expression, such as `\.(c|h)$`
 * @error: return location for a #GError
 *
 * Adds an include rule that matches when @regex is found anywhere in the
 * relative path (anchor it with `^` and `$` as needed).
 *
 * Paths that are not valid UTF-8 are matched byte by byte, as with
 * %G_REGEX_RAW.
 *
 * Returns: %TRUE on success; %FALSE with a %G_REGEX_ERROR set if @regex is
 *   invalid, in which case nothing is added
 *
 * Since: 1.0
 */
gboolean
hk_filter_add_regex (HkFilter    *self,
                     const char  *regex,
                     GError     **error)
{
  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (regex != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return hk_filter_add_rule (self, rule_new_regex (regex, error), FALSE);
}

/**
 * hk_filter_add_ignore_regex:
 * @self: a filter
 * @regex: a regular expression, such as `(^|/)\.#`
 * @error: return location for a #GError
 *
 * Adds an ignore rule that matches when @regex is found anywhere in the
 * relative path or in the relative path of one of its ancestor directories.
 *
 * Returns: %TRUE on success; %FALSE with a %G_REGEX_ERROR set if @regex is
 *   invalid, in which case nothing is added
 *
 * Since: 1.0
 */
gboolean
hk_filter_add_ignore_regex (HkFilter    *self,
                            const char  *regex,
                            GError     **error)
{
  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (regex != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return hk_filter_add_rule (self, rule_new_regex (regex, error), TRUE);
}

/**
 * hk_filter_get_ignore_directories:
 * @self: a filter
 *
 * Gets the value of [property@Hk.Filter:ignore-directories].
 *
 * Returns: whether directories never match
 *
 * Since: 1.0
 */
gboolean
hk_filter_get_ignore_directories (HkFilter *self)
{
  g_autoptr(HkFilterRules) rules = NULL;

  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);

  rules = hk_filter_dup_rules (self);
  return rules->ignore_directories;
}

/**
 * hk_filter_set_ignore_directories:
 * @self: a filter
 * @ignore_directories: whether directories never match
 *
 * Sets [property@Hk.Filter:ignore-directories].
 *
 * Since: 1.0
 */
void
hk_filter_set_ignore_directories (HkFilter *self,
                                  gboolean  ignore_directories)
{
  HkFilterRules *rules;

  g_return_if_fail (HK_IS_FILTER (self));

  ignore_directories = !!ignore_directories;
  if (hk_filter_get_ignore_directories (self) == ignore_directories)
    return;

  rules = hk_filter_edit_rules (self);
  rules->ignore_directories = ignore_directories;
  hk_filter_commit_rules (self, rules);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_IGNORE_DIRECTORIES]);
}

/**
 * hk_filter_get_case_sensitive:
 * @self: a filter
 *
 * Gets the value of [property@Hk.Filter:case-sensitive].
 *
 * Returns: whether matching is case-sensitive
 *
 * Since: 1.0
 */
gboolean
hk_filter_get_case_sensitive (HkFilter *self)
{
  g_autoptr(HkFilterRules) rules = NULL;

  g_return_val_if_fail (HK_IS_FILTER (self), TRUE);

  rules = hk_filter_dup_rules (self);
  return rules->case_sensitive;
}

/**
 * hk_filter_set_case_sensitive:
 * @self: a filter
 * @case_sensitive: whether matching is case-sensitive
 *
 * Sets [property@Hk.Filter:case-sensitive].
 *
 * Since: 1.0
 */
void
hk_filter_set_case_sensitive (HkFilter *self,
                              gboolean  case_sensitive)
{
  HkFilterRules *rules;

  g_return_if_fail (HK_IS_FILTER (self));

  case_sensitive = !!case_sensitive;
  if (hk_filter_get_case_sensitive (self) == case_sensitive)
    return;

  rules = hk_filter_edit_rules (self);
  rules->case_sensitive = case_sensitive;
  hk_filter_commit_rules (self, rules);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CASE_SENSITIVE]);
}

/**
 * hk_filter_matches:
 * @self: a filter
 * @relative_path: (type filename): a path relative to the watched root,
 *   with `/` separators and no leading `/`; `""` is the root
 * @is_directory: whether @relative_path is a directory
 *
 * Checks whether events about @relative_path should be reported.
 *
 * That is the case unless @is_directory is %TRUE and
 * [property@Hk.Filter:ignore-directories] is set, or an ignore rule matches
 * @relative_path or one of its ancestor directories, or there are include
 * rules and none of them matches @relative_path. The root always matches,
 * unless directories are ignored.
 *
 * Returns: %TRUE if events about @relative_path should be reported
 *
 * Since: 1.0
 */
gboolean
hk_filter_matches (HkFilter   *self,
                   const char *relative_path,
                   gboolean    is_directory)
{
  g_autoptr(HkFilterRules) rules = NULL;

  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (relative_path != NULL, FALSE);

  rules = hk_filter_dup_rules (self);
  return hk_filter_rules_matches (rules, relative_path, is_directory);
}

/**
 * hk_filter_excludes_directory:
 * @self: a filter
 * @relative_path: (type filename): a directory relative to the watched
 *   root, with `/` separators and no leading `/`
 *
 * Checks whether an ignore rule matches the directory @relative_path or
 * one of its ancestors, so that nothing inside it can ever be reported and
 * it need not be watched at all.
 *
 * Include rules never exclude a directory, since it may contain matching
 * files, and neither does [property@Hk.Filter:ignore-directories]. The
 * root (`""`) is never excluded.
 *
 * Returns: %TRUE if @relative_path need not be watched
 *
 * Since: 1.0
 */
gboolean
hk_filter_excludes_directory (HkFilter   *self,
                              const char *relative_path)
{
  g_autoptr(HkFilterRules) rules = NULL;

  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (relative_path != NULL, FALSE);

  rules = hk_filter_dup_rules (self);
  return hk_filter_rules_excludes_directory (rules, relative_path);
}

static char *
file_key (GFile *file)
{
  g_autofree char *path = g_file_get_path (file);

  return path != NULL ? g_canonicalize_filename (path, NULL) : g_file_get_uri (file);
}

static char *
base_path (HkFilter *self)
{
  g_autofree char *path = self->base != NULL ? g_file_get_path (self->base) : NULL;

  return path != NULL ? g_canonicalize_filename (path, NULL) : NULL;
}

/**
 * hk_filter_get_base:
 * @self: a filter
 *
 * Gets [property@Hk.Filter:base].
 *
 * Returns: (transfer none) (nullable): the base directory
 *
 * Since: 1.0
 */
GFile *
hk_filter_get_base (HkFilter *self)
{
  g_return_val_if_fail (HK_IS_FILTER (self), NULL);

  return self->base;
}

/**
 * hk_filter_set_base:
 * @self: a filter
 * @base: (nullable): the directory relative paths are relative to
 *
 * Sets [property@Hk.Filter:base].
 *
 * Since: 1.0
 */
void
hk_filter_set_base (HkFilter *self,
                    GFile    *base)
{
  g_autofree char *path = NULL;
  HkFilterRules *rules;

  g_return_if_fail (HK_IS_FILTER (self));
  g_return_if_fail (base == NULL || G_IS_FILE (base));

  if (self->base == base || (self->base != NULL && base != NULL && g_file_equal (self->base, base)))
    return;

  g_set_object (&self->base, base);
  path = base_path (self);

  /* Recompute where each ignore file applies. */
  rules = hk_filter_edit_rules (self);
  for (guint i = 0; i < rules->ignore_files->len; i++)
    {
      IgnoreFile *old = rules->ignore_files->pdata[i];

      rules->ignore_files->pdata[i] = ignore_file_new (old->key, old->directory, old->lines,
                                                       old->sequence, path);
      ignore_file_unref (old);
    }
  hk_filter_commit_rules (self, rules);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BASE]);
}

/**
 * hk_filter_add_ignore_file_for_directory:
 * @self: a filter
 * @file: a gitignore-style file
 * @directory: (nullable): the directory its rules are relative to; %NULL
 *   for the directory that contains @file
 * @error: return location for a #GError
 *
 * Like [method@Hk.Filter.add_ignore_file], with the rules relative to
 * @directory rather than to the directory of @file: for files that live
 * elsewhere, such as `$GIT_DIR/info/exclude` or the user's global
 * excludes file, whose rules are relative to the top of the work tree.
 *
 * Returns: %TRUE on success; %FALSE with @error set if @file cannot be
 *   read, or %G_IO_ERROR_INVALID_ARGUMENT if @directory is neither
 *   [property@Hk.Filter:base], inside it, nor one of its ancestors
 *
 * Since: 1.0
 */
gboolean
hk_filter_add_ignore_file_for_directory (HkFilter  *self,
                                         GFile     *file,
                                         GFile     *directory,
                                         GError   **error)
{
  g_autoptr(GFile) parent = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *key = NULL;
  g_autofree char *dir_key = NULL;
  g_autofree char *base = NULL;
  g_autofree char *name = NULL;
  g_autoptr(GArray) lines = NULL;
  g_auto(GStrv) scope = NULL;
  g_autofree char *prefix = NULL;
  HkFilterRules *rules;
  guint64 sequence;
  gsize length;

  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (G_IS_FILE (file), FALSE);
  g_return_val_if_fail (directory == NULL || G_IS_FILE (directory), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (directory == NULL)
    directory = parent = g_file_get_parent (file);
  if (directory == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           "An ignore file needs a directory");
      return FALSE;
    }

  key = file_key (file);
  dir_key = file_key (directory);
  base = base_path (self);
  if (!compute_scope (base, dir_key, &scope, &prefix))
    {
      g_autofree char *printable_dir = g_utf8_make_valid (dir_key, -1);
      g_autofree char *printable_base = g_utf8_make_valid (base, -1);

      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "Ignore rules for “%s” cannot apply below the base “%s”",
                   printable_dir, printable_base);
      return FALSE;
    }

  if (!g_file_load_contents (file, NULL, &contents, &length, NULL, error))
    return FALSE;

  name = g_file_get_basename (file);
  lines = parse_ignore_file (contents, length, name != NULL && g_str_equal (name, ".hgignore"));

  rules = hk_filter_edit_rules (self);
  sequence = self->next_sequence++;
  for (guint i = 0; i < rules->ignore_files->len; i++)
    {
      IgnoreFile *old = rules->ignore_files->pdata[i];

      /* Replaced in place: the file keeps its rank. */
      if (g_str_equal (old->key, key))
        {
          sequence = old->sequence;
          g_ptr_array_remove_index (rules->ignore_files, i);
          break;
        }
    }
  g_ptr_array_add (rules->ignore_files, ignore_file_new (key, dir_key, lines, sequence, base));
  g_ptr_array_sort (rules->ignore_files, compare_ignore_files);
  hk_filter_commit_rules (self, rules);

  return TRUE;
}

/**
 * hk_filter_add_ignore_file:
 * @self: a filter
 * @file: a gitignore-style file, such as `.gitignore`
 * @error: return location for a #GError
 *
 * Reads @file and adds its rules, which apply to the directory that
 * contains @file and everything below it, with the meaning `git` gives
 * them:
 *
 * - blank lines and lines starting with `#` are ignored; trailing spaces
 *   are dropped unless escaped (`\ `);
 * - a glob (see [class@Hk.Filter]) ignores what it matches; with a leading
 *   `!` it brings back what an earlier rule ignored (`\!` and `\#` start a
 *   glob with a literal `!` or `#`);
 * - a glob with a `/` at the start or in the middle is relative to the
 *   directory of @file; one without matches at any depth below it; a
 *   trailing `/` matches only directories; `**` spans directories;
 * - the last matching rule decides, and the rules of a file in a deeper
 *   directory come after those of shallower files (so a `!` there
 *   re-includes); files of one directory rank in the order they were
 *   first added;
 * - nothing inside an ignored directory can be brought back, and such a
 *   directory is not watched.
 *
 * A file named `.hgignore` is read with Mercurial's syntax: `syntax: glob`
 * and `syntax: regexp` (the default) sections, `glob:` and `re:` prefixes;
 * globs match at any depth, regular expressions are searched for in the
 * path relative to the directory of @file; there is no negation.
 *
 * Lines that are not valid globs or regular expressions are skipped, as
 * `git` does.
 *
 * Where the rules apply is worked out from [property@Hk.Filter:base]: the
 * directory of @file may be the base, a directory inside it, or one above
 * it (a `.gitignore` at the top of a work tree applies to a watched
 * subdirectory). Without a base, the directory of @file is taken as the
 * watched root.
 *
 * Adding a file that was added before replaces its rules, so call this
 * again when the file changes, and [method@Hk.Filter.remove_ignore_file]
 * when it is deleted. The rules of ignore files combine with the other
 * rules as one more ignore rule: ignoring still wins over including.
 *
 * Returns: %TRUE on success; %FALSE with @error set if @file cannot be
 *   read or its directory is unrelated to the base, in which case the
 *   filter is unchanged
 *
 * Since: 1.0
 */
gboolean
hk_filter_add_ignore_file (HkFilter  *self,
                           GFile     *file,
                           GError   **error)
{
  return hk_filter_add_ignore_file_for_directory (self, file, NULL, error);
}

/**
 * hk_filter_remove_ignore_file:
 * @self: a filter
 * @file: a file given to [method@Hk.Filter.add_ignore_file] before
 *
 * Removes the rules that were read from @file.
 *
 * Returns: %TRUE if @file had rules in the filter
 *
 * Since: 1.0
 */
gboolean
hk_filter_remove_ignore_file (HkFilter *self,
                              GFile    *file)
{
  g_autofree char *key = NULL;
  HkFilterRules *rules;

  g_return_val_if_fail (HK_IS_FILTER (self), FALSE);
  g_return_val_if_fail (G_IS_FILE (file), FALSE);

  key = file_key (file);
  rules = hk_filter_edit_rules (self);
  for (guint i = 0; i < rules->ignore_files->len; i++)
    {
      IgnoreFile *old = rules->ignore_files->pdata[i];

      if (g_str_equal (old->key, key))
        {
          g_ptr_array_remove_index (rules->ignore_files, i);
          hk_filter_commit_rules (self, rules);
          return TRUE;
        }
    }

  /* Nothing to change: drop the copy and release the lock. */
  g_mutex_unlock (&self->mutex);
  hk_filter_rules_unref (rules);

  return FALSE;
}

/*
 * hk_filter_dup_rules:
 * @self: a filter
 *
 * Gets the current rules of @self as an immutable snapshot, which later
 * edits of @self do not affect. May be called from any thread.
 *
 * Returns: (transfer full): the rules snapshot
 */
HkFilterRules *
hk_filter_dup_rules (HkFilter *self)
{
  HkFilterRules *rules;

  g_return_val_if_fail (HK_IS_FILTER (self), NULL);

  g_mutex_lock (&self->mutex);
  rules = hk_filter_rules_ref (self->rules);
  g_mutex_unlock (&self->mutex);

  return rules;
}
