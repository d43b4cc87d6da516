#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Every public symbol in the GIR has documentation and a "Since:" version:
# classes, records (class structs included), enums and their values,
# functions, methods, constructors, virtual methods, properties, signals,
# constants and callbacks. Prints what is missing and fails if anything is.
#
#   check-gir-docs.py Hk-1.gir

import sys
import xml.etree.ElementTree as ET

CORE = "{http://www.gtk.org/introspection/core/1.0}"
GLIB = "{http://www.gtk.org/introspection/glib/1.0}"
C = "{http://www.gtk.org/introspection/c/1.0}"

# Elements that need both a doc and a version (Since:).
VERSIONED = {"class", "record", "enumeration", "bitfield", "interface", "function",
             "method", "constructor", "virtual-method", "property", "signal",
             "constant", "callback", "function-macro", "alias"}
# Elements that need a doc; their version is their parent's.
DOC_ONLY = {"member"}


def local(tag):
    return tag.split("}", 1)[1] if "}" in tag else tag


def name_of(element, parent_name):
    name = element.get("name") or element.get(f"{GLIB}name") or "?"
    if local(element.tag) == "signal":
        return f"{parent_name}::{name}"
    if local(element.tag) == "property":
        return f"{parent_name}:{name}"
    return f"{parent_name}.{name}" if parent_name else name


def walk(element, parent_name, problems):
    kind = local(element.tag)
    if kind in VERSIONED or kind in DOC_ONLY:
        name = name_of(element, parent_name)
        if element.find(f"{CORE}doc") is None:
            problems.append(f"{kind} {name}: no documentation")
        if kind in VERSIONED and not element.get("version"):
            problems.append(f"{kind} {name}: no Since:")
        parent_name = name
    for child in element:
        if local(child.tag) in ("doc", "parameters", "return-value", "source-position", "field",
                                "type", "array", "implements", "prerequisite"):
            continue
        walk(child, parent_name, problems)


def main():
    tree = ET.parse(sys.argv[1])
    namespace = tree.getroot().find(f"{CORE}namespace")
    problems = []
    walk(namespace, namespace.get("name"), problems)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(f"{len(problems)} documentation problems in {sys.argv[1]}")
    print(f"ok: every symbol of {sys.argv[1]} is documented with Since:")


if __name__ == "__main__":
    main()
