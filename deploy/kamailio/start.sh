#!/usr/bin/env bash
# Runs Kamailio's SIP dispatcher in the foreground in front of Kallglot media nodes.
#
#   deploy/kamailio/start.sh [--listen udp:127.0.0.1:5060] [sip:host:port ...]
#
# Back-ends: the arguments, else $KALLGLOT_SIP_BACKENDS (space-separated), else two
# local media nodes at sip:127.0.0.1:5071 and sip:127.0.0.1:5072.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
listen=${KALLGLOT_KAMAILIO_LISTEN:-udp:127.0.0.1:5060}
if [[ ${1:-} == --listen ]]; then
    listen=$2
    shift 2
fi
backends=("$@")
if [[ ${#backends[@]} -eq 0 ]]; then
    read -r -a backends <<< "${KALLGLOT_SIP_BACKENDS:-sip:127.0.0.1:5071 sip:127.0.0.1:5072}"
fi
run_dir=$(mktemp -d -t kallglot-kamailio.XXXXXX)
trap 'rm -rf "$run_dir"' EXIT
for backend in "${backends[@]}"; do
    echo "1 $backend" >> "$run_dir/dispatcher.list"
done
kamailio -DD -E -m 64 -M 8 \
    -L /usr/lib/x86_64-linux-gnu/kamailio/modules \
    -Y "$run_dir" -P "$run_dir/kamailio.pid" \
    -A "LISTEN=$listen" -A "DISPATCHER_LIST=\"$run_dir/dispatcher.list\"" \
    -f "$here/kamailio.cfg" &
kamailio_pid=$!
trap 'kill "$kamailio_pid" 2>/dev/null; wait "$kamailio_pid"; rm -rf "$run_dir"' EXIT INT TERM
wait "$kamailio_pid"
