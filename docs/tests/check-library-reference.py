#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fail when a public symbol of libgstdmakit-1.0 is not named in the library reference.

usage: check-library-reference.py HEADER_DIR REFERENCE.md

Public symbols, from every gst/dmakit/*.h that declares GST_DMAKIT_API functions:
  - every function declared after GST_DMAKIT_API,
  - every typedef'd type and every enum value,
  - every #define'd macro (include guards and the export macro's internals excepted).
Each must appear in REFERENCE.md as a whole word. Prints the missing ones by kind.
"""
import glob
import os
import re
import sys


def strip_comments(text):
    return re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def public_symbols(path):
    text = strip_comments(open(path, encoding="utf-8").read())
    # Preprocessor lines (with their continuations) carry macros, not declarations.
    code_lines, macros = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("#"):
            logical = line
            while logical.endswith("\\") and i + 1 < len(lines):
                i += 1
                logical = logical[:-1] + lines[i]
            m = re.match(r"\s*#\s*define\s+(\w+)", logical)
            if m and not m.group(1).endswith("_H"):
                macros.append(m.group(1))
            code_lines.append("")
        else:
            code_lines.append(line)
        i += 1
    code = "\n".join(code_lines)
    functions = [m.group(1) for m in
                 re.finditer(r"^\s*GST_DMAKIT_API\s+[^;{]*?\b(\w+)\s*\(", code, flags=re.M)]
    if not functions:
        return None
    types = re.findall(r"\btypedef\b[^;{]*?(?:\{[^}]*\})?\s*(\w+)\s*;", code, flags=re.S)
    enum_values = []
    for body in re.findall(r"\benum\b\s*\w*\s*\{([^}]*)\}", code, flags=re.S):
        enum_values += re.findall(r"^\s*([A-Z][A-Z0-9_]+)\s*(?:=[^,]*)?,?", body, flags=re.M)
    return {"function": functions, "type": types, "enum value": enum_values, "macro": macros}


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    header_dir, reference = sys.argv[1:]
    doc = open(reference, encoding="utf-8").read()
    words = set(re.findall(r"\w+", doc))
    checked, missing = 0, []
    headers = sorted(glob.glob(os.path.join(header_dir, "*.h")))
    for h in headers:
        syms = public_symbols(h)
        if syms is None:
            continue  # private header (e.g. dmakit-raii.h): no exported declarations
        for kind, names in syms.items():
            for name in dict.fromkeys(names):
                checked += 1
                if name not in words:
                    missing.append((os.path.basename(h), kind, name))
    if checked == 0:
        print(f"no public symbols found in {header_dir}/*.h: wrong directory?", file=sys.stderr)
        return 1
    if missing:
        print(f"{reference} does not mention {len(missing)} of {checked} public symbols:")
        for header, kind, name in missing:
            print(f"  {header}: {kind} {name}")
        print("Add a line for each to the reference (one line of what it does).")
        return 1
    print(f"{reference}: all {checked} public symbols of {header_dir}/*.h are documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
