-- recent.lua -- splits the log of recent inputs that fuzz_api leaves after a
-- crash (fuzz_api-PID.recent: the inputs since its last full collection,
-- see fuzz_api.c) into one file per input, named in their order:
--   lua5.4 tests/fuzz/recent.lua fuzz_api-1234.recent DIR
--   build-fuzz/tests/fuzz_api "$PWD"/DIR/*   (runs them in order, one
--   process; absolute paths: the target changes its folder at its start)
local path, dir = arg[1], arg[2]
if not path or not dir then
  io.stderr:write("usage: recent.lua FILE.recent DIR\n")
  os.exit(2)
end
local f = assert(io.open(path, "rb"))
local head = f:read(16)
if not head or #head < 16 or head:sub(1, 4) ~= "TFZR" then
  io.stderr:write(path, ": not a fuzz_api log of recent inputs\n")
  os.exit(1)
end
local count, used, full = string.unpack("<I4I4I4", head, 5)
local data = f:read(used) or ""
f:close()
if #data < used then
  io.stderr:write(path, ": shorter than its header says\n")
  os.exit(1)
end
os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
local pos = 1
for i = 1, count do
  local n
  n, pos = string.unpack("<I4", data, pos)
  local out = assert(io.open(string.format("%s/%04d", dir, i), "wb"))
  out:write(data:sub(pos, pos + n - 1))
  out:close()
  pos = pos + n
end
print(string.format("%d inputs written to %s%s", count, dir,
                    full ~= 0 and " (the log was full: later inputs are missing)" or ""))
