-- binary_trees.lua DEPTH: allocation bursts for the real-program tests (test/real/realtest.py).
-- Builds one "stretch" tree of depth DEPTH+1 and drops it, keeps one long-lived tree of depth DEPTH
-- for the whole run, and for every even depth d from 4 to DEPTH builds and drops 2^(DEPTH-d+4)
-- trees of depth d, counting their nodes. Every tree is a nest of two-slot Lua tables, so the run
-- is a long series of small allocations freed in large bursts by the collector. The output depends
-- on DEPTH only.

local depth = tonumber(arg and arg[1]) or 16
local min_depth = 4
if depth < min_depth + 2 then depth = min_depth + 2 end

-- A leaf is an empty table; an inner node holds its two children.
local function build(d)
  if d == 0 then return {} end
  d = d - 1
  return { build(d), build(d) }
end

-- Number of nodes, found by walking the tree (the walk is what proves the tree is intact).
local function count(tree)
  local left = tree[1]
  if left == nil then return 1 end
  return 1 + count(left) + count(tree[2])
end

local stretch = depth + 1
io.write(string.format("stretch tree of depth %d\t check: %d\n", stretch, count(build(stretch))))

local long_lived = build(depth)

for d = min_depth, depth, 2 do
  local iterations = 1 << (depth - d + min_depth)
  local total = 0
  for _ = 1, iterations do
    total = total + count(build(d))
  end
  io.write(string.format("%d\t trees of depth %d\t check: %d\n", iterations, d, total))
end

io.write(string.format("long lived tree of depth %d\t check: %d\n", depth, count(long_lived)))
