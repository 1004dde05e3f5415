"""alloc_mix.py SCALE: a malloc-heavy Python workload for the real-program tests.

Run by test/real/realtest.py with PYTHONMALLOC=malloc, so every Python object (not only the large
ones) is a malloc/free of the C library, or of the allocator preloaded in its place. SCALE (default
200000) sets the sizes. Phases, each printing one line of counts and a SHA-256 of its result:
  dict      a dict of SCALE string keys -> lists, half deleted, refilled, resized
  list      lists of tuples and floats, sorted, sliced, concatenated and dropped
  str       strings joined, split, replaced, encoded; a growing bytearray
  json      a nested structure of SCALE/10 records dumped to JSON, loaded back, compared
  cycles    reference cycles left to the cyclic collector, then gc.collect()
  threads   4 producer and 4 consumer threads exchanging freshly built objects through queues, so
            most objects are freed by a thread other than the one that allocated them
The output depends on SCALE only: no addresses, no timings, no hash randomisation (str hashes are
never printed, and every digest is over sorted or ordered data).
"""
import gc
import hashlib
import json
import queue
import sys
import threading

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 200000


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def report(phase, *fields):
    print(phase, *fields, flush=True)


def phase_dict(n):
    d = {}
    for i in range(n):
        d["key-%d" % i] = [i, str(i) * (1 + i % 7)]
    for i in range(0, n, 2):
        del d["key-%d" % i]
    for i in range(n, n + n // 2):
        d["new-%d" % i] = {"v": i, "s": "x" * (i % 50)}
    shrunk = {k: v for k, v in d.items() if len(k) % 3}
    total = sum(len(k) for k in shrunk)
    sample = sorted(shrunk)[::max(1, n // 1000)]
    report("dict", len(d), len(shrunk), total, digest(",".join(sample)))


def phase_list(n):
    rows = [(i * 7919 % n, "r%d" % i, i * 0.5) for i in range(n)]
    rows.sort()
    evens = rows[::2]
    joined = evens + rows[1::2][::-1]
    squares = [x * x for x in range(n)]
    nested = [list(range(i % 17)) for i in range(n // 4)]
    flat = [x for sub in nested for x in sub]
    report("list", len(joined), sum(squares) % 1000003, len(flat), sum(flat),
           digest(repr(joined[:: max(1, n // 500)])))


def phase_str(n):
    words = ["w%dx%s" % (i, "ab" * (i % 11)) for i in range(n)]
    text = " ".join(words)
    parts = text.split("x")
    replaced = text.replace("ab", "ABC")
    upper = replaced.upper()
    encoded = upper.encode("utf-8")
    buf = bytearray()
    for i in range(n // 10):
        buf += encoded[i * 7:i * 7 + 33]
    uni = "".join(chr(0x400 + i % 200) for i in range(n // 4))
    report("str", len(text), len(parts), len(upper), len(buf), len(uni.encode("utf-8")),
           digest(upper[:5000] + buf[-5000:].decode("ascii", "replace")))


def phase_json(n):
    records = [{"id": i,
                "name": "record-%d" % i,
                "tags": ["t%d" % (i % k) for k in range(1, 1 + i % 6)],
                "score": i / 8.0,
                "flags": {"even": i % 2 == 0, "mod3": i % 3},
                "payload": [[j, "p" * (j % 9)] for j in range(i % 13)]}
               for i in range(n)]
    doc = {"count": n, "records": records, "index": {str(i): i * 3 for i in range(0, n, 7)}}
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    assert back == doc, "json round trip changed the data"
    again = json.dumps(back, sort_keys=True, indent=1)
    report("json", len(text), len(again), digest(text))


class Node:
    __slots__ = ("peer", "data", "__weakref__")

    def __init__(self, data):
        self.peer = None
        self.data = data


def phase_cycles(n):
    gc.collect()
    kept = []
    for i in range(n // 4):
        a, b = Node([i] * (1 + i % 5)), Node({"i": i})
        a.peer, b.peer = b, a
        if i % 100 == 0:
            kept.append(a)
    gc.collect()
    # Dict and list cycles as well.
    for i in range(n // 8):
        d = {"self": None, "i": i}
        d["self"] = d
        lst = [d]
        lst.append(lst)
    gc.collect()
    report("cycles", len(kept), sum(len(k.data) for k in kept), kept[-1].peer.data["i"])


def phase_threads(n):
    per_thread = n // 8
    work = queue.Queue(maxsize=256)
    results = []
    lock = threading.Lock()

    def produce(k):
        for i in range(per_thread):
            item = {"k": k, "i": i, "s": "%d:%d" % (k, i) * (1 + i % 4), "l": list(range(i % 10))}
            work.put(item)

    def consume():
        total = 0
        count = 0
        while True:
            item = work.get()
            if item is None:
                break
            total += item["i"] + len(item["s"]) + sum(item["l"])
            count += 1
        with lock:
            results.append((count, total))

    consumers = [threading.Thread(target=consume) for _ in range(4)]
    producers = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        work.put(None)
    for t in consumers:
        t.join()
    # Which consumer got which item depends on scheduling; the sums do not.
    report("threads", sum(c for c, _ in results), sum(t for _, t in results))


def main():
    phase_dict(SCALE)
    phase_list(SCALE)
    phase_str(SCALE)
    phase_json(max(10, SCALE // 10))
    phase_cycles(SCALE)
    phase_threads(SCALE)
    report("done", SCALE)


if __name__ == "__main__":
    main()
