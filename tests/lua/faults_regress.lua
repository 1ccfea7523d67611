-- faults_regress.lua: what the full fault-injection run (scripts/faults)
-- found, as direct tests.  TIDE_FAULTS builds only (scripts/build --asan).
local check = require "check"
local tide = require "tide"

local faults = tide._internal.faults
if not faults then
  print("skip: this build has no fault injection (cmake -DTIDE_FAULTS=ON; scripts/build --asan)")
  os.exit(77)
end

-- A loop whose batches could not be sent (every core acquisition failing
-- from some point on: "job core+", N = 14 to 16) failed one task with the
-- single spare event it kept for want of memory, then put the next batch
-- back to retry, forever: job:wait() never returned.  The spare now goes
-- back to its loop when the script frees it, so each task fails in turn
-- and the loop ends.
for _, when in ipairs({"before", "after"}) do
  local job = tide.start(function(i) return i * 2 end, 8, {jobs = 2, on_error = "yield", chunk = 1})
  if when == "after" then job:wait() end
  faults{kind = "core", persist = true, at = 1}
  local ok, err = pcall(function()
    local got = 0
    for _, r in job:results() do got = got + 1 end
    return got
  end)
  local _, fired = faults()
  check.truthy(fired > 0 or when == "after", when .. ": the faults fired")
  check.truthy(ok or (type(err) == "string" and #err > 0), when .. ": results or an error: " .. tostring(err))
  job:close()
end
-- the state is usable afterwards
local s = 0
for _, r in tide.map(function(i) return i + 1 end, 6, {jobs = 2}) do s = s + r end
check.eq(s, 27, "a loop runs afterwards")
check.done()
