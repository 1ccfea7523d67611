-- memoize.lua: tide.memoize.  Keys: what changes a key (an array element,
-- an argument, an upvalue) and what does not (an equal array, a counter in
-- a library table; tests/lua/hash.lua has the rest); hits across processes; damaged and truncated entries recomputed;
-- max_bytes and max_age held, least recently used first; 8 workers on one
-- key compute once; a writer SIGKILLed while storing leaves no broken
-- entry; errors at wrap time name the path to what cannot be hashed.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))
local function path(name) return dir .. "/" .. name end

local function run(code, ...)
  local f = io.open(path("child.lua"), "w")
  f:write(code)
  f:close()
  local args = {}
  for i = 1, select("#", ...) do args[i] = string.format("%q", tostring(select(i, ...))) end
  local h = io.popen(string.format("cd %s && %s child.lua %s 2>&1", dir, bin, table.concat(args, " ")))
  local out = h:read("a")
  local ok = h:close()
  return out, ok
end

local function entries(cache)
  local n = 0
  local p = io.popen("find " .. cache .. " -mindepth 2 -type f -regex '.*/[0-9a-f]*' 2>/dev/null")
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n
end

-- memoize: hits, misses, results ------------------------------------------------
local cache = path("cache")
-- The call counter lives in a loaded module's table: library tables go by
-- name, so counting does not change the key (an upvalue counter would).
package.loaded["test.counter"] = {n = 0}
local counter = package.loaded["test.counter"]
local A = tide.rand({500, 20}, {seed = 2})
local k = 3
local function work(M, add, label)
  counter.n = counter.n + 1
  return M * k + add, label, nil, {n = counter.n}
end
local calls = counter
local g = tide.memoize(work, {dir = cache})
local r1, l1, nil1, meta1 = g(A, 1, "a")
check.eq(calls.n, 1, "computed once")
local r2, l2, nil2, meta2 = g(A, 1, "a")
check.eq(calls.n, 1, "then a hit")
check.eq(r2:sum(), r1:sum(), "the same array")
check.eq(r2.storage, "file", "mapped")
check.eq(r2.readonly, false, "copy-on-write: writable")
check.eq(l2, "a"); check.eq(nil2, nil); check.eq(meta2.n, 1, "every result, nil included")
check.eq(select("#", g(A, 1, "a")), 4, "as many results")
local info = g:info()
check.eq(info.hits, 2); check.eq(info.misses, 1); check.eq(info.entries, 1)
check.truthy(info.bytes > 80000, "bytes " .. info.bytes)
g(A:copy(), 1, "a")
check.eq(calls.n, 1, "another array with the same content: a hit")
local B = A:copy()
B[500][20] = B[500][20] + 1e-9
g(B, 1, "a")
check.eq(calls.n, 2, "one element changed: a miss")
g(A, 1.0, "a")
check.eq(calls.n, 3, "1.0 instead of 1: a miss")
g(A, 1, "b")
check.eq(calls.n, 4, "another argument: a miss")
k = 4
g(A, 1, "a")
check.eq(calls.n, 5, "an upvalue changed: a miss")
k = 3
g(A, 1, "a")
check.eq(calls.n, 5, "back to the old upvalue: a hit")
A[1][1] = 7
g(A, 1, "a")
check.eq(calls.n, 6, "the argument array written in place: a miss")
local before_write = calls.n
local C = tide.zeros(1000)
g(C, 0, "c"); C:add_(1); g(C, 0, "c"); C:fill_(1); g(C, 0, "c")
check.eq(calls.n - before_write, 2, "in-place ops and fills bump the version; same content hits")
-- a file mapped r+ that another process writes: its mtime moves, a miss
do
  local mf = path("m.npy")
  local M = tide.memmap(mf, {shape = {1000}, dtype = "f64", mode = "w+"})
  M:fill_(1)
  M:flush()
  os.execute("touch -d '2001-01-01' " .. mf) -- old: its digest may be kept
  local R = tide.load(mf, {mmap = "r+"})
  local before = counter.n
  g(R, 0, "m"); g(R, 0, "m")
  check.eq(counter.n - before, 1, "an unchanged mapped file: a hit")
  os.execute(string.format("%s -e 'local a = tide.load(%q, {mmap = \"r+\"}); a[5] = 9; a:flush()'", bin, mf))
  g(R, 0, "m")
  check.eq(counter.n - before, 2, "written by another process: a miss")
  check.eq(R[5], 9.0, "the map shows the write")
end

