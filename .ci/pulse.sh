#!/usr/bin/env bash
# pulse.sh start DIR [TONE_HZ] | stop DIR: a private PulseAudio in user space,
# with no sound card, for tests and benchmarks that need a real sound server.
#   a virtual speaker "spkA" (module-null-sink; record it from spkA.monitor)
#   a virtual microphone "micA" playing a tone of TONE_HZ (default 440): module-sine
#   into a null sink "tone", whose monitor module-virtual-source makes a source (PulseAudio's
#   module-sine-source delivers in bursts a second apart); the default source; and a FIFO microphone "micF" (module-pipe-source, DIR/micF.fifo,
#   s16le mono 48 kHz: what is written is what it records)
# start prints the line to point a process at it: export PULSE_SERVER=unix:DIR/native
# Needs the Debian package pulseaudio.
set -euo pipefail
cmd=${1:?usage: pulse.sh start DIR [TONE_HZ] | stop DIR}
dir=${2:?usage: pulse.sh start DIR [TONE_HZ] | stop DIR}
tone=${3:-440}
START_LIMIT_S=15 # how long the server may take to accept clients

case "$cmd" in
start)
	command -v pulseaudio >/dev/null || { echo "pulse.sh: PulseAudio is not installed (Debian package pulseaudio)" >&2; exit 1; }
	mkdir -p "$dir/home" "$dir/run" "$dir/config"
	dir=$(readlink -f "$dir")
	cat >"$dir/default.pa" <<PA
load-module module-native-protocol-unix socket=$dir/native auth-anonymous=1
load-module module-null-sink sink_name=spkA rate=48000 channels=1 sink_properties=device.description=spkA
load-module module-null-sink sink_name=tone rate=48000 channels=1 sink_properties=device.description=tone
load-module module-sine sink=tone frequency=$tone
load-module module-virtual-source source_name=micA master=tone.monitor source_properties=device.description=micA
load-module module-pipe-source source_name=micF file=$dir/micF.fifo format=s16le rate=48000 channels=1 source_properties=device.description=micF
set-default-source micA
set-default-sink spkA
PA
	HOME="$dir/home" XDG_RUNTIME_DIR="$dir/run" XDG_CONFIG_HOME="$dir/config" \
		pulseaudio --daemonize=no --exit-idle-time=-1 --use-pid-file=no --disable-shm=yes \
		-n -F "$dir/default.pa" --log-target=stderr --log-level=warning >"$dir/log" 2>&1 &
	echo $! >"$dir/pid"
	for _ in $(seq $((START_LIMIT_S * 10))); do
		[ -S "$dir/native" ] && { echo "export PULSE_SERVER=unix:$dir/native"; exit 0; }
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "pulse.sh: PulseAudio did not start:" >&2; cat "$dir/log" >&2; exit 1
	;;
stop)
	[ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" 2>/dev/null || true
	rm -f "$dir/pid"
	;;
*) echo "usage: pulse.sh start DIR [TONE_HZ] | stop DIR" >&2; exit 2 ;;
esac
