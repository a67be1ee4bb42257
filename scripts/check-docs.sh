#!/usr/bin/env bash
# The documentation check CI runs: builds the mdBook in docs/ (installing the pinned
# mdbook with cargo when it is missing) and checks every link in the Markdown and in
# the built book, offline (scripts/check-links.py).
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
if ! mdbook --version 2>/dev/null | grep -q "v$MDBOOK_VERSION"; then
  echo "installing mdbook $MDBOOK_VERSION (cargo install)" >&2
  cargo install --quiet --locked mdbook --version "=$MDBOOK_VERSION" --no-default-features --features search
fi
rm -rf target/book
mdbook build --dest-dir target/book .
python3 scripts/check-links.py
