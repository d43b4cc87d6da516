#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Turns the guides in docs/*.md, which are plain Markdown readable in the
# repository, into gi-docgen content pages:
#
#  - a "Title:" header taken from the first "# " heading;
#  - a code span naming a public symbol of the GIR becomes a gi-docgen link:
#    `hk_watchdog_start()` -> [method@Hk.Watchdog.start],
#    `HkWatchdog` -> [class@Hk.Watchdog], `HkWatchdog:latency` ->
#    [property@Hk.Watchdog:latency], `HkWatchdog::batch` -> [signal@...];
#  - links to sibling guides, `(filters.md)`, point at their HTML pages.
#
#   gen-content.py GIR OUTPUT_DIR PAGE.md...

import os
import re
import sys
import xml.etree.ElementTree as ET

CORE = "{http://www.gtk.org/introspection/core/1.0}"
C = "{http://www.gtk.org/introspection/c/1.0}"
GLIB = "{http://www.gtk.org/introspection/glib/1.0}"

TYPE_KINDS = {"class": "class", "record": "struct", "enumeration": "enum",
              "bitfield": "flags", "interface": "iface"}
CALLABLE_KINDS = {"method": "method", "constructor": "ctor", "function": "func"}


def symbol_links(gir_path):
    """Maps C names as the guides write them to gi-docgen link targets."""
    namespace = ET.parse(gir_path).getroot().find(f"{CORE}namespace")
    ns = namespace.get("name")
    links = {}
    for function in namespace.findall(f"{CORE}function"):
        if function.get("moved-to") is None:
            links[function.get(f"{C}identifier") + "()"] = f"func@{ns}.{function.get('name')}"
    for tag, kind in TYPE_KINDS.items():
        for element in namespace.findall(f"{CORE}{tag}"):
            if element.get(f"{GLIB}is-gtype-struct-for"):
                continue
            name, c_type = element.get("name"), element.get(f"{C}type")
            links[c_type] = f"{kind}@{ns}.{name}"
            for callable_tag, callable_kind in CALLABLE_KINDS.items():
                for member in element.findall(f"{CORE}{callable_tag}"):
                    links[member.get(f"{C}identifier") + "()"] = \
                        f"{callable_kind}@{ns}.{name}.{member.get('name')}"
            for prop in element.findall(f"{CORE}property"):
                links[f"{c_type}:{prop.get('name')}"] = f"property@{ns}.{name}:{prop.get('name')}"
            for signal in element.findall(f"{GLIB}signal"):
                links[f"{c_type}::{signal.get('name')}"] = f"signal@{ns}.{name}::{signal.get('name')}"
    for constant in namespace.findall(f"{CORE}constant"):
        links[constant.get(f"{C}type")] = f"const@{ns}.{constant.get('name')}"
    return links


# Types and functions of the libraries the guides mention most.
EXTERNAL_LINKS = {
    "GFile": "iface@Gio.File",
    "GCancellable": "class@Gio.Cancellable",
    "GMainContext": "struct@GLib.MainContext",
    "GRegex": "struct@GLib.Regex",
    "g_main_context_invoke()": "method@GLib.MainContext.invoke",
    "g_main_context_push_thread_default()": "method@GLib.MainContext.push_thread_default",
}

CODE_SPAN = re.compile(r"`([^`\n]+)`")
GUIDE_LINK = re.compile(r"\]\(([a-z0-9-]+)\.md(#[^)]*)?\)")


def convert(text, links, pages):
    out = []
    title = None
    in_fence = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            if title is None and line.startswith("# "):
                title = line[2:].strip().replace("`", "")
            line = CODE_SPAN.sub(
                lambda m: f"[{links[m.group(1)]}]" if m.group(1) in links else m.group(0), line)
            line = GUIDE_LINK.sub(
                lambda m: f"]({m.group(1)}.html{m.group(2) or ''})"
                if m.group(1) in pages else m.group(0), line)
        out.append(line)
    if title is None:
        raise SystemExit("no '# ' heading to take the title from")
    return f"Title: {title}\n\n" + "\n".join(out)


def main():
    gir, output_dir, *sources = sys.argv[1:]
    links = dict(EXTERNAL_LINKS, **symbol_links(gir))
    pages = {os.path.splitext(os.path.basename(s))[0] for s in sources}
    for source in sources:
        with open(source, encoding="utf-8") as f:
            text = f.read()
        try:
            converted = convert(text, links, pages)
        except SystemExit as e:
            raise SystemExit(f"{source}: {e}")
        with open(os.path.join(output_dir, os.path.basename(source)), "w", encoding="utf-8") as f:
            f.write(converted)


if __name__ == "__main__":
    main()