-- errors: f's own error passes through, nothing is stored
local gerr = tide.memoize(function(x) error("boom " .. x, 0) end, {dir = cache})
check.errors(function() gerr(1) end, "boom 1")
check.errors(function() gerr(1) end, "boom 1")
-- a result that cannot be stored is returned, with a warning
local gfn = tide.memoize(function() return print end, {dir = cache})
check.eq(gfn(), print, "an unstorable result is still returned")

-- wrap-time errors name the path
local fh = io.open("/dev/null")
co_global = coroutine.create(print)
check.errors(function() tide.memoize(function() return fh end, {name = "reader"}) end,
             "tide.memoize: reader → upvalue 'fh': cannot hash a userdata (FILE*)")
check.errors(function() tide.memoize(function() return co_global end) end,
             "global 'co_global': cannot hash a thread")
check.errors(function() tide.memoize(("x"):gmatch("x")) end, "cannot hash a C function")
check.errors(function() tide.memoize(1) end, "bad argument #1 to 'memoize'")
check.errors(function() tide.memoize(work, {mmap = "w"}) end, "mmap must be")
check.errors(function() tide.memoize(work, {color = 1}) end, "unknown option 'color'")
check.errors(function() g(coroutine.create(print)) end, "argument 1: cannot hash a thread")

-- models come back fitted
local Xm = tide.rand({200, 3}, {seed = 4})
local ym = Xm:col(1) * 2 + 1
local fit = tide.memoize(function(X, y) return tide.models.ridge{alpha = 0.1}:fit(X, y) end,
                         {dir = cache})
local m1 = fit(Xm, ym)
local m2 = fit(Xm, ym)
check.eq(getmetatable(m2), getmetatable(m1), "a model from the cache keeps its class")
check.eq(m2:predict(Xm):sum(), m1:predict(Xm):sum(), "and predicts the same")

-- across processes ------------------------------------------------------------------
local child = [[
local cache, mode = arg[1], arg[2]
local X = tide.arange(100000.0):reshape(1000, 100)
local function slow(M, p) return M ^ p, tide.now() end
local g = tide.memoize(slow, {dir = cache, verbose = 1, name = "slow"})
local r, when = g(X, 2)
io.write(string.format("RESULT %.17g %.17g %s\n", r:sum(), when, r.storage))
]]
local out1 = run(child, path("xcache"), "1")
local out2 = run(child, path("xcache"), "2")
local sum1, when1, st1 = out1:match("RESULT (%S+) (%S+) (%S+)")
local sum2, when2, st2 = out2:match("RESULT (%S+) (%S+) (%S+)")
check.truthy(sum1 and sum1 == sum2, "the same result in two processes:\n" .. out1 .. out2)
check.eq(when1, when2, "the second process did not compute")
check.truthy(st1 ~= "file", "computed: in memory"); check.eq(st2, "file", "a hit: mapped")
check.truthy(out1:find("[memoize] miss slow(<f64 1000x100 array>, 2) computed in ", 1, true),
             "the miss line: " .. out1)
check.truthy(out2:find("[memoize] hit slow(<f64 1000x100 array>, 2) ", 1, true) and
             out2:find("(mapped ", 1, true), "the hit line: " .. out2)

-- the code: a comment or a moved function still hits, an edit misses
do
  local body = [[
local g = tide.memoize(function(n)
  return tide.arange(n) * 2, tide.now() -- the time tells a computation from a hit
end, {dir = arg[1]})
local r, when = g(1000)
io.write(string.format("%.17g %.17g", r:sum(), when))
]]
  local a = run(body, path("ccache"))
  local b = run("-- a comment and blank lines move the function\n\n\n" ..
                body:gsub("%-%- the time.-\n", "\n"), path("ccache"))
  check.eq(b, a, "a comment and moved lines: a hit")
  local c = run(body:gsub("%* 2", "* 3"), path("ccache"))
  check.truthy(c ~= a and c:match("^(%S+)") == string.format("%.17g", 3 * 999 * 1000 / 2),
               "an edited function: a miss")
end

