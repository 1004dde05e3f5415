"""gen_redis.py KEYS: writes to stdout a fixed Redis data set as RESP commands for
`redis-cli --pipe` (real-program tests).

About KEYS string keys (small and large values, counters, appends), KEYS/100 lists, hashes, sets
and sorted sets of 20-300 elements (so both the compact listpack/intset encodings and the hash
table/skiplist encodings are used), then deletions, trims and overwrites that free what was
built. Fixed-seed generator: the resulting data set, and so its DEBUG DIGEST, is the same on every
run.
"""
import random
import sys

keys = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
rng = random.Random(99)
out = sys.stdout.buffer


def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))


def word():
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(3, 12)))


for i in range(keys):
    size = rng.choice([8, 30, 100, 500, 2000]) if i % 1000 else 100000
    cmd("SET", "str:%d" % i, (word() * (size // 5 + 1))[:size])
    if i % 7 == 0:
        cmd("APPEND", "str:%d" % i, word() * 20)
    if i % 11 == 0:
        cmd("INCRBY", "counter:%d" % (i % 500), i)
groups = max(1, keys // 100)
members = {}
for g in range(groups):
    n = rng.choice([20, 60, 300])
    cmd("RPUSH", "list:%d" % g, *[word() for _ in range(n)])
    cmd("HSET", "hash:%d" % g, *[x for j in range(n) for x in ("f%d" % j, word() * (j % 4 + 1))])
    if g % 2:
        members[g] = [rng.randrange(10**6) for _ in range(n)]  # integers: an intset while small
    else:
        members[g] = [word() for _ in range(n)]
    cmd("SADD", "set:%d" % g, *members[g])
    cmd("ZADD", "zset:%d" % g, *[x for j in range(n) for x in (rng.randrange(10**4), "m%d" % j)])
# Frees: deletions, trims, overwrites with other types and sizes.
for i in range(0, keys, 3):
    cmd("DEL", "str:%d" % i)
for g in range(0, groups, 4):
    cmd("LTRIM", "list:%d" % g, 5, 15)
    cmd("HDEL", "hash:%d" % g, *["f%d" % j for j in range(0, 60, 2)])
    cmd("ZREMRANGEBYRANK", "zset:%d" % g, 0, 9)
    cmd("SREM", "set:%d" % g, *members[g][:5])  # not SPOP: it draws from a randomly seeded PRNG
for i in range(1, keys, 5):
    cmd("SET", "str:%d" % i, word() * (i % 50 + 1))
cmd("SUNIONSTORE", "set:union", *["set:%d" % g for g in range(1, min(groups, 40), 2)])
cmd("ZUNIONSTORE", "zset:union", min(groups, 20), *["zset:%d" % g for g in range(min(groups, 20))])
