-- csv.lua: tide.read_csv from Lua: options, names, values, error messages,
-- storage, and (when numpy is present) agreement with numpy.loadtxt.
local check = require "check"
local tide = require "tide"

local base = os.tmpname()
local made = {base}
local function file(text, suffix)
  local path = base .. (suffix or ("-" .. #made .. ".csv"))
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  made[#made + 1] = path
  return path
end

local function errmsg(...)
  local ok, err = pcall(tide.read_csv, ...)
  return ok and "(no error)" or tostring(err)
end

-- fails(sub, what, path [, opts]): read_csv must raise an error holding sub.
local function fails(sub, what, ...)
  local m = errmsg(...)
  return check.truthy(m:find(sub, 1, true), what .. ": " .. m)
end

-- Basic: header auto-detected, names, 2-D f64 values.
do
  local p = file("\239\187\191id,price,qty\r\n1,2.5,3\r4,-0,1e999\n\n7,nan,\n")
  local a, names = tide.read_csv(p)
  check.eq(a.ndim, 2, "ndim")
  check.eq(a.shape[1], 3, "rows")
  check.eq(a.shape[2], 3, "cols")
  check.eq(a.dtype, "f64", "dtype")
  check.eq(table.concat(names, "|"), "id|price|qty", "names")
  check.eq(a:get(1, 2), 2.5, "2.5")
  check.eq(1 / a:get(2, 2), -math.huge, "-0 keeps its sign")
  check.eq(a:get(2, 3), math.huge, "1e999 is inf")
  local v = a:get(3, 2)
  check.truthy(v ~= v, "nan")
  local w = a:get(3, 3)
  check.truthy(w ~= w, "empty field is nan")
  -- header = false makes the first row data: its text makes text columns
  -- (codes), or fails with categorical = "error".
  fails("row 1, column 1: cannot parse 'id' as a number",
        "header=false parses row 1", p, {header = false, categorical = "error"})
  local t, _, tl = tide.read_csv(p, {header = false})
  check.eq(table.concat(tl["1"], "|"), "1|4|7|id", "header=false: column 1 is text")
  check.eq(t:get(1, 1), 4, "header=false: 'id' is code 4")
  -- header = true on an all-numeric file drops the first row.
  local q = file("1,2\n3,4\n")
  local b, nb = tide.read_csv(q, {header = true})
  check.eq(b.shape[1], 1, "header=true rows")
  check.eq(nb[1], "1", "header=true names")
  check.eq(b:get(1, 2), 4, "header=true value")
  local c, nc = tide.read_csv(q)
  check.eq(c.shape[1], 2, "auto: numeric first row is data")
  check.eq(table.concat(nc, ","), "1,2", "names without a header are column numbers")
end

-- One column is still 2-D; empty and header-only files give 0 x n.
do
  local a = tide.read_csv(file("5\n6\n7"))
  check.eq(a.ndim, 2, "one column ndim")
  check.eq(a.shape[1], 3, "one column rows")
  check.eq(a.shape[2], 1, "one column cols")
  check.eq(a:get(3, 1), 7, "no final newline")
  local e, en = tide.read_csv(file(""))
  check.eq(e.shape[1], 0, "empty rows")
  check.eq(e.shape[2], 0, "empty cols")
  check.eq(#en, 0, "empty names")
  local h, hn = tide.read_csv(file("a,b,c\r\n"))
  check.eq(h.shape[1], 0, "header-only rows")
  check.eq(h.shape[2], 3, "header-only cols")
  check.eq(hn[3], "c", "header-only names")
end

-- Delimiters and quoting.
do
  local a, n = tide.read_csv(file("x\ty\n1.5\t2\n"), {delimiter = "\t"})
  check.eq(n[2], "y", "tab names")
  check.eq(a:get(1, 1), 1.5, "tab value")
  local s = file("a;b\n1,5;2\n")
  fails("row 2, column 1 ('a'): cannot parse '1,5' as a number (decimal = ',' reads it as " ..
        "a number)", "1,5 with ';'", s, {delimiter = ";", categorical = "error"})
  check.eq(tide.read_csv(s, {delimiter = ";", decimal = ","}):get(1, 1), 1.5, "decimal = ','")
  fails("row 2 has 2 fields, expected 1",
        "1,5 with ','", s)
  local q, qn = tide.read_csv(file('"a,b","multi\nline","q ""x"""\n"1",2,3\n'))
  check.eq(qn[1], "a,b", "quoted delimiter")
  check.eq(qn[2], "multi\nline", "quoted newline")
  check.eq(qn[3], 'q "x"', "escaped quote")
  check.eq(q:get(1, 1), 1, "quoted number")
end

-- dtypes.
do
  local p = file("a,b\n9007199254740993,-9223372036854775808\n9223372036854775807,-0\n")
  local a = tide.read_csv(p, {dtype = "i64"})
  check.eq(a.dtype, "i64", "i64 dtype")
  check.eq(math.type(a:get(1, 1)), "integer", "i64 gives integers")
  check.eq(a:get(1, 1), 9007199254740993, "exact past 2^53")
  check.eq(a:get(1, 2), math.mininteger, "-2^63")
  check.eq(a:get(2, 1), math.maxinteger, "2^63-1")
  fails("row 2, column 2 ('b'): 9223372036854775808 is out of range for i64",
        "2^63 is out of range", file("a,b\n1,9223372036854775808\n"), {dtype = "int64"})
  fails("row 2, column 1 ('a'): 300 is out of range for u8",
        "u8 range", file("a\n300\n"), {dtype = "u8"})
  fails("row 4 has 2 fields, expected 1",
        "blank lines still count as rows", file("a\n1\n\n,\n"), {dtype = "i32"})
  fails("row 2, column 2 ('b'): empty field",
        "empty integer", file("a,b\n1,\n"), {dtype = "i32"})
  local b = tide.read_csv(file("t,f\nTrue,0\nfalse,1\n"), {dtype = "bool"})
  check.eq(b:get(1, 1), true, "bool true")
  check.eq(b:get(2, 2), true, "bool 1")
  check.eq(b:get(1, 2), false, "bool 0")
  local f = tide.read_csv(file("0.1\n"), {dtype = "f32"})
  check.eq(f.dtype, "f32", "f32")
  check.eq(f:get(1, 1), string.unpack("f", string.pack("f", 0.1)), "f32 rounding")
end

-- columns = {names or 1-based indices}.
do
  local p = file("a,b,c\n1,2,3\n4,5,6\n")
  local a, n = tide.read_csv(p, {columns = {"c", 1, -2}})
  check.eq(table.concat(n, ","), "c,a,b", "selected names")
  check.eq(a.shape[2], 3, "selected cols")
  check.array(a, {{3, 1, 2}, {6, 4, 5}}, nil, "selected values")
  fails("no column named 'price'",
        "unknown name", p, {columns = {"a", "price"}})
  fails("column 4 does not exist (the file has 3 columns)",
        "index out of range", p, {columns = {4}})
  fails("bad argument #2 to",
        "index 0", p, {columns = {0}})
  fails("must not be empty",
        "empty selection", p, {columns = {}})
end

-- Errors name row and column; the path starts the message.
do
  local p = file("a,b,c,d,e\n" .. string.rep("1,2,3,4,5\n", 15) .. "1,2,3,4\n")
  local m = errmsg(p)
  check.truthy(m:find("row 17 has 4 fields, expected 5", 1, true), "ragged row 17: " .. m)
  check.truthy(m:find(p, 1, true), "message names the file")
  m = errmsg(file("id,name,price\n1,x,2\n2,y,3\n3,z,4\n4,w,abc\n"), {columns = {"id", "price"},
                                                                    categorical = "error"})
  check.truthy(m:find("row 5, column 3 ('price'): cannot parse 'abc' as a number", 1, true), m)
  m = errmsg(file("a,b\n1,2\n3,\"4\n5,6\n"))
  check.truthy(m:find("row 3, column 2: unterminated quoted field", 1, true), m)
  m = errmsg(file("a,b\n1,2\n3,4\0\n"))
  check.truthy(m:find("row 3, column 2: embedded NUL byte", 1, true), m)
  m = errmsg(file("a\n" .. string.rep("9", 1048577) .. "\n"))
  check.truthy(m:find("row 2, column 1: field is longer than 1048576 bytes", 1, true), m)
  m = errmsg(file(string.rep("1,", 100001) .. "\n"))
  check.truthy(m:find("row 1 has more than 100000 fields", 1, true), m)
end

-- Bad arguments.
do
  local p = file("1\n")
  local function bad(opts, text, what)
    local m = errmsg(p, opts)
    check.truthy(m:find("bad argument #2 to", 1, true) and m:find("read_csv", 1, true)
                 and m:find(text, 1, true), what .. ": " .. m)
  end
  bad({header = 1}, "option 'header' must be a boolean, got number", "header type")
  bad({delimiter = ",,"}, "option 'delimiter' must be one character", "delimiter length")
  bad({delimiter = '"'}, "option 'delimiter' must be one character", "quote delimiter")
  bad({delimiter = 44}, "option 'delimiter' must be a string, got number", "delimiter type")
  bad({dtype = "text"}, "unknown dtype 'text'", "dtype")
  bad({dtype = "complex"}, "dtype 'complex' is numpy's complex128, which tide does not have", "dtype")
  bad({columns = "a"}, "option 'columns' must be a table", "columns type")
  bad({columns = {true}}, "entry 1 must be a name or a non-zero column number", "columns entry")
  bad({mmap = 1}, "option 'mmap' must be a path string", "mmap type")
  bad({shared = "yes"}, "option 'shared' must be a boolean, got string", "shared type")
  bad("x", "table expected", "options type")
  -- unknown keys: the message of every options table (tests/lua/options.lua)
  local m1 = errmsg(p, {delim = ";"})
  check.truthy(m1:find("unknown option 'delim' for tide.read_csv (options: header, delimiter, " ..
                       "dtype, columns, mmap, shared, categorical, na_values, keep_default_na, " ..
                       "comment, decimal); did you mean 'delimiter'?", 1, true), m1)
  local m3 = errmsg(p, {sep = ";"})
  check.truthy(m3:find("did you mean 'delimiter'? (tide's name for pandas' sep)", 1, true), m3)
  local m4 = errmsg(p, {usecols = {1}})
  check.truthy(m4:find("did you mean 'columns'? (tide's name for pandas' usecols)", 1, true), m4)
  local m2 = errmsg(p, {[1] = true})
  check.truthy(m2:find("unknown option '1' for tide.read_csv", 1, true), m2)
  local m = errmsg(nil)
  check.truthy(m:find("bad argument #1 to", 1, true), "path type: " .. m)
  m = errmsg(base .. "-missing.csv")
  check.truthy(m:find("cannot open '" .. base .. "-missing.csv': No such file or directory",
                      1, true), m)
  m = errmsg("/")
  check.truthy(m:find("is a directory", 1, true), m)
end

-- Paths that are not plain files: a symlink, a FIFO, a /proc file.
do
  local target = file("a,b\n1,2\n")
  local link = base .. "-link.csv"
  made[#made + 1] = link
  if os.execute("ln -s '" .. target .. "' '" .. link .. "' 2>/dev/null") then
    local a, n = tide.read_csv(link)
    check.array(a, {{1, 2}}, nil, "through a symlink")
    check.eq(n[2], "b", "symlink names")
  end
  local fifo = base .. "-fifo.csv"
  made[#made + 1] = fifo
  if os.execute("mkfifo '" .. fifo .. "' 2>/dev/null") then
    -- The writer runs in the background; opening the FIFO waits for it.
    os.execute("(printf 'x,y\\r\\n5,6\\r\\n7,8' > '" .. fifo .. "') &")
    local a, n = tide.read_csv(fifo)
    check.array(a, {{5, 6}, {7, 8}}, nil, "from a FIFO")
    check.eq(n[1], "x", "FIFO names")
  end
  local f = io.open("/proc/sys/kernel/pid_max", "r")
  if f then
    local want = tonumber(f:read("a"))
    f:close()
    local a = tide.read_csv("/proc/sys/kernel/pid_max", {dtype = "i64"})
    check.eq(a.shape[1], 1, "/proc file rows")
    check.eq(a:get(1, 1), want, "/proc file value (size 0 in stat, read anyway)")
  end
end

-- Storage: a result of share_bytes or more goes to shared memory.
do
  local n = 140000
  local a = tide.read_csv(file(string.rep("1\n", n)))
  check.eq(a.shape[1], n, "big rows")
  check.eq(a.storage, "shared", "big result is shared")
  check.eq(a:get(n, 1), 1, "big last value")
  local small = tide.read_csv(file("1\n"))
  check.eq(small.storage, "heap", "small result on the heap")
  local forced = tide.read_csv(file("1\n"), {shared = true})
  check.eq(forced.storage, "shared", "shared = true")
  check.eq(forced:get(1, 1), 1, "shared value")
  check.eq(tide.read_csv(file("1\n2\n"), {shared = false}).storage, "heap", "shared = false")
end

-- mmap: the result lives in a new .npy file (needs the npy module).
do
  local out = base .. "-out.npy"
  made[#made + 1] = out
  local ok, a, n = pcall(tide.read_csv, file("a,b\n1,2\n3,4\n"), {mmap = out})
  if ok then
    check.eq(a.storage, "file", "mmap storage")
    check.array(a, {{1, 2}, {3, 4}}, nil, "mmap values")
    check.eq(n[2], "b", "mmap names")
    check.truthy(io.open(out, "rb"), "npy file exists")
    local bad = pcall(tide.read_csv, file("a,b\n1,x\n"), {mmap = out .. "2",
                                                            categorical = "error"})
    check.truthy(not bad and not io.open(out .. "2", "rb"), "failed parse removes the npy file")
  else
    check.truthy(tostring(a):find("mmap option needs the npy module", 1, true), tostring(a))
  end
end

-- Data as it comes: text columns, missing markers, comments, decimal commas.
do
  local p = file("id,city,temp\n1,Paris,12.5\n2,Lyon,NA\n3,Paris,\n4,\"Nice, France\",9\n" ..
                 "5,N/A,null\n6,Lyon,-1.5\n")
  local X, names, levels = tide.read_csv(p)
  check.eq(table.concat(names, ","), "id,city,temp", "names")
  check.eq(table.concat(levels.city, "|"), "Lyon|Nice, France|Paris", "levels: sorted strings")
  check.eq(levels.id, nil, "no levels for a numeric column")
  check.array(X:col(2):slice(1, 1, 4), {3, 1, 3, 2}, nil, "codes: 1-based positions in levels")
  local c5, t2, t3, t5 = X:get(5, 2), X:get(2, 3), X:get(3, 3), X:get(5, 3)
  check.truthy(c5 ~= c5 and t2 ~= t2 and t3 ~= t3 and t5 ~= t5, "NA, '', null, N/A are NaN")
  check.eq(X:get(6, 3), -1.5, "numbers around them")
  check.eq(levels.city[X:get(4, 2)], "Nice, France", "a code reads back as its string")
  -- a numeric file gives an empty levels table
  local _, _, none = tide.read_csv(file("a,b\n1,2\n"))
  check.eq(next(none), nil, "levels of a numeric file: {}")
  -- skip and error modes
  local S, sn, sl = tide.read_csv(p, {categorical = "skip"})
  check.eq(table.concat(sn, ","), "id,temp", "skip: names")
  check.eq(S.shape[2], 2, "skip: columns")
  check.eq(next(sl), nil, "skip: no levels")
  check.eq(S:get(6, 2), -1.5, "skip: values")
  fails("row 2, column 2 ('city'): cannot parse 'Paris' as a number", "categorical = error",
        p, {categorical = "error"})
  -- integer dtype: codes as integers; a missing value is an error naming the way out
  local ip = file("id,city\n1,b\n2,a\n")
  local I, _, il = tide.read_csv(ip, {dtype = "i64"})
  check.eq(math.type(I:get(1, 2)), "integer", "i64 codes are integers")
  check.array(I, {{1, 2}, {2, 1}}, nil, "i64 codes")
  check.eq(table.concat(il.city, ","), "a,b", "i64 levels")
  fails("row 3, column 3 ('temp'): missing value 'NA' where an integer (i64) is expected: i64 " ..
        "has no NaN (dtype = \"f64\" reads missing values as NaN)", "i64 + NA",
        file("id,city,temp\n1,a,1\n2,b,NA\n"), {dtype = "i64"})
  fails("row 4, column 3 ('temp'): empty field where an integer (i32) is expected",
        "i32 + empty", file("id,city,temp\n1,a,1\n2,b,2\n3,c,\n"), {dtype = "i32"})
end

do -- every default marker, in every position of a record
  local markers = {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                   "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                   "nan", "null"}
  local bad = {}
  for _, m in ipairs(markers) do
    local text = string.format("a,b,c\n%s,1,2\n3,%s,4\n5,6,%s\n\"%s\",7,8\n%s,%s,%s",
                               m, m, m, m, m, m, m)
    local ok, X, _, lv = pcall(tide.read_csv, file(text))
    local function nan(i, j) local v = X:get(i, j) return v ~= v end
    if not (ok and next(lv) == nil and nan(1, 1) and nan(2, 2) and nan(3, 3) and nan(4, 1)
            and nan(5, 1) and nan(5, 2) and nan(5, 3) and X:get(4, 2) == 7) then
      bad[#bad + 1] = "'" .. m .. "'" .. (ok and "" or ": " .. tostring(X))
    end
  end
  check.eq(table.concat(bad, ", "), "", "markers not read as NaN everywhere")
  -- na_values adds markers (a string or a table); keep_default_na = false keeps only them
  local p = file("a,b\n-999,NA\n1,?\n2,3\n")
  local X, _, lv = tide.read_csv(p, {na_values = {"-999", "?"}})
  local v1, v2, v3 = X:get(1, 1), X:get(1, 2), X:get(2, 2)
  check.truthy(v1 ~= v1 and v2 ~= v2 and v3 ~= v3 and next(lv) == nil, "na_values add markers")
  local Y, _, ly = tide.read_csv(p, {na_values = "-999", keep_default_na = false})
  local y1 = Y:get(1, 1)
  check.truthy(y1 ~= y1, "keep_default_na = false: na_values still missing")
  check.eq(table.concat(ly.b, "|"), "3|?|NA", "keep_default_na = false: NA is a string")
end

do -- levels order, quoted text, text met late, selections
  local p = file("k,v\nb,1\na,2\nB,3\nba,4\n\"say \"\"hi\"\"\",5\n\"x,y\",6\n\"two\nlines\",7\n" ..
                 "\195\169t\195\169,8\nab,9\na,10\n")
  local X, _, lv = tide.read_csv(p)
  check.eq(table.concat(lv.k, "|"), "B|a|ab|b|ba|say \"hi\"|two\nlines|x,y|\195\169t\195\169",
           "byte order, as Python's sorted()")
  check.array(X:col(1), {4, 2, 1, 5, 6, 8, 7, 9, 3, 2}, nil, "codes in that order")
  local rows = {"v,w"}
  for i = 1, 3000 do rows[#rows + 1] = (i % 7) .. "," .. i end
  rows[#rows + 1] = "seven,0"
  local L, _, ll = tide.read_csv(file(table.concat(rows, "\n")))
  check.eq(table.concat(ll.v, "|"), "0|1|2|3|4|5|6|seven", "numbers before the text are strings")
  check.eq(L:get(3001, 1), 8, "the late text's code")
  check.eq(L:get(7, 1), 1, "'0' is code 1")
  local S, sn, sl = tide.read_csv(p, {columns = {"v", "k"}})
  check.eq(table.concat(sn, ","), "v,k", "selected names")
  check.eq(#sl.k, 9, "selected text column")
  check.eq(S:get(2, 2), 2, "selected codes")
end

do -- comments and decimal commas
  local p = file("# exported 2024-05-01\nx,y\n1,2 # first\n# a note\n3,4\n")
  fails("row 2 has 2 fields, expected 1", "a comment line without the option", p)
  local X, n = tide.read_csv(p, {comment = "#"})
  check.eq(table.concat(n, ","), "x,y", "comment: header after a comment line")
  check.array(X, {{1, 2}, {3, 4}}, nil, "comment: values")
  fails("row 6 has 1 field, expected 2", "rows count the comment lines",
        file("# c\nx,y\n1,2\n# c\n\n5\n"), {comment = "#"})
  local q = file("a;b\n1,5;-2,25e1\n\"3,75\";NA\n")
  local D = tide.read_csv(q, {delimiter = ";", decimal = ","})
  check.eq(D:get(1, 1), 1.5, "decimal comma")
  check.eq(D:get(1, 2), -22.5, "decimal comma with an exponent")
  check.eq(D:get(2, 1), 3.75, "quoted decimal comma")
  local e = D:get(2, 2)
  check.truthy(e ~= e, "NA beside decimal commas")
end

do -- mmap with codes, and with skip (the file holds the kept columns only)
  local out = base .. "-codes.npy"
  made[#made + 1] = out
  local p = file("a,b,c\n1,x,2\n3,y,4\n")
  local ok, X, _, lv = pcall(tide.read_csv, p, {mmap = out})
  if ok then
    check.array(X, {{1, 1, 2}, {3, 2, 4}}, nil, "mmap: codes")
    check.eq(table.concat(lv.b, ","), "x,y", "mmap: levels")
    local S = tide.read_csv(p, {mmap = out, categorical = "skip"})
    check.eq(S.storage, "file", "mmap + skip: a file")
    check.array(S, {{1, 2}, {3, 4}}, nil, "mmap + skip: values")
    check.array(tide.load(out), {{1, 2}, {3, 4}}, nil, "mmap + skip: the file's shape")
  end
end

do -- bad options for these
  local p = file("1\n")
  local function bad(opts, text, what)
    local m = errmsg(p, opts)
    check.truthy(m:find(text, 1, true), what .. ": " .. m)
  end
  bad({categorical = "drop"}, "option 'categorical' must be \"codes\", \"skip\" or \"error\", got 'drop'",
      "categorical value")
  bad({categorical = true}, "option 'categorical' must be a string", "categorical type")
  bad({na_values = {1}}, "option 'na_values' entry 1 must be a string, got number", "na_values entry")
  bad({na_values = 1}, "option 'na_values' must be a string or a table of strings", "na_values type")
  bad({keep_default_na = 0}, "option 'keep_default_na' must be a boolean", "keep_default_na")
  bad({comment = "//"}, "option 'comment' must be one character", "comment length")
  bad({comment = ","}, "options 'comment' and 'delimiter' must differ", "comment = delimiter")
  bad({decimal = ","}, "option 'decimal' must differ from the delimiter", "decimal = delimiter")
  bad({decimal = "5", delimiter = ";"}, "the decimal point cannot be a digit", "decimal digit")
end

-- Live check against pandas.read_csv when pandas is installed: the same
-- missing markers (passed to pandas, whose 1.5 lacks 'None'), text columns
-- as pandas.factorize(sort = True) codes + 1, numbers as pandas reads them.
do
  local py = "/usr/bin/python3"
  if not os.execute(py .. " -c 'import pandas' 2>/dev/null") then
    print("pandas not available: skipping the live pandas check")
  else
    local seed = 11
    print("pandas check seed " .. seed)
    math.randomseed(seed)
    local cities = {"Paris", "Lyon", "\"Nice, France\"", "\"say \"\"hi\"\"\"", "75001",
                    "\195\137vry", "z", "Z", "a b", "NA", "", "null", "None", "nan"}
    local lines = {"id,city,temp,tag"}
    for i = 1, 400 do
      local t = math.random() < 0.1 and ({"NA", "", "N/A", "-nan", "#N/A"})[math.random(5)]
                or string.format("%.3f", (math.random() - 0.5) * 100)
      local tag = i == 250 and "late" or tostring(math.random(1, 20))
      lines[#lines + 1] = table.concat({i, cities[math.random(#cities)], t, tag}, ",")
    end
    local p = file(table.concat(lines, "\n") .. "\n")
    local X, names, levels = tide.read_csv(p)
    local f = io.popen(py .. [[ -c "
import sys, numpy as np, pandas as pd
na = ['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND',
      '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null']
df = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=na)
for j, c in enumerate(df.columns):
    s = df[c]
    if s.dtype == object:
        codes, lev = pd.factorize(s, sort=True)
        for l in lev: print('L', j + 1, l, sep='\t')
        v = np.where(codes >= 0, codes + 1, np.nan)
    else:
        v = s.to_numpy(float)
    print('V', j + 1, ' '.join(repr(float(x)) for x in v), sep='\t')
" ]] .. p)
    local want_levels, bad = {}, 0
    for line in f:lines() do
      local kind, j, rest = line:match("^(%u)\t(%d+)\t(.*)$")
      j = tonumber(j)
      if kind == "L" then
        want_levels[j] = want_levels[j] or {}
        table.insert(want_levels[j], rest)
      elseif kind == "V" then
        local i = 0
        for w in rest:gmatch("%S+") do
          i = i + 1
          local v, want = X:get(i, j), tonumber(w) or 0 / 0
          if not (v == want or (v ~= v and want ~= want)) then
            bad = bad + 1
            if bad < 5 then io.stderr:write(("pandas differs at %d,%d: %s vs %s\n"):format(i, j, v, w)) end
          end
        end
        check.eq(i, 400, "pandas printed column " .. j)
      end
    end
    f:close()
    check.eq(bad, 0, "values and codes equal pandas'")
    for j = 1, 4 do
      local got = levels[names[j]] and table.concat(levels[names[j]], "|") or "(numeric)"
      local want = want_levels[j] and table.concat(want_levels[j], "|") or "(numeric)"
      check.eq(got, want, "levels of column " .. names[j] .. " equal pandas'")
    end
  end
end

-- Live check against numpy.loadtxt when numpy is installed.
do
  local py = "/usr/bin/python3"
  local has = os.execute(py .. " -c 'import numpy' 2>/dev/null")
  if not has then
    print("numpy not available: skipping the live numpy check")
  else
    local lines, texts = {}, {"0.1", "2.675", "1e-320", "123456789012345678901", "-0.0",
                              "7.0e+22", "1.7976931348623157e308", "5e-324", "0.3333333333333333",
                              "9007199254740993", "1e23", "4.35", "-1.5E-7", "nan", "inf"}
    local seed = 7
    print("numpy check seed " .. seed)
    math.randomseed(seed)
    for i = 1, 200 do
      local row = {}
      for j = 1, 6 do
        local v
        if j == 1 then v = texts[(i - 1) % #texts + 1]
        elseif j == 2 then
          v = string.format("%.17g", (math.random() - 0.5) * 10 ^ math.random(-30, 30))
        elseif j == 3 then v = string.format("%.6f", math.random() * 1000)
        elseif j == 4 then v = string.format("%d", math.random(-1000000, 1000000))
        elseif j == 5 then v = string.format("%.3e", math.random())
        else v = string.format("%.15g", math.random() * 2 ^ math.random(-60, 60)) end
        row[j] = v
      end
      lines[i] = table.concat(row, ",")
    end
    local p = file(table.concat(lines, "\n") .. "\n")
    local a = tide.read_csv(p)
    local cmd = py .. " -c \"import numpy,sys; "
                .. "a=numpy.loadtxt(sys.argv[1], delimiter=',', ndmin=2); "
                .. "print('\\n'.join(repr(float(x)) for x in a.ravel()))\" " .. p
    local f = io.popen(cmd)
    local k, bad, got = 0, 0, 0
    for line in f:lines() do
      k = k + 1
      local i, j = (k - 1) // 6 + 1, (k - 1) % 6 + 1
      local want = tonumber(line) or (line == "nan" and 0 / 0) or (line == "inf" and math.huge)
                   or (line == "-inf" and -math.huge)
      local v = a:get(i, j)
      local same = (v == want and 1 / v == 1 / want) or (v ~= v and want ~= want)
      if same then got = got + 1 else
        bad = bad + 1
        io.stderr:write(string.format("numpy differs at %d,%d: %s vs %s\n", i, j,
                                      tostring(v), line))
      end
    end
    f:close()
    check.eq(k, 1200, "numpy printed every value")
    check.eq(bad, 0, "values equal numpy.loadtxt")

    -- Missing values: genfromtxt gives NaN for empty fields, as we do.
    local g = file("a,b,c\n1,,3\n,5.5,\n7,8,9\n")
    local ga = tide.read_csv(g)
    f = io.popen(py .. " -c \"import numpy,sys; a=numpy.genfromtxt(sys.argv[1], delimiter=',', "
                 .. "skip_header=1); print('\\n'.join(repr(float(x)) for x in a.ravel()))\" " .. g)
    local gk, gbad = 0, 0
    for line in f:lines() do
      gk = gk + 1
      local v = ga:get((gk - 1) // 3 + 1, (gk - 1) % 3 + 1)
      if line == "nan" then
        if v == v then gbad = gbad + 1 end
      elseif v ~= tonumber(line) then
        gbad = gbad + 1
      end
    end
    f:close()
    check.eq(gk, 9, "genfromtxt printed every value")
    check.eq(gbad, 0, "missing values equal numpy.genfromtxt")

    -- int64 past 2^53: numpy reads them as integers too.
    local ints = {"9007199254740993", "-9223372036854775808", "9223372036854775807",
                  "1234567890123456789", "-0", "+42"}
    local ip = file(table.concat(ints, "\n") .. "\n")
    local ia = tide.read_csv(ip, {dtype = "i64"})
    f = io.popen(py .. " -c \"import numpy,sys; a=numpy.loadtxt(sys.argv[1], dtype=numpy.int64, "
                 .. "ndmin=2); print('\\n'.join(str(int(x)) for x in a.ravel()))\" " .. ip)
    local ik, ibad = 0, 0
    for line in f:lines() do
      ik = ik + 1
      if ia:get(ik, 1) ~= math.tointeger(tonumber(line)) then
        ibad = ibad + 1
        io.stderr:write("int64 differs: ", tostring(ia:get(ik, 1)), " vs ", line, "\n")
      end
    end
    f:close()
    check.eq(ik, #ints, "numpy printed every integer")
    check.eq(ibad, 0, "int64 values equal numpy.loadtxt")
  end
end

for _, p in ipairs(made) do os.remove(p) end
check.done()
