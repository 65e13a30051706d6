#!/usr/bin/env bash
# A bounded OWASP-style scan (wapiti) of a running Kallglot server; not part of CI.
#
#   scripts/scan.sh [base-url] [report-dir]
#
# Without a base URL it starts a throwaway server (temporary SQLite database) on a free
# port and stops it afterwards. The scan stops after $SCAN_SECONDS (default 300).
# Findings and their justification: README, "Security checks".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
report=${2:-$root/var/scan}
seconds=${SCAN_SECONDS:-300}
base=${1:-}
server_pid=
work=$(mktemp -d -t kallglot-scan.XXXXXX)
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" || true
    rm -rf "$work"
}
trap cleanup EXIT
if [[ -z "$base" ]]; then
    port=$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    base="http://127.0.0.1:$port"
    export KALLGLOT_VAR_DIR="$work/var" KALLGLOT_PUBLIC_BASE_URL="$base" KALLGLOT_LOG_LEVEL=WARNING
    "$root/.venv/bin/kallglot" serve --port "$port" > "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        curl -fs "$base/healthz" > /dev/null && break
        sleep 1
    done
fi
mkdir -p "$report"
# Loopback only: the modules that call out to the internet (ssrf, wapp, nikto) are left out.
modules=backup,blindsql,brute_login_form,buster,cookieflags,crlf,csp,csrf,exec,file,htaccess
modules=$modules,http_headers,methods,permanentxss,redirect,shellshock,sql,xss,xxe
wapiti -u "$base/" --scope folder --flush-session --store-session "$work" -d 3 -m "$modules" \
    -s "$base/docs" -s "$base/openapi.json" -s "$base/healthz" -s "$base/readyz" \
    --max-scan-time "$seconds" --max-attack-time 60 \
    -f txt -o "$report/wapiti.txt"
echo "report: $report/wapiti.txt"
