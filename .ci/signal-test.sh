#!/usr/bin/env bash
# signal-test.sh PARLEY: the kiosk (in a real window on a virtual X server, with a
# real microphone and speaker on a private PulseAudio) and `parley selftest
# --audio-source microphone` leave cleanly on SIGTERM and on SIGINT within
# EXIT_LIMIT_S, and the self-test with that microphone passes and exits by itself.
set -euo pipefail
bin=$(readlink -f "${1:?usage: signal-test.sh PARLEY}")
here=$(dirname "$(readlink -f "$0")")
EXIT_LIMIT_S=12  # cmd/cli ExitLimit (10 s) plus slack
READY_LIMIT_S=60 # how long the kiosk may take to open its devices and window
SELFTEST_LIMIT_S=60

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	bash "$here/pulse.sh" stop "$work/pulse" || true
	rm -rf "$work"
}
trap cleanup EXIT

display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1280x720x24 -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
export DISPLAY="$display"
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
eval "$(bash "$here/pulse.sh" start "$work/pulse" 440)"
export PULSE_SERVER

port=$((20000 + RANDOM % 20000))
"$bin" --server --listen "127.0.0.1:$port" --data "$work/server" >"$work/server.log" 2>&1 &
pids+=($!)

fail=0
# stop_within PID NAME SIGNAL WANT_CODE: send SIGNAL, wait up to EXIT_LIMIT_S.
stop_within() {
	local pid=$1 name=$2 sig=$3 want=$4 start=$SECONDS
	kill "-$sig" "$pid"
	for _ in $(seq $((EXIT_LIMIT_S * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "signal-test: $name still running ${EXIT_LIMIT_S}s after SIG$sig"; kill -9 "$pid"; fail=1; return
	fi
	local code=0
	wait "$pid" || code=$?
	if [ "$code" -ne "$want" ]; then
		echo "signal-test: $name exited $code after SIG$sig (want $want)"; fail=1; return
	fi
	echo "signal-test: $name left within $((SECONDS - start))s of SIG$sig (exit $code)"
}

for sig in TERM INT; do
	log="$work/kiosk-$sig.log"
	LANG=en_US.UTF-8 "$bin" --window --server-url "ws://127.0.0.1:$port/ws" --seat "sig-$sig" \
		--video-source test --audio-source microphone >"$log" 2>&1 &
	kiosk=$!
	# Ready: its microphone is open (the log says which) and its window is mapped.
	for _ in $(seq $((READY_LIMIT_S * 10))); do
		grep -q "msg=microphone" "$log" && xdotool search --name Parley >/dev/null 2>&1 && break
		kill -0 "$kiosk" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'msg=microphone .*device=micA' "$log"; then
		echo "signal-test: the kiosk did not open the default microphone micA:"; cat "$log"; fail=1
		kill -9 "$kiosk" 2>/dev/null || true
		continue
	fi
	stop_within "$kiosk" kiosk "$sig" 0
done

for sig in TERM INT; do
	"$bin" selftest -v --audio-source microphone --duration 2m >"$work/selftest-$sig.log" 2>&1 &
	st=$!
	# Ready: side A's microphone is open and the call is connected.
	for _ in $(seq $((READY_LIMIT_S * 10))); do
		grep -q "msg=microphone" "$work/selftest-$sig.log" && grep -q 'msg="call state".*state=connected' "$work/selftest-$sig.log" && break
		kill -0 "$st" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "msg=microphone" "$work/selftest-$sig.log" || { echo "signal-test: the self-test did not open its microphone:"; cat "$work/selftest-$sig.log"; fail=1; }
	stop_within "$st" "selftest --audio-source microphone" "$sig" 1
	grep -q "stopped by a signal" "$work/selftest-$sig.log" || { echo "signal-test: the self-test did not say why it stopped"; cat "$work/selftest-$sig.log"; fail=1; }
done

start=$SECONDS
if timeout "$SELFTEST_LIMIT_S" "$bin" selftest -v --audio-source microphone --duration 4s >"$work/selftest.log" 2>&1; then
	echo "signal-test: selftest --audio-source microphone passed and exited after $((SECONDS - start))s"
else
	echo "signal-test: selftest --audio-source microphone failed or did not exit within ${SELFTEST_LIMIT_S}s (after $((SECONDS - start))s):"; cat "$work/selftest.log"; fail=1
fi
[ "$fail" -eq 0 ] || { echo "signal-test: FAILED"; exit 1; }
echo "signal-test: ok"
