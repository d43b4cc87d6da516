/* hk-filter.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(HACHIKO_INSIDE) && !defined(HACHIKO_COMPILATION)
# error "Only <hachiko.h> can be included directly."
#endif

#include <gio/gio.h>

#include "hk-version-macros.h"

G_BEGIN_DECLS

#define HK_TYPE_FILTER (hk_filter_get_type ())

/**
 * HkFilterClass:
 *
 * The class structure of [class@Hk.Filter]. The type is final: it has no
 * public fields and cannot be subclassed.
 *
 * Since: 1.0
 */
HK_AVAILABLE_IN_1_0
G_DECLARE_FINAL_TYPE (HkFilter, hk_filter, HK, FILTER, GObject)

HK_AVAILABLE_IN_1_0
HkFilter *hk_filter_new                    (void);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_add_pattern            (HkFilter    *self,
                                            const char  *glob,
                                            GError     **error);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_add_ignore_pattern     (HkFilter    *self,
                                            const char  *glob,
                                            GError     **error);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_add_regex              (HkFilter    *self,
                                            const char  *regex,
                                            GError     **error);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_add_ignore_regex       (HkFilter    *self,
                                            const char  *regex,
                                            GError     **error);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_get_ignore_directories (HkFilter    *self);
HK_AVAILABLE_IN_1_0
void      hk_filter_set_ignore_directories (HkFilter    *self,
                                            gboolean     ignore_directories);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_get_case_sensitive     (HkFilter    *self);
HK_AVAILABLE_IN_1_0
void      hk_filter_set_case_sensitive     (HkFilter    *self,
                                            gboolean     case_sensitive);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_matches                (HkFilter    *self,
                                            const char  *relative_path,
                                            gboolean     is_directory);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_excludes_directory     (HkFilter    *self,
                                            const char  *relative_path);
HK_AVAILABLE_IN_1_0
GFile    *hk_filter_get_base               (HkFilter    *self);
HK_AVAILABLE_IN_1_0
void      hk_filter_set_base               (HkFilter    *self,
                                            GFile       *base);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_add_ignore_file        (HkFilter    *self,
                                            GFile       *file,
                                            GError     **error);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_add_ignore_file_for_directory (HkFilter *self,
                                                   GFile    *file,
                                                   GFile    *directory,
                                                   GError  **error);
HK_AVAILABLE_IN_1_0
gboolean  hk_filter_remove_ignore_file     (HkFilter    *self,
                                            GFile       *file);

G_END_DECLS
