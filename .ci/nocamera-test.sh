#!/usr/bin/env bash
# nocamera-test.sh PARLEY [SHOTDIR]: the kiosk started with --video-source camera on a
# machine without a camera (CI's) opens anyway: in a real window on a virtual X server,
# a participant joins, and the device check says the camera is missing and to tell the
# experimenter; the kiosk stays up. Reads the screen with tesseract.
set -euo pipefail
bin=$(readlink -f "${1:?usage: nocamera-test.sh PARLEY [SHOTDIR]}")
shots=$(readlink -f "${2:-nocamera-shots}")
mkdir -p "$shots"
READY_LIMIT_S=60 # the kiosk opening its window
SCREEN_LIMIT_S=30 # the device check appearing after the join

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "nocamera-test: $*"; echo "--- kiosk log"; cat "$work/kiosk.log" || true; exit 1; }

if ls /dev/video* >/dev/null 2>&1; then
	echo "nocamera-test: NOT RUN: this machine has a camera (/dev/video*)"
	exit 0
fi
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1280x720x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
export DISPLAY="$display"
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done

port=$((20000 + RANDOM % 20000))
"$bin" --server --listen "127.0.0.1:$port" --data "$work/server" >"$work/server.log" 2>&1 &
pids+=($!)

# A kiosk config of its own: the default one in /etc may not be there.
printf '[ui]\nlanguage = "en"\n' >"$work/kiosk.toml"
XDG_STATE_HOME="$work/state" "$bin" --window --server-url "ws://127.0.0.1:$port/ws" --seat ws-nocam \
	--video-source camera --audio-source test --config "$work/kiosk.toml" >"$work/kiosk.log" 2>&1 &
kiosk=$!
pids+=($kiosk)
win=$(timeout "$READY_LIMIT_S" xdotool search --sync --name "Parley" | head -n1) || fail "no kiosk window"
xdotool windowactivate --sync "$win" 2>/dev/null || true
xdotool windowsize "$win" 1280 720
sleep 0.5 # let the window settle before typing: input goes to the focused entry
xdotool type --delay 30 "Camless"
xdotool key Return
ok=0
for _ in $(seq $((SCREEN_LIMIT_S * 2))); do
	kill -0 "$kiosk" 2>/dev/null || fail "the kiosk exited"
	import -window root "$shots/device-check.png"
	tesseract "$shots/device-check.png" "$shots/device-check" >/dev/null 2>&1 || true
	if grep -qi "camera" "$shots/device-check.txt" && grep -qi "experimenter" "$shots/device-check.txt"; then
		ok=1; break
	fi
	sleep 0.5
done
[ "$ok" = 1 ] || fail "the screen does not say the camera is missing: $(tr '\n' ' ' <"$shots/device-check.txt")"
kill -0 "$kiosk" 2>/dev/null || fail "the kiosk exited"
grep -q "no camera" "$work/kiosk.log" || fail "the kiosk log does not say the camera is missing"
echo "nocamera-test: the kiosk started without a camera, said so on the device check and stayed up (screenshot in $shots)"
