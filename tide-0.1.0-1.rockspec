-- LuaRocks package of tide: `luarocks --lua-version 5.4 make` in a checkout
-- builds tide.so with CMake against the system's Lua 5.4, OpenBLAS and
-- LAPACKE (and zlib, xxHash, libsvm, L-BFGS-B: see README's dependency
-- table) and installs it with the Lua modules of lua/tide.
rockspec_format = "3.0"
package = "tide"
version = "0.1.0-1"
source = {
   -- tide has no public release yet: the rock is built from a checkout
   -- (`luarocks make`), where this URL is not read.
   url = "git+file:///tide",
}
description = {
   summary = "A compute runtime for Lua 5.4: shared-memory arrays, forked parallel loops, models",
   detailed = [[
      Arrays shared with worker processes, parallel loops (tide.collect,
      tide.map), scikit-learn-like models and model selection.  The module
      `tide` is the same tide.so the tide program embeds.
   ]],
   license = "MIT",
}
supported_platforms = { "linux" }
dependencies = { "lua >= 5.4, < 5.5" }
build = {
   type = "cmake",
   variables = {
      TIDE_ROCK = "ON",
      TIDE_TESTS = "OFF",
      CMAKE_BUILD_TYPE = "RelWithDebInfo",
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      TIDE_LUA_CDIR = "$(LIBDIR)",
      TIDE_LUA_LDIR = "$(LUADIR)",
   },
}
