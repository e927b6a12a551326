#!/usr/bin/env bash
# The one install command: `bash install.sh`, then `. .venv/bin/activate && pytest`.
#
# 1. System packages the lanes need, on Debian/Ubuntu as root (or with sudo that asks for no
#    password): qemu-user 10 (arm64 lane), Mesa's Vulkan drivers 25 with libvulkan1 (GPU lane),
#    Chromium (the HTML report test), and arm64 as a foreign architecture (the arm64 lane
#    downloads its sysroot packages). On Debian 12 qemu-user and Mesa come from
#    bookworm-backports: an existing backports entry, in any form, is used as it is.
#    Where they cannot be installed, the lanes that need them are named NOT CHECKED.
# 2. The Python packages, into the active virtual environment or ./.venv (made if missing).
#
# Sourcing this file (`. install.sh`) defines the functions and runs nothing.
set -euo pipefail

APT_ETC="${APT_ETC:-/etc/apt}"
BACKPORTS=bookworm-backports
ARCHIVE_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
NOT_CHECKED=()

say() { printf 'install: %s\n' "$*"; }

# A one-line entry (`deb [options] URI bookworm-backports ...`) in sources.list or a .list file.
one_line_backports() {
    grep -Eqs "^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+$BACKPORTS/?([[:space:]]|$)" "$1"
}

