-- linalg.lua: tide.linalg against numpy.linalg fixtures (make_numla.py) and,
-- when /usr/bin/python3 has numpy, live on fresh matrices; empty and 1 x 1
-- matrices, f32 and integer dtypes, transposed and sliced views, singular
-- and ill-conditioned matrices, and every error.
local check = require "check"
local numref = require "numref"
local tide = tide or require "tide"
local L = tide.linalg
local close = numref.close

local FIX = (os.getenv("TIDE_FIXTURES") or "../fixtures") .. "/numla/"
local z = tide.load(FIX .. "linalg.npz")
local A, S, T, W, H, Z = z.A, z.S, z.T, z.W, z.H, z.Z

-- ------------------------------------------------------------ fixtures
close(L.solve(A, z.b), z.solve_Ab, 1e-12, "solve(A, b)")
close(L.solve(A, z.B), z.solve_AB, 1e-12, "solve(A, B)")
check.eq(L.solve(A, z.B).shape[2], 3, "solve keeps B's columns")
close(L.inv(A), z.inv_A, 1e-12, "inv(A)")
check.near(L.det(A), z.det[1], 1e-12, "det(A)")
check.near(L.det(S), z.det[3], 1e-12, "det(S)")
local sg, ld = L.slogdet(A)
check.eq(sg, z.slogdet_A[1], "slogdet sign")
check.near(ld, z.slogdet_A[2], 1e-12, "slogdet log")
close(L.cholesky(S), z.chol_S, 1e-12, "cholesky(S)")
for _, name in ipairs{"T", "W"} do
  local Q, R = L.qr(z[name])
  close(Q, z["qr_" .. name .. "_Q"], 1e-12, "qr Q of " .. name)
  close(R, z["qr_" .. name .. "_R"], 1e-12, "qr R of " .. name)
  close(tide.matmul(Q, R), z[name], 1e-12, "Q R = " .. name)
end
for _, c in ipairs{{"T", T, false}, {"W", W, false}, {"Tfull", T, true}, {"Wfull", W, true}} do
  local name, X, full = c[1], c[2], c[3]
  local U, s, Vt = L.svd(X, {full = full})
  local pre = "svd_" .. name .. "_"
  close(s, z[pre .. "S"], 1e-12, "singular values of " .. name)
  -- signs are free: match U's columns, then the same rows of Vt
  local k = s.size
  local Um = numref.match_signs(U, z[pre .. "U"])
  local Vm = Vt:copy()
  for j = 1, k do
    if (U:col(j) * z[pre .. "U"]:col(j)):sum() < 0 then Vm:row(j):mul_(-1) end
  end
  close(Um:slice(2, 1, k), z[pre .. "U"]:slice(2, 1, k), 1e-11, "U of " .. name)
  close(Vm:slice(1, 1, k), z[pre .. "Vt"]:slice(1, 1, k), 1e-11, "Vt of " .. name)
  local US = U:slice(2, 1, k) * s:reshape(1, k)
  close(tide.matmul(US, Vt:slice(1, 1, k)), X, 1e-12, "U S Vt = " .. name)
  if full then
    close(tide.matmul(U:t(), U), tide.eye(U.shape[1]), 1e-12, "full U orthogonal " .. name)
    close(tide.matmul(Vt, Vt:t()), tide.eye(Vt.shape[1]), 1e-12, "full Vt orthogonal " .. name)
  else
    check.eq(table.concat(U.shape, "x") .. " " .. table.concat(Vt.shape, "x"),
             table.concat(z[pre .. "U"].shape, "x") .. " " .. table.concat(z[pre .. "Vt"].shape, "x"),
             "thin shapes " .. name)
  end
