"""The real programs of `make bench-real`: what each one runs, the inputs it is given (generated
here, deterministically, from fixed seeds) and what of its output is compared between allocators.

Each program is a class with
  name, exe (the installed program it needs), package (the Debian package that has it),
  probe:  a short command whose malloc bindings prove the preload takes effect in that program,
  setup(ctx): writes its inputs into ctx.tmp once,
  run(ctx): one measured run; ctx.launch() starts commands under the allocator being measured
            and adds their time, peak RSS, faults and system time to the run; returns a digest of
            the output, which must be the same under every allocator.
Programs whose allocator is not malloc by default are switched to it (PYTHONMALLOC=malloc,
USE_ZEND_ALLOC=0), so that the allocator under test serves their objects.
"""
import hashlib
import os
import random
import shutil
import socket
import subprocess
import time


def digest(*chunks):
    h = hashlib.sha256()
    for c in chunks:
        h.update(c if isinstance(c, bytes) else str(c).encode())
    return h.hexdigest()[:16]


def words(rng, n, lo=3, hi=12, alphabet="abcdefghijklmnopqrstuvwxyz"):
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


class Python:
    name, exe, package = "python3", "/usr/bin/python3", "python3"
    probe = ["/usr/bin/python3", "-c", "import json"]
    env = {"PYTHONMALLOC": "malloc", "PYTHONHASHSEED": "0"}

    SCRIPT = r'''
import json, random, sys
n = int(sys.argv[1])
r = random.Random(11)
letters = "abcdefghijklmnopqrstuvwxyz"
ws = ["".join(r.choice(letters) for _ in range(r.randint(3, 12))) for _ in range(n)]
index = {}
for i, w in enumerate(ws):
    index.setdefault(w[:4], []).append(i)
records = [{"id": i, "word": w, "tags": ws[i:i + 4], "score": (i * 7919) % 1000 / 7.0}
           for i, w in enumerate(ws)]
blob = json.dumps(records)
back = json.loads(blob)
back.sort(key=lambda x: (x["score"], x["word"]))
del records[::3]
text = " ".join(x["word"] for x in back[: n // 2])
counts = {}
for w in text.split():
    counts[w] = counts.get(w, 0) + 1
pairs = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
sets = [set(ws[i:i + 50]) for i in range(0, n, 50)]
inter = sum(len(a & b) for a, b in zip(sets, sets[1:]))
print(len(index), len(blob), len(records), len(text), inter)
print(pairs[:5])
'''

    def setup(self, ctx):
        ctx.write("alloc.py", self.SCRIPT)

    def run(self, ctx):
        n = "20000" if ctx.quick else "100000"
        rec = ctx.launch([self.exe, ctx.path("alloc.py"), n], env=self.env)
        return digest(rec.out)


class Sqlite:
    name, exe, package = "sqlite3", "/usr/bin/sqlite3", "sqlite3"
    probe = ["/usr/bin/sqlite3", ":memory:", "select 1;"]

    def setup(self, ctx):
        rng = random.Random(5)
        rows = 30000 if ctx.quick else 150000
        names = words(rng, 2000)
        out = ["PRAGMA journal_mode=MEMORY;", "PRAGMA cache_size=-65536;",
               "CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT, city TEXT);",
               "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, item TEXT,"
               " qty INTEGER, price REAL, note TEXT);",
               "BEGIN;"]
        for i in range(2000):
            out.append("INSERT INTO customer VALUES(%d,'%s','%s');" % (
                i, names[i], names[(i * 37) % 2000][:6]))
        for i in range(rows):
            out.append("INSERT INTO orders VALUES(%d,%d,'%s',%d,%.2f,'%s');" % (
                i, rng.randrange(2000), names[rng.randrange(2000)], rng.randint(1, 50),
                rng.random() * 100, " ".join(rng.choice(names) for _ in range(rng.randint(1, 8)))))
        out += ["COMMIT;",
                "CREATE INDEX orders_customer ON orders(customer);",
                "CREATE INDEX orders_item ON orders(item, qty);",
                "CREATE INDEX customer_city ON customer(city);",
                "SELECT c.city, count(*), sum(o.qty), round(avg(o.price), 3) FROM orders o"
                " JOIN customer c ON c.id = o.customer GROUP BY c.city ORDER BY 2 DESC LIMIT 10;",
                "SELECT item, sum(qty) FROM orders WHERE qty > 25 GROUP BY item"
                " ORDER BY 2 DESC, 1 LIMIT 10;",
                "UPDATE orders SET note = note || ' ' || item WHERE qty % 7 = 0;",
                "DELETE FROM orders WHERE price < 5;",
                "SELECT count(*), sum(length(note)) FROM orders;",
                "SELECT name FROM customer WHERE id IN (SELECT customer FROM orders"
                " GROUP BY customer HAVING count(*) > 70) ORDER BY name LIMIT 5;",
                "SELECT o.id, c.name FROM orders o JOIN customer c ON c.id = o.customer"
                " ORDER BY o.note, o.id LIMIT 5;",
                "VACUUM;",
                "SELECT count(*) FROM orders;"]
        ctx.write("script.sql", "\n".join(out) + "\n")

    def run(self, ctx):
        db = ctx.path("test.db")
        if os.path.exists(db):
            os.unlink(db)
        rec = ctx.launch([self.exe, db], stdin=ctx.path("script.sql"))
        os.unlink(db)
        return digest(rec.out)


