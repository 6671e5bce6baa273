# The install and the Debian package, built from this build tree:
#  - `cmake --install` puts the binary, the systemd unit and the docs under
#    the prefix;
#  - `cpack -G DEB` builds a package holding them, depending on the shared
#    libraries the binary links (libpq5, libodbc2, ...) and on adduser, with
#    a postinst that creates the service's user;
#  - the packaged binary runs, and systemd accepts the unit as written.
source "$(dirname "$0")/lib.sh"

BUILD=$(cd "$(dirname "$SY")/.." && pwd)
cmake --install "$BUILD" --prefix "$WORK/prefix" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "cmake --install"; }
for file in bin/switchyard lib/systemd/system/switchyard@.service share/doc/switchyard/README.md \
  share/doc/switchyard/example.yaml share/doc/switchyard/control-schema.md \
  share/doc/switchyard/runbooks/README.md share/doc/switchyard/uPlot.LICENSE; do
  [ -e "$WORK/prefix/$file" ] || fail "cmake --install did not install $file"
done
log "ok: cmake --install"

(cd "$WORK" && cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/pkg") >"$WORK/cpack.log" 2>&1 ||
  { cat "$WORK/cpack.log"; fail "cpack"; }
DEB=$(ls "$WORK"/pkg/switchyard_*_amd64.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || { cat "$WORK/cpack.log"; fail "no .deb built"; }
dpkg-deb -c "$DEB" | awk '{ print $6 }' >"$WORK/contents"
for file in ./usr/bin/switchyard ./usr/lib/systemd/system/switchyard@.service \
  ./usr/share/doc/switchyard/README.md ./usr/share/doc/switchyard/example.yaml \
  ./usr/share/doc/switchyard/uPlot.LICENSE; do
  grep -qx -- "$file" "$WORK/contents" || { cat "$WORK/contents"; fail "the package lacks $file"; }
done
depends=$(dpkg-deb -f "$DEB" Depends)
for library in libpq5 libodbc2 adduser libsystemd0; do
  [[ "$depends" == *"$library"* ]] || fail "the package does not depend on $library: $depends"
done
dpkg-deb -e "$DEB" "$WORK/control"
[ -x "$WORK/control/postinst" ] || fail "no executable postinst"
grep -q "adduser --system" "$WORK/control/postinst" || fail "postinst creates no user"
log "ok: $(basename "$DEB"): $(wc -l <"$WORK/contents") entries; Depends: ${depends:0:80}..."

dpkg-deb -x "$DEB" "$WORK/root"
version=$("$WORK/root/usr/bin/switchyard" --version) || fail "the packaged binary does not run"
[[ "$version" == "switchyard "* ]] || fail "--version: $version"
unit=$WORK/root/usr/lib/systemd/system/switchyard@.service
grep -q "^Type=notify$" "$unit" || fail "the unit is not Type=notify"
grep -q "^ExecStart=/usr/bin/switchyard -c /etc/switchyard/%i.yaml serve$" "$unit" || fail "ExecStart"
grep -q "^User=switchyard$" "$unit" || fail "the unit does not run as its own user"
if command -v systemd-analyze >/dev/null; then
  # An instance of the template, its binary the unpacked one (the system
  # has none installed).
  sed "s|/usr/bin/switchyard|$WORK/root/usr/bin/switchyard|" "$unit" >"$WORK/switchyard@shop.service"
  systemd-analyze verify --man=no "$WORK/switchyard@shop.service" >"$WORK/verify.log" 2>&1 ||
    { cat "$WORK/verify.log"; fail "systemd-analyze verify"; }
  # It only warns about a line it ignores: a warning is a failure here.
  [ ! -s "$WORK/verify.log" ] || { cat "$WORK/verify.log"; fail "systemd-analyze verify warns"; }
  log "ok: systemd-analyze verify accepts the unit"
fi
log "ok: $version from the package"
log "PASS"
