-- plot.lua: tide.plot: 1-2-5 ticks, escaping, line charts (second axis,
-- marks, bands, gaps, many points), box plots (statistics and drawing),
-- saving, bad arguments; every SVG well-formed (and rendered when
-- rsvg-convert is installed).
local check = require "check"
local xmlcheck = require "xmlcheck"
local plot = require "tide.plot"

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

-- well-formed per Lua's tag scan, Python's parser and rsvg-convert
local function valid(svg, what)
  local ok, msg = xmlcheck.balanced(svg)
  check.truthy(ok, what .. ": " .. tostring(msg))
  local path = os.tmpname()
  check.eq(plot.save(path, svg), true, what .. " saved")
  local py = xmlcheck.python(path)
  check.truthy(py == "ok" or py == "skip", what .. " parses: " .. py)
  local png = xmlcheck.render(path)
  check.truthy(png == "ok" or png == "skip", what .. " renders: " .. png)
  os.remove(path)
end

-- ------------------------------------------------------------------ ticks
local function ticks_str(lo, hi, n)
  local t = plot._internal.nice_ticks(lo, hi, n)
  local s = {}
  for i, v in ipairs(t) do s[i] = string.format("%g", v) end
  return table.concat(s, " ")
end
check.eq(ticks_str(0, 1), "0 0.2 0.4 0.6 0.8 1", "ticks 0..1")
check.eq(ticks_str(0, 97), "0 20 40 60 80 100", "ticks 0..97")
check.eq(ticks_str(3, 47, 4), "0 10 20 30 40 50", "ticks 3..47")
check.eq(ticks_str(-3, 3), "-3 -2 -1 0 1 2 3", "ticks around zero")
check.eq(ticks_str(0.0013, 0.0091), "0 0.002 0.004 0.006 0.008 0.01", "small ticks")
local t, step, a, b = plot._internal.nice_ticks(812.3, 812.3)
check.truthy(#t >= 2 and a < 812.3 and b > 812.3, "a flat range is widened")
for _, v in ipairs({1e-7, 0.003, 7, 55, 1234, 9.9e8}) do
  local _, st = plot._internal.nice_ticks(0, v)
  local m = st / 10 ^ math.floor(math.log(st, 10) + 1e-9)
  check.truthy(math.abs(m - 1) < 1e-9 or math.abs(m - 2) < 1e-9 or math.abs(m - 5) < 1e-9,
               "step on 1-2-5 for 0.." .. v .. ": " .. st)
end
t = plot._internal.nice_ticks(0 / 0, 0 / 0)
check.truthy(#t >= 2, "NaN range still gives ticks")
t, step = plot._internal.nice_ticks(5, 1)
check.truthy(t[1] <= 1 and t[#t] >= 5, "reversed range")

-- ----------------------------------------------------------------- escape
check.eq(plot._internal.escape([[<a & 'b' "c">]]), "&lt;a &amp; &#39;b&#39; &quot;c&quot;&gt;", "escape")
check.eq(plot._internal.escape("caf\xc3\xa9"), "caf\xc3\xa9", "UTF-8 kept")
check.eq(plot._internal.escape("bad\xff\xfe byte"), "bad?? byte", "invalid UTF-8 replaced")
check.eq(plot._internal.escape("bell\7tab\tnl\n"), "bell?tab\tnl\n", "control bytes replaced")
check.eq(plot._internal.escape(42), "42", "numbers")

-- ------------------------------------------------------------------ lines
local xs, ys, ys2, lo, hi = {}, {}, {}, {}, {}
for i = 1, 50 do
  xs[i] = i / 10
  ys[i] = math.sin(i / 8) * 100 + 200
  ys2[i] = (i * 7) % 180
  lo[i], hi[i] = ys[i] - 20, ys[i] + 20
end
local svg = plot.lines{
  title = [[Memory <&> "quotes" 'apostrophes']], xlabel = "time (s)", ylabel = "MB",
  series = {{name = "PSS & co", x = xs, y = ys},
            {name = "RSS", x = xs, y = ys2, color = "#ff0000"}},
  y2 = {label = "CPU %", series = {{name = "CPU", x = xs, y = ys2}}},
  marks = {{x = 1.5, label = "fit <1>"}, {x = 3, label = "bad\xff label"},
           {x = 99, label = "off"}},
  bands = {{x = xs, lo = lo, hi = hi}},
}
valid(svg, "line chart")
check.truthy(svg:find("Memory &lt;&amp;&gt; &quot;quotes&quot; &#39;apostrophes&#39;", 1, true),
             "title escaped")
check.truthy(svg:find("PSS &amp; co", 1, true), "legend escaped")
check.truthy(svg:find("fit &lt;1&gt;", 1, true), "mark label escaped")
check.truthy(svg:find("bad? label", 1, true), "bad bytes replaced in a mark")
check.eq(count(svg, "<polyline"), 3, "one polyline per series")
check.eq(count(svg, "<polygon"), 1, "one band")
check.truthy(svg:find("CPU (right)", 1, true), "second-axis series named in the legend")
check.eq(count(svg, 'stroke%-dasharray="3 3"'), 3,
         "three marks in range (the x range grows to 99)")
check.truthy(svg:find('stroke="#ff0000"', 1, true), "explicit colour")
check.truthy(svg:find(">20<", 1, true) and svg:find(">100<", 1, true), "x tick labels")

-- a mark at the left edge has its label right of its line, inside the frame
svg = plot.lines{series = {{x = {0, 2, 4}, y = {1, 2, 3}}}, marks = {{x = 0, label = "alloc"}, {x = 3, label = "mid"}}}
local function mark_at(label)
  local tx = tonumber(svg:match('<text transform="translate%(([%d.%-]+),[^"]*rotate%(%-90%)"[^>]*>' .. label .. '<'))
  return tx
end
local lines_x = {}
for x in svg:gmatch('<line x1="([%d.%-]+)" y1="[^"]*" x2="[^"]*" y2="[^"]*" stroke="#555"') do
  lines_x[#lines_x + 1] = tonumber(x)
end
check.truthy(mark_at("alloc") and mark_at("alloc") > lines_x[1], "the edge mark's label is right of its line")
check.truthy(mark_at("mid") and mark_at("mid") < lines_x[2], "another mark's label is left of its line")

-- marks closer than a line of text share one label; the others keep theirs
svg = plot.lines{series = {{x = {0, 100}, y = {1, 2}}},
                 marks = {{x = 50.2, label = "search 2"}, {x = 50, label = "search 1"},
                          {x = 90, label = "alone"}}}
check.eq(count(svg, 'stroke%-dasharray="3 3"'), 3, "a line for every mark")
check.truthy(mark_at("search 1, search 2"), "two close marks share one label, in time order")
check.truthy(not mark_at("search 1") and not mark_at("search 2"), "and have no label of their own")
check.truthy(mark_at("alone"), "a mark far from the others keeps its own label")

-- a band may take the colour of a series (learning curves do)
svg = plot.lines{series = {{x = xs, y = ys}, {x = xs, y = ys2, color = "#00aa00"}},
                 bands = {{x = xs, lo = lo, hi = hi, series = 2}}}
check.truthy(svg:find('<polygon points="[^"]*" fill="#00aa00"'), "band in series 2's colour")

-- gaps: nil or NaN values split a line
local gx, gy = {1, 2, 3, 4, 5, 6}, {1, 2, 0 / 0, 4, 5, 6}
svg = plot.lines{series = {{name = "gappy", x = gx, y = gy}}}
valid(svg, "gaps")
check.eq(count(svg, "<polyline"), 2, "a NaN splits the line")

-- many points are thinned to a few per pixel column, keeping the peak
local bx, by = {}, {}
for i = 1, 100000 do bx[i] = i; by[i] = (i == 54321) and 1000 or (i % 100) end
svg = plot.lines{width = 600, series = {{name = "big", x = bx, y = by}}}
local pts = svg:match('<polyline points="([^"]*)"')
local npts = count(pts or "", ",")
check.truthy(npts > 100 and npts <= 4 * 600, "points thinned: " .. npts)
check.truthy(svg:find(">1000<", 1, true), "the peak sets the axis")
local miny = math.huge
for y in (pts or ""):gmatch(",([%d%.%-]+)") do miny = math.min(miny, tonumber(y)) end
check.truthy(miny < 60, "the peak survives thinning (pixel y " .. miny .. ")")

-- fixed ranges clip, empty charts are still charts
svg = plot.lines{series = {{x = xs, y = ys}}, ymin = 0, ymax = 150, xmin = 0, xmax = 2}
valid(svg, "fixed ranges")
check.truthy(svg:find('clip-path="url(#tide-area-', 1, true), "data clipped to the plot area")
valid(plot.lines{}, "empty line chart")
valid(plot.lines{title = "one point", series = {{name = "p", x = {1}, y = {1}}}}, "one point")

check.errors(function() plot.lines("x") end, "options table expected")
check.errors(function() plot.lines{series = {{x = xs, y = 3}}} end, "series y must be a table")

-- ------------------------------------------------------------------ boxes
local st = plot._internal.box_stats({1, 2, 3, 4, 5, 6, 7, 8, 9, 100})
check.near(st.median, 5.5, 1e-12, "median")
check.near(st.q1, 3.25, 1e-12, "first quartile (numpy's linear rule)")
check.near(st.q3, 7.75, 1e-12, "third quartile")
check.eq(st.lo, 1, "low whisker")
check.eq(st.hi, 9, "high whisker stops inside 1.5 IQR")
check.eq(#st.outliers, 1, "one outlier")
check.eq(st.outliers[1], 100)
check.near(plot._internal.quantile({7}, 0.5), 7, 0, "quantile of one value")
st = plot._internal.box_stats({3, 0 / 0, 1, 2})
check.eq(st.n, 3, "NaN values ignored")

local groups = {}
for g = 1, 4 do
  local v = {}
  for i = 1, 20 do v[i] = g + math.sin(i * g) end
  groups[g] = {name = "alpha=" .. g .. " <&>", values = v}
end
groups[5] = {name = "empty", values = {}}
svg = plot.boxes{title = "CV scores", ylabel = "accuracy", groups = groups,
                 points = true, mean = true}
valid(svg, "box plot")
check.eq(count(svg, 'stroke%-width="2.5"'), 4, "one median line per non-empty group")
check.eq(count(svg, "<circle"), 80, "every value drawn as a point")
check.truthy(svg:find("alpha=1 &lt;&amp;&gt;", 1, true), "category names escaped")
svg = plot.boxes{groups = {{name = "a", values = {1, 2, 3, 4, 50}}}}
check.eq(count(svg, "<circle"), 1, "without points=true only outliers are drawn")
local long = {}
for g = 1, 8 do
  long[g] = {name = "a rather long category name " .. g, values = {g, g + 1, g + 2}}
end
svg = plot.boxes{groups = long, width = 500}
valid(svg, "slanted names")
check.truthy(svg:find("rotate(-35)", 1, true), "long names are slanted")
valid(plot.boxes{}, "empty box plot")
check.errors(function() plot.boxes{groups = {{name = "x"}}} end, "group values must be a table")

-- ------------------------------------------------------------------- save
local path = os.tmpname()
check.eq(plot.save(path, "<svg/>"), true)
local f = io.open(path)
check.eq(f:read("a"), "<svg/>", "saved text")
f:close()
os.remove(path)
local ok, err = plot.save("/nonexistent-dir/x.svg", "<svg/>")
check.truthy(ok == nil and type(err) == "string", "save to a bad path: nil, message")
check.errors(function() plot.save(1, "x") end, "file path expected")
check.errors(function() plot.save("x.svg") end, "SVG text expected")

check.done()
