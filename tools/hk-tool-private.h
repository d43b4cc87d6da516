/* hk-tool-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <hachiko.h>

G_BEGIN_DECLS

/* Exit statuses of every subcommand; documented in hachiko(1). */
typedef enum
{
  HK_TOOL_EXIT_OK            = 0,
  HK_TOOL_EXIT_FAILURE       = 1,  /* runtime failure */
  HK_TOOL_EXIT_USAGE         = 2,  /* bad option, pattern or command */
  HK_TOOL_EXIT_CANNOT_WATCH  = 3,  /* a PATH cannot be (or stopped being) watched */
} HkToolExit;

/* 128 + signal, the shell's convention for "killed by". */
#define HK_TOOL_EXIT_SIGNALED(sig) (128 + (sig))

typedef struct _HkToolWatch HkToolWatch;

/* --- options shared by every subcommand (hk-tool-options.c) ------------ */

typedef struct
{
  char     **patterns;
  char     **ignore_patterns;
  char     **regexes;
  char     **ignore_regexes;
  char     **event_types;        /* as given; parsed into event_mask */
  gboolean   ignore_directories;
  gboolean   case_sensitive;
  gboolean   no_default_ignores;
  gboolean   no_ignore_files;
  char     **ignore_files;       /* --ignore-file */
  gboolean   no_recursive;
  gboolean   follow_symlinks;
  gboolean   access_events;
  gboolean   quiet;
  int        latency;            /* milliseconds; the subcommand's default unless given */
  char      *backend_name;       /* --backend, parsed into backend */
  int        poll_interval;      /* --poll-interval in ms; 0: the library's default */
  gboolean   ready_before_walk;  /* --ready-before-walk: wait-for-walk FALSE */
  HkBackendKind backend;

  guint      event_mask;         /* 1 << HkEventType; 0 means every type */
} HkToolOptions;

void        hk_tool_options_clear          (HkToolOptions    *options);

/* A context for `hachiko COMMAND` with the common options and @entries. */
GOptionContext *hk_tool_option_context_new (const char       *command,
                                            const char       *parameter_string,
                                            const char       *summary,
                                            const char       *description,
                                            const GOptionEntry *entries,
                                            HkToolOptions    *options);

/* Parses @args (program name first, no "--" part). On failure prints one
 * line to stderr and returns FALSE. */
gboolean    hk_tool_parse                  (GOptionContext   *context,
                                            const char       *command,
                                            char           ***args,
                                            HkToolOptions    *options,
                                            int               default_latency);

extern const char * const hk_tool_ignore_file_names[];

HkFilter   *hk_tool_options_build_filter   (const HkToolOptions *options,
                                            GFile            *root,
                                            GError          **error);
HkFilter   *hk_tool_options_build_selection (const HkToolOptions *options,
                                             GError          **error);
gboolean    hk_tool_options_accepts        (const HkToolOptions *options,
                                            HkEvent          *event);

HkToolWatch *hk_tool_prepare               (GOptionContext   *context,
                                            const char       *command,
                                            char           ***args,
                                            HkToolOptions    *options,
                                            int               default_latency,
                                            int              *exit_code);
int         hk_tool_exit_for_start_error   (const GError     *error);

/* --- diagnostics ------------------------------------------------------- */

void        hk_tool_usage_error            (const char       *command,
                                            const char       *format,
                                            ...) G_GNUC_PRINTF (2, 3);
void        hk_tool_report_error           (const GError     *error);
void        hk_tool_report_watch_warning   (const GError     *error);
void        hk_tool_message                (const HkToolOptions *options,
                                            const char       *format,
                                            ...) G_GNUC_PRINTF (2, 3);

/* --- escaping (hk-tool-escape.c) -------------------------------------- */

void        hk_tool_append_text_path       (GString          *out,
                                            const char       *path,
                                            gboolean          is_directory);
void        hk_tool_append_json_string     (GString          *out,
                                            const char       *utf8);
void        hk_tool_append_json_path       (GString          *out,
                                            const char       *key,
                                            const char       *path);
char       *hk_tool_escape_line            (const char       *text);
const char *hk_tool_event_type_nick        (HkEvent          *event);

/* --- ignore files (hk-tool-ignore.c) ---------------------------------- */

