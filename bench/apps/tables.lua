-- spanlab application workload "lua": table- and string-heavy work for lua5.4.
-- usage: lua5.4 tables.lua N
-- Prints one line "lua SUM COUNT TOTAL REMAINING SORTED"; scripts/spanlab_exp/apps.py
-- computes the expected line from N and compares.
local n = tonumber(arg[1]) or 100000

-- records in a hash table with string keys; a third of them removed again
local t = {}
for i = 1, n do
  t["k" .. i] = { id = i, name = string.format("item-%07d", i), tags = { i % 7, i % 11 } }
end
local sum = 0
for i = 1, n, 3 do
  local r = t["k" .. i]
  sum = sum + r.id + #r.name + r.tags[1] + r.tags[2]
  t["k" .. i] = nil
end
local remaining = 0
for _ in pairs(t) do remaining = remaining + 1 end

-- strings: build one long string from pieces, split it again
local parts = {}
for i = 1, n do parts[#parts + 1] = tostring(i * 7 % 1000) end
local s = table.concat(parts, ",")
local count, total = 0, 0
for w in s:gmatch("[^,]+") do
  count = count + 1
  total = total + tonumber(w)
end

-- an array sorted in place, then checked
local arr = {}
for i = 1, n do arr[i] = (i * 7919) % n end
table.sort(arr)
local sorted = true
for i = 2, n do
  if arr[i - 1] > arr[i] then sorted = false end
end

print(string.format("lua %d %d %d %d %s", sum, count, total, remaining, tostring(sorted)))
