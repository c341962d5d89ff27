#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fail when a relative link in the Markdown docs points at a missing file or heading.

usage: check-links.py SOURCE_ROOT

Checks README.md and docs/**/*.md. Links outside fenced code blocks, of the form
[text](path), [text](path#anchor) and [text](#anchor); http(s) and mailto links are not
fetched. Anchors follow GitHub's rule: the heading lowercased, punctuation other than '-'
and '_' removed, spaces turned into '-', '-1', '-2', ... appended to repeats.
"""
import glob
import os
import re
import sys


def strip_code(text):
    text = re.sub(r"^\s*```.*?^\s*```[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path, cache={}):
    if path not in cache:
        seen, result = {}, set()
        in_fence = False
        for line in open(path, encoding="utf-8"):
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
                continue
            m = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            result.add(slug if n == 0 else f"{slug}-{n}")
        cache[path] = result
    return cache[path]


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = sys.argv[1]
    pages = [os.path.join(root, "README.md")]
    pages += sorted(glob.glob(os.path.join(root, "docs", "**", "*.md"), recursive=True))
    problems, n_links = [], 0
    for page in pages:
        text = strip_code(open(page, encoding="utf-8").read())
        for m in re.finditer(r"\]\(([^)\s]+)\)", text):
            link = m.group(1)
            if re.match(r"^[a-z]+:", link):
                continue
            n_links += 1
            path, _, frag = link.partition("#")
            target = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            rel = os.path.relpath(page, root)
            if not os.path.exists(target):
                problems.append(f"{rel}: ({link}): {os.path.relpath(target, root)} does not exist")
            elif frag and target.endswith(".md") and frag not in anchors(target):
                problems.append(f"{rel}: ({link}): no heading #{frag} in "
                                f"{os.path.relpath(target, root)}")
    if problems:
        print("\n".join(problems))
        print(f"{len(problems)} broken of {n_links} relative links")
        return 1
    print(f"all {n_links} relative links in {len(pages)} pages resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
