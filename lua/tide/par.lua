-- tide.par: the Lua side of parallel loops: pools (scopes with defaults)
-- and timing helpers.  The loops themselves are C (runtime/bind/l_par.c).
local tide = require "tide"
local optmod = require "tide.opts"
local par = {}

-- what a loop takes (runtime/bind/l_par.c, new_job); a pool's defaults and
-- its methods' options are loop options too
local LOOP = {"jobs", "chunk", "inflight", "order", "on_error", "timeout", "seed", "progress",
              "backend"}

local function merge(p, opts)
  local defaults = p.defaults
  if not opts and not p.warm then return defaults end
  local m = {}
  for k, v in pairs(defaults) do m[k] = v end
  for k, v in pairs(opts or {}) do m[k] = v end
  if p.warm and m.backend == "spawn" then m.backend = p.warm end
  return m
end

local Pool = {}
Pool.__index = Pool

-- tide.pool{jobs =, backend =, ...}: a scope whose loops share defaults.
-- Closing it (local p <close> = tide.pool{...}) cancels the jobs it started
-- that are still running.
function par.pool(defaults)
  if defaults ~= nil and type(defaults) ~= "table" then
    error("bad argument #1 to 'pool' (options table expected, got " .. type(defaults) .. ")", 2)
  end
  optmod.check(defaults, "tide.pool", LOOP)
  if defaults and defaults.backend ~= nil then   -- the loops' error, now
    if type(defaults.backend) ~= "string" then
      error("option 'backend' must be a string, got " .. type(defaults.backend), 2)
    end
    local ok, err = pcall(tide._internal.check_backend, defaults.backend)
    if not ok then error(err, 2) end
  end
  local p = setmetatable({defaults = defaults or {}, live = setmetatable({}, {__mode = "k"}),
                         closed = false}, Pool)
  -- a spawn pool keeps its workers up from one loop to the next: its loops
  -- borrow this set (runtime/core/backend_spawn.c)
  if p.defaults.backend == "spawn" then p.warm = tide._internal.spawn_set() end
  return p
end

local function check_open(p, what)
  if p.closed then error(what .. ": the pool is closed", 3) end
end

function Pool:map(f, xs, opts)
  check_open(self, "map")
  optmod.check(opts, "pool:map", LOOP)
  local iter, job, ctrl, closing = tide.map(f, xs, merge(self, opts))
  self.live[job] = true
  return iter, job, ctrl, closing
end

function Pool:start(f, xs, opts)
  check_open(self, "start")
  optmod.check(opts, "pool:start", LOOP)
  local job = tide.start(f, xs, merge(self, opts))
  self.live[job] = true
  return job
end

function Pool:collect(f, xs, opts)
  check_open(self, "collect")
  optmod.check(opts, "pool:collect", LOOP)
  return tide.collect(f, xs, merge(self, opts))
end

function Pool:pfor(n, f, opts)
  check_open(self, "pfor")
  optmod.check(opts, "pool:pfor", LOOP)
  return tide.pfor(n, f, merge(self, opts))
end

function Pool:close()
  if self.closed then return end
  self.closed = true
  for job in pairs(self.live) do job:close() end
  if self.warm then self.warm:close() end
end

-- pool:workers(): how many worker processes a spawn pool keeps up now
-- (0 for the other backends, whose workers live only during a loop).
function Pool:workers()
  return self.warm and self.warm:workers() or 0
end
Pool.__close = Pool.close
Pool.__gc = Pool.close

-- par.is_pool(x): x is a tide.pool (searches run their loops on one)
function par.is_pool(x) return getmetatable(x) == Pool end

function Pool:__tostring()
  return string.format("tide.pool(jobs = %s%s)", tostring(self.defaults.jobs or tide.config.jobs),
                       self.closed and ", closed" or "")
end

-- tide.timed(f, name [, opts]): f wrapped so each call logs "name finished
-- in 1.23 s" to stderr, or "name failed after 1.23 s: message" when f
-- raises -- then the same error object is raised again, untouched.
-- opts.log(name, seconds, err) replaces the line: err is nil on success,
-- the error object on failure (a nil one is given as a message).
local function describe(e)
  if type(e) == "string" or type(e) == "number" then return tostring(e) end
  local mt = getmetatable(e)
  if mt and mt.__tostring then return tostring(e) end
  return "(error object is a " .. type(e) .. " value)"
end

function par.timed(f, name, opts)
  if type(f) ~= "function" then
    error("bad argument #1 to 'timed' (function expected, got " .. type(f) .. ")", 2)
  end
  name = name or "function"
  optmod.check(opts, "tide.timed", {"log"})
  local log = opts and opts.log or function(n, s, err)
    if err == nil then
      tide._internal.log(string.format("%s finished in %.3f s", n, s), "info")
    else
      tide._internal.log(string.format("%s failed after %.3f s: %s", n, s, describe(err)), "info")
    end
  end
  local function finish(t0, ok, ...)
    local dt = tide.now() - t0
    if ok then
      log(name, dt)
      return ...
    end
    local e = ...
    log(name, dt, e == nil and describe(e) or e)
    error(e, 0)
  end
  return function(...)
    return finish(tide.now(), pcall(f, ...))
  end
end

return par