class Git:
    name, exe, package = "git", "/usr/bin/git", "git"
    probe = ["/usr/bin/git", "--version"]
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "TZ": "UTC",
           "GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000"}

    def setup(self, ctx):
        """A fast-import stream: many commits editing lines of a few hundred files."""
        rng = random.Random(3)
        commits = 300 if ctx.quick else 1500
        nfiles = 200
        vocab = words(rng, 3000)
        files = {i: [" ".join(rng.choice(vocab) for _ in range(8)) for _ in range(60)]
                 for i in range(nfiles)}
        parts = []
        for c in range(commits):
            changed = rng.sample(range(nfiles), rng.randint(1, 6))
            ops = []
            for f in changed:
                lines = files[f]
                for _ in range(rng.randint(1, 5)):
                    k = rng.randrange(len(lines) + 1)
                    if rng.random() < 0.3 and len(lines) > 10:
                        del lines[min(k, len(lines) - 1)]
                    else:
                        words_k = rng.randint(3, 12)
                        lines.insert(k, " ".join(rng.choice(vocab) for _ in range(words_k)))
                data = ("\n".join(lines) + "\n").encode()
                ops.append(b"M 100644 inline dir%d/file%d.txt\ndata %d\n%s\n" % (
                    f % 10, f, len(data), data))
            msg = ("commit %d: %s" % (c, " ".join(rng.choice(vocab) for _ in range(6)))).encode()
            head = b"commit refs/heads/main\nmark :%d\n" % (c + 1)
            head += b"committer Bench <bench@example.org> %d +0000\n" % (1700000000 + c * 60)
            head += b"data %d\n%s\n" % (len(msg), msg)
            if c > 0:
                head += b"from :%d\n" % c
            parts.append(head + b"".join(ops) + b"\n")
        with open(ctx.path("history.fi"), "wb") as f:
            f.write(b"".join(parts))

    def run(self, ctx):
        repo = ctx.path("repo")
        shutil.rmtree(repo, ignore_errors=True)
        ctx.launch([self.exe, "init", "-q", "-b", "main", repo], env=self.env)
        g = [self.exe, "-C", repo]
        ctx.launch(g + ["fast-import", "--quiet"], stdin=ctx.path("history.fi"), env=self.env)
        ctx.launch(g + ["checkout", "-q", "main"], env=self.env)
        log = ctx.launch(g + ["log", "-p", "--stat", "--format=%H %s"], env=self.env)
        ctx.launch(g + ["repack", "-adfq", "--depth=50", "--window=50"], env=self.env)
        blame = ctx.launch(g + ["blame", "-s", "dir3/file3.txt"], env=self.env)
        count = ctx.launch(g + ["rev-list", "--count", "--objects", "--all"], env=self.env)
        shutil.rmtree(repo, ignore_errors=True)
        return digest(log.out, blame.out, count.out)


