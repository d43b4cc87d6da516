# hachiko.py: the module name the original hachiko package used
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""``from hachiko.hachiko import AIOWatchdog, AIOEventHandler`` keeps working."""

from .aio import AIOEventHandler, AIOWatchdog, awatch  # noqa: F401

__all__ = ["AIOWatchdog", "AIOEventHandler", "awatch"]
