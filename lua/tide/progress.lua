-- tide.progress: completion-driven progress reports for loops and searches.
-- progress.new(opts) returns a function(done, total, elapsed, final) that
-- draws a bar on stderr when it is a terminal, and writes a log line every
-- few seconds otherwise.  opts: {stream = io.stderr, tty = bool,
-- label = "map", every = seconds between log lines}.
local tide = require "tide"
local progress = {}

local function fmt_time(s)
  if s ~= s or s == math.huge then return "?" end
  if s < 60 then return string.format("%.1fs", s) end
  if s < 3600 then return string.format("%dm%02ds", s // 60, math.floor(s % 60)) end
  return string.format("%dh%02dm", s // 3600, math.floor(s % 3600) // 60)
end
progress.fmt_time = fmt_time

-- One line of text: "120/500  24%  35.2/s  elapsed 3.4s  ETA 10.8s".
function progress.line(done, total, elapsed)
  local rate = elapsed > 0 and done / elapsed or 0
  if total then
    local pct = total > 0 and 100 * done / total or 100
    local eta = rate > 0 and (total - done) / rate or math.huge
    return string.format("%d/%d %3d%%  %.1f/s  elapsed %s  ETA %s", done, total,
                         math.floor(pct), rate, fmt_time(elapsed), fmt_time(eta))
  end
  return string.format("%d done  %.1f/s  elapsed %s", done, rate, fmt_time(elapsed))
end

function progress.new(opts)
  opts = opts or {}
  local out = opts.stream or io.stderr
  local tty = opts.tty
  if tty == nil then tty = tide._internal.isatty(2) end
  local label = opts.label and (opts.label .. " ") or ""
  local every = opts.every or 5
  local width = opts.width or 30
  local last_log = -math.huge
  return function(done, total, elapsed, final)
    if tty then
      local bar
      if total and total > 0 then
        local fill = math.floor(width * done / total)
        bar = "[" .. string.rep("#", fill) .. string.rep(".", width - fill) .. "] "
      else
        bar = ""
      end
      out:write("\r", label, bar, progress.line(done, total, elapsed), "\27[K")
      if final then out:write("\n") end
      out:flush()
    elseif final or elapsed - last_log >= every then
      last_log = elapsed
      out:write(label, "progress: ", progress.line(done, total, elapsed), "\n")
      out:flush()
    end
  end
end

return progress