class Gxx:
    name, exe, package = "g++", "/usr/bin/g++", "g++"
    probe = ["/usr/bin/g++", "--version"]

    def setup(self, ctx):
        """A large translation unit: many classes, templates instantiated over them, STL use."""
        rng = random.Random(9)
        n = 4 if ctx.quick else 12
        src = ["#include <map>", "#include <string>", "#include <vector>", "#include <algorithm>",
               "#include <memory>", "#include <unordered_map>", "#include <sstream>", "",
               "template <class T> struct Box { T v; std::vector<T> hist;",
               "  void put(const T& x) { hist.push_back(v); v = x; }",
               "  size_t depth() const { return hist.size(); } };", ""]
        for i in range(n):
            fields = rng.randint(2, 6)
            src.append("struct S%d {" % i)
            for k in range(fields):
                src.append("  %s f%d;" % (rng.choice(["int", "double", "std::string", "long"]), k))
            src.append("  bool operator<(const S%d& o) const { return f0 < o.f0; }" % i)
            src.append("};")
            src.append("std::string use%d(int seed) {" % i)
            src.append("  std::map<int, std::vector<S%d>> m;" % i)
            src.append("  std::unordered_map<std::string, Box<S%d>> u;" % i)
            src.append("  std::ostringstream os;")
            src.append("  for (int k = 0; k < seed %% %d; k++) { S%d s{}; m[k].push_back(s);"
                       " u[std::to_string(k)].put(s); os << k << ','; }" % (rng.randint(3, 50), i))
            src.append("  std::vector<S%d> all; for (auto& kv : m) for (auto& s : kv.second)"
                       " all.push_back(s);" % i)
            src.append("  std::sort(all.begin(), all.end());")
            src.append("  auto p = std::make_shared<Box<S%d>>(); p->put(S%d{});" % (i, i))
            src.append("  return os.str() + std::to_string(all.size() + p->depth());")
            src.append("}")
        src.append("int main() { std::string r;")
        for i in range(n):
            src.append("  r += use%d(%d);" % (i, i))
        src.append("  return (int)r.size() & 1; }")
        ctx.write("big.cpp", "\n".join(src) + "\n")

    def run(self, ctx):
        obj = ctx.path("big.o")
        ctx.launch([self.exe, "-std=c++17", "-O1", "-frandom-seed=1", "-c", ctx.path("big.cpp"),
                    "-o", obj])
        with open(obj, "rb") as f:
            data = f.read()
        os.unlink(obj)
        return digest(data)


