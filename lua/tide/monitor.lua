-- tide.monitor: the report of a monitor (`tide.monitor{...}:stop()`):
-- peaks over baseline, a one-line summary, CSV, and an SVG chart.
--
-- Columns, one entry per sample: rep.t (seconds since the monitor started),
-- rep.rss, rep.pss, rep.uss, rep.sys_used (bytes), rep.cpu (% of one CPU),
-- rep.nproc.  rep.marks = {{t =, label =}, ...} in time order.
local plot = require "tide.plot"
local optmod = require "tide.opts"

local M = {}
local Report = {}
Report.__index = Report

local MB = 1e6

-- "812.3 MB": sizes in decimal units, as df and free -H print them.
function M.bytes(n)
  local a = math.abs(n)
  if a < 1e3 then return string.format("%d B", math.floor(n + 0.5)) end
  if a < 1e6 then return string.format("%.1f kB", n / 1e3) end
  if a < 1e9 then return string.format("%.1f MB", n / 1e6) end
  return string.format("%.2f GB", n / 1e9)
end
local bytes = M.bytes

local function peak(col)
  local m = nil
  for i = 1, #col do if m == nil or col[i] > m then m = col[i] end end
  return m or 0
end

-- Builds the report from the binding's raw columns (see l_monitor.c).
function M.report(raw)
  local r = setmetatable(raw, Report)
  local n = #r.t
  r.samples = n
  table.sort(r.marks, function(a, b) return a.t < b.t end)
  for _, k in ipairs({"rss", "pss", "uss", "sys_used"}) do
    r["peak_" .. k] = peak(r[k])
    r["baseline_" .. k] = r[k][1] or 0
  end
  r.duration = n > 0 and r.t[n] - r.t[1] or 0
  -- mean CPU weights each sample by the time it covers
  local busy = 0
  for i = 2, n do busy = busy + r.cpu[i] * (r.t[i] - r.t[i - 1]) end
  r.cpu_mean = r.duration > 0 and busy / r.duration or 0
  r.cpu_peak = peak(r.cpu)
  r.peak_nproc = peak(r.nproc)
  return r
end

function Report:summary()
  local s = string.format(
    "peak PSS %s (%s%s over baseline), peak RSS %s, peak USS %s, system used %s at peak, " ..
    "CPU mean %.0f%% (peak %.0f%%), %d processes at most, %d samples over %.1f s",
    bytes(self.peak_pss), self.peak_pss >= self.baseline_pss and "+" or "",
    bytes(self.peak_pss - self.baseline_pss), bytes(self.peak_rss), bytes(self.peak_uss),
    bytes(self.peak_sys_used), self.cpu_mean, self.cpu_peak, self.peak_nproc, self.samples,
    self.duration)
  if #self.marks > 0 then s = s .. string.format(", %d marks", #self.marks) end
  if self.truncated then s = s .. " (sample array full: sampling stopped early)" end
  if self.dropped_marks > 0 then
    s = s .. string.format(" (%d marks dropped)", self.dropped_marks)
  end
  return s
end

Report.__tostring = function(self) return "tide monitor report: " .. self:summary() end

local function csv_field(s)
  s = tostring(s)
  if s:find('[,"\r\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- rep:csv(path): header t,rss,pss,uss,cpu,sys_used,nproc,mark; one row per
-- sample (mark empty), and one row per mark at its own time with only t and
-- mark filled.  Returns true, or nil and a message.
function Report:csv(path)
  if type(path) ~= "string" then error("bad argument #1 to 'csv' (file path expected)", 2) end
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local out = {"t,rss,pss,uss,cpu,sys_used,nproc,mark\n"}
  local j, marks = 1, self.marks
  for i = 1, self.samples do
    while j <= #marks and marks[j].t <= self.t[i] do
      out[#out + 1] = string.format("%.4f,,,,,,,%s\n", marks[j].t, csv_field(marks[j].label))
      j = j + 1
    end
    out[#out + 1] = string.format("%.4f,%d,%d,%d,%.1f,%d,%d,\n", self.t[i], self.rss[i],
                                  self.pss[i], self.uss[i], self.cpu[i], self.sys_used[i],
                                  self.nproc[i])
    if #out > 4096 then
      f:write(table.concat(out))
      out = {}
    end
  end
  for k = j, #marks do
    out[#out + 1] = string.format("%.4f,,,,,,,%s\n", marks[k].t, csv_field(marks[k].label))
  end
  local ok, werr = f:write(table.concat(out))
  local cok, cerr = f:close()
  if not ok then return nil, werr end
  if not cok then return nil, cerr end
  return true
end

-- "peak PSS 812.3 MB, CPU mean 190%": the chart's subtitle.
local function short(r)
  return string.format("peak PSS %s, CPU mean %.0f%%", bytes(r.peak_pss), r.cpu_mean)
end

-- rep:svg([opts]): the chart as SVG text: PSS, RSS, USS in MB on the left
-- axis, CPU % on the right, marks as labelled vertical lines.  opts: title,
-- width, height, system = true to add the system's used memory.
local SVG_OPTS = {"title", "width", "height", "system"}
function Report:svg(opts)
  opts = optmod.check(opts, "rep:svg", SVG_OPTS) or {}
  local function mb(col)
    local t = {}
    for i = 1, #col do t[i] = col[i] / MB end
    return t
  end
  local series = {
    {name = "PSS", x = self.t, y = mb(self.pss), color = "#1f77b4"},
    {name = "RSS", x = self.t, y = mb(self.rss), color = "#ff7f0e"},
    {name = "USS", x = self.t, y = mb(self.uss), color = "#2ca02c"},
  }
  if opts.system then
    series[#series + 1] = {name = "system used", x = self.t, y = mb(self.sys_used),
                           color = "#7f7f7f"}
  end
  local marks = {}
  for i, m in ipairs(self.marks) do marks[i] = {x = m.t, label = m.label} end
  return plot.lines{
    width = opts.width or 800, height = opts.height or 440,
    title = opts.title or ("Memory and CPU (" .. short(self) .. ")"),
    xlabel = "time (s)", ylabel = "memory (MB)", ymin = 0,
    series = series,
    y2 = {label = "CPU (% of one CPU)", min = 0,
          series = {{name = "CPU", x = self.t, y = self.cpu, color = "#d62728", width = 1.2}}},
    marks = marks,
  }
end

-- rep:plot(path [, opts]): writes the SVG chart.  true, or nil and a message.
function Report:plot(path, opts)
  if type(path) ~= "string" then error("bad argument #1 to 'plot' (file path expected)", 2) end
  optmod.check(opts, "rep:plot", SVG_OPTS)
  return plot.save(path, self:svg(opts))
end

return M
