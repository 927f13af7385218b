#!/usr/bin/env bash
# Debian/Ubuntu packages beatforge uses: ffmpeg (fallback audio decoder for formats libsndfile lacks).
# Runs apt-get as root (CI, Docker); elsewhere it says what to install and carries on.
set -euo pipefail
PKGS="ffmpeg"
missing=""
for p in $PKGS; do command -v "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
else
  echo "note: please install:$missing (beatforge works without it, but cannot decode some audio formats)" >&2
fi