class Redis:
    name, exe, package = "redis", "/usr/bin/redis-server", "redis-server"
    probe = ["/usr/bin/redis-server", "--version"]
    TESTS = "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,lrange_100,mset"

    def setup(self, ctx):
        for tool in ("/usr/bin/redis-benchmark", "/usr/bin/redis-cli"):
            if not os.access(tool, os.X_OK):
                raise FileNotFoundError(tool + " (apt-get install redis-tools)")

    @staticmethod
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def run(self, ctx):
        port = str(self.free_port())
        cli = ["/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", port]
        server = ctx.spawn([self.exe, "--bind", "127.0.0.1", "--port", port, "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                            "--dir", ctx.tmp, "--loglevel", "warning"])
        try:
            deadline = time.monotonic() + 10
            while True:
                p = subprocess.run(cli + ["ping"], capture_output=True)
                if p.stdout.strip() == b"PONG":
                    break
                if time.monotonic() > deadline or server["proc"].poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            n = "20000" if ctx.quick else "100000"
            # the client is not under test: it runs on glibc and only its wall time counts
            bench = ctx.launch(["/usr/bin/redis-benchmark", "-h", "127.0.0.1", "-p", port, "-q",
                                "-n", n, "-c", "20", "-P", "16", "-r", "200000", "-d", "200",
                                "-t", self.TESTS], preload=False, account="time")
            sets = []
            for k in range(200):
                sets.append("SET key:%d %s\n" % (k, "v%d" % (k * k) * (k % 13 + 1)))
            sets.append("MGET " + " ".join("key:%d" % k for k in range(0, 200, 7)) + "\n")
            sets.append("DBSIZE\n")
            check = subprocess.run(cli + ["-n", "1"], input="".join(sets).encode(),
                                   capture_output=True, timeout=60)
            if bench.rc != 0:
                raise RuntimeError("redis-benchmark failed")
        finally:
            subprocess.run(cli + ["shutdown", "nosave"], capture_output=True, timeout=30)
            ctx.finish(server, account="rss", wait_s=20)
        return digest(check.stdout)


class Lua:
    name, exe, package = "lua", "/usr/bin/lua5.4", "lua5.4"
    probe = ["/usr/bin/lua5.4", "-e", "x={}"]

    SCRIPT = r'''
local depth = tonumber(arg[1])
local function make(d)
  if d == 0 then return {} end
  return {make(d - 1), make(d - 1)}
end
local function check(t)
  if t[1] == nil then return 1 end
  return 1 + check(t[1]) + check(t[2])
end
local long = make(depth)
local total = 0
for d = 4, depth, 2 do
  local iters = 1 << (depth - d + 4)
  for i = 1, iters do total = total + check(make(d)) end
end
local words, map = {}, {}
for i = 1, 200000 do
  local w = string.format("w%x:%d", (i * 2654435761) % 4294967296, i % 97)
  words[#words + 1] = w
  map[w] = (map[w] or 0) + #w
end
table.sort(words)
local parts = {}
for i = 1, #words, 3 do parts[#parts + 1] = words[i]:upper() end
local joined = table.concat(parts, ",")
print(total, check(long), #joined, words[1], words[#words])
'''

    def setup(self, ctx):
        ctx.write("trees.lua", self.SCRIPT)

    def run(self, ctx):
        rec = ctx.launch([self.exe, ctx.path("trees.lua"), "12" if ctx.quick else "16"])
        return digest(rec.out)


class Xmllint:
    name, exe, package = "xmllint", "/usr/bin/xmllint", "libxml2-utils"
    probe = ["/usr/bin/xmllint", "--version"]

    def setup(self, ctx):
        rng = random.Random(2)
        n = 20000 if ctx.quick else 100000
        vocab = words(rng, 500)
        out = ['<?xml version="1.0" encoding="UTF-8"?>', "<catalog>"]
        for i in range(n):
            out.append('<item id="i%d" kind="%s"><name>%s</name><tags>%s</tags>'
                       '<price cur="EUR">%.2f</price><desc>%s</desc></item>' % (
                           i, rng.choice(vocab), rng.choice(vocab),
                           "".join("<t>%s</t>" % rng.choice(vocab)
                                   for _ in range(rng.randint(0, 5))),
                           rng.random() * 500,
                           " ".join(rng.choice(vocab) for _ in range(rng.randint(2, 20)))))
        out.append("</catalog>")
        ctx.write("catalog.xml", "\n".join(out) + "\n")

    def run(self, ctx):
        xml = ctx.path("catalog.xml")
        fmt = ctx.launch([self.exe, "--format", xml])
        xp = ctx.launch([self.exe, "--xpath", "count(//item[price > 250]/tags/t)", xml])
        c14 = ctx.launch([self.exe, "--c14n", xml])
        return digest(fmt.out, xp.out, c14.out)


class Perl:
    name, exe, package = "perl", "/usr/bin/perl", "perl"
    probe = ["/usr/bin/perl", "-e", "my %h = (a => 1);"]

    SCRIPT = r'''
use strict; use warnings;
my $n = shift;
my (%idx, @recs);
my $x = 12345;
for my $i (1 .. $n) {
  $x = ($x * 1103515245 + 12345) % 2147483648;
  my $w = join("", map { chr(97 + (($x >> ($_ * 3)) % 26)) } 0 .. (3 + $x % 8));
  push @recs, { id => $i, word => $w, tags => [ split //, substr($w, 0, 4) ] };
  push @{ $idx{ substr($w, 0, 2) } }, $i;
}
my @sorted = sort { $a->{word} cmp $b->{word} || $a->{id} <=> $b->{id} } @recs;
my $text = join " ", map { $_->{word} } @sorted;
(my $t2 = $text) =~ s/([aeiou])([a-z])/$2$1/g;
my %count; $count{$_}++ for split / /, $t2;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
splice(@recs, 0, int($n / 2));
print scalar(keys %idx), " ", length($t2), " ", scalar(@recs), " @top\n";
'''

    def setup(self, ctx):
        ctx.write("structures.pl", self.SCRIPT)

    def run(self, ctx):
        rec = ctx.launch([self.exe, ctx.path("structures.pl"), "30000" if ctx.quick else "100000"])
        return digest(rec.out)


class Ruby:
    name, exe, package = "ruby", "/usr/bin/ruby", "ruby"
    probe = ["/usr/bin/ruby", "-e", "a = [1]"]

    SCRIPT = r'''
n = ARGV[0].to_i
x = 12345
recs = []
idx = Hash.new { |h, k| h[k] = [] }
n.times do |i|
  x = (x * 1103515245 + 12345) % 2147483648
  w = (0..(3 + x % 8)).map { |k| (97 + ((x >> (k * 3)) % 26)).chr }.join
  recs << { id: i, word: w, tags: w[0, 4].chars }
  idx[w[0, 2]] << i
end
sorted = recs.sort_by { |r| [r[:word], r[:id]] }
text = sorted.map { |r| r[:word] }.join(" ")
t2 = text.gsub(/([aeiou])([a-z])/) { "#{$2}#{$1}" }
count = Hash.new(0)
t2.split(" ").each { |w| count[w] += 1 }
top = count.sort_by { |w, c| [-c, w] }.first(5).map(&:first)
recs.shift(n / 2)
puts "#{idx.size} #{t2.size} #{recs.size} #{top.join(' ')}"
'''

    def setup(self, ctx):
        ctx.write("structures.rb", self.SCRIPT)

    def run(self, ctx):
        rec = ctx.launch([self.exe, ctx.path("structures.rb"), "30000" if ctx.quick else "120000"])
        return digest(rec.out)


class Php:
    name, exe, package = "php", "/usr/bin/php", "php-cli"
    # -n: no php.ini, so no extension modules, which PHP opens with RTLD_DEEPBIND (their malloc
    # calls would go to glibc whatever is preloaded; PHP crashes under any preloaded allocator)
    probe = ["/usr/bin/php", "-n", "-r", "$a = [1];"]
    env = {"USE_ZEND_ALLOC": "0"}

    SCRIPT = r'''<?php
$n = (int)$argv[1];
$x = 12345; $recs = []; $idx = [];
for ($i = 0; $i < $n; $i++) {
  $x = ($x * 1103515245 + 12345) % 2147483648;
  $w = "";
  for ($k = 0; $k <= 3 + $x % 8; $k++) $w .= chr(97 + (($x >> ($k * 3)) % 26));
  $recs[] = ["id" => $i, "word" => $w, "tags" => str_split(substr($w, 0, 4))];
  $idx[substr($w, 0, 2)][] = $i;
}
usort($recs, fn($a, $b) => [$a["word"], $a["id"]] <=> [$b["word"], $b["id"]]);
$text = implode(" ", array_column($recs, "word"));
$t2 = preg_replace("/([aeiou])([a-z])/", "$2$1", $text);
$count = array_count_values(explode(" ", $t2));
uksort($count, fn($a, $b) => [$count[$b], $a] <=> [$count[$a], $b]);
$top = array_slice(array_keys($count), 0, 5);
array_splice($recs, 0, intdiv($n, 2));
echo count($idx), " ", strlen($t2), " ", count($recs), " ", implode(" ", $top), "\n";
'''

    def setup(self, ctx):
        ctx.write("arrays.php", self.SCRIPT)

    def run(self, ctx):
        rec = ctx.launch([self.exe, "-n", "-d", "memory_limit=-1", ctx.path("arrays.php"),
                          "30000" if ctx.quick else "120000"], env=self.env)
        return digest(rec.out)


PROGRAMS = [Python(), Sqlite(), Git(), Gxx(), Redis(), Lua(), Xmllint(), Perl(), Ruby(), Php()]
