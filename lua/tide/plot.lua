-- tide.plot: small SVG charts with no dependencies: line charts (with a
-- second y axis, vertical marks and shaded bands) and box plots.
--
--   local plot = require "tide.plot"
--   local svg = plot.lines{title = "loss", xlabel = "epoch", ylabel = "loss",
--     series = {{name = "train", x = xs, y = ys}},
--     y2 = {label = "CPU %", series = {...}},
--     marks = {{x = 2.5, label = "fit"}},
--     bands = {{x = xs, lo = lo, hi = hi, color = "#1f77b4"}}}
--   local svg = plot.boxes{title = "scores", groups = {{name = "a", values = {...}}}}
--   plot.save("chart.svg", svg)
--
-- Text is XML-escaped (and invalid UTF-8 or control bytes replaced), so any
-- label gives a well-formed document.  Axis ticks fall on 1-2-5 steps.
-- Options tables take only the keys listed above each function.
local optmod = require "tide.opts"
local plot = {}
local I = {}           -- helpers, not for users: plot._internal (tests read them)
plot._internal = I

plot.palette = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

local FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""
local TITLE_SIZE, LABEL_SIZE, TICK_SIZE, SMALL_SIZE = 15, 12, 11, 10

-- ------------------------------------------------------------------ text

local function valid_utf8(s)
  local out = {}
  while true do
    local n, bad = utf8.len(s)
    if n then out[#out + 1] = s; break end
    out[#out + 1] = s:sub(1, bad - 1) .. "?"
    s = s:sub(bad + 1)
  end
  return table.concat(out)
end

-- Text safe inside an XML element or a quoted attribute.
function I.escape(s)
  s = valid_utf8(tostring(s))
  s = s:gsub("[%z\1-\8\11\12\14-\31]", "?"):gsub("\xEF\xBF[\xBE\xBF]", "?")
  return (s:gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                              ["\""] = "&quot;", ["'"] = "&#39;"}))
end
local esc = I.escape

-- Rough width of a text in pixels (no font metrics without dependencies).
local function text_width(s, size)
  return utf8.len(valid_utf8(tostring(s))) * size * 0.6
end

-- A number with just enough digits: "%.4g" without exponent noise.
local function fmt(v)
  if v ~= v then return "nan" end
  local s = string.format("%.2f", v)
  s = s:gsub("%.?0+$", "")
  if s == "-0" then s = "0" end
  return s
end

-- ----------------------------------------------------------------- ticks

