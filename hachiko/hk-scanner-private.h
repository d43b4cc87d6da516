/* hk-scanner-private.h
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Reads the entries of an open directory with getdents64(): the least a
 * walk can do (opendir()/fdopendir() add an fstat() and an fcntl() per
 * directory, readdir() a copy per entry). "." and ".." are skipped. The
 * POSIX reader behind the tree's walks and rescans and HkSnapshot's take.
 *
 *   HkScanner scanner;
 *   HkScannerEntry entry;
 *
 *   hk_scanner_init (&scanner, fd, buffer, HK_SCANNER_BUFFER_SIZE);
 *   while (hk_scanner_next (&scanner, &entry))
 *     ...entry.name, entry.type (a DT_* value), entry.ino...
 *   if (hk_scanner_failed (&scanner)) ...errno...
 */

#define HK_SCANNER_BUFFER_SIZE (32 * 1024)

typedef struct
{
  const char    *name;   /* valid until the next call */
  guint64        ino;
  unsigned char  type;   /* DT_*, DT_UNKNOWN when the filesystem does not say */
} HkScannerEntry;

typedef struct
{
  int     fd;
  guint8 *buffer;
  gsize   size;
  gssize  len;
  gssize  pos;
  int     error;         /* errno of a failed read, 0 */
} HkScanner;

void      hk_scanner_init   (HkScanner      *scanner,
                             int             fd,
                             guint8         *buffer,
                             gsize           size);
gboolean  hk_scanner_next   (HkScanner      *scanner,
                             HkScannerEntry *entry);
int       hk_scanner_failed (HkScanner      *scanner);

G_END_DECLS