end
check.eq(L.svd(T, {compute_uv = false}).size, 5, "svd compute_uv = false gives S alone")
local w, V = L.eigh(S)
close(w, z.eigh_S_w, 1e-12, "eigh values")
close(numref.match_signs(V, z.eigh_S_V), z.eigh_S_V, 1e-11, "eigh vectors")
-- eig: rebuild numpy's complex vectors from dgeev's real pairs
local wr, wi, VR = L.eig(A)
close(wr, z.eig_A_wr, 1e-12, "eig real parts")
close(wi, z.eig_A_wi, 1e-12, "eig imaginary parts")
local re, im = VR:copy(), tide.zeros(6, 6)
local j = 1
while j <= 6 do
  if wi[j] ~= 0 then
    check.truthy(wi[j] > 0 and wi[j + 1] == -wi[j], "complex pair " .. j)
    local a, b = VR:col(j):copy(), VR:col(j + 1):copy()
    re:col(j):assign_(a); im:col(j):assign_(b)
    re:col(j + 1):assign_(a); im:col(j + 1):assign_(-b)
    j = j + 2
  else
    j = j + 1
  end
end
close(re, z.eig_A_vr, 1e-11, "eig vectors, real parts")
close(im, z.eig_A_vi, 1e-11, "eig vectors, imaginary parts")
close(L.pinv(T), z.pinv_T, 1e-12, "pinv(T)")
close(L.pinv(W), z.pinv_W, 1e-12, "pinv(W)")
close(L.pinv(Z), z.pinv_Z, 1e-10, "pinv of a singular matrix")
check.eq(L.matrix_rank(A), math.tointeger(z.rank[1]), "rank(A)")
check.eq(L.matrix_rank(Z), math.tointeger(z.rank[2]), "rank of a singular matrix")
check.eq(L.matrix_rank(H), math.tointeger(z.rank[3]), "rank of Hilbert")
check.eq(L.matrix_rank(T), math.tointeger(z.rank[4]), "rank(T)")
for _, c in ipairs{{"Tb", T}, {"Zb", Z}, {"WB", W}, {"TB", T}} do
  local name, X = c[1], c[2]
  local pre = "lstsq_" .. name .. "_"
  local x, res, rank, s = L.lstsq(X, z[pre .. "y"])
  close(x, z[pre .. "x"], 1e-10, "lstsq x " .. name)
  check.eq(res.size, z[pre .. "res"].size, "lstsq residual count " .. name)
  if res.size > 0 then close(res, z[pre .. "res"], 1e-10, "lstsq residuals " .. name) end
  check.eq(rank, math.tointeger(z[pre .. "rank"][1]), "lstsq rank " .. name)
  close(s, z[pre .. "s"], 1e-12, "lstsq s " .. name)
end

-- ill-conditioned (Hilbert 7 x 7, condition 4.8e8) and singular matrices
close(L.solve(H, tide.full(7, z.b[1])), z.solve_Hb, 1e-6, "solve Hilbert")
close(L.inv(H), z.inv_H, 1e-6, "inv Hilbert")
check.near(L.det(H), z.det[2], 1e-7, "det Hilbert")
close(L.cholesky(H), z.chol_H, 1e-10, "cholesky Hilbert")
close(L.eigh(H), z.eigh_H_w, 1e-10, "eigh values Hilbert")
check.truthy(math.abs(L.det(Z)) < 1e-9 * 1e3, "det of a singular matrix is about 0")
check.errors(function() L.solve(Z, z.bz) end, "matrix is singular", "solve singular")
check.errors(function() L.inv(tide.zeros(3, 3)) end, "matrix is singular", "inv singular")
check.errors(function() L.inv(tide.array({{1, 2}, {2, 4}})) end, "matrix is singular",
             "inv singular integers")
local s0, l0 = L.slogdet(tide.zeros(3, 3))
check.eq(s0, 0.0, "slogdet sign of a singular matrix")
check.eq(l0, -math.huge, "slogdet log of a singular matrix")
check.eq(L.det(tide.zeros(2, 2)), 0.0, "det of zeros")
check.errors(function() L.cholesky(-S) end, "matrix is not positive definite", "cholesky -S")
check.errors(function() L.cholesky(Z) end, "matrix is not positive definite", "cholesky singular")

-- ------------------------------------------------------------ empty, 1 x 1
local E = tide.zeros(0, 0)
check.eq(L.det(E), 1.0, "det of 0 x 0")
check.eq(select(2, L.slogdet(E)), 0.0, "slogdet of 0 x 0")
check.eq(L.inv(E).size, 0, "inv of 0 x 0")
check.eq(L.solve(E, tide.zeros(0)).size, 0, "solve 0 x 0")
check.eq(L.cholesky(E).size, 0, "cholesky 0 x 0")
local Q0, R0 = L.qr(tide.zeros(0, 3))
check.eq(table.concat(Q0.shape, "x") .. " " .. table.concat(R0.shape, "x"), "0x0 0x3", "qr 0 x 3")
local U0, S0, V0 = L.svd(tide.zeros(3, 0))
check.eq(table.concat(U0.shape, "x") .. " " .. S0.size .. " " .. table.concat(V0.shape, "x"),
         "3x0 0 0x0", "thin svd 3 x 0")
