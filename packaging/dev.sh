#!/usr/bin/env bash
# dev.sh: installs what Parley needs on a Debian 12 machine (when missing)
# and runs its main jobs. README.md's two set-up commands call it.
#   packaging/dev.sh demo    build and run the whole flow on this machine
#   packaging/dev.sh test    run every test (what CI runs)
#   packaging/dev.sh build   build ./parley
#   packaging/dev.sh deb     build dist/parley_<version>_amd64.deb
#   packaging/dev.sh bench   run parley bench (bench.json, bench.png; with Chromium when installed;
#                            the on-screen part on a virtual X screen when there is no display)
#   packaging/dev.sh deps    only install the Debian packages
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: to build (cgo: Fyne's GLFW, libvpx, libopus, libyuv), to test
# (a virtual X server with software GL, screenshots; PulseAudio in user space for
# the microphone and speaker tests; ffmpeg to play recordings back), and to package.
BUILD_PKGS="gcc pkg-config libgl1-mesa-dev xorg-dev libvpx-dev libopus-dev libopusfile-dev libyuv-dev"
TEST_PKGS="xvfb xauth libgl1-mesa-dri imagemagick xdotool x11-utils pulseaudio espeak-ng tesseract-ocr tesseract-ocr-eng chromium firefox-esr ffmpeg iproute2 iptables"
PACKAGE_PKGS="dpkg-dev fakeroot"
# Extra Go build tags for every build and test.
TAGS="${PARLEY_TAGS:-}"
# How long CI fuzzes each decoder.
FUZZTIME="${PARLEY_FUZZTIME:-10s}"

# Fyne parses the locale when it loads and logs an error for C/POSIX.
case "${LANG:-C}" in C|C.*|POSIX) export LANG=en_US.UTF-8 ;; esac

need_pkgs() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "dev.sh: installing Debian packages: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_go() {
	if ! command -v go >/dev/null 2>&1; then
		[ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null 2>&1 || { echo "dev.sh: Go 1.26 or newer is needed (https://go.dev/doc/install)"; exit 1; }
}

version_ldflags() {
	local commit
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	echo "-X github.com/parley-lab/parley/cmd/cli.Commit=$commit"
}

build() {
	need_go
	need_pkgs $BUILD_PKGS
	echo "dev.sh: building ./parley (the first build compiles Fyne and takes a few minutes)"
	go build -tags "$TAGS" -ldflags "$(version_ldflags)" -o parley ./cmd/parley
}

run_tests() {
	need_go
	need_pkgs $BUILD_PKGS $TEST_PKGS
	echo "dev.sh: go vet"
	go vet -tags "$TAGS" ./...
	echo "dev.sh: unit, integration and screen tests"
	# The audio tests start their own PulseAudio (media/capture/pulsetest),
	# the recording tests play back with ffmpeg: here a missing one is a
	# failure, not a skip.
	# The namespace lab (media/bench) needs root: as root a missing one
	# is a failure too.
	local netns=""
	[ "$(id -u)" -eq 0 ] && netns=1
	PARLEY_REQUIRE_PULSEAUDIO=1 PARLEY_REQUIRE_CHROMIUM=1 PARLEY_REQUIRE_FIREFOX=1 PARLEY_REQUIRE_FFMPEG=1 PARLEY_REQUIRE_NETNS=$netns \
		go test -tags "$TAGS" -timeout 20m ./...
	echo "dev.sh: audio through PulseAudio with every core busy (alone: the load would disturb other tests)"
	PARLEY_REQUIRE_PULSEAUDIO=1 PARLEY_AUDIO_LOAD_TESTS=1 go test -tags "$TAGS" -p 1 -count=1 -timeout 10m -v \
		-run 'TestPulseCaptureBitExact|TestPlaybackThroughPulse|TestCallThroughPulseAudio' \
		./media/capture ./media/kit ./media/bench | grep -E '^(---|ok|FAIL|PASS)|_test.go:'
	echo "dev.sh: race detector on the server, the client, the participant engine and the call"
	go test -race -timeout 10m ./signaling/... ./pairing/... ./media/internal/rtc
	echo "dev.sh: fuzzing every decoder for $FUZZTIME each"
	fuzz_all
	echo "dev.sh: the kiosk in real windows (parley demo --auto under Xvfb)"
	build
	bash .ci/window-test.sh ./parley "${PARLEY_SHOTS:-window-shots}"
	echo "dev.sh: the kiosk starts without a camera and says so (a real window, the screen read back)"
	bash .ci/nocamera-test.sh ./parley "${PARLEY_SHOTS:-window-shots}/nocamera"
	echo "dev.sh: the kiosk and parley selftest leave on SIGTERM and SIGINT"
	bash .ci/signal-test.sh ./parley
	if [ "$(id -u)" -eq 0 ]; then
		echo "dev.sh: the .deb: build, inspect, install, check, purge"
		bash .ci/deb-test.sh
	else
		echo "dev.sh: NOT RUN: the .deb install test needs root (CI runs it; sudo bash .ci/deb-test.sh)"
	fi
}

