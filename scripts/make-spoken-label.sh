#!/bin/sh
# Regenerate the bundled spoken label (人工智能生成, ~140 Chinese characters per minute) with espeak-ng and sox.
# Usage: scripts/make-spoken-label.sh [output.wav]   (needs: apt-get install -y espeak-ng sox)
set -eu
out="${1:-$(dirname "$0")/../src/synthguard/explicit/sounds/spoken-zh.wav}"
text="人工智能生成"
speed=143  # espeak-ng words-per-minute setting that gives ~140 characters/min for this Mandarin phrase
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
espeak-ng -v cmn -s "$speed" -w "$tmp/raw.wav" "$text"
# Trim leading and trailing silence (below 1 % of full scale), keep 22.05 kHz mono 16-bit.
sox "$tmp/raw.wav" -b 16 -c 1 -r 22050 "$out" silence 1 0.01 1% reverse silence 1 0.01 1% reverse
seconds="$(soxi -D "$out")"
echo "$out: $seconds s, $(echo "6 * 60 / $seconds" | bc -l | cut -c1-5) characters/min"