local U1, _, V1 = L.svd(tide.zeros(0, 3), {full = true})
check.eq(table.concat(U1.shape, "x"), "0x0", "full svd 0 x 3: U")
close(V1, tide.eye(3), 0, "full svd 0 x 3: Vt is the identity")
check.eq(L.eigh(E).size, 0, "eigh 0 x 0")
check.eq(L.eig(E).size, 0, "eig 0 x 0")
check.eq(table.concat(L.pinv(tide.zeros(0, 3)).shape, "x"), "3x0", "pinv 0 x 3")
check.eq(L.matrix_rank(tide.zeros(0, 3)), 0, "rank of 0 x 3")
local x0, r0, k0, sv0 = L.lstsq(tide.zeros(0, 3), tide.zeros(0))
close(x0, tide.zeros(3), 0, "lstsq with no rows: zeros")
check.eq(r0.size + k0 + sv0.size, 0, "lstsq with no rows: no residuals, rank 0, no s")
local x3, r3 = L.lstsq(tide.zeros(3, 0), tide.array({1.0, 2, 2}))
check.eq(x3.size, 0, "lstsq with no columns: empty x")
check.near(r3[1], 9, 0, "lstsq with no columns: b is the residual")
local one = tide.array({{4.0}})
check.near(L.solve(one, tide.array({2.0}))[1], 0.5, 0, "1 x 1 solve")
check.near(L.inv(one):get(1, 1), 0.25, 0, "1 x 1 inv")
check.eq(L.det(one), 4.0, "1 x 1 det")
check.near(L.cholesky(one):get(1, 1), 2, 0, "1 x 1 cholesky")
check.near(L.eigh(one)[1], 4, 0, "1 x 1 eigh")
check.near(L.svd(one, {compute_uv = false})[1], 4, 0, "1 x 1 svd")
check.near(L.pinv(one):get(1, 1), 0.25, 0, "1 x 1 pinv")
check.eq(L.matrix_rank(one), 1, "1 x 1 rank")
check.eq(L.matrix_rank(tide.zeros(4)), 0, "rank of a zero vector")
check.eq(L.matrix_rank(tide.array({0, 2, 0})), 1, "rank of a vector")

-- ------------------------------------------------------------ dtypes and views
local Ai = tide.array({{4, 1, 2}, {1, 5, 3}, {2, 3, 6}})           -- i64
local Af = Ai:astype("f64")
check.eq(L.solve(Ai, tide.array({1, 2, 3})).dtype, "f64", "integers give f64")
close(L.solve(Ai, tide.array({1, 2, 3})), L.solve(Af, tide.array({1.0, 2, 3})), 0, "i64 = f64")
close(L.inv(Ai:astype("i32")), L.inv(Af), 0, "i32 = f64")
close(L.inv(Ai:astype("u8")), L.inv(Af), 0, "u8 = f64")
check.eq(L.det(Ai:astype("bool")), 0.0, "det of a bool matrix of ones")
local A32 = A:astype("f32")
for _, c in ipairs{
  {"solve", function(M) return L.solve(M, z.b:astype("f32")) end},
  {"inv", L.inv}, {"cholesky", function(M) return L.cholesky(tide.matmul(M:t(), M)) end},
  {"qr", L.qr}, {"svd", function(M) return select(2, L.svd(M)) end},
  {"eigh", function(M) return L.eigh(M + M:t()) end}, {"eig", L.eig}, {"pinv", L.pinv},
  {"lstsq", function(M) return L.lstsq(M, z.b:astype("f32")) end}} do
  local r32, r64 = c[2](A32), c[2](A32:astype("f64"))
  check.eq(r32.dtype, "f32", c[1] .. " of f32 gives f32")
  close(r32:astype("f64"), r64, 1e-6, c[1] .. " of f32 rounds the f64 answer")
