#!/usr/bin/env bash
# Installs the Debian packages listed in the file given (default deploy/apt-packages.txt)
# that are missing. As root it runs apt-get; otherwise it names what to install and fails.
set -euo pipefail
list=${1:-deploy/apt-packages.txt}
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
    exit 1
fi
echo "kallglot setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