-- Ticks for the range [lo, hi] on 1-2-5 steps, about n of them.  Returns
-- the ticks, the step, and the rounded-out range they cover.
function I.nice_ticks(lo, hi, n)
  n = n or 5
  if not (lo == lo and hi == hi) or lo == math.huge or hi == -math.huge then lo, hi = 0, 1 end
  if lo > hi then lo, hi = hi, lo end
  if hi - lo < 1e-12 * math.max(1, math.abs(lo), math.abs(hi)) then
    local pad = lo == 0 and 1 or math.abs(lo) * 0.1
    lo, hi = lo - pad, hi + pad
  end
  local raw = (hi - lo) / n
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local f = raw / mag
  local step = (f < 1.5 and 1 or f < 3 and 2 or f < 7 and 5 or 10) * mag
  local first = math.floor(lo / step + 1e-9) * step
  local last = math.ceil(hi / step - 1e-9) * step
  local ticks = {}
  for i = 0, math.floor((last - first) / step + 0.5) do
    local v = first + i * step
    if math.abs(v) < step * 1e-9 then v = 0 end
    ticks[#ticks + 1] = v
  end
  return ticks, step, first, last
end

-- Tick label with as many decimals as the step needs.
local function tick_label(v, step)
  local d = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  local s = string.format("%." .. d .. "f", v)
  if tonumber(s) == 0 then s = string.format("%." .. d .. "f", 0) end
  return s
end

-- ------------------------------------------------------------------ svg

local function Svg(w, h)
  w, h = math.ceil(w), math.ceil(h)
  local out = {string.format(
    '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>',
    w, h, w, h, FONT)}
  out[#out + 1] = string.format('<rect x="0" y="0" width="%d" height="%d" fill="white"/>', w, h)
  return out
end

local function text(out, x, y, s, size, attrs)
  out[#out + 1] = string.format('<text x="%s" y="%s" font-size="%d"%s>%s</text>',
                                fmt(x), fmt(y), size, attrs or "", esc(s))
end

local function line(out, x1, y1, x2, y2, attrs)
  out[#out + 1] = string.format('<line x1="%s" y1="%s" x2="%s" y2="%s"%s/>',
                                fmt(x1), fmt(y1), fmt(x2), fmt(y2), attrs or "")
end

-- Text turned by `angle` degrees about its anchor point (x, y).
local function rtext(out, x, y, angle, s, size, attrs)
  out[#out + 1] = string.format(
    '<text transform="translate(%s,%s) rotate(%d)" font-size="%d"%s>%s</text>',
    fmt(x), fmt(y), angle, size, attrs or "", esc(s))
end

local function rect(out, x, y, w, h, attrs)
  out[#out + 1] = string.format('<rect x="%s" y="%s" width="%s" height="%s"%s/>',
                                fmt(x), fmt(y), fmt(w), fmt(h), attrs or "")
end

local MIDDLE, END = ' text-anchor="middle"', ' text-anchor="end"'
local INK, GREY = ' fill="#222"', ' fill="#444"'

local function heading(out, W, s)
  if s then text(out, W / 2, 24, s, TITLE_SIZE, MIDDLE .. ' font-weight="bold"' .. INK) end
end

local function frame(out, x0, x1, y0, y1)
  rect(out, x0, y1, x1 - x0, y0 - y1, ' fill="none" stroke="#888"')
end

-- Horizontal grid lines and their labels at the left.
local function ygrid(out, ay, x0, x1)
  out[#out + 1] = '<g stroke="#e5e5e5" stroke-width="1">'
  for _, v in ipairs(ay.ticks) do line(out, x0, ay.px(v), x1, ay.px(v)) end
  out[#out + 1] = '</g>'
  for _, v in ipairs(ay.ticks) do
    text(out, x0 - 6, ay.px(v) + 4, tick_label(v, ay.step), TICK_SIZE, END .. GREY)
  end
end

-- A clip path for the plot area (fixed ranges may cut the data); each
-- chart of a process gets its own id, so charts can share an HTML page.
local nclips = 0
local function clip(out, x0, x1, y0, y1)
  nclips = nclips + 1
  local id = "tide-area-" .. nclips
  out[#out + 1] = '<defs><clipPath id="' .. id .. '">'
  rect(out, x0, y1, x1 - x0, y0 - y1)
  out[#out + 1] = '</clipPath></defs>'
  return string.format(' clip-path="url(#%s)"', id)
end

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

local function range_of(lists, lo, hi)
  for _, t in ipairs(lists) do
    for i = 1, #t do
      local v = t[i]
      if finite(v) then
        if v < lo then lo = v end
        if v > hi then hi = v end
      end
    end
  end
  return lo, hi
end

-- An axis: data range -> ticks -> pixel mapping.
local function axis(lo, hi, fixed_lo, fixed_hi, p0, p1, n)
  if not finite(fixed_lo) then fixed_lo = nil end
  if not finite(fixed_hi) then fixed_hi = nil end
  if fixed_lo and fixed_hi and fixed_lo >= fixed_hi then fixed_lo, fixed_hi = nil, nil end
  if fixed_lo then lo = fixed_lo end
  if fixed_hi then hi = fixed_hi end
  if lo > hi then lo, hi = 0, 1 end
  local ticks, step, a, b = I.nice_ticks(lo, hi, n)
  if fixed_lo then a = fixed_lo end
  if fixed_hi then b = fixed_hi end
  local kept = {}
  for _, v in ipairs(ticks) do
    if v >= a - step * 1e-9 and v <= b + step * 1e-9 then kept[#kept + 1] = v end
  end
  return {lo = a, hi = b, ticks = kept, step = step,
          px = function(v) return p0 + (v - a) / (b - a) * (p1 - p0) end}
end

-- Pixel points of a series, at most about 4 per pixel column: each column
-- keeps its first, lowest, highest and last point, so peaks survive.
-- Missing values (nil, NaN) split the line into pieces.
local function polyline_pieces(xs, ys, ax, ay)
  local pieces, cur = {}, {}
  local col, colpts = nil, nil
  local function flush_col()
    if not colpts then return end
    local first, last, lo, hi = colpts[1], colpts[#colpts], colpts[1], colpts[1]
    for _, p in ipairs(colpts) do
      if p[2] < lo[2] then lo = p end
      if p[2] > hi[2] then hi = p end
    end
    local seen = {}
    local order = {first, lo, hi, last}
    table.sort(order, function(a, b) return a[3] < b[3] end)
    for _, p in ipairs(order) do
      if not seen[p] then seen[p] = true; cur[#cur + 1] = fmt(p[1]) .. "," .. fmt(p[2]) end
    end
    colpts = nil
  end
  local n = math.min(#xs, #ys)
  for i = 1, n do
    local x, y = xs[i], ys[i]
    if finite(x) and finite(y) then
      local px, py = ax.px(x), ay.px(y)
      local c = math.floor(px)
      if c ~= col then flush_col(); col = c; colpts = {} end
      colpts[#colpts + 1] = {px, py, i}
    else
      flush_col()
      col = nil
      if #cur > 0 then pieces[#pieces + 1] = cur; cur = {} end
    end
  end
  flush_col()
  if #cur > 0 then pieces[#pieces + 1] = cur end
  return pieces
end

local function legend(out, items, x, y, maxw)
  local cx, cy = x, y
  for _, it in ipairs(items) do
    local w = 22 + text_width(it.name, LABEL_SIZE) + 16
    if cx > x and cx + w > x + maxw then cx, cy = x, cy + 18 end
    line(out, cx, cy - 4, cx + 16, cy - 4, string.format(
      ' stroke="%s" stroke-width="2"%s', it.color, it.dash and ' stroke-dasharray="5 3"' or ""))
    text(out, cx + 22, cy, it.name, LABEL_SIZE, ' fill="#333"')
    cx = cx + w
  end
  return cy
end

-- How many legend rows the items take in maxw pixels.
local function legend_rows(items, maxw)
  local rows, cx = (#items > 0) and 1 or 0, 0
  for _, it in ipairs(items) do
    local w = 22 + text_width(it.name, LABEL_SIZE) + 16
    if cx > 0 and cx + w > maxw then rows, cx = rows + 1, 0 end
    cx = cx + w
  end
  return rows
end

local function check_list(v, what)
  if type(v) ~= "table" then
    error(what .. " must be a table of numbers, got " .. type(v), 3)
  end
  return v
end

-- --------------------------------------------------------------- lines

-- plot.lines(opts) -> SVG text.  opts: width, height, title, xlabel, ylabel,
-- series = {{name, x, y, color, dash, width}}, y2 = {label, series, min, max},
-- marks = {{x, label}}, bands = {{x, lo, hi, color, series}} (series: the
-- number of the series whose colour the band takes), xmin, xmax, ymin, ymax.
local LINES = {"width", "height", "title", "xlabel", "ylabel", "series", "y2", "marks", "bands",
               "xmin", "xmax", "ymin", "ymax"}
local SERIES, Y2 = {"name", "x", "y", "color", "dash", "width"}, {"label", "series", "min", "max"}
local MARK, BAND = {"x", "label"}, {"x", "lo", "hi", "color", "series"}
local function check_each(list, what, names)
  for i, v in ipairs(list) do optmod.check(v, what .. " " .. i, names, 3) end
end

function plot.lines(o)
  if type(o) ~= "table" then
    error("bad argument #1 to 'lines' (options table expected)", 2)
  end
  optmod.check(o, "plot.lines", LINES)
  optmod.check(o.y2, "plot.lines y2", Y2)
  check_each(o.series or {}, "plot.lines series", SERIES)
  check_each(o.y2 and o.y2.series or {}, "plot.lines y2 series", SERIES)
  check_each(o.marks or {}, "plot.lines mark", MARK)
  check_each(o.bands or {}, "plot.lines band", BAND)
  local W, H = o.width or 760, o.height or 420
  local series = o.series or {}
  local y2 = o.y2
  local y2series = y2 and y2.series or {}
  local bands, marks = o.bands or {}, o.marks or {}

  -- legend items and colours
  local items, k = {}, 0
  local function colour(s)
    k = k + 1
    return s.color or plot.palette[(k - 1) % #plot.palette + 1]
  end
  local cols1, cols2 = {}, {}
  for i, s in ipairs(series) do
    cols1[i] = colour(s)
    if s.name then items[#items + 1] = {name = s.name, color = cols1[i], dash = s.dash} end
  end
  for i, s in ipairs(y2series) do
    cols2[i] = colour(s)
    if s.name then
      items[#items + 1] = {name = s.name .. " (right)", color = cols2[i], dash = s.dash ~= false}
    end
  end

  local left, right = 72, y2 and 72 or 24
  local top = o.title and 40 or 16
  local rows = legend_rows(items, W - left - right)
  top = top + rows * 18 + (rows > 0 and 6 or 0)
  local bottom = 48 + (o.xlabel and 14 or 0)
  local x0, x1, y0, y1 = left, W - right, H - bottom, top

  -- ranges
  local xl, xh = math.huge, -math.huge
  local yl, yh = math.huge, -math.huge
  for _, s in ipairs(series) do
    xl, xh = range_of({check_list(s.x, "series x")}, xl, xh)
    yl, yh = range_of({check_list(s.y, "series y")}, yl, yh)
  end
  for _, b in ipairs(bands) do
    xl, xh = range_of({check_list(b.x, "band x")}, xl, xh)
    yl, yh = range_of({check_list(b.lo, "band lo"), check_list(b.hi, "band hi")}, yl, yh)
  end
  local y2l, y2h = math.huge, -math.huge
  for _, s in ipairs(y2series) do
    xl, xh = range_of({check_list(s.x, "y2 series x")}, xl, xh)
    y2l, y2h = range_of({check_list(s.y, "y2 series y")}, y2l, y2h)
  end
  for _, m in ipairs(marks) do
    if finite(m.x) then xl, xh = math.min(xl, m.x), math.max(xh, m.x) end
  end
  if xl > xh then xl, xh = 0, 1 end
  if yl > yh then yl, yh = 0, 1 end
  if y2l > y2h then y2l, y2h = 0, 1 end

  local nx = math.max(2, math.floor((x1 - x0) / 90))
  local ax = axis(xl, xh, o.xmin, o.xmax, x0, x1, nx)
  local ny = math.max(2, math.floor((y0 - y1) / 60))
  local ay = axis(yl, yh, o.ymin, o.ymax, y0, y1, ny)
  local ay2 = y2 and axis(y2l, y2h, y2.min, y2.max, y0, y1, ny)

  local out = Svg(W, H)
  heading(out, W, o.title)
  legend(out, items, left, (o.title and 40 or 16) + 12, W - left - right)

  -- grid and ticks
  ygrid(out, ay, x0, x1)
  out[#out + 1] = '<g stroke="#e5e5e5" stroke-width="1">'
  for _, v in ipairs(ax.ticks) do line(out, ax.px(v), y0, ax.px(v), y1) end
  out[#out + 1] = '</g>'
  for _, v in ipairs(ax.ticks) do
    text(out, ax.px(v), y0 + 16, tick_label(v, ax.step), TICK_SIZE, MIDDLE .. GREY)
  end
  if ay2 then
    for _, v in ipairs(ay2.ticks) do
      text(out, x1 + 6, ay2.px(v) + 4, tick_label(v, ay2.step), TICK_SIZE, GREY)
    end
  end

  local clipped = clip(out, x0, x1, y0, y1) -- before the index below is taken
  out[#out + 1] = '<g' .. clipped .. '>'
  for i, b in ipairs(bands) do
    local c = b.color or cols1[b.series] or plot.palette[(i - 1) % #plot.palette + 1]
    local pts = {}
    local function add(j, v)
      if finite(b.x[j]) and finite(v) then
        pts[#pts + 1] = fmt(ax.px(b.x[j])) .. "," .. fmt(ay.px(v))
      end
    end
    for j = 1, #b.x do add(j, b.hi[j]) end
    for j = #b.x, 1, -1 do add(j, b.lo[j]) end
    if #pts > 2 then
      out[#out + 1] = string.format(
        '<polygon points="%s" fill="%s" fill-opacity="0.18" stroke="none"/>',
        table.concat(pts, " "), c)
    end
  end
  -- the first series is drawn last, on top of the others
  local function draw(list, cols, a, dashed_default)
    for i = #list, 1, -1 do
      local s = list[i]
      local dash = s.dash
      if dash == nil then dash = dashed_default end
      for _, piece in ipairs(polyline_pieces(s.x, s.y, ax, a)) do
        out[#out + 1] = string.format(
          '<polyline points="%s" fill="none" stroke="%s" stroke-width="%s"' ..
          ' stroke-linejoin="round"%s/>', table.concat(piece, " "), cols[i], s.width or 2,
          dash and ' stroke-dasharray="5 3"' or "")
      end
    end
  end
  if ay2 then draw(y2series, cols2, ay2, true) end
  draw(series, cols1, ay, false)
  out[#out + 1] = '</g>'

  -- marks: dashed vertical lines, labels reading upwards from the top.  The
  -- labels of marks closer than a line of text (searches that ended within
  -- a few pixels of each other) share one label, "a, b", at the first.
  local shown = {}
  for _, m in ipairs(marks) do
    if finite(m.x) and m.x >= ax.lo and m.x <= ax.hi then shown[#shown + 1] = m end
  end
  table.sort(shown, function(a, b) return a.x < b.x end)
  local group
  local function label(g)
    if not g then return end -- left of the line, or right of it when the frame is near
    local lx = g.px - 3
    if lx - SMALL_SIZE < x0 then lx = g.px + SMALL_SIZE + 2 end
    rtext(out, lx, y1 + 4, -90, table.concat(g, ", "), SMALL_SIZE, END .. INK)
  end
  for _, m in ipairs(shown) do
    local px = ax.px(m.x)
    line(out, px, y0, px, y1, ' stroke="#555" stroke-width="1" stroke-dasharray="3 3"')
    if m.label then
      if group and px - group.last < SMALL_SIZE + 2 then
        group[#group + 1] = tostring(m.label)
      else
        label(group)
        group = {px = px, tostring(m.label)}
      end
      group.last = px
    end
  end
  label(group)

  -- frame and axis labels
  frame(out, x0, x1, y0, y1)
  if o.xlabel then text(out, (x0 + x1) / 2, H - 12, o.xlabel, LABEL_SIZE, MIDDLE .. INK) end
  if o.ylabel then rtext(out, 18, (y0 + y1) / 2, -90, o.ylabel, LABEL_SIZE, MIDDLE .. INK) end
  if y2 and y2.label then
    rtext(out, W - 16, (y0 + y1) / 2, 90, y2.label, LABEL_SIZE, MIDDLE .. INK)
  end
  out[#out + 1] = "</svg>\n"
  return table.concat(out, "\n")
end

-- --------------------------------------------------------------- boxes

-- Quantile q of a sorted list, linear between order statistics (numpy's
-- default).
function I.quantile(sorted, q)
  local n = #sorted
  if n == 0 then return 0 / 0 end
  local h = (n - 1) * q + 1
  local i = math.floor(h)
  if i >= n then return sorted[n] end
  return sorted[i] + (h - i) * (sorted[i + 1] - sorted[i])
end

-- Box statistics: median, quartiles, whiskers at the furthest values within
-- 1.5 IQR of the box (Tukey), and the values beyond them.
function I.box_stats(values)
  local s = {}
  for _, v in ipairs(values) do if finite(v) then s[#s + 1] = v end end
  table.sort(s)
  local q1, med, q3 = I.quantile(s, 0.25), I.quantile(s, 0.5), I.quantile(s, 0.75)
  local iqr = q3 - q1
  local lo_fence, hi_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
  local wlo, whi, outliers = q1, q3, {}
  for _, v in ipairs(s) do
    if v < lo_fence or v > hi_fence then outliers[#outliers + 1] = v
    else
      if v < wlo then wlo = v end
      if v > whi then whi = v end
    end
  end
  local sum = 0
  for _, v in ipairs(s) do sum = sum + v end
  return {n = #s, q1 = q1, median = med, q3 = q3, lo = wlo, hi = whi,
          mean = #s > 0 and sum / #s or 0 / 0, outliers = outliers, sorted = s}
end

-- plot.boxes(opts) -> SVG text.  opts: width, height, title, xlabel, ylabel,
-- groups = {{name, values, color}} (one box each; also called boxes), points
-- = true to draw every value (jittered), mean = true for a mean marker, ymin,
-- ymax.
local BOXES = {"width", "height", "title", "xlabel", "ylabel", "groups", "boxes", "points", "mean",
               "ymin", "ymax"}
function plot.boxes(o)
  if type(o) ~= "table" then
    error("bad argument #1 to 'boxes' (options table expected)", 2)
  end
  optmod.check(o, "plot.boxes", BOXES)
  check_each(o.groups or o.boxes or {}, "plot.boxes group", {"name", "values", "color"})
  local groups = o.groups or o.boxes or {}
  local W = o.width or math.max(360, 110 + 90 * #groups)
  local stats = {}
  local yl, yh = math.huge, -math.huge
  for i, g in ipairs(groups) do
    stats[i] = I.box_stats(check_list(g.values, "group values"))
    yl, yh = range_of({stats[i].sorted}, yl, yh)
  end
  if yl > yh then yl, yh = 0, 1 end
  -- a little room above and below, so no point sits on the frame
  local pad = (yh - yl) * 0.04
  if pad == 0 then pad = math.max(math.abs(yh) * 0.04, 0.5) end
  yl, yh = (yl >= 0 and yl - pad < 0) and 0 or yl - pad, yh + pad

  -- long category names are drawn slanted (cut at 40 characters), and the
  -- margins grow to hold them
  local names, longest = {}, 0
  for i, g in ipairs(groups) do
    local name = valid_utf8(tostring(g.name or i))
    if utf8.len(name) > 40 then name = name:sub(1, utf8.offset(name, 38) - 1) .. "..." end
    names[i] = name
    longest = math.max(longest, text_width(name, TICK_SIZE))
  end
  local left, right, top = 72, 24, (o.title and 40 or 16) + (o.mean and 16 or 0)
  local slot = (#groups > 0) and (W - left - right) / #groups or (W - left - right)
  local slant = longest > slot - 8
  if slant then
    left = math.max(left, longest * 0.82 - slot / 2 + 8) -- the first name, cos(35 deg)
    slot = (#groups > 0) and (W - left - right) / #groups or (W - left - right)
  end
  local bottom = (slant and 24 + longest * 0.58 or 36) + (o.xlabel and 18 or 0)
  local H = o.height or top + 320 + bottom -- the plot area keeps its height
  local x0, x1, y0, y1 = left, W - right, H - bottom, top
  local ny = math.max(2, math.floor((y0 - y1) / 60))
  local ay = axis(yl, yh, o.ymin, o.ymax, y0, y1, ny)

  local out = Svg(W, H)
  heading(out, W, o.title)
  ygrid(out, ay, x0, x1)
  local clipped = clip(out, x0, x1, y0, y1)
  for i, g in ipairs(groups) do
    local st = stats[i]
    local c = g.color or plot.palette[(i - 1) % #plot.palette + 1]
    local cx = x0 + (i - 0.5) * slot
    local bw = math.min(60, slot * 0.5)
    out[#out + 1] = '<g' .. clipped .. '>'
    if st.n > 0 then
      local ylo, yhi = ay.px(st.lo), ay.px(st.hi)
      local yq1, yq3, ymed = ay.px(st.q1), ay.px(st.q3), ay.px(st.median)
      local wl = ' stroke="#444" stroke-width="1.2"'
      line(out, cx, yq1, cx, ylo, wl)
      line(out, cx, yq3, cx, yhi, wl)
      line(out, cx - bw / 4, ylo, cx + bw / 4, ylo, wl)
      line(out, cx - bw / 4, yhi, cx + bw / 4, yhi, wl)
      rect(out, cx - bw / 2, yq3, bw, math.max(yq1 - yq3, 0.5), string.format(
        ' fill="%s" fill-opacity="0.3" stroke="%s" stroke-width="1.5"', c, c))
      line(out, cx - bw / 2, ymed, cx + bw / 2, ymed,
           string.format(' stroke="%s" stroke-width="2.5"', c))
      if o.mean then
        out[#out + 1] = string.format(
          '<path d="M%s %sl4 4l-4 4l-4 -4z" fill="white" stroke="#222"/>',
          fmt(cx), fmt(ay.px(st.mean) - 4))
      end
      -- points: every value when asked (a fixed jitter, so the SVG is
      -- reproducible), otherwise only the outliers
      local pts = o.points and st.sorted or st.outliers
      for j, v in ipairs(pts) do
        local jit = o.points and ((j * 0.618034) % 1 - 0.5) * bw * 0.7 or 0
        out[#out + 1] = string.format(
          '<circle cx="%s" cy="%s" r="2.5" fill="%s" fill-opacity="%s" stroke="%s"/>',
          fmt(cx + jit), fmt(ay.px(v)), o.points and c or "white",
          o.points and "0.55" or "1", o.points and "none" or c)
      end
    end
    out[#out + 1] = '</g>'
    local name = names[i]
    if slant then rtext(out, cx + 4, y0 + 14, -35, name, TICK_SIZE, END .. GREY)
    else text(out, cx, y0 + 16, name, TICK_SIZE, MIDDLE .. GREY) end
  end
  frame(out, x0, x1, y0, y1)
  if o.mean then -- the key, above the frame's right end: the marker, then "mean"
    local ky = y1 - 8
    text(out, x1, ky, "mean", LABEL_SIZE, END .. GREY)
    out[#out + 1] = string.format('<path d="M%s %sl4 4l-4 4l-4 -4z" fill="white" stroke="#222"/>',
                                  fmt(x1 - text_width("mean", LABEL_SIZE) - 14), fmt(ky - 8))
  end
  if o.xlabel then text(out, (x0 + x1) / 2, H - 10, o.xlabel, LABEL_SIZE, MIDDLE .. INK) end
  if o.ylabel then rtext(out, 18, (y0 + y1) / 2, -90, o.ylabel, LABEL_SIZE, MIDDLE .. INK) end
  out[#out + 1] = "</svg>\n"
  return table.concat(out, "\n")
end

-- plot.save(path, svg): true, or nil and a message.
function plot.save(path, svg)
  if type(path) ~= "string" then error("bad argument #1 to 'save' (file path expected)", 2) end
  if type(svg) ~= "string" then error("bad argument #2 to 'save' (SVG text expected)", 2) end
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(svg)
  local cok, cerr = f:close()
  if not ok then return nil, werr end
  if not cok then return nil, cerr end
  return true
end

return plot
