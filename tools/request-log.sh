#!/usr/bin/env bash
# What --log-requests costs against nginx on loopback, with and without (tools/with-without.sh:
# ROUNDS (3), SECS (5), RATE (20000), PORT, OPENPACE), the log on this machine's disk.
#
# Usage: tools/request-log.sh   Environment: as tools/with-without.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "log on $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2 {print $1}')"
SECS=${SECS:-5} RATE=${RATE:-20000} PORT=${PORT:-18184} \
    exec tools/with-without.sh --log-requests @DIR/requests.log
