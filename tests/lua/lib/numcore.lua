-- numcore.lua: replays the cases of tests/fixtures/make_numcore.py through
-- tide and compares each result with numpy's: dtype, shape and values
-- (NaN equal to NaN; floats within a relative tolerance, integers and
-- booleans exactly).  run(dir, group) checks the committed fixtures or a
-- fresh set; live(group) makes a fresh set with Debian's numpy when it is
-- installed (another seed each run) and checks it.
local check = require "check"
local M = {}

local function label(k, c)
  if c.fn == "expr" then
    return string.format("case %d %s with X = %s%s", k, c.a, c.x, c.v ~= "" and ":" .. c.v or "")
  end
  return string.format("case %d %s(%s%s%s%s)", k, c.fn, c.x, c.v ~= "" and ":" .. c.v or "",
                       c.a ~= "" and ", " or "", c.a)
end

local function same(a, b, tol)
  if type(b) == "table" then
    if type(a) ~= "table" or #a ~= #b then return false, "shape" end
    for i = 1, #b do
      local ok, why = same(a[i], b[i], tol)
      if not ok then return false, "[" .. i .. "]" .. why end
    end
    return true
  end
  if type(b) == "number" then
    if type(a) ~= "number" then return false, ": " .. tostring(a) .. " vs " .. b end
    if a ~= a and b ~= b then return true end
    if a == b then return true end
    if tol and a == a and b == b and math.abs(a - b) <= tol * (1 + math.abs(b)) then return true end
    return false, string.format(": %.17g vs %.17g", a, b)
  end
  if a == b then return true end
  return false, ": " .. tostring(a) .. " vs " .. tostring(b)
end

local function compare(got, want, dt, tol, what)
  local wt = want:totable()
  tol = tol or (dt == "f32" and 1e-5 or dt == "f64" and 1e-12 or nil)
  if not tide.is_array(got) then
    check.truthy(want.size == 1, what .. ": a value where numpy gives shape " ..
                 table.concat(want.shape, "x"))
    local w = want:item()
    local kind = dt == "bool" and "boolean" or (dt == "f64" or dt == "f32") and "float" or "integer"
    -- a u64 past math.maxinteger reads as a float, numpy's value read the same way
    if dt == "u64" and math.type(w) == "float" then kind = "float" end
    local gk = type(got) == "number" and math.type(got) or type(got)
    check.eq(gk, kind, what .. ": Lua type")
    local ok, why = same(got, w, tol)
    return check.truthy(ok, what .. (why or ""))
  end
  check.eq(table.concat(got.shape, "x"), table.concat(want.shape, "x"), what .. ": shape")
  if dt ~= "any" then check.eq(got.dtype, dt, what .. ": dtype") end
  local ok, why = same(got:totable(), wt, tol)
  return check.truthy(ok, what .. (why or ""))
end

function M.run(dir, group)
  local cases = dofile(dir .. "/cases.lua")
  local D = tide.load(dir .. "/data.npz")
  local env = setmetatable({D = D, tide = tide}, {__index = _G})
  local count = 0
  for k, c in ipairs(cases) do
    if c.g == group then
      count = count + 1
      local what = label(k, c)
      local x = D["in_" .. c.x]
      if c.v == "T" then x = x:t()
      elseif c.v == "S" then x = x:slice(x.ndim, 2, x.shape[x.ndim], 2)
      elseif c.v == "shared" then
        x = x:copy({shared = true})
        assert(x.storage == "shared")
      end
      local r
      env.X = x
      if c.fn == "expr" then -- a Lua expression of X, the input
        r = table.pack(pcall(assert(load("return " .. c.a, "=" .. what, "t", env))))
      else
        local args = table.pack(assert(load("return " .. c.a, "=" .. what, "t", env))())
        local fn = c.fn:match("^tide%.") and tide[c.fn:sub(6)] or x[c.fn]
        r = table.pack(pcall(fn, x, table.unpack(args, 1, args.n)))
      end
      if c.err then
        check.truthy(not r[1], what .. " raises, as numpy does")
      elseif check.truthy(r[1], what .. " runs: " .. tostring(r[2])) then
        for j = 1, c.n do
          local dt, off, shape = c.r[j][1], c.r[j][2], c.r[j][3]
          local size = 1
          for _, s in ipairs(shape) do size = size * s end
          local want = D["r_" .. dt]:slice(1, off + 1, off + size):reshape(shape)
          compare(r[j + 1], want, c.dt[j], c.tol, what .. (c.n > 1 and " result " .. j or ""))
        end
      end
    end
  end
  check.truthy(count > 0, "cases of group " .. group .. " in " .. dir)
  return count
end

local function numpy_ok()
  local p = io.popen("/usr/bin/python3 -c 'import numpy' 2>/dev/null && echo yes")
  if not p then return false end
  local out = p:read("a")
  p:close()
  return out:find("yes", 1, true) ~= nil
end

function M.live(group)
  if not numpy_ok() then
    print("numpy not available: live comparison skipped")
    return
  end
  local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set")
  local dir = os.tmpname()
  os.remove(dir)
  local seed = math.floor(tide.now() * 1000) % 1000000
  local ok = os.execute(string.format("/usr/bin/python3 %s/make_numcore.py %s %d >/dev/null",
                                      root, dir, seed))
  if check.truthy(ok, "make_numcore.py ran (seed " .. seed .. ")") then
    M.run(dir, group)
  end
  os.execute("rm -rf " .. dir)
end

function M.fixtures(group)
  local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set")
  return M.run(root .. "/numcore", group)
end

return M
