# Hk.py: PyGObject overrides for hachiko's Hk namespace
#
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Pythonic shortcuts on top of the Hk typelib.

- ``Hk.Watchdog(path, recursive=True, filter=None, ...)``: ``path`` may be a
  ``str``, ``bytes``, ``os.PathLike`` or ``Gio.File``; ``filter`` may be an
  ``Hk.Filter`` or a list of glob patterns.
- ``Hk.Event`` attributes ``path`` (also ``src_path``), ``dest_path``,
  ``event_type`` (the nick: ``'created'``, ``'moved'``, ...),
  ``is_directory``, ``is_synthetic``, ``timestamp`` and a readable repr.
- ``Hk.Filter(patterns, ignore_patterns=..., regexes=..., ...)`` built from
  lists.

Everything else of the typelib is unchanged.
"""

import os

from gi.repository import Gio

from ..module import get_introspection_module
from ..overrides import override

Hk = get_introspection_module("Hk")

__all__ = []


def _patterns(value):
    """A single string or an iterable of strings, as a list."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [value]
    return list(value)


class Filter(Hk.Filter):
    """An ``Hk.Filter`` built from lists of rules.

    ``Hk.Filter(["*.py", "*.txt"], ignore_patterns=[".git/"])`` is the same
    as calling ``add_pattern`` and ``add_ignore_pattern`` for each item;
    a bad rule raises ``GLib.Error``.
    """

    def __init__(self, patterns=None, ignore_patterns=None, regexes=None,
                 ignore_regexes=None, **kwargs):
        super().__init__(**kwargs)
        for pattern in _patterns(patterns):
            self.add_pattern(pattern)
        for pattern in _patterns(ignore_patterns):
            self.add_ignore_pattern(pattern)
        for regex in _patterns(regexes):
            self.add_regex(regex)
        for regex in _patterns(ignore_regexes):
            self.add_ignore_regex(regex)

    @classmethod
    def coerce(cls, value):
        """``None``, an ``Hk.Filter`` or a list of glob patterns, as a filter."""
        if value is None or isinstance(value, Hk.Filter):
            return value
        return cls(value)


Filter = override(Filter)
__all__.append("Filter")


def _file_for(path):
    if isinstance(path, Gio.File):
        return path
    return Gio.File.new_for_path(os.fsdecode(os.fspath(path)))


class Watchdog(Hk.Watchdog):
    """``Hk.Watchdog(path, **properties)``.

    ``path`` is a ``str``, ``bytes``, ``os.PathLike`` or ``Gio.File``;
    ``filter`` an ``Hk.Filter`` or a list of glob patterns. The other
    keyword arguments set properties (``recursive``, ``latency``, ...).
    ``Hk.Watchdog.new(file)`` keeps working.
    """

    def __init__(self, path=None, **kwargs):
        if path is not None:
            if "root" in kwargs:
                raise TypeError("give either path or root, not both")
            kwargs["root"] = _file_for(path)
        elif "root" in kwargs and not isinstance(kwargs["root"], Gio.File):
            kwargs["root"] = _file_for(kwargs["root"])
        if "filter" in kwargs:
            kwargs["filter"] = Filter.coerce(kwargs["filter"])
        super().__init__(**kwargs)

    @property
    def path(self):
        """The root as a path (``str``)."""
        return self.get_root().get_path()

    def __repr__(self):
        state = "running" if self.get_running() else "stopped"
        return "<Hk.Watchdog %r %s>" % (self.path, state)


Watchdog = override(Watchdog)
__all__.append("Watchdog")


class LoopBridge(Hk.LoopBridge):
    """``Hk.LoopBridge()`` is ready to use, like ``Hk.LoopBridge.new()``
    (PyGObject does not initialize a ``Gio.Initable`` by itself)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.init(None)


LoopBridge = override(LoopBridge)
__all__.append("LoopBridge")


class Event(Hk.Event):
    """``Hk.Event`` with the attributes of a watchdog-style event.

    ``Hk.Event(event_type, path, dest_path=None, is_directory=False,
    is_synthetic=False, timestamp=0)`` makes one; ``event_type`` may be an
    ``Hk.EventType`` or its nick.
    """

    def __new__(cls, event_type, path, dest_path=None, is_directory=False,
                is_synthetic=False, timestamp=0):
        if isinstance(event_type, str):
            event_type = _EVENT_TYPES[event_type]
        return Hk.Event.new(event_type, os.fsdecode(os.fspath(path)),
                            None if dest_path is None else os.fsdecode(os.fspath(dest_path)),
                            is_directory, is_synthetic, timestamp)

    def __init__(self, *args, **kwargs):
        pass

    path = property(Hk.Event.get_path, doc="The path of the file or directory.")
    src_path = path
    dest_path = property(Hk.Event.get_dest_path,
                         doc="The new path of a moved file, else None.")
    is_directory = property(Hk.Event.get_is_directory)
    is_synthetic = property(Hk.Event.get_is_synthetic,
                            doc="True when the event was made up by a rescan.")
    timestamp = property(Hk.Event.get_timestamp,
                         doc="When the kernel event was read (monotonic µs).")

    @property
    def event_type(self):
        """The type's nick: 'created', 'deleted', 'modified', 'moved',
        'attribute-changed', 'closed', 'opened' or 'closed-no-write'."""
        return _EVENT_NICKS[self.get_event_type()]

    def __repr__(self):
        flags = ""
        if self.get_is_directory():
            flags += " directory"
        if self.get_is_synthetic():
            flags += " synthetic"
        dest = self.get_dest_path()
        where = repr(self.get_path()) if dest is None else "%r -> %r" % (self.get_path(), dest)
        return "<Hk.Event %s %s%s>" % (self.event_type, where, flags)

    def _key(self):
        return (self.get_event_type(), self.get_path(), self.get_dest_path(),
                self.get_is_directory(), self.get_is_synthetic())

    def __eq__(self, other):
        if not isinstance(other, Hk.Event):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


Event = override(Event)
__all__.append("Event")

_EVENT_NICKS = {value: value.value_nick for value in Hk.EventType.__enum_values__.values()}
_EVENT_TYPES = {nick: value for value, nick in _EVENT_NICKS.items()}