end
check.eq(L.solve(A32, z.b).dtype, "f64", "f32 with f64 gives f64")
-- views: transposed, sliced, strided rows and columns read as their copies
local big = tide.randn(9, 12, {seed = 3})
local views = {
  t = A:t(), slice = big:slice(1, 2, 7):slice(2, 3, 8), step = tide.randn(12, 12, {seed = 4}),
}
local stepped = views.step:reshape(6, 2, 12):slice(2, 1, 1):reshape(6, 12):slice(2, 1, 6)
for name, V0 in pairs{t = views.t, slice = views.slice, stepped = stepped} do
  local C = V0:copy()
  check.truthy(not V0:is_contiguous() or name == "stepped", name .. " is a view")
  close(L.solve(V0, z.b), L.solve(C, z.b), 0, "solve of a " .. name .. " view")
  close(L.inv(V0), L.inv(C), 0, "inv of a " .. name .. " view")
  check.eq(L.det(V0), L.det(C), "det of a " .. name .. " view")
  local Q1, R1 = L.qr(V0)
  local Q2, R2 = L.qr(C)
  close(Q1, Q2, 0, "qr Q of a " .. name .. " view")
  close(R1, R2, 0, "qr R of a " .. name .. " view")
  close(select(2, L.svd(V0)), select(2, L.svd(C)), 0, "svd of a " .. name .. " view")
  close(L.eig(V0), L.eig(C), 0, "eig of a " .. name .. " view")
  close(L.pinv(V0), L.pinv(C), 0, "pinv of a " .. name .. " view")
  close(L.lstsq(V0, z.b), L.lstsq(C, z.b), 0, "lstsq of a " .. name .. " view")
  local P = tide.matmul(C:t(), C) + tide.eye(6)
  close(L.cholesky(P:t()), L.cholesky(P), 0, "cholesky of a transposed view")
  close(L.eigh(P:t()), L.eigh(P), 0, "eigh of a transposed view")
end
close(L.solve(A, z.B:t():copy():t()), z.solve_AB, 1e-12, "solve with a transposed B view")
close(L.solve(A, z.B:col(2)), z.solve_AB:col(2), 1e-12, "solve with a column view")
-- cholesky and eigh read the lower triangle only, as numpy
local Sl = S:copy()
for i = 1, 6 do for k = i + 1, 6 do Sl:set(i, k, 99) end end
close(L.cholesky(Sl), z.chol_S, 1e-12, "cholesky ignores the upper triangle")
close(L.eigh(Sl), z.eigh_S_w, 1e-12, "eigh ignores the upper triangle")
-- rowsets read as i64 arrays
check.eq(L.matrix_rank(tide.rowset(1, 3)), 1, "a rowset is a vector")

-- ------------------------------------------------------------ errors
check.errors(function() L.solve(tide.zeros(3, 2), tide.zeros(3)) end,
             "bad argument #1 to 'solve' (a square matrix expected, got 3x2)", "solve non-square")
check.errors(function() L.solve(A, tide.zeros(5)) end,
             "bad argument #2 to 'solve' (shapes 6x6 and 5 do not align)", "solve shapes")
check.errors(function() L.solve(A, tide.zeros(6, 1, 1)) end,
             "bad argument #2 to 'solve' (a vector or a matrix expected, got a 3-D array)",
             "solve 3-D B")
check.errors(function() L.solve(A, {1, 2}) end, "bad argument #2 to 'solve' (array expected",
             "solve table")
check.errors(function() L.inv(tide.zeros(3)) end,
             "bad argument #1 to 'inv' (a matrix (2-D array) expected, got a 1-D array)", "inv 1-D")
check.errors(function() L.det(tide.zeros(2, 3)) end, "a square matrix expected, got 2x3", "det")
check.errors(function() L.eigh(tide.zeros(2, 3)) end, "a square matrix expected", "eigh")
check.errors(function() L.eig(tide.zeros(2, 3)) end, "a square matrix expected", "eig")
check.errors(function() L.cholesky(tide.zeros(2, 3)) end, "a square matrix expected", "cholesky")
check.errors(function() L.qr(tide.zeros(2)) end, "a matrix (2-D array) expected", "qr 1-D")
check.errors(function() L.svd(tide.zeros(2, 2, 2)) end, "got a 3-D array", "svd 3-D")
check.errors(function() L.svd(A, {ful = true}) end,
             "unknown option 'ful' for tide.linalg.svd (options: full, compute_uv); did you mean 'full'?",
             "svd option")
