#!/usr/bin/env bash
# Look at a report as a reader would: headless Chromium (Debian package `chromium`) renders report.html to a PNG.
#   scripts/screenshot_report.sh out/demo/report.html out/demo/report.png [height]
# The flags keep Chromium off the network (this machine has none) and out of the user's profile.
set -euo pipefail
report=${1:?report.html}
png=${2:?output.png}
height=${3:-2400}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "error: chromium not found (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --window-size=1280,"$height" --screenshot="$png" "file://$(realpath "$report")" >/dev/null 2>&1
test -s "$png" && echo "$png"
