#!/usr/bin/env bash
# Print the pages of one evaluation corpus to PDF with headless Chromium, as a person saves a web page
# as a PDF (the browser's running header and footer included: date, title, address, page numbers), to
# measure the PDF reader against the same pages read as HTML. Nothing of them is committed.
#
#   usage: benchmarks/print-pdfs.sh SET OUT_DIR    (SET as for eval-docs.sh; needs chromium: make browser)
#
# OUT_DIR gets each page's PDF at the page's path under /usr/share, `.html` replaced by `.pdf`; a page
# printed before is kept. Two pages print at a time.
set -euo pipefail
[ "$#" -eq 2 ] || { echo "usage: $0 SET OUT_DIR" >&2; exit 2; }
here=$(dirname "$0")
out=$2
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
print() {  # $1: a page's path under /usr/share
    local pdf="$out/${1%.html}.pdf"
    [ -s "$pdf" ] && return
    mkdir -p "$(dirname "$pdf")"
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
        --disable-sync --no-first-run --user-data-dir="$profile/$BASHPID" --generate-pdf-document-outline \
        --print-to-pdf="$pdf" "file:///usr/share/$1" >/dev/null 2>&1
}
export -f print
export out profile
"$here/eval-docs.sh" "$1" | xargs -P 2 -I{} bash -c 'print "$1"' _ {}
