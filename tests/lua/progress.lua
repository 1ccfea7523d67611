-- progress.lua: the bar of `progress = true` and output written while it
-- is on screen: print and io.write take the bar off its line and draw it
-- again below the text, never glue text onto it; the wrappers go when the
-- bar ends.
local check = require "check"
local progress = require "tide.progress"

local log = {}
local stream = {write = function(self, ...) for _, s in ipairs{...} do log[#log + 1] = s end end,
                flush = function() end}
local function text() return table.concat(log) end

local orig_print, orig_write = print, io.write
local bar = progress.new{stream = stream, tty = true, label = "map"}
bar(1, 4, 0.5, false)
check.truthy(text():find("^\r%[map %[#######") or text():find("^\rmap %["), "a bar is drawn: " .. text())
check.truthy(print ~= orig_print and io.write ~= orig_write, "print and io.write are wrapped while it shows")
log = {}
print("a line")
local t = text()
check.truthy(t:find("^\r\27%[K"), "print takes the bar off its line first: " .. t)
check.truthy(t:find("\rmap %[", 3), "and draws it again below: " .. t)
log = {}
io.write("half ")
check.eq(text(), "\r\27[K", "a partial line hides the bar and leaves it hidden")
log = {}
io.write("and the rest\n")
check.truthy(text():find("^\rmap %["), "a line's end draws it again: " .. text())
log = {}
bar(2, 4, 1.0, false)
check.truthy(not text():find("^\n"), "no blank line when the bar was on screen")
io.write("partial ")
log = {}
bar(3, 4, 1.5, false)
check.truthy(text():find("^\n\rmap"), "after a partial line, the next bar starts on a new line: " .. text())
bar(4, 4, 2.0, true)
check.truthy(print == orig_print and io.write == orig_write, "the final report puts print and io.write back")
io.write("\n")

-- a log line every few seconds when stderr is not a terminal; no wrappers
log = {}
local logbar = progress.new{stream = stream, tty = false, every = 1}
logbar(1, 10, 0.1, false)
logbar(2, 10, 1.5, false)
logbar(10, 10, 2.0, true)
check.eq(select(2, text():gsub("progress: ", "")), 3, "log lines: " .. text())
check.truthy(print == orig_print, "no wrapper without a terminal")
check.done()
