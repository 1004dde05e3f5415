# structures.rb SCALE: builds and drops large Ruby data structures for the real-program tests
# (test/real/realtest.py). Ruby allocates its object heap pages with posix_memalign/aligned_alloc
# and string, array and hash bodies with malloc/realloc, so both paths of the allocator are used;
# GC.start in between returns the dropped memory. Each phase prints counts and a SHA-256 prefix of
# its result; the output depends on SCALE only.
require 'digest'

scale = (ARGV[0] || 200_000).to_i

def report(*fields)
  puts fields.join(' ')
  $stdout.flush
end

def digest(text)
  Digest::SHA256.hexdigest(text)[0, 16]
end

# hash: string keys to arrays and hashes, half deleted, refilled.
h = {}
scale.times { |i| h["key#{i}"] = [i, 'v' * (i % 23), { n: i }] }
(0...scale).step(2) { |i| h.delete("key#{i}") }
(scale / 2).times { |i| h["new#{i}"] = (0..(i % 17)).to_a.join(',') }
keys = h.keys.sort
total = keys.sum { |k| v = h[k]; v.is_a?(Array) ? v[0] + v[1].size : v.size }
report('hash', keys.size, total, digest(keys.each_slice(1000).map(&:first).join('|')))
h = nil
keys = nil
GC.start

# array: sort, slice, map, flatten.
a = Array.new(scale) { |i| [i * 7919 % scale, "item#{i}"] }
sorted = a.sort
cut = sorted[scale / 4, scale / 2]
strs = cut.reverse.map { |n, s| "#{s}:#{n}" }
grown = Array.new(scale / 2) { |i| [1] * (i % 13) }
report('array', sorted.size, cut.size, grown.flatten.size, digest(strs.first(1000).join(',')))
a = sorted = cut = strs = grown = nil
GC.start

# string: growth by <<, gsub, split, tally.
s = +''
scale.times { |i| s << "line #{i} " << ('ab' * (i % 9)) << "\n" }
t = s.gsub('ab', 'XYZ')
lines = t.split("\n")
words = lines.first(lines.size / 4).flat_map(&:split).tally
report('string', s.size, t.size, lines.size, words.size,
       digest(lines.first(10_000).map(&:upcase).join("\n")))
s = t = lines = words = nil
GC.start

# objects: a tree of Structs built recursively, walked, dropped; several rounds.
Node = Struct.new(:tag, :kids)
def build(depth, tag)
  return Node.new(tag, []) if depth.zero?
  Node.new(tag, (1..4).map { |k| build(depth - 1, "#{tag}.#{k}") })
end

def walk(node)
  node.tag.size + node.kids.sum { |k| walk(k) }
end
depth = scale >= 100_000 ? 8 : 6
sum = 0
3.times { |r| sum += walk(build(depth, "r#{r}")) }
GC.start
report('tree', sum)

# threads: 4 threads building and dropping structures (Ruby threads share the GVL, but each has
# its own stack and allocates from its own native thread).
results = Array.new(4)
threads = 4.times.map do |k|
  Thread.new(k) do |id|
    acc = 0
    (scale / 20).times do |i|
      obj = { id: id, i: i, list: Array.new(i % 11) { |j| "#{id}-#{j}" } }
      acc += obj[:list].sum(&:size) + obj[:i]
    end
    results[id] = acc
  end
end
threads.each(&:join)
report('threads', results.join(','))
report('done', scale)
