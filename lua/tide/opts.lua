-- tide.opts: the Lua twin of tideL_checkopts (runtime/bind/l_opts.c).  An
-- options table may hold only the keys its entry point reads; any other key
-- is an error naming the key, the function, the accepted names and, when
-- one is close or the key is joblib's or scikit-learn's spelling, a hint:
--   unknown option 'job' for tide.collect (options: jobs, chunk, ...); did you mean 'jobs'?
-- The message (and its hint) comes from the C side, so both read alike.
local internal = require("tide")._internal
local opts = {}

local sets = setmetatable({}, {__mode = "k"})   -- names list -> set of names

-- opts.check(t, fname, names [, level]): t nil or a table whose keys are all
-- in the list names; level as error()'s, counted from the caller of check
-- (default 2: the caller's caller, i.e. the user's call of fname).
-- Returns t.
function opts.check(t, fname, names, level)
  level = level or 2
  local log = internal.optlog and internal.optlog_on
  if log and debug and debug.getinfo then   -- the doc coverage test's log (l_opts.c)
    local info = debug.getinfo(level, "f")
    log[fname] = {names = {table.unpack(names)}, fn = info and info.func}
  end
  if t == nil then return t end
  level = level + 1
  if type(t) ~= "table" then
    error(string.format("options for %s must be a table, got %s", fname, type(t)), level)
  end
  local set = sets[names]
  if not set then
    set = {}
    for _, n in ipairs(names) do set[n] = true end
    sets[names] = set
  end
  for k in pairs(t) do
    if not set[k] then error(internal.option_message(k, fname, names), level) end
  end
  return t
end

-- opts.hint(key, names) -> "; did you mean 'k'? ..." or "": the same hint,
-- for messages of their own (unknown model parameters).
function opts.hint(key, names)
  if type(key) ~= "string" then return "" end
  return internal.option_hint(key, names)
end

return opts
