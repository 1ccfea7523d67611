#!/bin/sh
# The rock, as a Lua user gets it:
#   luarocks.sh SOURCE_DIR
# copies the sources the rockspec builds into a scratch folder (luarocks
# make writes build.luarocks/ beside them), runs `luarocks make --tree
# $tmp/tree`, then stock lua5.4 with that tree's paths (luarocks path)
# requires tide and runs a parallel loop and a model fit.
set -eu
src=$1
command -v luarocks >/dev/null || { echo "luarocks missing (scripts/bootstrap installs it): skipped"; exit 77; }
command -v lua5.4 >/dev/null || { echo "lua5.4 missing: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tide-rock.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
spec=$(cd "$src" && ls tide-*-1.rockspec)
mkdir "$tmp/src"
(cd "$src" && cp -r CMakeLists.txt LICENSE cmake runtime lua "$spec" "$tmp/src/")

export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
cd "$tmp/src"
if ! luarocks --lua-version 5.4 make --tree "$tmp/tree" "$spec" >"$tmp/make.log" 2>&1; then
  cat "$tmp/make.log"
  echo "luarocks make failed" >&2
  exit 1
fi
luarocks --lua-version 5.4 list --tree "$tmp/tree" | grep -q "^tide$" || {
  echo "tide not listed in the tree" >&2; exit 1; }
find "$tmp/tree" -name tide.so | grep -q . || { echo "no tide.so in the tree" >&2; exit 1; }
find "$tmp/tree" -path "*/tide/models.lua" | grep -q . || { echo "no Lua modules in the tree" >&2; exit 1; }

eval "$(luarocks --lua-version 5.4 path --tree "$tmp/tree")"
cd "$tmp"
lua5.4 - <<'LUA'
local tide = require "tide"
local so = package.searchpath("tide", package.cpath)
assert(so and so:find("/tree/", 1, true), "tide.so not taken from the rock's tree: " .. tostring(so))
-- a parallel loop over two workers
local sq = tide.collect(function(i) return i * i end, 20, {jobs = 2})
assert(#sq == 20 and sq[7] == 49, "parallel loop")
-- a model fit: y = 2 x1 - x2 + 3 exactly
local X = tide.rand(50, 2, {seed = 1})
local y = tide.zeros(50)
for i = 1, 50 do y[i] = 2 * X:get(i, 1) - X:get(i, 2) + 3 end
local m = tide.models.linear{}:fit(X, y)
assert(math.abs(m.coef[1] - 2) < 1e-9 and math.abs(m.coef[2] + 1) < 1e-9, "fit")
assert(math.abs(m.intercept - 3) < 1e-9, "intercept")
-- a search in parallel
local s = tide.search{model = tide.models.ridge{}, grid = {alpha = {0.01, 1}}, X = X, y = y,
                      cv = 2, jobs = 2}
assert(s.best_params.alpha == 0.01, "search")
print("lua5.4 with the rock: require, parallel loop, fit and search: 3 passed, 0 failed")
LUA
