#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Run every pipeline of docs/cookbook.md and README.md and check what they say to look for.

usage: run-cookbook.py PAGE.md... --plugin-path DIRS [--timeout S] [--list] [--keep]

Commands: in every fenced ```sh block of every PAGE, each logical line (backslash
continuations joined, comments skipped) that starts with gst-launch-1.0 or gst-inspect-1.0,
optionally after VAR=value environment assignments (GST_TRACERS=dmakit gst-launch-1.0 ...).

Each command runs under bash -o pipefail with:
  OUT                    one fresh temporary directory for the whole run (pipelines write
                         only below it; later recipes may read what earlier ones wrote)
  GST_PLUGIN_PATH(_1_0)  DIRS (the uninstalled plugin and the stock plugins), and an empty
                         system plugin path and a registry of its own
  the caller's GST_DEBUG, GST_TRACERS, ... removed, so only the page's own settings apply,
and must exit 0 within the timeout.

HTML comments on lines of their own after a block (up to the next fenced block) state what
to check:
  <!-- expect: TEXT -->           TEXT appears in the block's output (stdout + stderr)
  <!-- expect-exit: N -->         every command of the block exits with N instead of 0
  <!-- expect-file: PATH SIZE --> after the block, PATH ($OUT/...) exists and has SIZE bytes
                                  (SIZE "nonempty" for any size above 0)

Static rules, checked before anything runs: every gst-launch-1.0 command is finite
(num-buffers=, or a filesrc, which ends with its file) and every location= lies under $OUT.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ENV_PREFIX = r"(?:[A-Za-z_][A-Za-z0-9_]*=(?:\"[^\"]*\"|'[^']*'|\S+)\s+)*"
COMMAND_RE = re.compile(r"^" + ENV_PREFIX + r"(gst-launch-1\.0|gst-inspect-1\.0)\b")
EXPECT_RE = re.compile(r"<!--\s*(expect|expect-exit|expect-file):\s*(.*?)\s*-->")


class Block:
    def __init__(self, line):
        self.line = line          # 1-based line of the opening fence
        self.commands = []        # (line, text)
        self.expect = []
        self.expect_exit = 0
        self.expect_files = []    # (path, size or None)


def parse(path):
    blocks, cur, in_fence, lang = [], None, False, ""
    pending = ""
    pending_line = 0
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        if not in_fence:
            m = re.match(r"^\s*```\s*([\w+-]*)\s*$", line)
            if m:
                in_fence, lang = True, m.group(1)
                if lang == "sh":
                    cur = Block(n)
                    blocks.append(cur)
                continue
            # expectations belong to the last sh block before them
            if blocks and line.lstrip().startswith("<!--"):
                for kind, arg in EXPECT_RE.findall(line):
                    b = blocks[-1]
                    if kind == "expect":
                        b.expect.append(arg)
                    elif kind == "expect-exit":
                        b.expect_exit = int(arg)
                    else:
                        p, _, size = arg.rpartition(" ")
                        b.expect_files.append((p.strip(), None if size == "nonempty" else int(size)))
            continue
        if re.match(r"^\s*```\s*$", line):
            in_fence = False
            if lang == "sh" and pending:
                sys.exit(f"{path}:{pending_line}: a command ends with a backslash")
            lang = ""
            continue
        if lang != "sh":
            continue
        text = line.rstrip()
        if not pending:
            pending_line = n
        if text.endswith("\\"):
            pending += text[:-1].strip() + " "
            continue
        logical = (pending + text.strip()).strip()
        pending = ""
        if logical and not logical.startswith("#") and COMMAND_RE.match(logical):
            cur.commands.append((pending_line, logical))
    # blocks with expectations but no command are a mistake on the page
    for b in blocks:
        if not b.commands and (b.expect or b.expect_files or b.expect_exit):
            sys.exit(f"{path}:{b.line}: expectations follow a block without a command")
    return [b for b in blocks if b.commands]


def static_problems(blocks, path):
    problems = []
    for b in blocks:
        for line, cmd in b.commands:
            if "gst-launch-1.0" in cmd and "num-buffers=" not in cmd and "filesrc" not in cmd:
                problems.append(f"{path}:{line}: not finite (no num-buffers=, no filesrc): {cmd}")
            for loc in re.findall(r"\blocation=(\S+)", cmd):
                if not re.match(r"^\"?\$(OUT|\{OUT\})/", loc):
                    problems.append(f"{path}:{line}: location={loc} is not under $OUT")
    return problems


