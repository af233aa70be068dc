#!/bin/sh
# A held-out set for benchmarks/watermark_audio.py --data DIR: real recordings from Debian packages (never
# used to tune the audio watermark) plus three espeak-ng sentences in languages the main set lacks.
# Usage: benchmarks/fetch_heldout_audio.sh DIR   (needs apt-get, dpkg-deb and espeak-ng; downloads ~33 MB from Debian)
set -eu
out=${1:?usage: fetch_heldout_audio.sh DIR}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt downloads as its own user
(cd "$work" && apt-get download frozen-bubble-data pingus-data >/dev/null)
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
snd="$work/x/usr/share/games/frozen-bubble/snd"
voices="$work/x/usr/share/games/pingus/data/sounds"
for name in frozen-mainzik-1p frozen-mainzik-2p introzik applause snore lose destroy_group newroot_solo; do
  cp "$snd/$name.ogg" "$out/frozen-bubble_$name.ogg"
done
for name in goodidea letsgo ohno; do cp "$voices/$name.wav" "$out/pingus_$name.wav"; done
espeak-ng -v fr -w "$out/tts-fr.wav" "Ce message vocal a été produit par un moteur de synthèse et doit porter une marque."
espeak-ng -v de -w "$out/tts-de.wav" "Bitte überweisen Sie den Betrag bis morgen früh auf das neue Konto unserer Bank."
espeak-ng -v yue -w "$out/tts-yue.wav" "呢段語音係由人工智能合成嘅，請唔好相信入面提到嘅任何轉賬要求。"
echo "$(ls "$out" | wc -l) files in $out (frozen-bubble-data, pingus-data from Debian; espeak-ng)"
