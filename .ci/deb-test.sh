#!/usr/bin/env bash
# deb-test.sh [DEB]: builds the .deb (or takes one), checks its contents and
# control fields, installs it on this machine (as root), checks the installed
# binary, configuration and unit, removes it, and checks that the research
# data survives a purge.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "deb-test: run as root (it installs the package)"; exit 1; }
deb=${1:-$(bash packaging/deb.sh "$(mktemp -d)" | tail -n1)}
fail() { echo "deb-test: FAILED: $*"; exit 1; }

echo "deb-test: $deb ($(du -h "$deb" | cut -f1))"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/parley ./lib/systemd/system/parley-server.service ./etc/parley/server.toml ./etc/parley/kiosk.toml \
	./usr/share/applications/parley.desktop ./etc/xdg/autostart/parley-kiosk.desktop \
	./usr/share/icons/hicolor/scalable/apps/parley.svg ./usr/share/doc/parley/copyright; do
	grep -q " $f\$" <<<"$contents" || fail "$f is not in the package"
done
[ "$(dpkg-deb -f "$deb" Package)" = parley ] || fail "Package field"
[ "$(dpkg-deb -f "$deb" Architecture)" = amd64 ] || fail "Architecture field"
version=$(dpkg-deb -f "$deb" Version)
depends=$(dpkg-deb -f "$deb" Depends)
echo "deb-test: Version: $version"
echo "deb-test: Depends: $depends"
for lib in libvpx libopus libyuv0 libc6 libasound2 libgl1 libx11-6 libxcursor1; do
	grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib"
done
dpkg-deb -I "$deb" conffiles | grep -q /etc/parley/server.toml || fail "server.toml is not a conffile"

dpkg -i "$deb" >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >/dev/null
dpkg -s parley | grep -q "Status: install ok installed" || fail "not installed"
/usr/bin/parley version | grep -q "parley $version (commit " || fail "parley version: $(/usr/bin/parley version)"
/usr/bin/parley --version | grep -q "$version" || fail "parley --version"
getent passwd parley >/dev/null || fail "no user parley"
getent group parley-kiosk >/dev/null || fail "no group parley-kiosk"
[ "$(stat -c %U /var/lib/parley)" = parley ] || fail "/var/lib/parley not owned by parley"

/usr/bin/parley config check --server /etc/parley/server.toml
# The package ships no exit PIN: the kiosk check fails until IT sets one.
if out=$(/usr/bin/parley config check --kiosk /etc/parley/kiosk.toml 2>&1); then fail "the shipped kiosk.toml passed without an exit PIN"; fi
grep -q 'set-pin' <<<"$out" || fail "the missing PIN is not explained: $out"
grep -q '^exit_pin =' /etc/parley/kiosk.toml && fail "the package ships a clear-text exit PIN"
tmp=$(mktemp -d)
cp /etc/parley/kiosk.toml "$tmp/k.toml"
echo 246813 | /usr/bin/parley kiosk set-pin --config "$tmp/k.toml" >/dev/null || fail "parley kiosk set-pin failed"
grep -q 246813 "$tmp/k.toml" && fail "set-pin wrote the PIN itself"
/usr/bin/parley config check --kiosk "$tmp/k.toml" >/dev/null || fail "the kiosk.toml with a PIN set does not pass"
cp /etc/parley/server.toml "$tmp/s.toml"; echo 'lisen = ":1"' >>"$tmp/s.toml"
if out=$(/usr/bin/parley config check --server "$tmp/s.toml" 2>&1); then fail "a broken server.toml was accepted"; fi
grep -q '"lisen"' <<<"$out" || fail "the error does not name the key: $out"
sed -i 's|^exit_pin_hash = .*|exit_pin_hash = "nonsense"|' "$tmp/k.toml"
if out=$(/usr/bin/parley config check --kiosk "$tmp/k.toml" 2>&1); then fail "a broken kiosk.toml was accepted"; fi
grep -q 'exit_pin_hash' <<<"$out" || fail "the error does not name the key: $out"
echo "deb-test: config check accepts the shipped server file, wants a PIN set in the kiosk file, and names the key in broken ones"

if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify /lib/systemd/system/parley-server.service
	echo "deb-test: systemd-analyze verify: ok"
else
	echo "deb-test: systemd-analyze is not on this machine: unit not verified"
fi

echo "deb-test: the installed parley selftest"
timeout 120 /usr/bin/parley selftest 2>/dev/null | grep -v '^ALSA' || fail "parley selftest"

# Research data survives removal and purge.
echo precious >/var/lib/parley/marker
dpkg --purge parley >/dev/null 2>&1
[ -f /var/lib/parley/marker ] || fail "purging the package deleted /var/lib/parley"
rm -f /var/lib/parley/marker
echo "deb-test: ok"
