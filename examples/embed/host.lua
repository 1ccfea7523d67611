-- Run by examples/embed/host.c: host_data is the host's own buffer.
assert(tide.is_array(host_data) and host_data.storage == "borrowed")
for i = 1, #host_data do
  local row = host_data[i]
  for j = 1, row.shape[1] do row[j] = row[j] * 2 end
end
print("script: doubled", host_data.size, "host values in place")