# A deb822 paragraph in a .sources file: Types holds deb, Suites holds bookworm-backports, and
# it is not `Enabled: no`.
deb822_backports() {
    awk -v suite="$BACKPORTS" '
        function flush() {
            gsub(/[[:space:]]+/, " ", suites)
            if ((" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite "/? ") && enabled != "no")
                found = 1
            types = ""; suites = ""; enabled = ""; field = ""
        }
        /^#/ { next }
        /^[[:space:]]*$/ { flush(); next }
        /^[[:space:]]/ {
            if (field == "types") types = types " " $0
            if (field == "suites") suites = suites " " $0
            next
        }
        {
            field = tolower(substr($0, 1, index($0, ":") - 1))
            value = substr($0, index($0, ":") + 1)
            gsub(/[[:space:]]+/, " ", value)
            if (field == "types") types = value
            if (field == "suites") suites = value
            if (field == "enabled") { enabled = tolower(value); gsub(/ /, "", enabled) }
        }
        END { flush(); exit !found }
    ' "$1"
}

# 0 when the apt configuration under $APT_ETC already defines bookworm-backports, in any form.
backports_present() {
    local file
    for file in "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list; do
        [ -f "$file" ] && one_line_backports "$file" && return 0
    done
    for file in "$APT_ETC"/sources.list.d/*.sources; do
        [ -f "$file" ] && deb822_backports "$file" && return 0
    done
    return 1
}

# Add bookworm-backports only where no entry for it exists: a second definition of the same
# source with another Signed-By makes apt refuse every source.
ensure_backports() {
    if backports_present; then
        say "bookworm-backports: using the existing apt source"
        return 0
    fi
    local target="$APT_ETC/sources.list.d/$BACKPORTS.sources"
    {
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\n'
        printf 'Suites: %s\nComponents: main\n' "$BACKPORTS"
        if [ -f "$ARCHIVE_KEYRING" ]; then printf 'Signed-By: %s\n' "$ARCHIVE_KEYRING"; fi
    } >"$target.tmp"
    mv "$target.tmp" "$target"
    say "bookworm-backports: added $target"
}

os_field() { (. /etc/os-release 2>/dev/null && printf '%s' "${!1:-}") || true; }

qemu_major() {
    local line
    line=$(qemu-aarch64 --version 2>/dev/null | head -n 1) || return 1
    [[ $line =~ version\ ([0-9]+) ]] && printf '%s' "${BASH_REMATCH[1]}"
}

mesa_major() {
    local version
    version=$(dpkg-query -W -f '${Version}' mesa-vulkan-drivers 2>/dev/null) || return 1
    [[ $version =~ ^([0-9]+:)?([0-9]+) ]] && printf '%s' "${BASH_REMATCH[2]}"
}

has_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
has_qemu() { local m; m=$(qemu_major) && [ "$m" -ge 10 ]; }
has_vulkan() {
    local m
    m=$(mesa_major) && [ "$m" -ge 25 ] && compgen -G '/usr/share/vulkan/icd.d/lvp_icd*.json' >/dev/null &&
        compgen -G '/usr/lib/*/libvulkan.so.1' >/dev/null
}

# The lanes whose system package is missing now, one "lane (package)" each.
missing_lanes() {
    has_qemu || NOT_CHECKED+=("arm64 lane (qemu-user 10)")
    has_vulkan || NOT_CHECKED+=("GPU lane (mesa-vulkan-drivers 25 + libvulkan1)")
    has_chromium || NOT_CHECKED+=("HTML report check (chromium)")
    return 0
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@" \
        >>/tmp/signbart-apt.log 2>&1 || say "warning: could not install $* (see /tmp/signbart-apt.log)"
}

system_packages() {
    local id like codename
    id=$(os_field ID) like=$(os_field ID_LIKE) codename=$(os_field VERSION_CODENAME)
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
            say "not root and no password-less sudo: system packages not installed"
            return 0
        fi
    fi
    if [[ " $id $like " != *" debian "* && " $id $like " != *" ubuntu "* ]]; then
        say "not Debian/Ubuntu ($id): system packages not installed"
        return 0
    fi
    local backports=()
    if [ "$codename" = bookworm ]; then
        APT_ETC=/etc/apt
        if [ -n "$SUDO" ]; then
            $SUDO env APT_ETC=/etc/apt INSTALL_SH="${BASH_SOURCE[0]}" bash -c '. "$INSTALL_SH" && ensure_backports'
        else ensure_backports; fi
        backports=(-t "$BACKPORTS")
    fi
    if [ "$id" = debian ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
        say "added arm64 as a foreign architecture (the arm64 lane's sysroot packages)"
    fi
    if has_qemu && has_vulkan && has_chromium; then
        say "system packages: all present"
        return 0
    fi
    say "system packages: apt-get update and install (log: /tmp/signbart-apt.log)"
    : >/tmp/signbart-apt.log
    $SUDO apt-get update -q >>/tmp/signbart-apt.log 2>&1 || say "warning: apt-get update failed"
    has_qemu || apt_install "${backports[@]}" qemu-user
    has_vulkan || apt_install "${backports[@]}" mesa-vulkan-drivers libvulkan1
    has_chromium || apt_install chromium
}

python_packages() {
    local python="${PYTHON:-python3}"
    if [ -z "${VIRTUAL_ENV:-}" ]; then
        [ -x .venv/bin/python ] || "$python" -m venv .venv
        # shellcheck disable=SC1091
        . .venv/bin/activate
    fi
    say "Python packages into $VIRTUAL_ENV (pip install -e \".[dev]\")"
    # The machine's pip config lists extra local indexes; their "ignored" notices are noise.
    if ! pip install -e ".[dev]" >/tmp/signbart-pip.log 2>&1; then
        cat /tmp/signbart-pip.log
        return 1
    fi
    grep -v "^WARNING: Location 'file:" /tmp/signbart-pip.log | tail -n 1 || true
    python -c "import signbart_parity, torch, litert_torch; print('install: torch', torch.__version__)"
}

main() {
    local started=$SECONDS
    cd "$(dirname "${BASH_SOURCE[0]}")"
    system_packages
    python_packages
    missing_lanes
    if [ ${#NOT_CHECKED[@]} -gt 0 ]; then
        local lane
        for lane in "${NOT_CHECKED[@]}"; do say "NOT CHECKED by pytest: $lane missing"; done
        say "to get them: run \`bash install.sh\` as root on Debian 12 or Ubuntu (CI requires them)"
    else
        say "every lane can run: arm64 (qemu-user), GPU (Mesa lavapipe), HTML report (chromium)"
    fi
    say "done in $((SECONDS - started)) s; run the tests: . $VIRTUAL_ENV/bin/activate && pytest"
}

# Run only when executed (`bash install.sh`), never when sourced.
if ! (return 0 2>/dev/null); then
    main "$@"
fi
