#!/usr/bin/env bash
# deb.sh [OUTDIR]: builds parley_<version>_amd64.deb for lab workstations and
# the server. PARLEY_BINARY=path packages an already built binary.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(readlink -f "${1:-dist}")
mkdir -p "$out"
src=packaging/deb

need() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
need dpkg-dev fakeroot

# Version: a tag if there is one, else the CLI's version with date and commit.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if tag=$(git describe --tags --exact-match 2>/dev/null); then
	version=${tag#v}
else
	base=$(sed -n 's/^\tVersion = "\(.*\)"$/\1/p' cmd/cli/cli.go)
	base=${base%-dev}
	version="${base}~dev+$(date -u +%Y%m%d).${commit}"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/DEBIAN" "$root/usr/bin"

if [ -n "${PARLEY_BINARY:-}" ]; then
	install -m 0755 "$PARLEY_BINARY" "$root/usr/bin/parley"
else
	export PATH="/usr/local/go/bin:$PATH"
	go build -trimpath -ldflags "-s -w -X github.com/parley-lab/parley/cmd/cli.Version=$version -X github.com/parley-lab/parley/cmd/cli.Commit=$commit" \
		-o "$root/usr/bin/parley" ./cmd/parley
fi

install -D -m 0644 "$src/parley-server.service" "$root/lib/systemd/system/parley-server.service"
install -D -m 0644 "$src/server.toml" "$root/etc/parley/server.toml"
install -D -m 0644 "$src/kiosk.toml" "$root/etc/parley/kiosk.toml"
install -D -m 0644 "$src/parley.desktop" "$root/usr/share/applications/parley.desktop"
install -D -m 0644 "$src/parley-kiosk-autostart.desktop" "$root/etc/xdg/autostart/parley-kiosk.desktop"
install -D -m 0644 "$src/parley.svg" "$root/usr/share/icons/hicolor/scalable/apps/parley.svg"
install -D -m 0644 "$src/copyright" "$root/usr/share/doc/parley/copyright"
install -D -m 0644 docs/lab-guide.md "$root/usr/share/doc/parley/lab-guide.md"
install -D -m 0644 signaling/PROTOCOL.md "$root/usr/share/doc/parley/PROTOCOL.md"
for s in postinst prerm postrm; do install -m 0755 "$src/$s" "$root/DEBIAN/$s"; done
printf '/etc/parley/server.toml\n/etc/parley/kiosk.toml\n/etc/xdg/autostart/parley-kiosk.desktop\n' >"$root/DEBIAN/conffiles"

# Depends: exactly the shared libraries the binary links, as dpkg-shlibdeps
# finds them (it wants a debian/control to read; a minimal one will do).
mkdir -p "$work/debian"
printf 'Source: parley\n\nPackage: parley\nArchitecture: amd64\n' >"$work/debian/control"
(cd "$work" && dpkg-shlibdeps -O -e"root/usr/bin/parley" 2>/dev/null) >"$work/substvars"
shlibs=$(sed -n 's/^shlibs:Depends=//p' "$work/substvars")
[ -n "$shlibs" ] || { echo "deb.sh: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# Libraries loaded at run time with dlopen, which dpkg-shlibdeps cannot see:
# GLFW's X11 extensions (Fyne's window) and ALSA (miniaudio's playback and
# the microphone driver).
dlopened="libxcursor1, libxrandr2, libxinerama1, libxi6, libxxf86vm1, libasound2"
size=$(du -sk "$root" --exclude=DEBIAN | cut -f1)

cat >"$root/DEBIAN/control" <<CONTROL
Package: parley
Version: $version
Architecture: amd64
Maintainer: Parley developers <parley@localhost>
Section: science
Priority: optional
Installed-Size: $size
Depends: $shlibs, $dlopened, adduser
Recommends: libgl1-mesa-dri
Description: face-to-face video discussions for lab experiments
 Parley pairs two participants at lab workstations and lets them talk over a
 peer-to-peer video and audio call for a fixed time, with a text chat, then
 moves on. One binary: the fullscreen kiosk (parley --kiosk) and the
 rendezvous server (parley --server) with durable chat, an experimenter API
 and CSV/JSONL export.
CONTROL

deb="$out/parley_${version}_amd64.deb"
fakeroot dpkg-deb --build -Zxz "$root" "$deb" >/dev/null
echo "$deb"
