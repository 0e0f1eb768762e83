#!/usr/bin/env bash
# Copy the first pages of Python's library reference (Sphinx HTML) into a folder, for extraction
# and training benchmarks (`bench_extract.py stages|train DIR`, the baseline's `train --corpus DIR`).
#
#   usage: benchmarks/python-docs.sh DEST [PAGES]
#
# PAGES (default 189: 16.7 MB with Debian 12's python3.11-doc 3.11.2) are the library pages in byte
# order of their names (2to3.html ... pathlib.html), copied as they are. The package (python3-doc,
# which brings python3.11-doc on Debian 12) is installed with apt-get when missing; see apt-packages.sh.
set -euo pipefail

[ "$#" -ge 1 ] && [ "$#" -le 2 ] || { echo "usage: $0 DEST [PAGES]" >&2; exit 2; }
dest=$1
pages=${2:-189}

source "$(dirname "$0")/apt-packages.sh"
ensure_packages python3-doc

library=$(find /usr/share/doc/ -maxdepth 3 -path '*/html/library' -type d -name library | sort | sed -n 1p)  # sed reads on: no SIGPIPE
[ -n "$library" ] || { echo "$0: no html/library folder in the python3-doc packages" >&2; exit 1; }
mkdir -p "$dest"
find "$library" -maxdepth 1 -name '*.html' -type f -printf '%f\n' | LC_ALL=C sort | sed -n "1,${pages}p" \
    | while read -r page; do cp "$library/$page" "$dest/"; done
echo "$(find "$dest" -maxdepth 1 -name '*.html' | wc -l) pages in $dest" >&2
