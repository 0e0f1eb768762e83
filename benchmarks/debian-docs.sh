#!/usr/bin/env bash
# Print the HTML pages of Debian's own manuals that make up a retrieval
# evaluation corpus, one path per line, relative to /usr/share/doc.
#
#   usage: benchmarks/debian-docs.sh en|zh
#
#   en  Debian Reference (debian-reference-en) + Debian FAQ (debian-faq)
#   zh  Debian Reference (debian-reference-zh-cn) + Debian FAQ (debian-faq-zh-cn)
#
# The packages are installed with apt-get when missing (as root, or through
# sudo when it is available); "apt-get update" runs only when apt does not
# know a candidate for a package yet, or when a first install attempt fails.
# Everything apt prints goes to stderr, so stdout carries only the page list.
#
# Where the pages live (checked on Debian 12, debian-reference 2.100,
# debian-faq 11.1):
#   * The Reference ships its HTML in /usr/share/debian-reference/ (all
#     languages side by side); each language package adds the symlink
#     /usr/share/doc/debian-reference-<lang>/docs -> ../../debian-reference.
#     The paths printed go through that symlink, so they stay relative to
#     /usr/share/doc: a reader must follow symlinks.
#   * The FAQ ships /usr/share/doc/debian/FAQ/<page>.en.html (plus symlinks
#     <page>.html -> <page>.en.html, which are skipped as duplicates) and
#     /usr/share/doc/debian/FAQ/zh-cn/<page>.zh-cn.html.
#   * Pages are plain UTF-8 .html (XHTML); none is gzipped. Should a later
#     package version ship <page>.html.gz instead, the .gz path is printed
#     as it is (the consumer must gunzip it); nothing here decompresses.
#
# Skipped pages: only the two index pages, index.<lang>.html of the
# Reference and of the FAQ. They hold the title, the licence notice, the
# table of contents and (Reference) the list of tables: pure navigation
# with no content of their own. Every other page is printed, including the
# Reference preface (pr01) and appendix (apa) and the FAQ's chapter about
# the FAQ itself (faqinfo), which have real prose.
set -euo pipefail

DOC=/usr/share/doc

usage() {
    echo "usage: $0 en|zh" >&2
    exit 2
}

[ "$#" -eq 1 ] || usage
case "$1" in
    en) lang=en;    ref_pkg=debian-reference-en;    faq_pkg=debian-faq ;;
    zh) lang=zh-cn; ref_pkg=debian-reference-zh-cn; faq_pkg=debian-faq-zh-cn ;;
    *) usage ;;
esac

source "$(dirname "$0")/apt-packages.sh"

ensure_packages "$ref_pkg" "$faq_pkg"

# Files of one installed package whose name ends in .<lang>.html (or .html.gz),
# minus the index page.
pages_of() {
    dpkg -L "$1" | grep -E "/[^/]+\.${2}\.html(\.gz)?\$" \
        | grep -Ev "/index\.${2}\.html(\.gz)?\$" || true
}

{
    # Reference: /usr/share/debian-reference/X -> <ref_pkg>/docs/X
    pages_of "$ref_pkg" "$lang" | while IFS= read -r f; do
        echo "$ref_pkg/docs/${f##*/}"
    done
    # FAQ: already under /usr/share/doc
    pages_of "$faq_pkg" "$lang" | while IFS= read -r f; do
        echo "${f#"$DOC"/}"
    done
} | LC_ALL=C sort | {
    n=0
    while IFS= read -r rel; do
        if [ ! -e "$DOC/$rel" ]; then
            echo "$0: listed page is missing: $DOC/$rel" >&2
            exit 1
        fi
        echo "$rel"
        n=$((n + 1))
    done
    if [ "$n" -eq 0 ]; then
        echo "$0: no pages found for set '$1'" >&2
        exit 1
    fi
}
