#!/usr/bin/env bash
# Installs the Debian packages listed in the file given (default deploy/apt-packages.txt)
# that are missing. As root it runs apt-get; otherwise it names what to install and fails.
#
# The SVOX Pico voices (libttspico-*) are in Debian's non-free component, which a stock
# Debian install does not enable: this script adds it (one sources file, for the running
# release's main and updates suites) before apt-get, once.
set -euo pipefail
list=${1:-deploy/apt-packages.txt}
NON_FREE_SOURCES=/etc/apt/sources.list.d/kallglot-non-free.sources
missing=()
while read -r package _; do
    [[ -z "$package" || "$package" == \#* ]] && continue
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$package")
done < "$list"
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
    echo "kallglot setup: missing system packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    echo "(libttspico-* need Debian's non-free component enabled)" >&2
    exit 1
fi
if [[ ! -e "$NON_FREE_SOURCES" ]] && grep -q '^libttspico' "$list"; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    echo "kallglot setup: enabling Debian non-free ($codename) for the SVOX Pico voices" >&2
    cat > "$NON_FREE_SOURCES" <<SOURCES
# Added by kallglot scripts/setup-system.sh: SVOX Pico voices (libttspico-*) are non-free.
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi
echo "kallglot setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}"
