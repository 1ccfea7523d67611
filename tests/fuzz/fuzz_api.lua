-- fuzz_api.lua -- the driver of the API fuzzer (fuzz_api.c loads it once).
--
-- The callable surface is found at run time, never listed by hand: every
-- function reachable from the `tide` table (sub-tables included, _internal
-- too), from each public Lua-side module in package.preload, and the
-- methods of every kind of object those functions make (arrays, rowsets,
-- generators, models, handles), read from the object's metatable
-- (__methods, or an __index table and the tables it inherits from).
--
-- Each input is a little program: byte 0 sets the worker count (1, the
-- serial backend, unless its low 4 bits are 0: then 2, forked workers),
-- then every call takes
--   2 bytes: which callable (function or method);
--   1 byte:  how many arguments (0..5), in its low bits;
--   1 byte per argument: which value of the pool;
--   1 byte for a method: which object of its kind is the receiver.
-- Results join the pool, so later calls get views of views, fitted models,
-- handles.  Errors are the expected outcome of most calls; only a crash,
-- a sanitizer report or a hang is a finding.
local tide = require "tide"
-- the length from which sorts go to workers, read before discovery calls
-- everything (it set 3, and every sort of an input with workers forked
-- six of them: those inputs took most of a long run's time)
local SORT_MIN = tide._internal.sort_parallel_min()

-- What tide writes through io.write (help's pages, mostly) goes to a sink:
-- still formatted, never printed.
io.output("/dev/null")

-- Calls skipped because they legitimately block or spawn heavily.  Keep
-- this short: everything else is fuzzed.
local deny = {
  ["tide.sleep"] = "sleeps for as long as asked",
  ["tide._internal.isatty"] = "any fd number, stdin included: harmless but useless",
  ["tide._internal.memo.lock"] = "waits for a lock up to its timeout",
}
-- Calls skipped only for some arguments.
local deny_if = {
  -- tide.memory(pid) reads every process under pid: pid 1 is the machine
  ["tide.memory"] = function(args, n) return n >= 1 and args[1] ~= nil end,
}
-- Calls that run only in the inputs with workers (1 in 32).  An input that
-- forks costs as much as ~400 that do not (the fork of a sanitized process,
-- and the copy-on-write faults after it; the monitor also reads the page
-- tables of the process tree, twice per sample): these and the parallel
-- loops of jobs = 2 took 85% of the time in 0.7% of the inputs.
local forking = {
  ["tide.monitor"] = "forks its sampler",
  ["tide.memory"] = "reads smaps_rollup: it walks the process's page tables",
}
-- Names of calls that start parallel loops (or workers): with jobs = 2 each
-- forks, and a huge count would fork and run for as long as asked; they run
-- only when every number argument is small, no argument holds more than
-- SMALL items and at most one is a function (the task's).
local parallel = {pfor = 1, map = 1, start = 1, pool = 1, collect = 1, search = 1,
                  cross_validate = 1, learning_curve = 1, timed = 1, monitor = 1,
                  memoize = 1, minimize = 1}
local SMALL = 64
-- An input that forked this many times starts no more parallel work (and
-- its sorts go back to serial): a grown corpus favours inputs that fork
-- again and again (each fork is new coverage of the IPC code), and each
-- costs as much as hundreds that do not.  fuzz_forks is fuzz_api.c's.
local MAXFORK = 2
local forks = rawget(_G, "fuzz_forks") or function() return 0 end

-- Lua-side instruction budget per call: a Lua loop over a huge count is
-- cut short with an error (C loops are bounded by the memory check).
local BUDGET = 2000000
local function budget() error("fuzz: instruction budget spent") end

local callables = {}   -- {name, fn, mt (methods: the receiver's metatable)}
local kinds = {}       -- metatable -> {name, make = function returning a fresh object}
local seenfn = {}

local function add(name, fn, mt)
  if seenfn[fn] and not mt then return end
  seenfn[fn] = true
  callables[#callables + 1] = {name = name, fn = fn, mt = mt}
end

local function walk(t, name, seen)
  if seen[t] then return end
  seen[t] = true
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = rawget(t, k)
    local full = name .. "." .. k
    if type(v) == "function" then add(full, v)
    elseif type(v) == "table" and k ~= "config" then walk(v, full, seen) end
  end
end

-- Methods of objects whose metatable is mt: __methods, else an __index
-- table and the __index tables it inherits through.
local function methods_of(mt)
  local out, seen = {}, {}
  local t = rawget(mt, "__methods")
  if type(t) ~= "table" then t = rawget(mt, "__index") end
  local depth = 0
  while type(t) == "table" and not seen[t] and depth < 4 do
    seen[t] = true
    for k, v in pairs(t) do
      if type(k) == "string" and type(v) == "function" and not out[k] then out[k] = v end
    end
    local m = getmetatable(t)
    t = m and rawget(m, "__index")
    depth = depth + 1
  end
  return out
end

local function kind_of(v)
  local tv = type(v)
  if tv ~= "userdata" and tv ~= "table" then return nil end
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return nil end
  return mt
end

-- Records the kind of object v (if new) with a recipe for fresh ones.
local function learn(v, label, make)
  local mt = kind_of(v)
  if not mt or kinds[mt] then return end
  local ms = methods_of(mt)
  if next(ms) == nil then return end
  kinds[mt] = {name = label, make = make}
  local names = {}
  for k in pairs(ms) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do add(label .. ":" .. k, ms[k], mt) end
end

-- ------------------------------------------------------------- the pool

local dtypes = {}
do -- the dtype names, from the error that lists them
  local _, msg = pcall(tide.zeros, 1, "no such dtype")
  for d in tostring(msg):match("%(([%w ]+)%)%)?$"):gmatch("%w+") do dtypes[#dtypes + 1] = d end
  assert(#dtypes >= 4, "cannot read the dtype list from: " .. tostring(msg))
end

local huge = {0, 1, 2, 3, -1, -3, 2 ^ 31, -2 ^ 31, 2 ^ 53, math.maxinteger, math.mininteger,
              1 << 40, 0 / 0, 1 / 0, -1 / 0, -0.0, 0.5, 1e300, -1e300, 4.9e-324, 1e-300}

local function fn_pool()
  return {
    function(...) return ... end,
    function() error("fuzz: a callback failed") end,
    function() return tide.ones(2) end,
    function(x) return x end,
    function(...) return 0 / 0 end,
  }
end

-- The pool, as recipes: spec[i] is {v = a constant} or {make = a function
-- of the run's context returning a fresh value}.  Constants (nil, booleans,
-- numbers, strings, the callbacks, which hold no state) serve every run;
-- tables and objects are made afresh for each input (calls mutate arrays in
-- place and may write into tables), and only when the input first picks
-- them: an input uses a few of the ~110 values, and making then freeing
-- all of them was most of an execution's time.
local spec = {}
do
  local function const(v) spec[#spec + 1] = {v = v} end
  local function fresh(f) spec[#spec + 1] = {make = f} end
  const(nil); const(true); const(false)
  for _, x in ipairs(huge) do const(x) end
  for _, s in ipairs({"", "a", "x.npy", "x.npz", "x.csv", "x.tide", "a,b\n1,2\n3,x\n",
                      string.rep("z", 300), "\0nul", "%s%n", "-1", "1e309", "jobs"}) do
    const(s)
  end
  for _, d in ipairs(dtypes) do const(d) end
  fresh(function() return {} end); fresh(function() return {1, 2, 3} end)
  fresh(function() return {{1, 2}, {3, 4}} end); fresh(function() return {{1}, {2, 3}} end)
  fresh(function() return {0 / 0, 1 / 0} end); fresh(function() return {a = 1} end)
  fresh(function() return {jobs = 2} end); fresh(function() return {dtype = "nope"} end)
  fresh(function() return {1, nil, 3} end)
  fresh(function()
    local deep = {}
    for _ = 1, 40 do deep = {deep} end
    return deep
  end)
  for _, f in ipairs(fn_pool()) do const(f) end
  -- arrays: every dtype, shapes 0, (), (5), (3,4), (2,3,2)
  for _, d in ipairs(dtypes) do
    fresh(function() return tide.zeros(0, d) end)
    fresh(function() return tide.arange(5):astype(d) end)
    fresh(function() return tide.arange(12):reshape(3, 4):astype(d) end)
  end
  -- m and its views share one storage within a run, made together: a call
  -- may close m before a view of it is first picked
  local function m(run, i)
    if not run.m then
      local a = tide.randn(3, 4)
      run.m = {a, a:t(), a:slice(1, 2), a:col(2)}
    end
    return run.m[i]
  end
  fresh(function(run) return m(run, 1) end); fresh(function(run) return m(run, 2) end)
  fresh(function(run) return m(run, 3) end)
  fresh(function() return tide.full({2, 3, 2}, 0 / 0) end)
  fresh(function() return tide.array({1 / 0, -1 / 0, 0 / 0, -0.0, 1e308}) end)
  fresh(function() return tide.arange(12):reshape(3, 4):t():slice(2, 3) end)
  fresh(function(run) return m(run, 4) end)
  fresh(function() return tide.zeros(4, 0) end)
  fresh(function() return tide.array({1, 0, 1, 1}):astype("bool") end)
  fresh(function() return tide.array({0, 1, 0, 1, 2, 1}) end)          -- labels
  fresh(function() return tide.randn(8, 2) end)                        -- data for fits
  fresh(function() return tide.randn(8) end)
  fresh(function() return tide.rowset(1, 3) end); fresh(function() return tide.rowset(1, 0) end)
  fresh(function() return tide.rowset(2, 2 ^ 40) end)
  fresh(function() return tide.rng(1) end)
end

-- One run's pool: value(i) gives entry i, made on first use; results of
-- calls join it (as made entries).
local function new_pool()
  local pool, made, run = {}, {}, {}
  local function value(i)
    if made[i] then return pool[i] end
    local s = spec[i]
    local v
    if s.make then v = s.make(run) else v = s.v end
    pool[i], made[i] = v, true
    return v
  end
  local function add(i, v) pool[i], made[i] = v, true end
  return value, add
end

-- ----------------------------------------------------------- discovery

walk(tide, "tide", {})
do -- public Lua-side modules: the preload entries tide.X that tide.X gives
  local names = {}
  for k in pairs(package.preload) do
    local short = type(k) == "string" and k:match("^tide%.([%w_]+)$")
    if short then names[#names + 1] = short end
  end
  table.sort(names)
  for _, short in ipairs(names) do
    local ok, mod = pcall(function() return tide[short] end)
    if ok and type(mod) == "table" then walk(mod, "tide." .. short, {}) end
  end
end

-- Kinds: the pool's objects, then whatever the functions return for a few
-- ordinary argument lists (constructors with defaults, fits), then what the
-- methods of those return -- twice, so chains reach a second level.
do
  local value = new_pool()
  for i = 1, #spec do learn(value(i), "pool" .. i, nil) end
end
do
  local X, y = tide.randn(8, 2), tide.array({0, 1, 0, 1, 1, 0, 1, 0})
  local id = function(...) return ... end
  local tries = {{}, {{}}, {3}, {X}, {X, y}, {id, 3}, {3, id}, {{1, 2}, id}}
  local function harvest(c, recv)
    if deny[c.name] then return end
    for _, args in ipairs(tries) do
      local ok, r1, r2 = pcall(function()
        if recv then return c.fn(recv, table.unpack(args)) end
        return c.fn(table.unpack(args))
      end)
      if ok then
        for _, r in ipairs({r1, r2}) do
          local fn, a = c.fn, args
          local make = recv and nil or function() return (fn(table.unpack(a))) end
          learn(r, c.name .. "()", make)
        end
      end
    end
  end
  tide.config.jobs = 1 -- the serial backend: discovery forks nothing
  local n0 = #callables
  for i = 1, n0 do
    if not callables[i].mt then harvest(callables[i]) end
  end
  -- methods of the kinds found so far, on fresh objects (fits, transforms)
  local n1 = #callables
  for i = 1, n1 do
    local c = callables[i]
    local k = c.mt and kinds[c.mt]
    if k and k.make then
      local ok, obj = pcall(k.make)
      if ok and obj ~= nil then harvest(c, obj) end
    end
  end
end
table.sort(callables, function(a, b) return a.name < b.name end)
-- The pool's entries of each kind (an input's receivers), by metatable.
local kind_slots = {}
do
  local value = new_pool()
  for i = 1, #spec do
    local mt = kind_of(value(i))
    if mt and kinds[mt] then
      kind_slots[mt] = kind_slots[mt] or {}
      table.insert(kind_slots[mt], i)
    end
  end
end
collectgarbage()

-- ---------------------------------------------------------------- a run

-- A result of more than BIG bytes (an array the memory check let through:
-- up to the fake 256 MB) is not kept for later calls: a sort of it under
-- ASan took a second, its parallel stages forked six workers (a grown
-- corpus was full of sorts at 30 ms); the call that made it was fuzzed.
local BIG = 1 << 20
local function big(r)
  if type(r) ~= "userdata" then return false end
  local ok, n = pcall(function() return r.nbytes end)
  return ok and math.type(n) == "integer" and n > BIG
end

local function small_args(args, n)
  local fns = 0
  for i = 1, n do
    local v = args[i]
    -- a second function is the items: an iterator, whose stream of tasks
    -- has no end (collect(f, f) took a second and more; a grown corpus
    -- was full of them)
    if type(v) == "function" then
      fns = fns + 1
      if fns > 1 then return false end
    end
    if type(v) == "number" and not (v >= -SMALL and v <= SMALL) then return false end
    if type(v) == "table" and not kind_of(v) then
      for _, x in pairs(v) do
        if type(x) == "number" and not (x >= -SMALL and x <= SMALL) then return false end
      end
    end
    -- an input's items are tasks too: arrays, rowsets and tables of more
    -- than SMALL (a long run slowed to a tenth on loops over thousands)
    if type(v) == "userdata" or type(v) == "table" then
      local ok, len = pcall(function() return #v end) -- a closed array has none
      if ok and math.type(len) and len > SMALL then return false end
    end
  end
  return true
end

local stats = {calls = 0, ok = 0, skipped = 0, names = {}}
-- TIDE_FUZZ_TRACE=1 prints each call before it runs (to find a hang's call).
local trace = os.getenv("TIDE_FUZZ_TRACE")
-- TIDE_FUZZ_PROFILE=1: the report also gives the time spent in calls and
-- the callables that took longest.
local prof = os.getenv("TIDE_FUZZ_PROFILE") and {calls = {}, n = {}, runs = 0}
local now = tide.now

local function show(v)
  if type(v) == "string" then return string.format("%q", v:sub(1, 20)) end
  if type(v) == "number" or type(v) == "boolean" or v == nil then return tostring(v) end
  local ok, s = pcall(tostring, v)
  return ok and tostring(s):gsub("\n.*", ""):sub(1, 60) or type(v)
end

-- Settings a call may change for the rest of the process, put back after
-- each input: one input's calls must not change how the next ones run
-- (sort_parallel_min(2) made every later sort fork its workers).
-- So are the registry's tables of hash aliases (tide._internal.hash_alias:
-- one made of a constant of the pool, a string or a callback, outlived its
-- input and looped the hash of every later one that met it) and of classes
-- (tide.register_class): put back as they were after discovery.
local internal = tide._internal
internal.sort_parallel_min(SORT_MIN)
local kept = {}
for _, name in ipairs({"tide.hash_alias", "tide.class_by_name", "tide.class_by_mt",
                       "tide.class_hooks"}) do
  local t = debug.getregistry()[name]
  assert(type(t) == "table", "the registry has no table " .. name)
  local copy = {}
  for k, v in pairs(t) do copy[k] = v end
  kept[#kept + 1] = {t = t, copy = copy}
end
local function restore()
  internal.sort_parallel_min(SORT_MIN)
  internal.optlog(false)
  for _, r in ipairs(kept) do
    for k in pairs(r.t) do
      if r.copy[k] == nil then r.t[k] = nil end
    end
    for k, v in pairs(r.copy) do r.t[k] = v end
  end
end

local function run(data)
  local n = #data
  if n < 1 then return end
  local jobs = (data:byte(1) & 31) == 0 and 2 or 1
  tide.config.jobs = jobs
  if prof then prof.runs = prof.runs + 1 end
  local value, add = new_pool()
  local np = #spec
  -- the receivers of each kind: pool entries (numbers) or objects
  local bykind = {}
  local function list_of(mt)
    local l = bykind[mt]
    if not l then
      l = {}
      for j, i in ipairs(kind_slots[mt] or {}) do l[j] = i end
      bykind[mt] = l
    end
    return l
  end
  local pos, calls, f0 = 2, 0, forks()
  local function byte()
    local b = data:byte(pos) or 0
    pos = pos + 1
    return b
  end
  while pos + 2 <= n and calls < 24 do
    calls = calls + 1
    local c = callables[(byte() << 8 | byte()) % #callables + 1]
    local nargs = byte() % 6
    local args = {}
    for i = 1, nargs do args[i] = value(byte() % np + 1) end
    local recv
    if c.mt then
      local list = list_of(c.mt)
      if #list == 0 then
        local k = kinds[c.mt]
        local ok, v = pcall(function() return k.make and k.make() end)
        if ok and v ~= nil then list[1] = v end
      end
      if #list > 0 then
        recv = list[byte() % #list + 1]
        if type(recv) == "number" then recv = value(recv) end
      end
    end
    local name = c.name:match("[%w_]+$")
    local busy = forks() - f0 >= MAXFORK
    if busy then internal.sort_parallel_min(SORT_MIN) end
    local skip = deny[c.name] or (c.mt and recv == nil) or (forking[c.name] and jobs == 1) or
                 (busy and (parallel[name] or forking[c.name] or name == "sort_parallel_min")) or
                 (deny_if[c.name] and deny_if[c.name](args, nargs)) or
                 (parallel[name] and not small_args(args, nargs))
    stats.calls = stats.calls + 1
    if skip then stats.skipped = stats.skipped + 1 end
    if not skip and trace then
      local t = {}
      for i = 1, nargs do t[i] = show(args[i]) end
      io.stderr:write("call ", c.name, c.mt and (" on " .. show(recv)) or "", "(",
                      table.concat(t, ", "), ")\n")
      io.stderr:flush()
    end
    if not skip then
      local t1 = prof and now()
      debug.sethook(budget, "", BUDGET)
      local ok, r1, r2 = pcall(function()
        if c.mt then return c.fn(recv, table.unpack(args, 1, nargs)) end
        return c.fn(table.unpack(args, 1, nargs))
      end)
      debug.sethook()
      if prof then
        prof.calls[c.name] = (prof.calls[c.name] or 0) + now() - t1
        prof.n[c.name] = (prof.n[c.name] or 0) + 1
      end
      if ok then
        stats.ok = stats.ok + 1
        stats.names[c.name] = true
        for _, r in ipairs({r1, r2}) do
          if big(r) then
            pcall(function() r:close() end)
          elseif r ~= nil and np < 250 then
            np = np + 1
            add(np, r)
            local mt = kind_of(r)
            if mt and kinds[mt] then table.insert(list_of(mt), np) end
          end
        end
      end
    end
  end
  restore()
  -- the full collection is fuzz_api.c's (now and then, not after each input)
end

-- TIDE_FUZZ_STATS=1: at exit, how many calls ran, and the callables that
-- never returned normally (where the pool of values may be too odd).
local function report()
  local never = {}
  for _, c in ipairs(callables) do
    if not stats.names[c.name] then never[#never + 1] = c.name end
  end
  io.stderr:write(string.format("fuzz_api: %d callables, %d kinds; %d calls, %d returned, "
                                .. "%d skipped; never returned: %d\n", #callables,
                                (function() local n = 0 for _ in pairs(kinds) do n = n + 1 end
                                 return n end)(), stats.calls, stats.ok, stats.skipped, #never))
  io.stderr:write(table.concat(never, " "), "\n")
  if not prof then return end
  local names, sum = {}, 0
  for k, t in pairs(prof.calls) do names[#names + 1] = k; sum = sum + t end
  table.sort(names, function(a, b) return prof.calls[a] > prof.calls[b] end)
  io.stderr:write(string.format("fuzz_api: %d runs, %.2f s in calls; the longest:\n",
                                prof.runs, sum))
  for i = 1, math.min(30, #names) do
    local k = names[i]
    io.stderr:write(string.format("  %8.3f s %7d calls  %s\n", prof.calls[k], prof.n[k], k))
  end
end

return {run = run, report = report, callables = callables, kinds = kinds, deny = deny,
        stats = stats}
