-- killcell.lua: what a kill-point cell must give, shared by par_killpoints
-- (fork, spawn) and mpi_killpoints.  A cell's script prints one line per
-- outcome ("ok i true", "error i msg"), "twice i" for a task that ran
-- twice and "raised msg" when the loop raised; judge reads them and checks
-- the rule: the victim fails as `fail` says (raised in raise mode, one
-- yielded error otherwise, its message accepted by `names`), every other
-- result arrives exactly once, in submitted order before the victim, and
-- no task ran twice.
local check = require "check"

local M = {}

-- What each kill-point action's message names.
M.causes = {KILL = "SIGKILL", SEGV = "SIGSEGV", exit = "exited with status 3",
            error = "killpoint: error", hang = "timed out"}

-- c: name, N, victim, fail (the victim fails), hang (the action was a
-- hang: a timeout, yielded even in raise mode), order, on_error, names
-- (function(msg): the message names the victim as it should).
function M.judge(text, c)
  local name, N, victim, fail = c.name, c.N, c.victim, c.fail
  local got, errors, raised, twice = {}, {}, nil, false
  for line in text:gmatch("[^\n]+") do
    local kind, i, rest = line:match("^(%a+) (%d+) ?(.*)$")
    if kind == "ok" then
      i = tonumber(i)
      got[i] = (got[i] or 0) + 1
      check.eq(rest, "true", name .. ": result " .. i)
    elseif kind == "error" then errors[#errors + 1] = {tonumber(i), rest}
    elseif kind == "twice" then twice = true
    elseif line:match("^raised ") then raised = line
    end
  end
  check.truthy(not twice, name .. ": no task ran twice")
  for i = 1, N do check.truthy((got[i] or 0) <= 1, name .. ": task " .. i .. " once at most") end
  if fail and c.on_error == "raise" and not c.hang then
    check.truthy(raised and c.names(raised), name .. ": raised " .. tostring(raised))
    check.eq(#errors, 0, name .. ": nothing yielded")
    if c.order == "submitted" then
      for i = 1, victim - 1 do check.eq(got[i], 1, name .. ": task " .. i .. " before the victim") end
    end
    check.truthy(not got[victim], name .. ": no result for the victim")
  else
    check.truthy(not raised, name .. ": nothing raised: " .. tostring(raised))
    check.eq(#errors, fail and 1 or 0, name .. ": errors " .. (errors[1] and errors[1][2] or ""))
    if fail and errors[1] then
      check.eq(errors[1][1], victim, name .. ": the error is the victim's")
      check.truthy(c.names(errors[1][2]), name .. ": message " .. errors[1][2])
    end
    for i = 1, N do
      if not (fail and i == victim) then check.eq(got[i], 1, name .. ": task " .. i .. " delivered once") end
    end
  end
end

return M
