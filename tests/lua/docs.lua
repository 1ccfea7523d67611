-- docs.lua: every ```lua block of README.md, docs/*.md and docs/api/*.md runs as a script
-- (each in a fresh tide process, in a scratch folder) and exits cleanly.
-- A block whose first line is "-- fragment" only has to parse.
local check = require "check"
local bin = assert(os.getenv("TIDE_BIN"), "TIDE_BIN is not set")
local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set"):gsub("/tests/fixtures$", "")

local function blocks(path)
  local f = assert(io.open(path))
  local out, cur, start = {}, nil, nil
  local n = 0
  for line in f:lines() do
    n = n + 1
    if cur then
      if line:match("^```%s*$") then
        out[#out + 1] = {text = table.concat(cur, "\n") .. "\n", line = start}
        cur = nil
      else
        cur[#cur + 1] = line
      end
    elseif line:match("^```lua%s*$") then
      cur, start = {}, n + 1
    end
  end
  f:close()
  check.truthy(cur == nil, path .. ": a ```lua block is not closed")
  return out
end

-- TIDE_API_ONLY=models.md[,...]: only those files of docs/api (the API
-- spec's examples; see tests/lua/api_coverage.lua)
local only = os.getenv("TIDE_API_ONLY")
local files = {}
if only and only ~= "" then
  for f in only:gmatch("[^,%s]+") do
    files[#files + 1] = root .. "/docs/api/" .. (f:match("%.md$") and f or f .. ".md")
  end
else
  files[1] = root .. "/README.md"
  local p = io.popen("ls " .. root .. "/docs/*.md " .. root .. "/docs/api/*.md 2>/dev/null")
  for path in p:lines() do files[#files + 1] = path end
  p:close()
end

-- Stock lua5.4 runs them too, with tide.so and `local tide = require "tide"`
-- first (not in a sanitizer build: its tide.so cannot load there).
local build = os.getenv("TIDE_BUILD")
local stock = build and os.getenv("TIDE_SANITIZE") ~= "ON" and
              os.execute("command -v lua5.4 >/dev/null 2>&1") == true

local scratch = os.tmpname()
os.remove(scratch)
assert(os.execute("mkdir -m 700 " .. scratch))

local total = 0
for _, path in ipairs(files) do
  local name = path:sub(#root + 2)
  for _, b in ipairs(blocks(path)) do
    total = total + 1
    local where = string.format("%s:%d", name, b.line)
    local chunk, err = load(b.text, "=" .. where)
    check.truthy(chunk, where .. " parses: " .. tostring(err))
    if chunk and not b.text:match("^%-%- fragment") then
      local dir = string.format("%s/%d", scratch, total)
      assert(os.execute("mkdir " .. dir))
      local f = assert(io.open(dir .. "/block.lua", "w"))
      f:write(b.text)
      f:close()
      local cmd = string.format("cd %s && %s block.lua > out.txt 2>&1", dir, bin)
      local ok = os.execute(cmd)
      local out = io.open(dir .. "/out.txt"):read("a")
      check.truthy(ok, where .. " runs as a script:\n" .. out)
      if stock then
        f = assert(io.open(dir .. "/stock.lua", "w"))
        f:write('local tide = require "tide"\n', b.text)
        f:close()
        ok = os.execute(string.format("cd %s && LUA_CPATH='%s/?.so' lua5.4 stock.lua > out.txt 2>&1",
                                      dir, build))
        out = io.open(dir .. "/out.txt"):read("a")
        check.truthy(ok, where .. " runs in stock lua5.4:\n" .. out)
      end
    end
  end
end
check.truthy(total >= 3 or only, "README.md has lua blocks (" .. total .. ")")
os.execute("rm -rf " .. scratch)
check.done()
