-- csv.lua: tide.read_csv on rows x 8 columns, all numeric, then with one
-- text column (a city out of 40) and a few missing values (NA), best of 3.
-- It writes both files to a folder, where bench/csv_peers.py reads them with
-- np.loadtxt and pandas.read_csv.
-- usage: tide bench/csv.lua [rows=1000000] [folder=bench-out] [json-out]
local rows = tonumber(arg[1]) or 1000000
local dir = arg[2] or "bench-out"
local out = arg[3]

local cities = {}
for k = 1, 40 do cities[k] = "city" .. string.char(64 + (k * 7) % 26 + 1) .. k end

-- The same numbers in both files; the mixed one has text in column 3 and
-- "NA" in column 5 of every 97th row.
local function write(path, mixed)
  local f = assert(io.open(path, "w"))
  f:write("a,b,c,d,e,f,g,h\n")
  local r = tide.rng(1)
  local buf = {}
  for i = 1, rows do
    local v = {}
    for j = 1, 8 do v[j] = string.format("%.6f", r:uniform() * 1000) end
    if mixed then
      v[3] = cities[i % 40 + 1]
      if i % 97 == 0 then v[5] = "NA" end
    end
    buf[#buf + 1] = table.concat(v, ",")
    if #buf == 4096 then
      f:write(table.concat(buf, "\n"), "\n")
      buf = {}
    end
  end
  if #buf > 0 then f:write(table.concat(buf, "\n"), "\n") end
  f:close()
end

local function best(f, reps)
  local t = math.huge
  for _ = 1, reps or 3 do
    local t0 = tide.now()
    f()
    t = math.min(t, tide.now() - t0)
  end
  return t
end

local numeric, mixed = dir .. "/csv-numeric.csv", dir .. "/csv-mixed.csv"
write(numeric, false)
write(mixed, true)
local fo = out and io.open(out, "a")
for _, case in ipairs{{"numeric", numeric}, {"text", mixed}} do
  local X, levels
  local t = best(function()
    if X then X:close() end
    X, _, levels = tide.read_csv(case[2])
  end)
  local nlev = levels.c and #levels.c or 0
  print(string.format("csv      tide   read_csv %d x 8 %-7s %.3f s  (%d levels)", rows,
                      case[1], t, nlev))
  if fo then
    fo:write(string.format('{"bench": "csv", "impl": "tide", "what": "%s", "rows": %d, ' ..
                           '"s": %.6f}\n', case[1], rows, t))
  end
  X:close()
end
if fo then fo:close() end
