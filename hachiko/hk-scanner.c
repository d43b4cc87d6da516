/* hk-scanner.c
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>

#include "hk-scanner-private.h"

void
hk_scanner_init (HkScanner *scanner,
                 int        fd,
                 guint8    *buffer,
                 gsize      size)
{
  *scanner = (HkScanner) { .fd = fd, .buffer = buffer, .size = size };
}

gboolean
hk_scanner_next (HkScanner      *scanner,
                 HkScannerEntry *entry)
{
  for (;;)
    {
      const struct dirent64 *de;

      if (scanner->pos >= scanner->len)
        {
          do
            scanner->len = getdents64 (scanner->fd, scanner->buffer, scanner->size);
          while (scanner->len < 0 && errno == EINTR);
          scanner->pos = 0;
          if (scanner->len <= 0)
            {
              scanner->error = scanner->len < 0 ? errno : 0;
              scanner->len = 0;
              return FALSE;
            }
        }

      de = (const struct dirent64 *) (scanner->buffer + scanner->pos);
      scanner->pos += de->d_reclen;
      if (de->d_name[0] == '.' &&
          (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
        continue;

      entry->name = de->d_name;
      entry->ino = de->d_ino;
      entry->type = de->d_type;
      return TRUE;
    }
}

int
hk_scanner_failed (HkScanner *scanner)
{
  return scanner->error;
}
