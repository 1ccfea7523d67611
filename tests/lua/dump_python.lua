-- dump_python.lua: the Python reader of docs/dump-format.md reads tide's
-- dumps (arrays as numpy memmaps, equal to tide's), and .npz files made by
-- tide.savez round-trip through numpy.  Skipped (77) without numpy.
local check = require "check"
local root = assert(os.getenv("TIDE_FIXTURES"), "TIDE_FIXTURES is not set"):gsub("/tests/fixtures$", "")
local py = "/usr/bin/python3"
if not os.execute(py .. " -c 'import numpy' 2>/dev/null") then
  print("python3 with numpy is not installed: skipped")
  os.exit(77)
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))

-- the reader, as the doc prints it
local doc = assert(io.open(root .. "/docs/dump-format.md")):read("a")
local reader = doc:match("```python\n(.-)```")
check.truthy(reader and #reader > 500, "docs/dump-format.md has a python block")
io.open(dir .. "/reader.py", "w"):write(reader):close()

local X = tide.rand({50, 4}, {seed = 1})
local shared = {tag = "shared"}
local value = {
  n = 42, big = math.maxinteger, f = 2.5, nan = 0 / 0, yes = true, no = false,
  s = "text é", list = {1, 2, "three", {4}},
  X = X, Xt = X:t(), ints = tide.arange(7):astype("i32"), u = tide.array({1, 2, 255}, "u8"),
  mask = tide.array({true, false}, "bool"), empty = tide.zeros(0, 3), scalar = tide.full({}, 3.5),
  a = shared, b = shared, rows = tide.rowset{{1, 3}, {10, 12}},
  model = tide.models.ridge{alpha = 2}:fit(X, X:col(1) * 2),
}
value.self = value
tide.dump(value, dir .. "/v.tide")

local driver = [[
import sys, math, numpy as np
sys.path.insert(0, sys.argv[1])
from reader import undump
v = undump(sys.argv[2])
out = []
def put(*a): out.append(' '.join(str(x) for x in a))
put('n', v['n'], type(v['n']).__name__, v['big'], 'f', v['f'], type(v['f']).__name__)
put('nan', math.isnan(v['nan']), v['yes'], v['no'], v['s'])
put('list', v['list'][1], v['list'][3], v['list'][4][1])
X = v['X']
put('X', type(X).__name__, X.dtype, X.shape, repr(float(X.sum())))
put('corner', repr(float(X[0, 0])), repr(float(X[49, 3])))
put('Xt', v['Xt'].shape, bool((v['Xt'] == X.T).all()))
put('ints', v['ints'].dtype, v['ints'].tolist(), v['u'].tolist(), v['mask'].tolist())
put('empty', v['empty'].shape, 'scalar', v['scalar'].shape, float(v['scalar']))
put('shared', v['a'] is v['b'], 'cycle', v['self'] is v, 'rows', v['rows'])
m = v['model']
put('model', m['__class__'], m['_p']['alpha'], repr(float(m['coef'].sum())))
print('\n'.join(out))
]]
io.open(dir .. "/driver.py", "w"):write(driver):close()
local h = io.popen(string.format("%s %s/driver.py %s %s/v.tide 2>&1", py, dir, dir, dir))
local out = h:read("a")
h:close()
local function line(key) return out:match("\n?(" .. key .. " [^\n]*)") or ("(no line " .. key .. ")\n" .. out) end
check.eq(line("n"), "n 42 int 9223372036854775807 f 2.5 float")
check.eq(line("nan"), "nan True True False text é")
check.eq(line("list"), "list 1 three 4")
check.truthy(line("X"):find("X memmap float64 (50, 4) ", 1, true), line("X"))
check.near(tonumber(line("X"):match("(%S+)$")), X:sum(), 1e-13, "the same values")
local c1, c2 = line("corner"):match("^corner (%S+) (%S+)$")
check.truthy(tonumber(c1) == X[1][1] and tonumber(c2) == X[50][4], "bit for bit: " .. line("corner"))
check.eq(line("Xt"), "Xt (4, 50) True")
check.eq(line("ints"), "ints int32 [0, 1, 2, 3, 4, 5, 6] [1, 2, 255] [True, False]")
check.eq(line("empty"), "empty (0, 3) scalar () 3.5")
check.eq(line("shared"), "shared True cycle True rows [(1, 3), (10, 12)]")
local coef = value.model.coef:sum()
check.truthy(line("model"):find("model tide.models.ridge 2 ", 1, true), line("model"))
check.near(tonumber(line("model"):match("(%S+)$")), coef, 1e-15, "model coefficients")

-- .npz made by tide.savez, read by numpy, and numpy's back through tide.load
tide.savez(dir .. "/a.npz", {X = X, ints = value.ints, mask = value.mask})
tide.savez(dir .. "/c.npz", {X = X}, {compress = true})
local npz = [[
import sys, numpy as np
a = np.load(sys.argv[1] + '/a.npz'); c = np.load(sys.argv[1] + '/c.npz')
print(sorted(a.files), a['X'].shape, repr(float(a['X'].sum())), a['ints'].dtype, a['mask'].tolist(),
      bool((c['X'] == a['X']).all()))
np.savez(sys.argv[1] + '/np.npz', Y=a['X'] * 2, k=np.arange(5, dtype=np.int32))
np.savez_compressed(sys.argv[1] + '/npc.npz', Y=a['X'] * 2)
]]
io.open(dir .. "/npz.py", "w"):write(npz):close()
h = io.popen(string.format("%s %s/npz.py %s 2>&1", py, dir, dir))
out = h:read("a")
h:close()
check.truthy(out:find("['X', 'ints', 'mask'] (50, 4)", 1, true), "numpy reads tide's npz: " .. out)
check.truthy(out:find("int32 [True, False] True", 1, true), "dtypes and compressed members: " .. out)
local back = tide.load(dir .. "/np.npz")
check.near(back.Y:sum(), 2 * X:sum(), 1e-12, "tide reads numpy's npz")
check.eq(back.k.dtype, "i32")
check.near(tide.load(dir .. "/npc.npz").Y:sum(), 2 * X:sum(), 1e-12, "and its compressed npz")

os.execute("rm -rf " .. dir)
check.done()