-- damaged entries are computed again and replaced ----------------------------------------
local function entry_files(c)
  local list = {}
  local p = io.popen("find " .. c .. " -mindepth 2 -type f -regex '.*/[0-9a-f]*' | sort")
  for l in p:lines() do list[#list + 1] = l end
  p:close()
  return list
end
local xfile = entry_files(path("xcache"))[1]
check.truthy(xfile, "the entry file")
local bytes = io.open(xfile, "rb"):read("a")
local function rewrite(b) local f = io.open(xfile, "wb"); f:write(b); f:close() end
-- a bit flipped inside the array's bytes (the last byte of the file)
rewrite(bytes:sub(1, -2) .. string.char(bytes:byte(-1) ~ 4))
local out3 = run(child, path("xcache"), "3")
local sum3, when3 = out3:match("RESULT (%S+) (%S+)")
check.eq(sum3, sum1, "a flipped array byte: the right value")
check.truthy(when3 ~= when1, "computed again")
check.truthy(io.open(xfile, "rb"):read("a") ~= bytes:sub(1, -2) .. string.char(bytes:byte(-1) ~ 4),
             "and replaced")
local out4 = run(child, path("xcache"), "4")
check.eq(out4:match("RESULT %S+ (%S+)"), when3, "the replacement is a hit")
-- truncated at a few places, and a flip in the header
bytes = io.open(xfile, "rb"):read("a")
for _, cut in ipairs{0, 7, 128, 4096, #bytes - 1} do
  rewrite(bytes:sub(1, cut))
  local o = run(child, path("xcache"), "t")
  check.eq(o:match("RESULT (%S+)"), sum1, "truncated to " .. cut .. " bytes: the right value")
end
bytes = io.open(xfile, "rb"):read("a")
rewrite(bytes:sub(1, 40) .. string.char(bytes:byte(41) ~ 1) .. bytes:sub(42))
local o5 = run(child, path("xcache"), "h")
check.eq(o5:match("RESULT (%S+)"), sum1, "a flipped header bit: the right value")
-- in this process too: a hit checks a file that changed since it was verified
local gm = tide.memoize(function(n) return tide.arange(n) * 2 end, {dir = path("dcache")})
local v1 = gm(50000)
local dfile = entry_files(path("dcache"))[1]
local db = io.open(dfile, "rb"):read("a")
tide.sleep(0.05) -- past the file system's timestamp tick: the change shows in the mtime
local f = io.open(dfile, "r+b"); f:seek("set", #db - 8); f:write("\1\2\3\4\5\6\7\8"); f:close()
local v2 = gm(50000)
check.eq(v2[50000], v1[50000], "a damaged array caught on a mapped hit")
check.eq(gm:info().misses, 2, "and computed again")

-- max_bytes and max_age --------------------------------------------------------------
local lcache = path("lru")
local mk = tide.memoize(function(i) return tide.full(100000, i) end,
                        {dir = lcache, max_bytes = 2500000})
for i = 1, 3 do mk(i) end -- 800 kB each, with their headers
check.eq(mk:info().entries, 3)
mk(1)                      -- 1 is now the most recently used
mk(4)                      -- over 2.5 MB: 2, the least recently used, goes
local inf = mk:info()
check.eq(inf.entries, 3, "one evicted")
check.truthy(inf.bytes <= 2500000, "max_bytes holds: " .. inf.bytes)
local misses = mk:info().misses
mk(1); mk(3); mk(4)
check.eq(mk:info().misses, misses, "1, 3 and 4 kept")
mk(2)
check.eq(mk:info().misses, misses + 1, "2 was evicted")
for i = 5, 12 do
  mk(i)
  check.truthy(mk:info().bytes <= 2500000, "max_bytes holds after store " .. i)
end
local big = tide.memoize(function() return tide.zeros(400000) end, {dir = lcache, max_bytes = 2500000})
big()
check.truthy(big:info().bytes <= 2500000, "a result over max_bytes is not stored")
check.eq(big:info().misses, 1)
big()
check.eq(big:info().misses, 2, "so it misses again")
local acache = path("age")
local ag = tide.memoize(function(i) return i end, {dir = acache, max_age = 0.5})
ag(1); ag(2)
tide.sleep(0.7)
ag(3)
check.eq(ag:info().entries, 1, "entries unused for max_age go at the next store")
-- g:clear
check.truthy(mk:clear() >= 3, "clear removes the entries")
check.eq(mk:info().entries, 0)
check.eq(entries(lcache), 0, "no entry file left")
-- the index rebuilds from the files when it is lost
local icache = path("idx")
local ig = tide.memoize(function(i) return tide.full(1000, i) end, {dir = icache})
ig(1); ig(2)
os.remove(icache .. "/index")
check.eq(ig:info().entries, 2, "index rebuilt from the files")
io.open(icache .. "/index", "w"):write("garbage\n"):close()
check.eq(ig:info().entries, 2, "a damaged index too")
ig(1)
check.eq(ig:info().hits, 1)

-- 8 workers on one key compute once ---------------------------------------------------
local wcache, log = path("w8"), path("w8.log")
local slowsq = tide.memoize(function(x)
  local lf = io.open(log, "a"); lf:write("computed\n"); lf:close()
  tide.sleep(0.5)
  return tide.full(200000, x * x)
end, {dir = wcache})
local res = tide.collect(function() return slowsq(7):sum() end, 8, {jobs = 8, chunk = 1})
local n = 0
for _ in io.lines(log) do n = n + 1 end
check.eq(n, 1, "8 workers, one computation")
for i = 1, 8 do check.eq(res[i], 49.0 * 200000, "worker " .. i .. "'s result") end
-- a second caller waits for the first, or computes itself after lock_timeout
local tcache = path("tmo")
local tmo = [[
local g = tide.memoize(function(x)
  io.write("COMPUTING\n"); io.flush()
  tide.sleep(tonumber(os.getenv("HOLD")))
  return x * 2
end, {dir = arg[1], lock_timeout = tonumber(arg[2])})
local t0 = tide.now()
io.write(string.format("RESULT %d %.2f\n", g(21), tide.now() - t0))
]]
io.open(path("tmo.lua"), "w"):write(tmo):close()
local function holder(secs)
  local h = io.popen(string.format("HOLD=%s %s %s %s 600", secs, bin, path("tmo.lua"), tcache))
  check.eq(h:read("l"), "COMPUTING", "the first caller computes")
  return h
end
local h = holder(1.5)
local wait = io.popen(string.format("HOLD=0 %s %s %s 600 2>&1", bin, path("tmo.lua"), tcache)):read("a")
h:close()
check.truthy(not wait:find("COMPUTING"), "a waiter does not compute: " .. wait)
check.eq(wait:match("RESULT (%d+)"), "42", "it reads the first one's entry")
os.execute("rm -rf " .. tcache)
h = holder(4)
local t0 = tide.now()
local late = io.popen(string.format("HOLD=0 %s %s %s 0.3 2>&1", bin, path("tmo.lua"), tcache)):read("a")
check.truthy(late:find("COMPUTING") and late:match("RESULT (%d+)") == "42" and tide.now() - t0 < 3,
             "past lock_timeout the waiter computes itself: " .. late)
h:close()

-- a writer killed while storing leaves the old entry or none -------------------------------
local kcache = path("kill")
local writer = [[
local mark = arg[2]
local g = tide.memoize(function(n)
  local a = tide.full(n, 3.0)
  io.open(mark, "w"):close() -- computed: the store starts now
  return a
end, {dir = arg[1]})
io.write(g(4000000)[4000000])
]]
io.open(path("writer.lua"), "w"):write(writer):close()
local killed, outcomes = 0, {none = 0, whole = 0}
local mark, pidf = path("mark"), path("pid")
for trial = 1, 6 do
  os.execute("rm -rf " .. kcache)
  os.remove(mark)
  os.execute(string.format("(%s %s %s %s >/dev/null & echo $! > %s)", bin, path("writer.lua"), kcache,
                           mark, pidf))
  local pid = io.open(pidf):read("l")
  local t0 = tide.now()
  while not io.open(mark) and tide.now() - t0 < 20 do tide.sleep(0.002) end
  tide.sleep((trial - 1) * 0.03) -- the store takes about 0.1 s here
  if os.execute("kill -9 " .. pid .. " 2>/dev/null") then killed = killed + 1 end
  tide.sleep(0.05)
  local files = entry_files(kcache)
  check.truthy(#files <= 1, "at most one entry")
  outcomes[#files == 0 and "none" or "whole"] = outcomes[#files == 0 and "none" or "whole"] + 1
  for _, e in ipairs(files) do
    local ok, v = pcall(tide.undump, e, {mmap = "r", verify = true})
    check.truthy(ok and v[1][4000000] == 3.0 and v.n == 1, "a complete entry: " .. tostring(v))
  end
  local p = io.popen("find " .. kcache .. " -name '*.tmp-*' 2>/dev/null")
  local leftovers = p:read("a")
  p:close()
  check.eq(leftovers, "", "no temp file under a name")
  -- the next caller gets the right value either way
  local out = io.popen(string.format("%s %s %s %s 2>&1", bin, path("writer.lua"), kcache, mark)):read("a")
  check.eq(out, "3", "after the kill: " .. out)
end
check.truthy(killed >= 3, "writers killed while storing: " .. killed)
print(string.format("killed writers: %d left no entry, %d a whole one", outcomes.none, outcomes.whole))

os.execute("rm -rf " .. dir)
check.done()
