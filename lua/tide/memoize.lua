-- tide.memoize: a function's results kept on disk (joblib's Memory), keyed
-- by the function's code, its upvalues, the globals it reads and its
-- arguments, all hashed by content (arrays by their elements, cached per
-- array version).  Entries are dump files (docs/dump-format.md), reloaded
-- with their arrays mapped.  The C half is tide._internal.memo
-- (runtime/bind/l_memo.c).
local tide = require "tide"
local optmod = require "tide.opts"
local internal = tide._internal
local memo = internal.memo

local M = {}

local Memoized = {}
Memoized.__index = Memoized
-- A class, so that a memoized function can be shipped to spawned and MPI
-- workers: its fields, the function among them, travel by value
-- (runtime/bind/ship.c); data-only encodes still refuse the function.
tide.register_class("tide.memoize.Memoized", Memoized)

local function fmt_bytes(n)
  local units = {"bytes", "kB", "MB", "GB", "TB"}
  local u = 1
  while n >= 1000 and u < #units do n = n / 1000; u = u + 1 end
  return u == 1 and string.format("%d bytes", n) or string.format("%.1f %s", n, units[u])
end

-- A short text for one argument in log lines.
local function describe(v)
  local t = type(v)
  if t == "string" then
    return #v > 24 and string.format("%q...", v:sub(1, 20)) or string.format("%q", v)
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  elseif t == "userdata" and tide.is_array and tide.is_array(v) then
    local dims = {}
    for i = 1, v.ndim do dims[i] = tostring(v.shape[i]) end
    return string.format("<%s %s array>", v.dtype, v.ndim == 0 and "scalar" or table.concat(dims, "x"))
  end
  return "<" .. t .. ">"
end

local function call_text(name, ...)
  local parts = {}
  for i = 1, select("#", ...) do
    parts[i] = describe((select(i, ...)))
    if i == 6 and select("#", ...) > 6 then parts[i] = "..."; break end
  end
  return name .. "(" .. table.concat(parts, ", ") .. ")"
end

local function secs(t)
  if t >= 10 then return string.format("%.0f s", t) end
  if t >= 1 then return string.format("%.1f s", t) end
  if t >= 0.01 then return string.format("%.3f s", t) end
  return string.format("%.4f s", t)
end

local function log(self, level, fmt, ...)
  if self.verbose >= level then
    tide._internal.log("[memoize] " .. string.format(fmt, ...), "info")
  end
end

local defaults = {dir = ".tide-cache", verbose = 0, mmap = "c", lock_timeout = 600}
local known = {dir = "string", max_bytes = "number", max_age = "number", verbose = "number",
               mmap = "string", lock_timeout = "number", name = "string"}
local names = {"dir", "max_bytes", "max_age", "verbose", "mmap", "lock_timeout", "name"}

