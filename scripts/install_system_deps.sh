#!/usr/bin/env bash
# Debian/Ubuntu packages beatforge uses:
#   ffmpeg                       fallback audio decoder for formats libsndfile lacks;
#   fretsonfire-songs-muldjord   the demo song (Muldjord's songs, CC BY-SA 3.0, packaged by Debian): `make demo`
#                                charts /usr/share/games/fretsonfire/data/songs/muldjord/chaos_god, a song no
#                                shipped model was trained on;
#   chromium                     the browser tests/ui drives (Playwright with executable_path=/usr/bin/chromium,
#                                never `playwright install`) to test the `beatforge ui` page; only for tests:
#                                `--runtime` (the Docker image) leaves it out.
# Runs apt-get as root (CI, Docker); elsewhere it says what to install and carries on.
set -euo pipefail
PKGS="ffmpeg fretsonfire-songs-muldjord chromium"
if [ "${1:-}" = "--runtime" ]; then PKGS="${PKGS/ chromium/}"; fi
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
else
  echo "note: please install:$missing (beatforge works without ffmpeg but cannot decode some audio formats;" \
       "make demo needs the demo song; the web page tests need chromium)" >&2
fi