def run(cmd, env, cwd, timeout):
    start = time.monotonic()
    p = subprocess.Popen(["bash", "-o", "pipefail", "-c", cmd], env=env, cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        rc = None
    return rc, out.decode("utf-8", "replace"), time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("pages", nargs="+", metavar="PAGE.md")
    ap.add_argument("--plugin-path", required=True,
                    help="GST_PLUGIN_PATH for the pipelines (colon-separated)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command")
    ap.add_argument("--list", action="store_true", help="print the commands and exit")
    ap.add_argument("--keep", action="store_true", help="keep $OUT for inspection")
    args = ap.parse_args()

    # the commands run in $OUT: make the plugin directories absolute
    args.plugin_path = ":".join(os.path.abspath(d) for d in args.plugin_path.split(":") if d)
    blocks = []
    for page in args.pages:
        found = parse(page)
        if not found:
            print(f"{page}: no gst-launch-1.0 or gst-inspect-1.0 command found", file=sys.stderr)
            return 1
        for b in found:
            b.page = os.path.normpath(page)
        blocks += found
    n_cmds = sum(len(b.commands) for b in blocks)
    if args.list:
        for b in blocks:
            for line, cmd in b.commands:
                print(f"{b.page}:{line}: {cmd}")
        return 0
    problems = [p for b in blocks for p in static_problems([b], b.page)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    for tool in ("gst-launch-1.0", "gst-inspect-1.0", "bash"):
        if not shutil.which(tool):
            print(f"{tool} not found (Debian: apt-get install gstreamer1.0-tools)", file=sys.stderr)
            return 1

    work = tempfile.mkdtemp(prefix="dmakit-cookbook.")
    out_dir = os.path.join(work, "out")
    os.mkdir(out_dir)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GST_", "ORC_", "G_DEBUG", "LC_", "LANG"))}
    env.update({
        "OUT": out_dir,
        "GST_PLUGIN_PATH": args.plugin_path,
        "GST_PLUGIN_PATH_1_0": args.plugin_path,
        "GST_PLUGIN_SYSTEM_PATH": "",
        "GST_PLUGIN_SYSTEM_PATH_1_0": "",
        "GST_REGISTRY": os.path.join(work, "registry.bin"),
        "GST_REGISTRY_1_0": os.path.join(work, "registry.bin"),
        "LC_ALL": "C.UTF-8",
    })

    failures, passed = [], 0
    for b in blocks:
        output = ""
        ok = True
        for line, cmd in b.commands:
            rc, out, secs = run(cmd, env, out_dir, args.timeout)
            output += out
            where = f"{b.page}:{line}"
            if rc is None:
                failures.append(f"{where}: timed out after {args.timeout:.0f} s: {cmd}\n{out[-3000:]}")
                ok = False
            elif rc != b.expect_exit:
                failures.append(f"{where}: exit status {rc}, expected {b.expect_exit}: {cmd}\n"
                                f"{out[-3000:]}")
                ok = False
            print(f"{'ok  ' if rc == b.expect_exit else 'FAIL'} {secs:6.2f} s  {where}  "
                  f"{cmd if len(cmd) < 110 else cmd[:107] + '...'}", flush=True)
        if not ok:
            continue
        where = f"{b.page}:{b.line}"
        for text in b.expect:
            if text not in output:
                failures.append(f"{where}: the output lacks {text!r}\n{output[-3000:]}")
                ok = False
        for path, size in b.expect_files:
            real = path.replace("${OUT}", out_dir).replace("$OUT", out_dir)
            if not os.path.isfile(real):
                failures.append(f"{where}: {path} was not written")
                ok = False
            elif size is None and os.path.getsize(real) == 0:
                failures.append(f"{where}: {path} is empty")
                ok = False
            elif size is not None and os.path.getsize(real) != size:
                failures.append(f"{where}: {path} has {os.path.getsize(real)} bytes, "
                                f"expected {size}")
                ok = False
        passed += ok

    if args.keep:
        print(f"outputs kept in {out_dir}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{passed} of {len(blocks)} recipes passed ({n_cmds} commands)")
    if failures:
        print("\n" + "\n\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
