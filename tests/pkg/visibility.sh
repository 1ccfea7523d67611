#!/bin/sh
# The shared objects export exactly the functions tide.h declares TIDE_API:
#   visibility.sh tide.h libtide.so tide.so
# (built with hidden visibility; a missing TIDE_API hides a public function,
# a missing `static` or hidden attribute no longer leaks an internal one).
set -eu
hdr=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the declared names: the identifier before "(" on each TIDE_API declaration
sed -n 's/^TIDE_API[^(]*[^A-Za-z0-9_(]\([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$hdr" | sort -u >"$tmp/declared"
n=$(wc -l <"$tmp/declared")
if [ "$n" -lt 10 ]; then
  echo "only $n TIDE_API declarations found in $hdr" >&2
  exit 1
fi
status=0
for so in "$@"; do
  nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWGS]$/ {print $3}' | sed 's/@.*//' | sort -u >"$tmp/exported"
  if ! cmp -s "$tmp/declared" "$tmp/exported"; then
    echo "$so: exported symbols differ from tide.h's TIDE_API functions" >&2
    echo "  exported, not declared: $(comm -13 "$tmp/declared" "$tmp/exported" | tr '\n' ' ')" >&2
    echo "  declared, not exported: $(comm -23 "$tmp/declared" "$tmp/exported" | tr '\n' ' ')" >&2
    status=1
  else
    echo "$so: exports the $n functions of tide.h and nothing else"
  fi
done
exit $status
