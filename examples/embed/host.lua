-- Run by examples/embed/host.c.  host_data (4 x 3) and host_means (3) are
-- the host's own buffers, lent with no copy ("borrowed" storage).
assert(tide.is_array(host_data) and host_data.storage == "borrowed")
assert(host_means.storage == "borrowed" and host_means.shape[1] == host_data.shape[2])
local nrow, ncol = host_data.shape[1], host_data.shape[2]

-- Column sums through column views (strided views of the host's memory).
colsums = {}
for j = 1, ncol do
  local col, s = host_data:col(j), 0
  for i = 1, #col do s = s + col[i] end
  colsums[j] = s
  host_means[j] = s / nrow -- written straight into the host's buffer
end
print("script: column sums", table.concat(colsums, " "))

-- Double every value in place, row view by row view.
for i = 1, nrow do
  local row = host_data[i]
  for j = 1, ncol do row[j] = row[j] * 2 end
end
print("script: doubled", host_data.size, "host values in place")
