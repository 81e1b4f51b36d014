#!/usr/bin/env bash
# window-test.sh PARLEY [SHOTDIR]: runs `parley demo --auto` in real windows
# on a virtual X server (Mesa software GL), places the two windows side by
# side, takes two screenshots during the discussion, and checks that both
# windows' video areas (the partner's video and the self-view) show moving,
# non-blank pictures, and that both windows reach the end screen.
set -euo pipefail
bin=$(readlink -f "${1:?usage: window-test.sh PARLEY [SHOTDIR]}")
shots=$(readlink -f "${2:-window-shots}")
mkdir -p "$shots"
W=960 H=540 # DemoWindowWidth, DemoWindowHeight in cmd/cli/demo.go
log="$shots/demo.log"

display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1920x1080x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
demo=""
cleanup() {
	[ -n "$demo" ] && kill "$demo" 2>/dev/null || true
	kill "$xvfb" 2>/dev/null || true
}
trap cleanup EXIT
export DISPLAY="$display"
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

"$bin" demo --auto --duration 15s >"$log" 2>&1 &
demo=$!

# No window manager: both windows open at 0,0. Move the second one.
win2=$(timeout 60 xdotool search --sync --name "participant 2" | head -n1)
xdotool windowmove "$win2" "$W" 0

for _ in $(seq 600); do grep -q "VIDEO-AREAS window=2" "$log" && break; sleep 0.1; done
grep -q "VIDEO-AREAS window=2" "$log" || { echo "window-test: the call never started"; cat "$log"; exit 1; }
import -window root "$shots/call-a.png"
sleep 1
import -window root "$shots/call-b.png"

fail=0
# check AREA_NAME WINDOW X0 Y0 X1 Y1: the area changed between the shots and is not blank.
check() {
	local name=$1 win=$2 x0=$3 y0=$4 x1=$5 y1=$6
	local ox=$(( (win - 1) * W ))
	local geom="$((x1 - x0))x$((y1 - y0))+$((x0 + ox))+$y0"
	if [ "$((x1 - x0))" -le 0 ] || [ "$((y1 - y0))" -le 0 ]; then
		echo "window $win $name: not shown"; fail=1; return
	fi
	convert "$shots/call-a.png" -crop "$geom" +repage "$shots/w$win-$name-a.png"
	convert "$shots/call-b.png" -crop "$geom" +repage "$shots/w$win-$name-b.png"
	local changed spread
	changed=$(compare -metric AE -fuzz 5% "$shots/w$win-$name-a.png" "$shots/w$win-$name-b.png" null: 2>&1 || true)
	spread=$(convert "$shots/w$win-$name-b.png" -colorspace Gray -format "%[fx:maxima-minima]" info:)
	local total=$(( (x1 - x0) * (y1 - y0) ))
	echo "window $win $name ($geom): $changed of $total pixels changed, brightness spread $spread"
	if [ "${changed%.*}" -lt $(( total / 50 )) ] || awk "BEGIN{exit !($spread < 0.1)}"; then
		echo "window $win $name: not a moving picture"; fail=1
	fi
}
while read -r line; do
	set -- $(echo "$line" | sed -E 's/.*window=([0-9]+) remote=([0-9-]+),([0-9-]+),([0-9-]+),([0-9-]+) self=([0-9-]+),([0-9-]+),([0-9-]+),([0-9-]+).*/\1 \2 \3 \4 \5 \6 \7 \8 \9/')
	check partner "$1" "$2" "$3" "$4" "$5"
	check self "$1" "$6" "$7" "$8" "$9"
done < <(grep "VIDEO-AREAS" "$log")

if ! wait "$demo"; then
	echo "window-test: parley demo failed"; fail=1
fi
demo=""
grep -q 'window 1 reached the "ended" screen' "$log" || { echo "window 1 did not reach the end screen"; fail=1; }
grep -q 'window 2 reached the "ended" screen' "$log" || { echo "window 2 did not reach the end screen"; fail=1; }
import -window root "$shots/end.png" 2>/dev/null || true
if [ "$fail" -ne 0 ]; then
	echo "window-test: FAILED (screenshots and log in $shots)"; cat "$log"; exit 1
fi
grep -E "SCREEN-LATENCY|CPU-WITH-UI" "$log" || true
echo "window-test: both windows showed moving video and reached the end screen (screenshots in $shots)"
