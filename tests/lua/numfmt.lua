-- numfmt.lua: numbers to text.  The tide program formats a number that is
-- one conversion ("%.14g" for tostring, "%d") without glibc's slow printf
-- path (runtime/cli/numfmt.c), so every digit must be what the stock
-- lua5.4 prints: the same script runs under both and the outputs must
-- match byte for byte (when lua5.4 is installed), and known strings are
-- checked here either way.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")
local have_lua = os.execute("command -v lua5.4 >/dev/null 2>&1") == true

-- known strings, in this process
local known = {
  {tostring(0.1), "0.1"}, {tostring(1/3), "0.33333333333333"}, {tostring(-0.0), "-0.0"},
  {tostring(1e300), "1e+300"}, {tostring(2^53), "9.007199254741e+15"}, {tostring(100.0), "100.0"},
  {tostring(1/0), "inf"}, {tostring(-1/0), "-inf"}, {tostring(5e-324), "4.9406564584125e-324"},
  {tostring(math.mininteger), "-9223372036854775808"}, {tostring(math.maxinteger), "9223372036854775807"},
  {tostring(0), "0"}, {tostring(-7), "-7"}, {string.format("%d", -42), "-42"},
  {string.format("%.3f", 2.0625), "2.062"}, {string.format("%.17g", 0.1), "0.10000000000000001"},
  {string.format("%g", 1e-5), "1e-05"}, {string.format("%e", 12345.678), "1.234568e+04"},
  {string.format("%a", 1.0), "0x1p+0"}, {string.format("%5.1f|%-6d|", 3.14159, 42), "  3.1|42    |"},
  {string.format("%.0f", 0.5), "0"}, {string.format("%.0f", 1.5), "2"}, {string.format("%G", 1e-10), "1E-10"},
  {string.format("%10.4e", -1.5), "-1.5000e+00"}, {string.format("%i", 7), "7"},
  {string.format("%.14g", 123456789012345678), "1.2345678901235e+17"},
}
for i, k in ipairs(known) do check.eq(k[1], k[2], "known string " .. i) end
-- a buffer too small for the text: snprintf's truncation and return value
-- are Lua's business; the numbers it writes whole are checked above, and
-- string.rep keeps long results intact
check.eq(#string.format("%.99f", 1.0), 101, "a long precision is written whole")

-- the same script under tide and lua5.4
local script = [[
local seed = 12345
local function rnd() seed = (seed * 1103515245 + 12345) % 2147483648 return seed / 2147483648 end
local fmts = {"%.14g", "%.17g", "%g", "%.3f", "%e", "%a", "%.0e", "%5.2f", "%+.3g", "%f", "%G", "%.20g"}
local out = {}
for i = 1, 3000 do
  local x = (rnd() - 0.5) * 10 ^ math.floor(rnd() * 640 - 320)
  if i % 7 == 0 then x = math.floor(x) end
  out[#out + 1] = tostring(x)
  local n = math.floor((rnd() - 0.5) * 2 ^ 62)
  out[#out + 1] = tostring(n) .. " " .. string.format("%d %5d %x", n, n % 1000, n)
  for _, f in ipairs(fmts) do out[#out + 1] = string.format(f, x) end
  out[#out + 1] = x .. "|" .. n .. "|" .. (x * 1e10)
end
for _, x in ipairs{0/0, 1/0, -1/0, -0.0, 2^63, -2^63, 2^-1074, 1.7976931348623157e308} do
  out[#out + 1] = tostring(x) .. " " .. string.format("%.14g %g %.3f %e", x, x, x, x)
end
io.write(table.concat(out, "\n"), "\n")
]]
local path = os.tmpname()
local f = assert(io.open(path, "w"))
f:write(script)
f:close()
local function run(prog)
  local p = assert(io.popen(prog .. " " .. path))
  local s = p:read("a")
  p:close()
  return s
end
local mine = run(bin)
check.truthy(#mine > 100000, "the sweep printed its lines")
if have_lua then
  local theirs = run("lua5.4")
  -- the first line where they differ (none: both nil)
  local a, b = mine:gmatch("[^\n]*"), theirs:gmatch("[^\n]*")
  local la, lb, line = a(), b(), 1
  while la and la == lb do la, lb, line = a(), b(), line + 1 end
  check.eq(la, lb, "tide and lua5.4 print the same numbers (line " .. line .. ")")
else
  print("numfmt: lua5.4 not installed: only the known strings were compared")
end
os.remove(path)
check.done()
