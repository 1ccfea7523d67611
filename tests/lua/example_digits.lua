-- example_digits.lua: examples/digits.lua runs as documented (3 folds, to
-- keep it short): reports while the search runs, finds a good model, and
-- writes two SVG plots that parse and render.
local check = require "check"
local xmlcheck = require "xmlcheck"

local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")
local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set"):gsub("/tests/fixtures$", "")
local out = os.tmpname()
os.remove(out)
local p = io.popen(string.format("%s %s/examples/digits.lua 2 3 %s 2>&1", bin, root, out))
local text = p:read("a")
local ok = p:close()
check.truthy(ok, "digits.lua ran: " .. text)
check.truthy(text:find("digits: 1797 x 64 (u8), 1438 for the search, 359 held out", 1, true),
             "data loaded")
check.truthy(text:find("Rank 1: validation 0.9", 1, true), "ranked report")
check.truthy(text:find("--- search done in", 1, true), "search finished")
local acc = tonumber(text:match("held%-out accuracy of the best model: ([%d.]+)"))
check.truthy(acc and acc > 0.9, "held-out accuracy " .. tostring(acc))
check.truthy(text:find("1150 rows: train 1.0000", 1, true) or text:find("958 rows: train", 1, true),
             "learning curve rows")
for _, suffix in ipairs{"-search.svg", "-learning-curve.svg"} do
  local path = out .. suffix
  local f = io.open(path)
  check.truthy(f, path .. " written")
  if f then
    local svg = f:read("a")
    f:close()
    check.truthy(xmlcheck.balanced(svg), suffix .. " tags balanced")
    local py = xmlcheck.python(path)
    check.truthy(py == "ok" or py == "skip", suffix .. " parses: " .. py)
    local png = xmlcheck.render(path)
    check.truthy(png == "ok" or png == "skip", suffix .. " renders: " .. png)
    os.remove(path)
  end
end
check.done()
