#!/usr/bin/env python3
"""Checks the documentation's links, offline.

1. Markdown: every relative link and image in README.md, CHANGELOG.md, SECURITY.md and
   docs/*.md points at a file that exists, and a `#fragment` into a Markdown file names
   one of its headings (GitHub's and mdBook's heading ids agree for these pages).
   docs/SUMMARY.md lists every page in docs/, and every page it lists exists.
2. The built book (when target/book exists, from `mdbook build`): every relative href
   and src in every page resolves to a file of the book, and its `#fragment` to an id
   in that page.

External links (http, https, mailto) are not fetched: CI has no network beyond the
package registries. Exits 1 and lists every broken link.
"""

import html.parser
import os
import re
import sys
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = ("http://", "https://", "mailto:")


def slug(heading):
    """A heading's id, as GitHub and mdBook make it for plain ASCII headings."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def outside_fences(text):
    """The lines of a Markdown text that are not inside a fenced code block."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.lstrip()
        marker = stripped[:3]
        if marker in ("```", "~~~"):
            if fence is None:
                fence = marker
                continue
            if marker == fence:
                fence = None
                continue
        if fence is None:
            yield number, line


def headings(path):
    ids = {}
    seen = {}
    with open(path, encoding="utf-8") as f:
        for _, line in outside_fences(f.read()):
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                base = slug(m.group(1))
                n = seen.get(base, 0)
                seen[base] = n + 1
                ids[base if n == 0 else f"{base}-{n}"] = True
    return ids


def markdown_files():
    files = [os.path.join(ROOT, name) for name in ("README.md", "CHANGELOG.md", "SECURITY.md")]
    docs = os.path.join(ROOT, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            files.append(os.path.join(docs, name))
    return [f for f in files if os.path.exists(f)]


def check_markdown(problems):
    for path in markdown_files():
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for number, line in outside_fences(text):
            line = re.sub(r"`[^`]*`", "", line)
            for m in LINK.finditer(line):
                target = m.group(1)
                if target.startswith(EXTERNAL):
                    continue
                where = f"{rel}:{number}: {target}"
                file_part, _, fragment = target.partition("#")
                file_part = urllib.parse.unquote(file_part)
                dest = path if not file_part else os.path.normpath(
                    os.path.join(os.path.dirname(path), file_part))
                if not os.path.exists(dest):
                    problems.append(f"{where}: no such file")
                    continue
                if fragment and dest.endswith(".md") and fragment not in headings(dest):
                    problems.append(f"{where}: no heading with the id #{fragment}")
    summary = os.path.join(ROOT, "docs", "SUMMARY.md")
    with open(summary, encoding="utf-8") as f:
        listed = set(re.findall(r"\]\(([^)#]+\.md)\)", f.read()))
    pages = {n for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md")}
    for page in sorted(pages - listed - {"SUMMARY.md"}):
        problems.append(f"docs/{page}: not listed in docs/SUMMARY.md")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append((tag, attrs[name]))


def parse(path, cache):
    if path not in cache:
        page = Page()
        with open(path, encoding="utf-8") as f:
            page.feed(f.read())
        cache[path] = page
    return cache[path]


def check_book(book, problems):
    cache = {}
    for folder, _, names in os.walk(book):
        for name in names:
            if not name.endswith(".html"):
                continue
            path = os.path.join(folder, name)
            for tag, link in parse(path, cache).links:
                if tag == "base":  # mdBook's 404 page: its base is the site's root
                    continue
                if link.startswith(EXTERNAL) or link.startswith(("data:", "javascript:")):
                    continue
                file_part, _, fragment = link.partition("#")
                file_part = urllib.parse.unquote(file_part.split("?")[0])
                dest = path if not file_part else os.path.normpath(
                    os.path.join(os.path.dirname(path), file_part))
                if os.path.isdir(dest):
                    dest = os.path.join(dest, "index.html")
                where = f"{os.path.relpath(path, ROOT)}: <{tag}> {link}"
                if not dest.startswith(os.path.abspath(book)) or not os.path.exists(dest):
                    problems.append(f"{where}: no such file in the book")
                elif fragment and dest.endswith(".html") and fragment not in parse(dest, cache).ids:
                    problems.append(f"{where}: no element with the id #{fragment}")


def main():
    problems = []
    check_markdown(problems)
    book = os.path.join(ROOT, "target", "book")
    if os.path.isdir(book):
        check_book(book, problems)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} broken link(s)", file=sys.stderr)
        return 1
    print("links: all good" + (" (Markdown and the built book)" if os.path.isdir(book) else " (Markdown)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
