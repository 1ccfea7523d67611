-- repl.lua: how the prompt shows values.  A table is printed as its
-- contents, nested, instead of "table: 0x...": the sequence first, then
-- the other keys sorted (numbers, then strings, then the rest by type),
-- at most `depth` levels and `items` entries per table, one line when it
-- fits in `width` columns.  A value with __tostring (an array, a model that
-- has one) is shown by it; a table met again is a reference "<table N>" to
-- the first place it appears, marked "<N>", so cycles end.  Not public:
-- the prompt calls repl.print; the limits are fields of this module.
local repl = {depth = 4, items = 50, width = 80}

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not
            or repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

local function is_name(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not KEYWORDS[k]
end

local function quote(s)
  -- %q writes a newline as "\" + newline; "\n" reads better on one line
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

-- The metatable as the code sees it (a __metatable field may hide it).
local function meta(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt or nil
end

local function has_tostring(v)
  local mt = meta(v)
  return mt ~= nil and rawget(mt, "__tostring") ~= nil
end

-- Keys in display order: numbers, strings, booleans, then the others by
-- type name and text.  The sequence 1..n is shown apart, without keys.
local TYPE_RANK = {number = 1, string = 2, boolean = 3}
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    local ra, rb = TYPE_RANK[ta] or 4, TYPE_RANK[tb] or 4
    if ra ~= rb then return ra < rb end
    return ta < tb
  end
  if ta == "number" or ta == "string" then return a < b end
  if ta == "boolean" then return not a and b end
  return tostring(a) < tostring(b)
end

-- The sequence length, the other keys sorted, and their values as pairs
-- gives them (a proxy such as tide.config lists its settings by __pairs).
local function layout(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  local keys, vals = {}, {}
  for k, v in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      keys[#keys + 1] = k
      vals[k] = v
    end
  end
  table.sort(keys, key_less)
  return n, keys, vals
end

-- Counts how often each table is met within the depth limit, so that only
-- the tables met twice get a label.
local function count(v, depth, seen)
  if type(v) ~= "table" or has_tostring(v) then return end
  seen[v] = (seen[v] or 0) + 1
  if seen[v] > 1 or depth >= repl.depth then return end
  for k, x in pairs(v) do
    count(k, depth + 1, seen)
    count(x, depth + 1, seen)
  end
end

local show

-- Several lines of a __tostring result, indented under the first.
local function indent_lines(s, pad)
  return (s:gsub("\n", "\n" .. pad))
end

local function show_table(t, pad, depth, st)
  if st.ids[t] then return "<table " .. st.ids[t] .. ">" end
  local label = ""
  if st.seen[t] and st.seen[t] > 1 then
    st.next_id = st.next_id + 1
    st.ids[t] = st.next_id
    label = "<" .. st.next_id .. ">"
  end
  local mt = meta(t)
  local name = mt and type(rawget(mt, "__name")) == "string" and rawget(mt, "__name") .. " " or ""
  if next(t) == nil and not (mt and rawget(mt, "__pairs")) then return label .. name .. "{}" end
  if depth >= repl.depth then return label .. name .. "{...}" end
  local n, keys, vals = layout(t)
  local inner = pad .. "  "
  local seq, rest, shown = {}, {}, 0
  for i = 1, n do
    if shown >= repl.items then break end
    seq[#seq + 1] = show(rawget(t, i), inner, depth + 1, st)
    shown = shown + 1
  end
  for _, k in ipairs(keys) do
    if shown >= repl.items then break end
    local ks = is_name(k) and k or "[" .. (type(k) == "string" and quote(k) or
                                          type(k) == "table" and show(k, inner, depth + 1, st)
                                          or tostring(k)) .. "]"
    rest[#rest + 1] = ks .. " = " .. show(vals[k], inner, depth + 1, st)
    shown = shown + 1
  end
  local more = n + #keys - shown
  if more > 0 then rest[#rest + 1] = string.format("... (%d more)", more) end
  -- one line when everything is short and fits
  local all = table.move(rest, 1, #rest, #seq + 1, table.move(seq, 1, #seq, 1, {}))
  local one = label .. name .. "{" .. table.concat(all, ", ") .. "}"
  if not one:find("\n", 1, true) and #pad + #one <= repl.width then return one end
  -- else the sequence packed into lines, then one line per other key
  local lines, cur = {}, nil
  for _, s in ipairs(seq) do
    if cur and not s:find("\n", 1, true) and #inner + #cur + #s + 2 <= repl.width then
      cur = cur .. " " .. s .. ","
    else
      if cur then lines[#lines + 1] = inner .. cur end
      cur = s .. ","
    end
  end
  if cur then lines[#lines + 1] = inner .. cur end
  for _, s in ipairs(rest) do lines[#lines + 1] = inner .. s .. (s:sub(1, 4) == "... " and "" or ",") end
  return label .. name .. "{\n" .. table.concat(lines, "\n") .. "\n" .. pad .. "}"
end

-- v as text, at indentation pad (continuation lines), depth levels down.
function show(v, pad, depth, st)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "table" and not has_tostring(v) then return show_table(v, pad, depth, st) end
  return indent_lines(tostring(v), pad)
end

-- repl.format(v) -> text: v as the prompt shows it inside a table (strings
-- quoted); a top-level string is printed as it is by repl.print.
function repl.format(v)
  local st = {seen = {}, ids = {}, next_id = 0}
  count(v, 0, st.seen)
  return show(v, "", 0, st)
end

-- repl.print(...): the prompt's results, tables formatted, through the
-- global print (so a replaced print still gets them).  A table that cannot
-- be formatted (a raising __pairs) is left for print's tostring.
function repl.print(...)
  local out = table.pack(...)
  for i = 1, out.n do
    local v = out[i]
    if type(v) == "table" and not has_tostring(v) then
      local ok, s = pcall(repl.format, v)
      if ok then out[i] = s end
    end
  end
  return print(table.unpack(out, 1, out.n))
end

return repl
