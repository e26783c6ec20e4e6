#!/usr/bin/env bash
# Installs a built rlboard tree into a temporary prefix and checks it as a
# user of the installed package would use it:
#   - the consumer program, built with find_package(rlboard CONFIG) against
#     the shared and the static library, with pkg_check_modules(rlboard), and
#     with pkg-config --static on the compiler command line, runs and prints
#     the version of the header;
#   - the installed rlboard command runs, without LD_LIBRARY_PATH unless
#     the build set CMAKE_SKIP_INSTALL_RPATH;
#   - librlboard.so exports exactly the RLB_EXPORT functions of rlboard.h;
#   - both manual pages render without warnings, rlboard(3) covers every
#     exported function and error code, and rlboard(1) every subcommand
#     that rlboard --help lists;
#   - add_subdirectory() of the source tree builds without the test suite.
# Usage: run.sh BUILD_DIR SOURCE_DIR C_COMPILER
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR C_COMPILER" >&2
  exit 64
fi
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
cc=$3
consumer_dir="$source/tests/consumer"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rlboard-consumer.XXXXXX")
prefix="$tmp/prefix"
board=""
rlboard=("$prefix/bin/rlboard")

# Removes the temporary tree, and the command's board when a check failed
# before the board was unlinked.
cleanup() {
  if [[ -n "$board" ]]; then
    "${rlboard[@]}" --board "$board" unlink >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

die() {
  echo "consumer_install: $*" >&2
  exit 1
}

step() {
  echo "== $*"
}

# Runs a command with its output in $tmp/$1.log, shown when it fails.
run_logged() {
  local log="$tmp/$1.log"
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -40 "$log" >&2
    die "failed: $*"
  fi
}

# Runs a consumer binary and checks that it prints the header's version.
run_consumer() {
  local binary=$1 output
  output=$("$binary") || die "$binary exited with status $?"
  [[ "$output" == "$header_version" ]] ||
    die "$binary printed version \"$output\", the header has $header_version"
}

# Fails when the dynamic section of $1 lists librlboard.
check_no_librlboard_needed() {
  readelf -d "$1" >"$tmp/dynamic"
  if grep -q 'NEEDED.*librlboard' "$tmp/dynamic"; then
    die "$1 needs librlboard.so but should contain the static library"
  fi
}

# Fails unless $1 loads librlboard.so from the installed tree.
check_loads_installed() {
  local loaded
  ldd "$1" >"$tmp/ldd"
  loaded=$(awk '$1 ~ /^librlboard\.so/ { print $3 }' "$tmp/ldd")
  [[ -n "$loaded" ]] || die "$1 does not load librlboard.so"
  [[ "$(realpath "$(dirname "$loaded")")" == "$(realpath "$libdir")" ]] ||
    die "$1 loads $loaded, not the library in $libdir"
}

step "install into $prefix"
run_logged install cmake --install "$build" --prefix "$prefix"
shared=$(find "$prefix" -name librlboard.so -print -quit)
[[ -n "$shared" ]] || die "no librlboard.so installed under $prefix"
libdir=$(dirname "$shared")
for file in "$libdir/librlboard.a" "$prefix/include/rlboard.h" \
  "$libdir/pkgconfig/rlboard.pc" "$libdir/cmake/rlboard/rlboardConfig.cmake" \
  "$libdir/cmake/rlboard/rlboardConfigVersion.cmake" "$prefix/bin/rlboard" \
  "$prefix/share/man/man1/rlboard.1" "$prefix/share/man/man3/rlboard.3"; do
  [[ -f "$file" ]] || die "$file was not installed"
done

step "header version"
header="$prefix/include/rlboard.h"
version_part() {
  sed -n "s/^#define RLBOARD_VERSION_$1 \\([0-9][0-9]*\\)\$/\\1/p" "$header"
}
major=$(version_part MAJOR)
minor=$(version_part MINOR)
patch=$(version_part PATCH)
[[ -n "$major" && -n "$minor" && -n "$patch" ]] ||
  die "$header lacks one of the RLBOARD_VERSION_ defines"
header_version="$major.$minor.$patch"
soname=$(readelf -d "$libdir/librlboard.so" |
  sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ "$soname" == "librlboard.so.$major" ]] ||
  die "SONAME is \"$soname\", expected librlboard.so.$major"