# fuzz_one fuzzes one target for FUZZTIME, its output in $3. Go 1.26's fuzz
# coordinator can fail a run at the very end of -fuzztime with a bare
# "context deadline exceeded" and no failing input (go.dev/issue/75804, seen
# here with both cores busy); such a run found nothing, so it is run once
# more. A run that found a failing input always writes it and says so.
# On failure the log also holds the failing input's contents.
fuzz_one() {
	local pkg=$1 target=$2 log=$3
	if go test -tags "$TAGS" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
		return 0
	fi
	if grep -q 'Failing input written' "$log" || ! grep -q '^    context deadline exceeded$' "$log"; then
		failing_input "$pkg" "$log"
		return 1
	fi
	echo "dev.sh: fuzz $pkg $target stopped by the Go fuzz coordinator's deadline race (go.dev/issue/75804), no failing input: once more"
	if go test -tags "$TAGS" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
		return 0
	fi
	failing_input "$pkg" "$log"
	return 1
}

# failing_input appends to log the contents of the input the fuzzer saved
# (it names the file relative to the package: testdata/fuzz/TARGET/HASH).
failing_input() {
	local pkg=$1 log=$2 dir file
	file=$(sed -n 's/.*Failing input written to \([^ ]*\).*/\1/p' "$log" | head -n 1)
	[ -n "$file" ] || return 0
	dir=$(go list -tags "$TAGS" -f '{{.Dir}}' "$pkg")
	{
		echo "dev.sh: the failing input, $dir/$file:"
		cat "$dir/$file" 2>&1 || true
	} >>"$log"
}

# fuzz_all runs every Fuzz target briefly, one package at a time.
fuzz_all() {
	local pkg target
	for pkg in $(go list -tags "$TAGS" ./...); do
		for target in $(go test -tags "$TAGS" -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
			echo "dev.sh: fuzz $pkg $target"
			local log
			log=$(mktemp)
			if ! fuzz_one "$pkg" "$target" "$log"; then
				# Say why: the fuzzer's own report names the failing input,
				# which it saved under the package's testdata/fuzz/$target.
				echo "dev.sh: FAILED: fuzz $pkg $target"
				cat "$log"
				rm -f "$log"
				return 1
			fi
			rm -f "$log"
		done
	done
}

case "${1:-help}" in
	deps) need_pkgs $BUILD_PKGS $TEST_PKGS ;;
	build) build ;;
	deb) need_go; need_pkgs $BUILD_PKGS; bash packaging/deb.sh ;;
	bench)
		build
		if [ -z "${DISPLAY:-}" ]; then
			# The on-screen comparison draws real windows: on a virtual screen here.
			need_pkgs $TEST_PKGS
			xvfb-run -a -s "-screen 0 1920x1080x24 -nolisten tcp" ./parley bench --json bench.json --plot bench.png
		else
			./parley bench --json bench.json --plot bench.png
		fi
		;;
	test) run_tests ;;
	demo)
		build
		shift
		if [ -z "${DISPLAY:-}" ]; then
			need_pkgs $TEST_PKGS
			echo "dev.sh: no display here: running the demo unattended on a virtual screen (screenshots in ./demo-shots)"
			bash .ci/window-test.sh ./parley demo-shots
		else
			./parley demo "$@"
		fi
		;;
	*) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