-- tide.memoize(f [, {dir, max_bytes, max_age, verbose, mmap, lock_timeout, name}]) -> g
function M.memoize(f, opts)
  if type(f) ~= "function" then
    error("bad argument #1 to 'memoize' (function expected, got " .. type(f) .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'memoize' (options table expected, got " .. type(opts) .. ")", 2)
  end
  optmod.check(opts, "tide.memoize", names)
  local self = {f = f, hits = 0, misses = 0}
  for k, v in pairs(opts or {}) do
    local want = known[k]
    if k == "verbose" and type(v) == "boolean" then v = v and 1 or 0 end
    if k == "mmap" and v == false then v = false
    elseif type(v) ~= want then
      error(string.format("bad argument #2 to 'memoize' (%s must be a %s, got %s)", k, want, type(v)), 2)
    end
    self[k] = v
  end
  for k, v in pairs(defaults) do
    if self[k] == nil then self[k] = v end
  end
  if self.mmap and self.mmap ~= "r" and self.mmap ~= "c" then
    error("bad argument #2 to 'memoize' (mmap must be \"r\", \"c\" or false)", 2)
  end
  if self.name == nil then
    local info = debug.getinfo(f, "S")
    self.name = string.format("function at %s:%d", info.short_src, info.linedefined)
  end
  -- What cannot be hashed is an error now, not a wrong hit later.
  local ok, err = pcall(memo.key, self.name, f)
  if not ok then error("tide.memoize: " .. tostring(err), 2) end
  memo.init(self.dir)
  local g = setmetatable(self, Memoized)
  internal.hash_alias(g, f) -- a function that calls g hashes as one that calls f
  return g
end

-- The stored results of key, or nil (none, or a damaged entry, dropped).
function Memoized:_load(key, t0, args_text)
  local found, v, bytes, checked = memo.load(self.dir, key, self.mmap)
  if found == nil then return nil end
  if found and (type(v) ~= "table" or math.type(v.n) ~= "integer" or v.n < 0) then
    found, v = false, "not a memoize entry"
  end
  if not found then
    log(self, 1, "%s: damaged entry (%s): computing it again", args_text(), v)
    memo.drop(self.dir, key)
    return nil
  end
  self.hits = self.hits + 1
  if self.verbose >= 1 then
    local how = self.mmap and string.format("mapped %s%s", fmt_bytes(bytes),
                                            checked and ", checked" or "")
                or string.format("read %s", fmt_bytes(bytes))
    log(self, 1, "hit %s %s (%s; computing took %s)", args_text(), secs(tide.now() - t0), how,
        secs(tonumber(v.time) or 0))
  end
  return v
end

function Memoized:__call(...)
  local t0 = tide.now()
  local ok, key = pcall(memo.key, self.name, self.f, ...)
  if not ok then error("tide.memoize: " .. tostring(key), 2) end
  local args = table.pack(...)
  local function args_text() return call_text(self.name, table.unpack(args, 1, args.n)) end
  local r = self:_load(key, t0, args_text)
  if r then return table.unpack(r, 1, r.n) end
  -- Computed under the key's lock: a second caller waits for the first
  -- and then reads its entry, rather than computing it twice.
  local entry = memo.path(self.dir, key)
  local tw = tide.now()
  local lock = memo.lock(entry, self.lock_timeout)
  if not lock then
    log(self, 1, "%s: still locked after %.0f s: computing it here too", args_text(),
        self.lock_timeout)
  else
    if tide.now() - tw > 0.05 then
      log(self, 2, "%s: waited %s for another caller", args_text(), secs(tide.now() - tw))
    end
    r = self:_load(key, t0, args_text)
    if r then
      lock:release()
      return table.unpack(r, 1, r.n)
    end
  end
  local t1 = tide.now()
  local res = table.pack(pcall(self.f, ...))
  if not res[1] then
    if lock then lock:release() end
    error(res[2], 0)
  end
  local dt = tide.now() - t1
  -- An entry holds the results 1..n, their count and the time they took.
  local out = table.move(res, 2, res.n, 1, {n = res.n - 1, time = dt})
  self.misses = self.misses + 1
  local stored, size, nev, bev = pcall(memo.store, self.dir, key, out, self.max_bytes,
                                       self.max_age)
  if lock then lock:release() end
  if not stored then -- never silent: the next call would compute again
    tide._internal.log(string.format("[memoize] %s: result not stored: %s\n", args_text(), size))
  elseif size == false then
    log(self, 1, "miss %s computed in %s, not stored: %s is over max_bytes (%s)",
        args_text(), secs(dt), fmt_bytes(nev), fmt_bytes(self.max_bytes))
  else
    log(self, 1, "miss %s computed in %s, stored %s", args_text(), secs(dt), fmt_bytes(size))
    if nev > 0 then
      log(self, 2, "evicted %d entr%s (%s) least recently used", nev, nev == 1 and "y" or "ies",
          fmt_bytes(bev))
    end
  end
  return table.unpack(out, 1, out.n)
end

-- g:info() -> {entries =, bytes =, hits =, misses =}: the folder's entries
-- and bytes, this process's hits and misses of g.
function Memoized:info()
  local entries, bytes = memo.info(self.dir)
  return {entries = entries, bytes = bytes, hits = self.hits, misses = self.misses}
end

-- g:clear(): removes every entry of the folder; returns how many.
function Memoized:clear()
  return memo.clear(self.dir)
end

Memoized.__name = "tide.memoized"

return M