step "exported symbols of librlboard.so"
# The version node (RLBOARD_1) is an absolute symbol, not a function.
nm -D --defined-only "$libdir/librlboard.so" |
  awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort >"$tmp/exported"
grep -o '^RLB_EXPORT [^(]*(' "$header" | grep -o '[A-Za-z0-9_]*($' |
  tr -d '(' | sort >"$tmp/declared"
[[ -s "$tmp/declared" ]] || die "no RLB_EXPORT function found in $header"
if grep -qv '^rlb_' "$tmp/exported" || grep -q '^rlb__' "$tmp/exported"; then
  die "librlboard.so exports symbols outside the public API:" \
    "$(grep -v '^rlb_' "$tmp/exported"; grep '^rlb__' "$tmp/exported")"
fi
if ! diff -u "$tmp/declared" "$tmp/exported" >"$tmp/symbols.diff"; then
  cat "$tmp/symbols.diff" >&2
  die "exported symbols differ from the RLB_EXPORT functions of rlboard.h" \
    "(- declared only, + exported only)"
fi

step "find_package(rlboard CONFIG)"
run_logged config cmake -S "$consumer_dir" -B "$tmp/config" \
  -DRLBOARD_CONSUMER_MODE=config -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc"
found=$(sed -n 's/^rlboard_DIR:PATH=//p' "$tmp/config/CMakeCache.txt")
[[ "$found" == "$libdir/cmake/rlboard" ]] ||
  die "find_package found rlboard in \"$found\", not under $prefix"
run_logged config-build cmake --build "$tmp/config"
check_loads_installed "$tmp/config/consumer"
run_consumer "$tmp/config/consumer"
check_no_librlboard_needed "$tmp/config/consumer_static"
run_consumer "$tmp/config/consumer_static"

step "pkg_check_modules(rlboard)"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pc_version=$(pkg-config --modversion rlboard)
[[ "$pc_version" == "$header_version" ]] ||
  die "rlboard.pc has version $pc_version, the header has $header_version"
run_logged pkgconfig cmake -S "$consumer_dir" -B "$tmp/pkgconfig" \
  -DRLBOARD_CONSUMER_MODE=pkgconfig -DCMAKE_C_COMPILER="$cc"
run_logged pkgconfig-build cmake --build "$tmp/pkgconfig"
check_loads_installed "$tmp/pkgconfig/consumer"
run_consumer "$tmp/pkgconfig/consumer"

step "pkg-config --static"
# -l:librlboard.a makes the linker take the archive although the shared
# library sits next to it; the rest of the line comes from Libs.private and
# Requires.private.
read -r -a static_flags <<<"$(pkg-config --static --cflags --libs rlboard |
  sed 's/-lrlboard\b/-l:librlboard.a/')"
run_logged static-pc "$cc" -o "$tmp/consumer_static_pc" \
  "$consumer_dir/consumer.c" "${static_flags[@]}"
check_no_librlboard_needed "$tmp/consumer_static_pc"
run_consumer "$tmp/consumer_static_pc"

step "installed rlboard command"
board="rlb-consumer-cli-$$"
# The command has a run path relative to itself unless the build set
# CMAKE_SKIP_INSTALL_RPATH.
readelf -d "$prefix/bin/rlboard" >"$tmp/dynamic"
if grep -q '(RUNPATH)\|(RPATH)' "$tmp/dynamic"; then
  rlboard=(env -u LD_LIBRARY_PATH "$prefix/bin/rlboard")
else
  rlboard=(env LD_LIBRARY_PATH="$libdir" "$prefix/bin/rlboard")
fi
command=("${rlboard[@]}" --board "$board")
cli_version=$("${command[@]}" --version) || die "rlboard --version failed"
[[ "$cli_version" == "rlboard $header_version" ]] ||
  die "rlboard --version printed \"$cli_version\", expected" \
    "\"rlboard $header_version\""
