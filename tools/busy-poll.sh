#!/usr/bin/env bash
# --busy-poll against nginx on loopback, with and without (tools/with-without.sh: ROUNDS (3),
# SECS (4), RATE (10000), PORT, OPENPACE), and the kernel's busy-polling settings.
#
# Usage: tools/busy-poll.sh   Environment: as tools/with-without.sh, and USECS (50)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "net.core.busy_read=$(cat /proc/sys/net/core/busy_read) busy_poll=$(cat /proc/sys/net/core/busy_poll)"
PORT=${PORT:-18183} exec tools/with-without.sh --busy-poll "${USECS:-50}"
