# Sourced by the corpus scripts: install Debian packages when they are missing.
# ensure_packages PKG...  installs with apt-get as root (or through sudo); "apt-get update"
# runs only when apt knows no candidate for a package yet, or when a first install fails.
# Everything apt prints goes to stderr, so a script's stdout can carry only its page list.

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "$0: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

has_candidate() {
    local cand
    cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
    [ -n "$cand" ] && [ "$cand" != "(none)" ]
}

ensure_packages() {
    local missing=() p
    for p in "$@"; do
        is_installed "$p" || missing+=("$p")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    local need_update=0
    for p in "${missing[@]}"; do
        has_candidate "$p" || need_update=1
    done
    if [ "$need_update" -eq 1 ]; then
        as_root apt-get -o DPkg::Lock::Timeout=600 update >&2
    fi

    local install=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y
                   --no-install-recommends "${missing[@]}")
    if ! as_root "${install[@]}" >&2; then
        # Stale package lists give 404s on download: refresh once and retry.
        as_root apt-get -o DPkg::Lock::Timeout=600 update >&2
        as_root "${install[@]}" >&2
    fi
}
