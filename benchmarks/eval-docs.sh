#!/usr/bin/env bash
# Print the pages of one retrieval evaluation corpus, one path per line, relative to /usr/share
# (the source root the evaluation trains with). The pages come from Debian packages, installed with
# apt-get when missing (root or sudo); nothing of them is committed.
#
#   usage: benchmarks/eval-docs.sh SET
#
#   debian-en       Debian Reference + Debian FAQ, English (see debian-docs.sh)
#   debian-zh       the same, Simplified Chinese
#   libreoffice-en  LibreOffice 7.4 Writer how-to pages (libreoffice-help-en-us), a software manual
#   libreoffice-zh  LibreOffice 7.4 Calc how-to pages (libreoffice-help-zh-cn), a software manual
#   policy-en       Debian Policy Manual chapters and appendices (debian-policy) and the licences
#                   in /usr/share/common-licenses (base-files): rules and legal prose
#   install-zh      Debian 12 installation guide for amd64, Simplified Chinese (installation-guide-amd64)
#   nodejs-en       Node.js API reference (nodejs): a programmer's reference, long pages
#   nodejs-md       the same reference's Markdown sources, which the package installs beside the pages
#   admin-handbook-zh  The Debian Administrator's Handbook, Simplified Chinese (debian-handbook): a book
#   postgresql-en   PostgreSQL 15 documentation (postgresql-doc-15): a large manual, 1,100 pages
#   vim-en          Vim 9.0's help (vim-doc): plain-text manuals shown as HTML, each page one <pre>
#   gimp-zh         GIMP 2.10's help in Simplified Chinese (gimp-help-zh-cn): a software manual, many pages
#                   left in English
#   reference-tw    the Debian Reference in Traditional Chinese (debian-reference-zh-tw), for the
#                   Simplified Chinese questions of debian-zh asked of pages in the other script
#
# Left out as navigation only: each manual's index, contents and search pages, LibreOffice's
# main.html (a list of every how-to page), the installation guide's chapter pages (tables of
# contents; every section has its own page), Policy's upgrading checklist (a changelog), Node.js's
# index and all-in-one pages, the handbook's index page, PostgreSQL's index pages and release notes,
# Vim's main help file, tag index, user manual's table of contents, release notes and to-do list, GIMP's
# contents and index pages.
set -euo pipefail
here=$(dirname "$0")
source "$here/apt-packages.sh"

usage() {
    echo "usage: $0 debian-en|debian-zh|libreoffice-en|libreoffice-zh|policy-en|install-zh|nodejs-en|nodejs-md|admin-handbook-zh|postgresql-en|vim-en|gimp-zh|reference-tw" >&2
    exit 2
}
[ "$#" -eq 1 ] || usage

# Files of installed package $1 matching the extended regular expression $2, relative to /usr/share.
files_of() {
    dpkg -L "$1" | grep -E "$2" | sed 's#^/usr/share/##' || true
}

list() {
    case "$1" in
        debian-en | debian-zh)
            "$here/debian-docs.sh" "${1#debian-}" | sed 's#^#doc/#' ;;
        libreoffice-en)
            ensure_packages libreoffice-help-en-us
            files_of libreoffice-help-en-us '/help/en-US/text/swriter/guide/[^/]+\.html$' | grep -v '/main\.html$' ;;
        libreoffice-zh)
            ensure_packages libreoffice-help-zh-cn
            files_of libreoffice-help-zh-cn '/help/zh-CN/text/scalc/guide/[^/]+\.html$' | grep -v '/main\.html$' ;;
        policy-en)
            ensure_packages debian-policy
            files_of debian-policy '/policy\.html/(ch|ap)-[^/]+\.html$'
            for licence in Apache-2.0 Artistic BSD CC0-1.0 GFDL-1.3 GPL-2 GPL-3 LGPL-2.1 LGPL-3 MPL-2.0; do
                echo "common-licenses/$licence"
            done ;;
        install-zh)
            ensure_packages installation-guide-amd64
            files_of installation-guide-amd64 '/zh_CN/(pr01|(ch[0-9]+|ap[a-z])s[0-9]+)\.html$' ;;
        nodejs-en)
            ensure_packages nodejs
            files_of nodejs '/doc/nodejs/api/[^/]+\.html$' | grep -Ev '/(all|index|template)\.html$' ;;
        nodejs-md)
            ensure_packages nodejs
            files_of nodejs '/doc/nodejs/api/[^/]+\.md$' | grep -v '/index\.md$' ;;
        admin-handbook-zh)
            ensure_packages debian-handbook
            files_of debian-handbook '/html/zh-CN/[^/]+\.html$' | grep -v '/index\.html$' ;;
        reference-tw)
            ensure_packages debian-reference-zh-tw
            files_of debian-reference-zh-tw '/debian-reference/[^/]+\.zh-tw\.html$' | grep -v '/index\.zh-tw\.html$' \
                | sed 's#^debian-reference/#doc/debian-reference-zh-tw/docs/#' ;;
        postgresql-en)
            ensure_packages postgresql-doc-15
            files_of postgresql-doc-15 '/html/[^/]+\.html$' | grep -Ev '/(index|bookindex|release-[^/]*)\.html$' ;;
        vim-en)
            ensure_packages vim-doc
            files_of vim-doc '/doc/vim/html/[^/]+\.html$' | grep -Ev '/(index|tags|usr_toc|todo|version[0-9]+)\.html$' ;;
        gimp-zh)
            ensure_packages gimp-help-zh-cn
            files_of gimp-help-zh-cn '/help/zh_CN/[^/]+\.html$' | grep -Ev '/(index|gimp-help-index)\.html$' ;;
        *) usage ;;
    esac
}

list "$1" | LC_ALL=C sort | {
    n=0
    while IFS= read -r rel; do
        if [ ! -e "/usr/share/$rel" ]; then
            echo "$0: listed page is missing: /usr/share/$rel" >&2
            exit 1
        fi
        echo "$rel"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { echo "$0: no pages found for set '$1'" >&2; exit 1; }
}
