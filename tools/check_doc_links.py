#!/usr/bin/env python3
"""Reports references to files that are not in this repository.

Run from the repository root:   python3 tools/check_doc_links.py [--quiet] [ROOT ...]
Exit status 0 when every reference resolves, 1 when one does not (each is printed as FILE:LINE: reference: why).

What it reads: text files under src/, docs/, samples/, tools/, tests/ and README.md (build outputs bin/ and obj/ left
out), or the roots given on the command line. What it checks, in each file:
- repository paths: a word starting with docs/, tools/, models/, samples/, src/ or tests/ must name a file or folder
  that exists. `*`, `?`, `[..]` and `{a,b}` are expanded as globs and must match something; a path segment written in
  capitals (DIR, NAME, FILE, ...) or a C# interpolation hole ({name}) stands for any name; paths through bin/ or obj/ are build outputs and are skipped;
- bare page names (`training-graphs.md`, `protocol.md`): a word ending in .md without a folder must be a file in the
  same folder, in docs/, at the root, or (for generated pages such as results.md) anywhere in the repository;
- markdown links in .md files, `[text](path)` and `[text](path#anchor)`: the path is taken relative to the page, and an
  anchor must match a heading of the target page (GitHub's rule: lower case, punctuation dropped, spaces to '-');
- anything that points outside the repository: `../shared`, `shared/docs`, `shared/paper`, `shared/tools`.
Only the Python standard library is used.
"""
from __future__ import annotations

import glob
import os
import re
import sys

ROOT_PREFIXES = ("docs", "tools", "models", "samples", "src", "tests")
DEFAULT_ROOTS = ("src", "docs", "samples", "tools", "tests", "README.md")
TEXT_EXTENSIONS = {".cs", ".md", ".py", ".sh", ".txt", ".csproj", ".props", ".targets", ".yml", ".yaml"}
SKIP_DIRS = {"bin", "obj", ".git", "BenchmarkDotNet.Artifacts", "TestResults", "__pycache__"}

# A repository path: one of the prefixes at a word boundary (not inside another path or a URL), then path characters.
PATH_RE = re.compile(r"(?<![\w./~-])((?:%s)/[\w.*?\[\]{},/+-]*)" % "|".join(ROOT_PREFIXES))
BARE_MD_RE = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
OUTSIDE_RE = re.compile(r"\.\./shared\b|(?<![\w.-])shared/(?:docs|paper|tools)\b")
PLACEHOLDER_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_anchor_cache: dict[str, set[str]] = {}


def anchors(path: str) -> set[str]:
    if path not in _anchor_cache:
        found: set[str] = set()
        counts: dict[str, int] = {}
        in_code = False
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lstrip().startswith("```"):
                    in_code = not in_code
                    continue
                m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                if m:
                    s = slug(m.group(1))
                    n = counts.get(s, 0)
                    found.add(s if n == 0 else f"{s}-{n}")
                    counts[s] = n + 1
        _anchor_cache[path] = found
    return _anchor_cache[path]


def expand_braces(pattern: str) -> list[str]:
    pattern = re.sub(r"\{[^{},]*\}", "*", pattern)  # {name}: a C# interpolation hole, any name
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    out: list[str] = []
    for alt in m.group(1).split(","):
        out.extend(expand_braces(pattern[: m.start()] + alt + pattern[m.end():]))
    return out


def path_exists(ref: str) -> bool:
    parts = [p for p in ref.split("/") if p]
    pattern = "/".join("*" if PLACEHOLDER_RE.match(p) else p for p in parts)
    for candidate in expand_braces(pattern):
        if any(c in candidate for c in "*?["):
            if glob.glob(candidate):
                return True
        elif os.path.exists(candidate):
            return True
    return False


def clean(ref: str) -> str:
    # Trailing punctuation of the sentence, a pair of brackets or braces left open by the text around it.
    ref = ref.rstrip(".,:;'\"`)")
    while ref.count("[") < ref.count("]") or ref.endswith("]"):
        ref = ref[:-1]
    if ref.count("{") != ref.count("}"):
        ref = ref.split("{")[0]
    return ref.rstrip(".,:;")


def basenames() -> set[str]:
    names: set[str] = set()
    for dirpath, dirnames, filenames in os.walk("."):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        names.update(filenames)
    return names


def files_under(roots: list[str]):
    for root in roots:
        if os.path.isfile(root):
            yield root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                if os.path.splitext(name)[1] in TEXT_EXTENSIONS:
                    yield os.path.join(dirpath, name)


def split_list(text: str) -> list[str]:
    """A comma-separated list of paths (`a/x.onnx,a/y.onnx`), commas inside {..} left alone."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.split("/")[0] in ROOT_PREFIXES]


def check_path(where: str, ref: str) -> list[str]:
    if "/bin/" in ref or "/obj/" in ref or ref.endswith("/bin") or ref.endswith("/obj"):
        return []
    if ref.rstrip("/") in ROOT_PREFIXES or ref == "samples/s" or path_exists(ref):  # samples/s: a rate
        return []
    return [f"{where}: {ref}: no such file or folder"]


def check_file(path: str, all_names: set[str]) -> list[str]:
    problems: list[str] = []
    here = os.path.dirname(path)
    is_md = path.endswith(".md")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError:
        return problems
    for no, line in enumerate(lines, 1):
        where = f"{path}:{no}"
        for m in OUTSIDE_RE.finditer(line):
            problems.append(f"{where}: {m.group(0)}: outside this repository")
        for m in PATH_RE.finditer(line):
            for ref in split_list(m.group(1)):
                problems.extend(check_path(where, clean(ref)))
        for m in BARE_MD_RE.finditer(line):
            name = m.group(1)
            if any(os.path.exists(os.path.join(d, name)) for d in (here, "docs", ".")) or name in all_names:
                continue
            problems.append(f"{where}: {name}: no such page (looked in {here or '.'}, docs/, the root)")
        if not is_md:
            continue
        for m in LINK_RE.finditer(line):
            target = m.group(1)
            if re.match(r"^[a-z]+:", target) or target.startswith("mailto:"):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(here, file_part)) if file_part else path
            if file_part and not os.path.exists(resolved):
                problems.append(f"{where}: {target}: link target does not exist")
                continue
            if anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                problems.append(f"{where}: {target}: no heading with anchor '#{anchor}' in {resolved}")
    return problems


def main(argv: list[str]) -> int:
    quiet = "--quiet" in argv
    roots = [a for a in argv if not a.startswith("--")] or [r for r in DEFAULT_ROOTS if os.path.exists(r)]
    if not os.path.isdir("docs") or not os.path.isdir("src"):
        print("run from the repository root (docs/ and src/ not found here)", file=sys.stderr)
        return 2
    all_names = basenames()
    problems: list[str] = []
    count = 0
    me = os.path.normpath(os.path.relpath(__file__))
    for path in files_under(roots):
        if os.path.normpath(path) == me:
            continue  # its own documentation names what it looks for
        count += 1
        problems.extend(check_file(path, all_names))
    for p in problems:
        print(p)
    if not quiet or problems:
        print(f"check_doc_links: {count} files read, {len(problems)} missing reference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