"${command[@]}" record --code E101 --duration 60 --job consumer-cli \
  >"$tmp/cli-id" || die "rlboard record failed"
status=0
"${command[@]}" check --code E101 >"$tmp/cli-check" || status=$?
"${command[@]}" unlink || die "rlboard unlink of $board failed"
board=""
[[ $status -eq 75 ]] || die "rlboard check exited $status, expected 75"
grep -Eqx '[0-9]+(\.[0-9]+)?' "$tmp/cli-check" ||
  die "rlboard check printed \"$(cat "$tmp/cli-check")\", expected seconds"

step "manual pages"
for page in "$prefix/share/man/man1/rlboard.1" \
  "$prefix/share/man/man3/rlboard.3"; do
  LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat man --warnings -l "$page" \
    >"$tmp/man.out" 2>"$tmp/man.err" || die "man -l $page failed"
  [[ -s "$tmp/man.out" ]] || die "man -l $page rendered nothing"
  if [[ -s "$tmp/man.err" ]]; then
    cat "$tmp/man.err" >&2
    die "man -l $page printed warnings"
  fi
  groff -man -ww -z "$page" 2>"$tmp/groff.err" ||
    die "groff failed on $page"
  if [[ -s "$tmp/groff.err" ]]; then
    cat "$tmp/groff.err" >&2
    die "groff printed warnings for $page"
  fi
done

step "manual pages cover the API and the subcommands"
page3="$prefix/share/man/man3/rlboard.3"
while read -r function; do
  grep -q "[ *]$function(" "$page3" ||
    die "the SYNOPSIS of rlboard(3) lacks $function()"
  grep -q "^\.BR $function ()" "$page3" ||
    die "rlboard(3) does not describe $function()"
done <"$tmp/declared"
grep -o '^ *X(RLB_E[A-Z]*' "$header" | sed 's/^ *X(//' >"$tmp/codes"
[[ -s "$tmp/codes" ]] || die "no RLB_E error code found in $header"
while read -r code; do
  grep -q "^\.B $code\$" "$page3" || die "rlboard(3) does not list $code"
done <"$tmp/codes"
# The subcommands are the first words of the lines after "Subcommands:".
"${rlboard[@]}" --help |
  sed -n '/^Subcommands:/,/^$/{/^  /s/^  \([a-z-]*\).*/\1/p}' \
    >"$tmp/subcommands"
[[ -s "$tmp/subcommands" ]] || die "rlboard --help lists no subcommands"
sed 's/\\//g' "$prefix/share/man/man1/rlboard.1" >"$tmp/page1"
while read -r subcommand; do
  grep -q "^\.SS $subcommand\$" "$tmp/page1" ||
    die "rlboard(1) has no section on the subcommand $subcommand"
done <"$tmp/subcommands"

step "add_subdirectory(rlboard)"
run_logged subdirectory cmake -S "$consumer_dir" -B "$tmp/subdirectory" \
  -DRLBOARD_CONSUMER_MODE=subdirectory -DRLBOARD_SOURCE_DIR="$source" \
  -DCMAKE_C_COMPILER="$cc"
grep -q '^RLBOARD_BUILD_TESTS:BOOL=OFF$' "$tmp/subdirectory/CMakeCache.txt" ||
  die "RLBOARD_BUILD_TESTS is not OFF under add_subdirectory()"
run_logged subdirectory-build cmake --build "$tmp/subdirectory" -j2
[[ ! -e "$tmp/subdirectory/rlboard/tests" ]] ||
  die "add_subdirectory() configured the tests directory"
find "$tmp/subdirectory" -type f -name 'test_*' -perm -u+x >"$tmp/tests"
if [[ -s "$tmp/tests" ]]; then
  die "add_subdirectory() built test programs: $(cat "$tmp/tests")"
fi
run_consumer "$tmp/subdirectory/consumer"
check_no_librlboard_needed "$tmp/subdirectory/consumer_static"
run_consumer "$tmp/subdirectory/consumer_static"

echo "consumer_install: all checks passed"