/* Reads every ignore file that applies under @root (the whole tree when
 * @recursive), until @cancellable is cancelled; may run on any thread while
 * no other thread uses @filter. */
void        hk_tool_ignore_load            (HkFilter         *filter,
                                            const char       *root,
                                            gboolean          recursive,
                                            GCancellable     *cancellable);
gboolean    hk_tool_ignore_update          (HkFilter         *filter,
                                            HkEvent          *event,
                                            const char       *root);

/* --- event lines (hk-tool-format.c) ------------------------------------ */

typedef struct _HkToolFormat HkToolFormat;

HkToolFormat *hk_tool_format_new           (gboolean          json,
                                            const char       *template,
                                            GError          **error);
void        hk_tool_format_append          (const HkToolFormat *format,
                                            GString          *out,
                                            HkEvent          *event);
void        hk_tool_format_free            (HkToolFormat     *format);
/* One JSON Lines object for @event, as "log --json" prints it; @wall_us is
 * its time (microseconds since the epoch). */
void        hk_tool_append_json_event      (GString          *out,
                                            HkEvent          *event,
                                            gint64            wall_us);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkToolFormat, hk_tool_format_free)

/* --- watching (hk-tool-watch.c) --------------------------------------- */

/* Events that passed the options' event types; never empty. */
typedef void (*HkToolBatchFunc) (GPtrArray *events,
                                 gpointer   user_data);
/* Every root is watched (error NULL), or one could not be (the others are
 * stopped); called once. */
typedef void (*HkToolReadyFunc) (const GError *error,
                                 gpointer      user_data);
/* No root is watched any more (each was deleted or unmounted). */
typedef void (*HkToolLostFunc)  (gpointer      user_data);

/* SIGINT or SIGTERM arrived. */
typedef void (*HkToolSignalFunc) (int           signum,
                                  gpointer      user_data);
/* The main loop has quit; the watchdogs still run. */
typedef void (*HkToolDoneFunc)  (gpointer      user_data);

/* What a subcommand does while hk_tool_watch_run() runs. A NULL member
 * gives what "log" does: */
typedef struct
{
  HkToolReadyFunc  ready;   /* a start error quits with hk_tool_exit_for_start_error() */
  HkToolBatchFunc  batch;   /* events are dropped */
  HkToolLostFunc   lost;    /* says so on stderr, quits with HK_TOOL_EXIT_CANNOT_WATCH */
  HkToolSignalFunc signal;  /* quits with HK_TOOL_EXIT_SIGNALED (signum) */
  HkToolDoneFunc   done;    /* nothing */
} HkToolHandlers;

HkToolWatch *hk_tool_watch_new             (const HkToolOptions *options,
                                            HkFilter         *selection,
                                            char            **paths,
                                            GError          **error);
/* Starts watching and runs the main loop until hk_tool_watch_quit(),
 * handling SIGINT and SIGTERM; then calls @handlers->done and stops
 * watching. *@exit_code is what hk_tool_watch_quit() sets. */
void         hk_tool_watch_run             (HkToolWatch      *self,
                                            const HkToolHandlers *handlers,
                                            gpointer          user_data,
                                            int              *exit_code);
/* Sets the exit status and quits the loop of hk_tool_watch_run(). */
void         hk_tool_watch_quit            (HkToolWatch      *self,
                                            int               exit_code);
void         hk_tool_watch_stop            (HkToolWatch      *self);
/* Whether the path or the destination of @event, relative to @root, passes
 * @filter. */
gboolean     hk_tool_filter_accepts        (HkFilter         *filter,
                                            const char       *root,
                                            HkEvent          *event);
/* The watchdogs, one per PATH (owned by the watch). */
GPtrArray   *hk_tool_watch_get_watchdogs   (HkToolWatch      *self);
void         hk_tool_watch_free            (HkToolWatch      *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkToolWatch, hk_tool_watch_free)

/* --- children (hk-tool-child.c) --------------------------------------- */

/* What a run of COMMAND is about: the events since the previous run. */
typedef struct
{
  HkEvent    *last;      /* the last event of the run */
  guint       count;     /* how many events */
  GPtrArray  *paths;     /* distinct paths (char *), in order */
  GHashTable *seen;      /* the same paths, to look up */
} HkToolRun;

