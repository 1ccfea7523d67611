-- apidoc.lua: the parser of the API spec (lua/tide/apidoc.lua) on small
-- specs: what it reads from an entry, and each broken rule it reports.
local check = require "check"
local apidoc = require "tide.apidoc"

local good = [[
# Title

Free text, a table:

| a | b |
|---|---|

### `tide.zeros(shape..., [opts])` → array

An array of zeros. Second sentence
over two lines.

Another paragraph.

- `shape...`: integers.
- `opts.dtype` = `"f64"`: any dtype
  name, continued.
- `opts.seed` = a fresh seed: words as default.
- returns: the new array.
- errors: a negative size.

```lua
local a = tide.zeros(2)
assert(a:sum() == 0)
```

Trailing prose.

### `tide.config.jobs` (field)

Workers.

```lua
assert(tide.config.jobs >= 1)
```

### `a:sum([dim])` → number

The sum.

- `dim` = `nil`: a dimension.
- errors: a bad dim.

```lua
assert(tide.zeros(2):sum() == 0)
```

### `int tide_dofile(tide_State *T, const char *path)` → code

Runs a file.

- errors: TIDE_ELUA.

```c
tide_dofile(T, "x.lua");
```
]]

local es, problems = apidoc.parse(good, "good.md")
check.eq(#problems, 0, "problems of a good spec: " .. table.concat(problems, "; "))
check.eq(#es, 4, "entries")
local z = es[1]
check.eq(z.name, "tide.zeros", "name")
check.eq(z.sig, "tide.zeros(shape..., [opts])", "sig")
check.eq(z.returns, "array", "returns")
check.eq(z.kind, "function", "kind")
check.eq(z.summary, "An array of zeros. Second sentence over two lines.\n\nAnother paragraph.", "summary")
check.eq(#z.params, 1, "params")
check.eq(z.params[1].name, "shape...", "param name")
check.eq(#z.opts, 2, "opts")
check.eq(z.opts[1].key, "dtype", "opt key")
check.eq(z.opts[1].default, '"f64"', "opt default")
check.eq(z.opts[1].text, "any dtype name, continued.", "a bullet over two lines")
check.eq(z.opts[2].default, "a fresh seed", "a default in words")
check.eq(z.result, "the new array.", "returns: bullet")
check.eq(z.errors, "a negative size.", "errors: bullet")
check.eq(z.example, "local a = tide.zeros(2)\nassert(a:sum() == 0)\n", "example")
check.eq(z.example_lang, "lua", "example language")
check.eq(z.notes and z.notes[1], "Trailing prose.", "prose after the example")
check.eq(z.file, "good.md", "file")
check.eq(z.line, 8, "line")
check.eq(es[2].name, "tide.config.jobs", "field name")
check.eq(es[2].kind, "field", "field kind")
check.eq(es[3].name, "a:sum", "method name")
check.eq(es[3].kind, "method", "method kind")
check.eq(es[3].params[1].default, "nil", "param default")
check.eq(es[4].name, "tide_dofile", "a C prototype's name")
check.eq(es[4].example_lang, "c", "a C example")

-- each broken rule is reported, with its line
local function problems_of(text)
  local _, ps = apidoc.parse(text, "bad.md")
  return table.concat(ps, "\n")
end
local p = problems_of("### `tide.f(x)` → y\n\nDoes.\n\n- `x`: a value.\n\n```lua\nprint(1)\n```\n")
check.truthy(p:find("bad.md:1: tide.f: no `errors:` bullet", 1, true), "no errors bullet: " .. p)
p = problems_of("### `tide.f(x)` → y\n\n- errors: none.\n\n```lua\nprint(1)\n```\n")
check.truthy(p:find("no summary", 1, true), "no summary: " .. p)
p = problems_of("### `tide.f(x)` → y\n\nDoes.\n\n- errors: none.\n")
check.truthy(p:find("no ```lua example", 1, true), "no example: " .. p)
p = problems_of("### `tide.f(x)` → y\n\nDoes.\n\n- errors: none.\n\n```lua\nprint(1)\n```\n\n```lua\nprint(2)\n```\n")
check.truthy(p:find("more than one", 1, true), "two examples: " .. p)
p = problems_of("### `tide.f(x)` → y\n\nDoes.\n\n```lua\nprint(1)\n```\n\n- errors: none.\n")
check.truthy(p:find("a bullet after the example", 1, true), "bullet after the example: " .. p)
p = problems_of("### `tide.f(x)` and `tide.g(x)`\n\nDoes.\n")
check.truthy(p:find("one code span", 1, true), "two code spans: " .. p)
p = problems_of("### `tide.f(x)` → y\n\nDoes.\n\n- errors: none.\n\n```lua\nprint(1)\n")
check.truthy(p:find("not closed", 1, true), "an open block: " .. p)

-- a name twice across files
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir " .. dir))
local entry = "### `tide.f()` → nil\n\nDoes.\n\n- errors: none.\n\n```lua\nprint(1)\n```\n"
for _, f in ipairs{"one.md", "two.md", "README.md"} do
  local h = assert(io.open(dir .. "/" .. f, "w"))
  h:write(entry)
  h:close()
end
local all, byname, ps = apidoc.load(dir)
check.eq(#all, 2, "README.md is not parsed")
check.eq(byname["tide.f"].file, "one.md", "the first entry of a name wins")
check.truthy(table.concat(ps):find("two.md:1: tide.f has another entry at one.md:1", 1, true),
             "a name twice: " .. table.concat(ps, "; "))
check.eq(#apidoc.load(dir, "two"), 1, "load's file filter")
os.execute("rm -rf " .. dir)

-- the embedded copy is the source tree's
local root = assert(os.getenv("TIDE_FIXTURES")):gsub("/tests/fixtures$", "")
local src = apidoc.files(root .. "/docs/api")
local built = apidoc.files()
for f, text in pairs(src) do
  check.eq(built[f], text, "the binary's copy of docs/api/" .. f .. " (rebuild after editing)")
end
check.done()
