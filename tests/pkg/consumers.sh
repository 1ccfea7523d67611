#!/bin/sh
# A C host built against an installed tide, two ways, then run:
#   consumers.sh BUILD_DIR SOURCE_DIR
# 1. `cmake --install BUILD --prefix $tmp`;
# 2. examples/embed/host.c compiled with `pkg-config --cflags --libs tide`
#    (PKG_CONFIG_PATH names the installed tide.pc and nothing else of tide);
# 3. the same file built by a five-line CMake project with
#    find_package(tide CONFIG) and tide::tide;
# 4. both programs run host.lua (lend buffers, a parallel search, the
#    model read back) and must say "0 failed".
set -eu
build=$1
src=$2
cc=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tide-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
command -v pkg-config >/dev/null || { echo "pkg-config missing: skipped"; exit 77; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name tide.pc)
cfg=$(find "$tmp/prefix" -name tideConfig.cmake)
[ -n "$pc" ] || { echo "tide.pc not installed" >&2; exit 1; }
[ -n "$cfg" ] || { echo "tideConfig.cmake not installed" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pc")")
echo "installed: ${pc#$tmp/prefix/} and ${cfg#$tmp/prefix/}"

# The sanitizer build's library needs its runtime in the host too.
san=""
[ "${TIDE_SANITIZE:-OFF}" = "ON" ] && san="-fsanitize=address,undefined -fno-omit-frame-pointer"

# 2. pkg-config
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs tide)
echo "pkg-config --cflags --libs tide: $flags"
case "$flags" in *"$tmp/prefix"*) ;; *) echo "flags do not point into the install" >&2; exit 1 ;; esac
# shellcheck disable=SC2086
$cc $san -o "$tmp/host_pc" "$src/examples/embed/host.c" $flags -lm

# 3. CMake
mkdir "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(host C)
find_package(tide 0.1 CONFIG REQUIRED)
add_executable(host_cmake host.c)
target_link_libraries(host_cmake PRIVATE tide::tide m)
CM
cp "$src/examples/embed/host.c" "$tmp/proj/"
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
      -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$san" >/dev/null
cmake --build "$tmp/proj/build" >/dev/null

# 4. run both; the library is found through LD_LIBRARY_PATH (pkg-config's
# link has no rpath) or the rpath CMake gives an imported location
cd "$src/examples/embed"
for exe in "$tmp/host_pc" "$tmp/proj/build/host_cmake"; do
  echo "== $(basename "$exe")"
  out=$(LD_LIBRARY_PATH="$libdir" "$exe" host.lua 2>&1) || { echo "$out"; echo "$exe failed" >&2; exit 1; }
  echo "$out" | tail -3
  echo "$out" | grep -q "^[1-9][0-9]* passed, 0 failed$" || { echo "$out"; exit 1; }
  # the program uses the installed library, not the build's
  LD_LIBRARY_PATH="$libdir" ldd "$exe" | grep -q "$tmp/prefix.*libtide" || {
    echo "$exe does not load libtide from the install" >&2; exit 1; }
done
echo "2 passed, 0 failed"
