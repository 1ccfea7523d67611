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

-- Output while a bar is on screen: print and io.write first take the bar
-- off its line, then draw it again below what they wrote (as tqdm's and
-- pip's bars do), instead of gluing the text onto the bar.  Installed
-- while a bar is drawn, removed when it ends.  (Workers write to the
-- terminal themselves: their output cannot be taken through here.)
local shown -- the bar on screen: {out =, text =}, or nil
local saved_print, saved_write

local function hide()
  if shown and not shown.hidden then
    shown.out:write("\r\27[K")
    shown.out:flush()
    shown.hidden = true
  end
end

local function redraw()
  if shown and shown.hidden then
    shown.out:write(shown.text)
    shown.out:flush()
    shown.hidden = false
  end
end

local function install()
  if saved_print then return end
  saved_print, saved_write = print, io.write
  print = function(...)
    hide()
    saved_print(...)
    io.stdout:flush()
    redraw()
  end
  io.write = function(...)
    hide()
    local r = table.pack(saved_write(...))
    local n = select("#", ...)
    local last = n > 0 and tostring((select(n, ...))) or ""
    if last:sub(-1) == "\n" then -- a whole line: the bar goes below it
      io.stdout:flush()
      redraw()
    end
    return table.unpack(r, 1, r.n)
  end
end

local function uninstall()
  if not saved_print then return end
  -- only what we installed is put back: a script's own wrapper stays
  if print ~= saved_print then print = saved_print end
  io.write = saved_write
  saved_print, saved_write = nil, nil
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
      local text = "\r" .. label .. bar .. progress.line(done, total, elapsed) .. "\27[K"
      if shown and shown.hidden and shown.out == out then out:write("\n") end -- after a partial line
      out:write(text)
      if final then
        out:write("\n")
        shown = nil
        uninstall()
      else
        shown = {out = out, text = text}
        install()
      end
      out:flush()
    elseif final or elapsed - last_log >= every then
      last_log = elapsed
      out:write(label, "progress: ", progress.line(done, total, elapsed), "\n")
      out:flush()
    end
  end
end

return progress
