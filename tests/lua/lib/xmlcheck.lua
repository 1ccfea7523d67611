-- xmlcheck.lua: is an SVG well-formed?  Parsed by Python's xml.etree when
-- /usr/bin/python3 exists (the real test), and always by a tag-balance scan.
-- Also renders it with rsvg-convert when installed.
local xmlcheck = {}

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Tag balance in Lua: every opened element closed in order.  Returns true or
-- false and a message.
function xmlcheck.balanced(text)
  local stack = {}
  for close, name, selfclose in text:gmatch("<(/?)([%a_][%w_:%-]*)[^>]-(/?)>") do
    if close == "/" then
      local top = table.remove(stack)
      if top ~= name then return false, "</" .. name .. "> closes <" .. tostring(top) .. ">" end
    elseif selfclose ~= "/" then
      stack[#stack + 1] = name
    end
  end
  if #stack > 0 then return false, "<" .. stack[#stack] .. "> never closed" end
  if text:find("&[^%a#]") or text:find("<[^%a/!?]") then return false, "unescaped & or <" end
  return true
end

-- "ok", "skip" (no python3), or an error message from the parser.
function xmlcheck.python(path)
  if not io.open("/usr/bin/python3") then return "skip" end
  local p = io.popen("/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; " ..
                     "E.parse(sys.argv[1]); print(\"ok\")' " .. shell_quote(path) .. " 2>&1")
  local out = p:read("a")
  p:close()
  return (out:gsub("%s+$", ""))
end

-- "ok" (a non-empty PNG was written), "skip" (no rsvg-convert) or a message.
function xmlcheck.render(path)
  local p = io.popen("command -v rsvg-convert 2>/dev/null")
  local have = p:read("a")
  p:close()
  if have == "" then return "skip" end
  local png = os.tmpname()
  local ok = os.execute("rsvg-convert -o " .. shell_quote(png) .. " " .. shell_quote(path) ..
                        " 2>/dev/null")
  local f = io.open(png, "rb")
  local head = f and f:read(8) or ""
  local size = f and f:seek("end") or 0
  if f then f:close() end
  os.remove(png)
  if not ok then return "rsvg-convert failed" end
  if head ~= "\137PNG\r\n\26\n" or size < 100 then return "no PNG written" end
  return "ok"
end

return xmlcheck