check.errors(function() L.svd(A, {full = 1}) end, "option 'full' must be a boolean, got number",
             "svd full type")
check.errors(function() L.svd(A, 1) end, "bad argument #2 to 'svd' (table expected, got number)",
             "svd options type")
check.errors(function() L.lstsq(A, z.b, {rcond = "x"}) end,
             "bad argument #3 to 'lstsq' (option 'rcond' must be a number, got string)", "rcond")
check.errors(function() L.lstsq(T, z.b) end, "bad argument #2 to 'lstsq' (shapes 9x5 and 6",
             "lstsq shapes")
check.errors(function() L.pinv(A, {tol = 1}) end, "unknown option 'tol' for tide.linalg.pinv",
             "pinv option")
check.errors(function() L.matrix_rank(A, {tol = -1}) end, "option 'tol' must be a number >= 0",
             "rank tol")
check.errors(function() L.det(nil) end, "bad argument #1 to 'det' (array expected, got nil)", "det nil")
local closed = tide.zeros(2, 2)
closed:close()
check.errors(function() L.inv(closed) end, "array is closed", "closed array")
-- a NaN goes through as numpy's does (LAPACK decides), never a crash
local An = A:copy()
An:set(1, 1, 0 / 0)
check.truthy(pcall(L.solve, An, z.b) ~= nil, "solve with a NaN returns or raises")

-- ------------------------------------------------------------ live numpy
if numref.have_python("numpy") then
  local M = tide.randn(40, 40, {seed = 11})
  local Rt = tide.randn(60, 25, {seed = 12})
  local y = tide.randn(60, {seed = 13})
  local P = tide.matmul(M:t(), M) + tide.eye(40)
  local o = numref.live({M = M, R = Rt, y = y, P = P}, [[
L = np.linalg
M, R, y, P = I["M"], I["R"], I["y"], I["P"]
O["solve"] = L.solve(M, M[:, :3]); O["inv"] = L.inv(M); O["slogdet"] = np.array(L.slogdet(M))
O["chol"] = L.cholesky(P); O["q"], O["r"] = L.qr(R); O["s"] = L.svd(R, compute_uv=False)
O["w"] = L.eigh(P)[0]; O["pinv"] = L.pinv(R); O["rank"] = L.matrix_rank(R[:, :5] @ R[:5, :])
x, res, rank, s = L.lstsq(R, y, rcond=None); O["x"] = x; O["res"] = res
O["eig"] = np.sort(L.eigvals(M).real)
]])
  close(L.solve(M, M:slice(2, 1, 3)), o.solve, 1e-10, "live solve")
  close(L.inv(M), o.inv, 1e-10, "live inv")
  check.near(select(2, L.slogdet(M)), o.slogdet[2], 1e-12, "live slogdet")
  close(L.cholesky(P), o.chol, 1e-12, "live cholesky")
  local Q, R = L.qr(Rt)
  close(Q, o.q, 1e-10, "live qr Q")
  close(R, o.r, 1e-10, "live qr R")
  close(L.svd(Rt, {compute_uv = false}), o.s, 1e-12, "live svd")
  close(L.eigh(P), o.w, 1e-12, "live eigh")
  close(L.pinv(Rt), o.pinv, 1e-10, "live pinv")
  check.eq(L.matrix_rank(tide.matmul(Rt:slice(2, 1, 5), Rt:slice(1, 1, 5))),
           math.tointeger(o.rank:item()), "live rank")
  local x, res = L.lstsq(Rt, y)
  close(x, o.x, 1e-10, "live lstsq")
  close(res, o.res, 1e-10, "live lstsq residuals")
  local wr, wi = L.eig(M)
  local sorted = wr:copy()
  local t = sorted:totable(); table.sort(t)
  close(tide.array(t), o.eig, 1e-10, "live eig real parts")
else
  print("live numpy comparison skipped (no /usr/bin/python3 with numpy)")
end

check.done()
