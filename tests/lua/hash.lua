-- hash.lua: tide.hash, the content hash behind tide.memoize's keys: what
-- changes a hash (a value, an array element, dtype or shape, an upvalue, a
-- global a function reads, its code) and what does not (insertion order, a
-- view's layout, a comment, the function's position), library values by
-- name, and errors that name the path to what cannot be hashed.
local check = require "check"

-- tide.hash: content, not layout --------------------------------------------
local H = tide.hash
check.eq(#H(1), 32, "32 hex digits")
check.truthy(H(1) ~= H(1.0), "integer and float differ")
check.truthy(H("1") ~= H(1), "string and number differ")
local t1, t2 = {}, {}
for i = 1, 200 do t1["k" .. i] = i end
for i = 200, 1, -1 do t2["k" .. i] = i end
check.eq(H(t1), H(t2), "insertion order does not matter")
check.eq(H({1, 2, 3, x = 1}), H({x = 1, 1, 2, 3}), "sequence and pairs")
check.truthy(H({1, 2, 3}) ~= H({1, 2, 4}), "values matter")
local s = {}
check.truthy(H({s, s}) ~= H({{}, {}}), "sharing matters")
local cyc = {}; cyc.self = cyc
check.eq(H(cyc), H(cyc), "cycles end")
local X = tide.rand({300, 7}, {seed = 1})
check.eq(H(X), H(X:copy()), "arrays by content")
check.eq(H(X:t()), H(X:t():copy()), "a view as its C-ordered copy")
check.truthy(H(X) ~= H(X:astype("f32")), "dtype matters")
check.truthy(H(X) ~= H(X:reshape(7, 300)), "shape matters")
check.eq(H(math.sqrt), H(math.sqrt), "C functions by name")
check.truthy(H(math.sqrt) ~= H(math.exp), "different names")
check.eq(H(tide.models.ridge), H(tide.models.ridge), "tide's Lua functions by name")
check.eq(H(tide.rowset(1, 10)), H(tide.rowset(1, 10)), "rowsets")
check.errors(function() H(coroutine.create(print)) end, "value: cannot hash a thread")
check.errors(function() H({a = {io.open("/dev/null")}}) end, "value → field a → [1]: cannot hash a userdata (FILE*)")
local closed = tide.zeros(3); closed:close()
check.errors(function() H(closed) end, "cannot hash a closed array")

-- functions: code, upvalues and globals ---------------------------------------
local src = "local k = ...; return function(x) return x * k + offset end"
local f1 = load(src, "=a.lua")(2)
local f2 = load("\n\n-- a comment\n" .. src:gsub("return x", "  return   x"), "=b.lua")(2)
check.eq(H(f1), H(f2), "a comment, spaces and the position do not change the key")
check.truthy(H(f1) ~= H(load(src, "=a.lua")(3)), "an upvalue does")
check.truthy(H(f1) ~= H(load(src:gsub("x %* k", "x * k * 1"), "=a.lua")(2)), "the code does")
offset = 1
local before = H(f1)
offset = 2
check.truthy(H(f1) ~= before, "a global it reads does")
unrelated = 1
local before2 = H(f1)
unrelated = 2
check.eq(H(f1), before2, "a global it does not read does not")
function helper(x) return x + scale end
scale = 1
local uses_helper = function(x) return helper(x) end
local h1 = H(uses_helper)
scale = 5
check.truthy(H(uses_helper) ~= h1, "a global read by a global function it calls")
local nested = function(x) return function() return nestedg + x end end
nestedg = 1
local n1 = H(nested)
nestedg = 2
check.truthy(H(nested) ~= n1, "a global read by a nested function")
check.errors(function() H(function() local e = _ENV; return e.x end) end,
             "uses _ENV as a value")
co_global = coroutine.create(print)
check.errors(function() H(function() return co_global end) end,
             "value → global 'co_global': cannot hash a thread")
local fh = io.open("/dev/null")
check.errors(function() H(function() return fh end) end, "value → upvalue 'fh': cannot hash a userdata (FILE*)")
check.eq(H(function() return debug.getinfo end), H(function() return debug.getinfo end),
         "library functions in upvalues and globals go by name")
check.errors(function() H(("x"):gmatch("x")) end, "cannot hash a C function that is not a field")
-- mutual recursion through upvalues ends
local even, odd
even = function(n) return n == 0 or odd(n - 1) end
odd = function(n) return n ~= 0 and even(n - 1) end
check.eq(H(even), H(even), "recursive functions")

check.done()
