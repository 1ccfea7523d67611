-- tide.util: small helpers shared by the Lua-side modules.
local util = {}

-- Shallow copy of a table.
function util.copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Keys of a table, sorted (numbers before strings), for stable output.
function util.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    return a < b
  end)
  return keys
end

return util