HkToolRun  *hk_tool_run_new                (void);
void        hk_tool_run_add                (HkToolRun        *run,
                                            HkEvent          *event);
void        hk_tool_run_free               (HkToolRun        *run);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkToolRun, hk_tool_run_free)

gboolean    hk_tool_check_command          (const char       *command,
                                            char            **argv);
/* Spawns @argv in a new process group, with HACHIKO_* set from @run (NULL:
 * none set); whole-argument placeholders are replaced when @placeholders. */
GSubprocess *hk_tool_spawn                 (char            **argv,
                                            HkToolRun        *run,
                                            gboolean          placeholders,
                                            GError          **error);
typedef enum
{
  HK_TOOL_STDIN_NULL,       /* /dev/null */
  HK_TOOL_STDIN_INHERIT,    /* hachiko's */
  HK_TOOL_STDIN_TERMINAL,   /* hachiko's terminal, and its foreground group */
} HkToolStdin;

GSubprocess *hk_tool_spawn_full            (char            **argv,
                                            HkToolRun        *run,
                                            guint            *next_path,
                                            gsize             budget,
                                            HkToolStdin       stdin_mode,
                                            GError          **error);
gboolean    hk_tool_command_needs_event    (char            **argv);
gsize       hk_tool_paths_budget           (char            **argv,
                                            HkToolRun        *run);

/* --kill-after is at most this many seconds (one day). */
#define HK_TOOL_MAX_KILL_AFTER 86400
gboolean    hk_tool_check_kill_after       (const char       *command,
                                            double            seconds);
int         hk_tool_child_status           (GSubprocess      *child);
char       *hk_tool_describe_status        (GSubprocess      *child);
gboolean    hk_tool_parse_signal           (const char       *name,
                                            int              *signum);
/* --signal: sets *@signum unless @name is NULL; on a bad name prints a
 * usage error for @command and returns FALSE. */
gboolean    hk_tool_check_signal           (const char       *command,
                                            const char       *name,
                                            int              *signum);
GPid        hk_tool_child_pid              (GSubprocess      *child);
gboolean    hk_tool_signal_group           (GPid              pgid,
                                            int               signum);
/* Sends @signum to the group, then SIGCONT: a stopped process would not
 * act on it until continued. */
void        hk_tool_stop_group             (GPid              pgid,
                                            int               signum);
/* --kill-after ran out: says so, and kills the group of @command. */
void        hk_tool_kill_group_after       (const HkToolOptions *options,
                                            const char       *command,
                                            double            kill_after,
                                            GPid              pgid);

/* --- subcommands -------------------------------------------------------- */

/* One row of the command table (hachiko.c). Only the first three fields
 * are needed; the others default to "no options of its own, no PATHs". */
typedef struct
{
  const char *name;
  int       (*run) (int argc, char **argv);
  const char *summary;
  const GOptionEntry *(*options) (void);  /* its own options, for completions */
  gboolean    watches;                    /* takes PATHs and the common options */
  gboolean    takes_command;              /* "-- COMMAND [ARG...]" */
  gboolean    hidden;                     /* not listed in --help */
} HkToolCommand;

extern const HkToolCommand hk_tool_commands[];
extern const guint         hk_tool_n_commands;

/* Each subcommand's own options, and the common ones, for completions
 * (the entries point at storage nobody reads). */
const GOptionEntry *hk_tool_common_options (void);
const GOptionEntry *hk_tool_log_options    (void);
const GOptionEntry *hk_tool_exec_options   (void);
const GOptionEntry *hk_tool_restart_options (void);
const GOptionEntry *hk_tool_wait_options   (void);

int         hk_tool_wait                   (int               argc,
                                            char            **argv);
int         hk_tool_completions            (int               argc,
                                            char            **argv);

int         hk_tool_log                    (int               argc,
                                            char            **argv);
int         hk_tool_exec                   (int               argc,
                                            char            **argv);
int         hk_tool_restart                (int               argc,
                                            char            **argv);
int         hk_tool_snapshot               (int               argc,
                                            char            **argv);

/* Splits "ARGS -- COMMAND..." at the first "--": returns the options and
 * paths part (program name first) and sets @command to what follows, or
 * NULL when there is no "--". */
char      **hk_tool_split_command          (int               argc,
                                            char            **argv,
                                            char           ***command);

G_END_DECLS
