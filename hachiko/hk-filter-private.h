/* hk-filter-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "hk-filter.h"

G_BEGIN_DECLS

/* An immutable, thread-safe snapshot of a filter's compiled rules.
 * HkFilter is copy-on-write over it, so the worker thread can prune ignored
 * subtrees without ever touching the (user-owned) HkFilter object. */
typedef struct _HkFilterRules HkFilterRules;

HkFilterRules *hk_filter_dup_rules                (HkFilter      *self);
HkFilterRules *hk_filter_rules_ref                (HkFilterRules *rules);
void           hk_filter_rules_unref              (HkFilterRules *rules);
gboolean       hk_filter_rules_matches            (HkFilterRules *rules,
                                                   const char    *relative_path,
                                                   gboolean       is_directory);
gboolean       hk_filter_rules_excludes_directory (HkFilterRules *rules,
                                                   const char    *relative_path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HkFilterRules, hk_filter_rules_unref)

G_END_DECLS
