#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz-api harness: test/fuzz/corpus-api/seed-* (every operation
and variant, size classes and page kinds, heaps, visits) and test/fuzz/selftest-api/* (inputs
that damage a block in FUZZ_SELFTEST builds, which must abort). The byte encoding mirrors
fuzz-api.c and is described in test/fuzz/README.md; keep the three in step. Standard library only.

    python3 test/fuzz/make-corpus-api.py      # rewrites the seed-* and selftest-api files
"""
import os
import sys

KiB = 1024
MiB = 1024 * KiB

# First code of each operation in fuzz-api.c's op_of_code table.
(MALLOC, ZALLOC, ALIGNED, REALLOC, REZALLOC, REALLOC_ALIGNED, FREE, USABLE, EXPAND, FILL, STRDUP,
 HEAP_NEW, HEAP_ALLOC, HEAP_DESTROY, HEAP_DELETE, HEAP_DEFAULT, VISIT, COLLECT, ERRORS,
 CHECK_ALL) = range(20)
CORRUPT = 31  # FUZZ_SELFTEST builds only

EDGES = [0, 16, 128, 1024, 1040, 4096, 8 * KiB, 16 * KiB,
         64 * KiB, 72 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, MiB, 2 * MiB, 8 * MiB]
BIG_EDGES = [4 * MiB, 16 * MiB, 16 * MiB + 64 * KiB, 17 * MiB, 24 * MiB, 32 * MiB - 64 * KiB,
             32 * MiB, 34 * MiB]
BACKING = 3  # heap index of the backing heap in HEAP_DEFAULT


def size(n):
    """An encoding of exactly n bytes (see in_size_for)."""
    if n < 0x80:
        return [n]
    if n < (1 << 14):
        return [0x80 | (n >> 8), n & 0xFF]
    for i, e in enumerate(EDGES):
        if -128 <= n - e < 128:
            return [0xC0 | i, (n - e) & 0xFF]
    if n < (1 << 19):
        v = n << 2
        hi = v >> 16
        return [(0xE0 + hi) if hi < 16 else (0xD0 + hi - 16), v & 0xFF, (v >> 8) & 0xFF]
    if n % 4 == 0 and (n >> 2) < (12 << 16):
        v = n >> 2
        return [0xF0 | (v >> 16), v & 0xFF, (v >> 8) & 0xFF]
    for i, e in enumerate(BIG_EDGES):
        if -128 <= n - e < 128:
            return [0xFC, i, (n - e) & 0xFF]
    raise ValueError("no encoding for size %d" % n)


def align(n):
    """Alignment n: a power of two up to 4 MiB, or 8, 16, 32, 64 MiB."""
    shift = n.bit_length() - 1
    assert n == 1 << shift and shift <= 26
    if shift <= 12:
        return [shift]
    if shift <= 22:
        return [0xE0 + shift - 13]
    return [0xFC + shift - 23]


def offset(n):
    if n == 0:
        return [0]
    if n < 64:
        return [0x80 | n]
    assert n % KiB == 0 and n // KiB < 64
    return [0xC0 | (n // KiB)]


def elem(n):
    return [n.bit_length() - 1]


# Operations: each returns its bytes (operands in the order fuzz-api.c reads them).
def malloc(v, slot, n): return [MALLOC, v, slot] + size(n)
def zalloc(v, slot, n, e=1): return [ZALLOC, v, slot] + size(n) + elem(e)
def aligned(v, slot, n, a=16, o=0): return [ALIGNED, v, slot] + align(a) + offset(o) + size(n)
def realloc(v, slot, n): return [REALLOC, v, slot] + size(n)
def rezalloc(v, slot, n, e=1): return [REZALLOC, v, slot] + size(n) + elem(e)
def realloc_aligned(v, slot, n, a, o=0, e=1):
    return [REALLOC_ALIGNED, v, slot] + align(a) + offset(o) + elem(e) + size(n)
def free(v, slot): return [FREE, v, slot]
def usable(slot): return [USABLE, slot]
def expand(v, slot, n=0): return [EXPAND, v, slot] + size(n)
def fill(slot): return [FILL, slot]
def strdup(v, slot, text, h=0, limit=0):
    data = list(text.encode())
    assert len(data) < 64 and 0 not in data
    return [STRDUP, v, slot, h, len(data)] + data + [limit]
def heap_new(h): return [HEAP_NEW, h]
def heap_alloc(v, h, slot, n, a=16, o=0, e=1):
    return [HEAP_ALLOC, v, h, slot] + align(a) + offset(o) + elem(e) + size(n)
def heap_destroy(h): return [HEAP_DESTROY, h]
def heap_delete(h): return [HEAP_DELETE, h]
def heap_default(h): return [HEAP_DEFAULT, h]
def visit(owner, blocks=True): return [VISIT, (owner << 1) | (1 if blocks else 0)]
def collect(v): return [COLLECT, v]
def errors(v, slot=0): return [ERRORS, v, slot]
def check_all(): return [CHECK_ALL]
def corrupt(slot, pos, flip=0x41): return [CORRUPT, slot, pos & 0xFF, pos >> 8, flip]


def prog(*ops):
    out = []
    for op in ops:
        out += op
    return bytes(out)


SMALL = [0, 1, 8, 15, 16, 17, 100, 127, 128, 129, 1000, 1023, 1024, 1025]
MEDIUM = [1040, 4000, 8 * KiB, 8 * KiB + 1, 30000, 64 * KiB, 64 * KiB + 1, 72 * KiB]
LARGE = [72 * KiB + 1, 160 * KiB]  # (an input writes at most 256 KiB: fuzz-api.c BUDGET)


def seeds():
    s = {}
    s["malloc-small"] = prog(*[malloc(i % 8, i, n) for i, n in enumerate(SMALL)],
                             *[free(i % 7, i) for i in range(len(SMALL))])
    s["malloc-medium"] = prog(*[malloc(i % 8, i, n) for i, n in enumerate(MEDIUM[:5])],
                              *[usable(i) for i in range(5)], visit(0))
    s["malloc-medium-edges"] = prog(*[malloc(i % 8, i, n) for i, n in enumerate(MEDIUM[5:])],
                                    *[usable(i) for i in range(3)], visit(0))
    s["malloc-large"] = prog(*[malloc(i % 8, i, n) for i, n in enumerate(LARGE)],
                             *[usable(i) for i in range(len(LARGE))], visit(0))
    s["malloc-huge"] = prog(malloc(0, 1, 17 * MiB), usable(1), visit(0), free(0, 1),
                            malloc(0, 3, 64), check_all())
    s["malloc-huge-34"] = prog(malloc(2, 2, 34 * MiB), usable(2), visit(0), expand(1, 2), check_all())
    s["malloc-huge-edge"] = prog(malloc(0, 4, 16 * MiB + 64 * KiB), usable(4), free(4, 4))
    s["malloc-large-edge"] = prog(malloc(0, 4, 250 * KiB), usable(4), visit(0), realloc(0, 4, 100))
    s["malloc-variants"] = prog(*[malloc(v | (v << 5), v, 24 + v * 300) for v in range(8)],
                                visit(0), *[free(v, v) for v in range(8)])
    s["zalloc-variants"] = prog(*[zalloc(v, v, n, e) for v, (n, e) in
                                  enumerate([(100, 1), (800, 8), (3000, 4), (500, 1), (64, 2)])],
                                zalloc(0, 10, 100 * KiB), zalloc(1, 11, 70 * KiB, 16), fill(0),
                                fill(10), check_all(), visit(0))
    s["zalloc-reuse"] = prog(*[malloc(0, i, 48) for i in range(20)],
                             *[free(0, i) for i in range(20)],
                             *[zalloc(0, i, 48) for i in range(20)], check_all())
    s["aligned-variants"] = prog(*[aligned(v, v, 100 + 37 * v, 1 << (v % 13), (v * 9) % 64)
                                   for v in range(15)], visit(0),
                                 *[usable(v) for v in range(15)], *[free(v % 7, v) for v in range(15)])
    s["aligned-large"] = prog(aligned(1, 0, 3000, 4096, 8), aligned(0, 1, 70000, 65536),
                              aligned(3, 2, 100, 1 << 16, 5), aligned(1, 3, 80 * KiB, 1 << 16, 32 * KiB),
                              usable(3), visit(0), check_all())
    s["aligned-huge"] = prog(aligned(1, 1, 1000, 32 * MiB, 16), usable(1), visit(0), free(2, 1))
    s["aligned-huge-64"] = prog(aligned(13, 2, 40, 64 * MiB), usable(2), visit(0))
    s["aligned-posix"] = prog(aligned(8, 0, 24, 8), aligned(8, 1, 200, 1024), aligned(9, 2, 50, 64),
                              aligned(10, 3, 300, 256), aligned(11, 4, 10), aligned(12, 5, 5000),
                              aligned(12, 6, 0), aligned(13, 7, 77, 128), aligned(14, 8, 99, 32),
                              check_all())
    s["realloc-grow"] = prog(malloc(0, 0, 10), *[realloc(i % 9, 0, n) for i, n in enumerate(
                                 [20, 100, 1000, 9000, 70000])], usable(0), visit(0))
    s["realloc-huge"] = prog(malloc(0, 0, 17 * MiB), realloc(0, 0, 10000), usable(0))
    s["realloc-shrink"] = prog(malloc(0, 0, 120 * KiB), *[realloc(i % 8, 0, n) for i, n in
                                                          enumerate([100000, 5000, 700, 300, 10, 0])],
                               usable(0))
    s["realloc-variants"] = prog(*[malloc(0, v, 300) for v in range(9)],
                                 *[realloc(v, v, 1000 + 4 * v) for v in range(9)],
                                 *[realloc(v, v, 152) for v in range(9)],
                                 realloc(0, 20, 64), realloc(6, 21, 64), check_all(), visit(0))
    s["realloc-in-place"] = prog(malloc(0, 0, 1000), realloc(0, 0, 990), realloc(0, 0, 600),
                                 realloc(0, 0, 1010), usable(0), expand(1, 0), realloc(0, 0, 100))
    s["rezalloc"] = prog(zalloc(0, 0, 100), fill(0), rezalloc(0, 0, 300), rezalloc(1, 0, 800, 8),
                         rezalloc(0, 0, 600), rezalloc(0, 0, 5000), zalloc(1, 1, 64, 2),
                         rezalloc(1, 1, 80000, 4), rezalloc(0, 1, 90 * KiB), check_all())
    s["rezalloc-fresh"] = prog(rezalloc(0, 3, 500), rezalloc(1, 4, 96, 4), rezalloc(0, 3, 4000),
                               malloc(0, 5, 100), rezalloc(0, 5, 200), check_all())
    s["realloc-aligned"] = prog(*[malloc(0, v, 200 + v) for v in range(8)],
                                *[zalloc(0, 10 + v, 200 + v) for v in range(8)],
                                *[realloc_aligned(v, v, 3000, 256, 24, 4) for v in range(8)],
                                *[realloc_aligned(v, 10 + v, 3000, 4096, 1 * KiB, 2) for v in range(8)],
                                *[realloc_aligned(v, 10 + v, 100, 64, 8) for v in range(8)],
                                realloc_aligned(1, 30, 50000, 1 << 16, 8), check_all(), visit(0))
    s["free-variants"] = prog(*[aligned(0, v, 64 * (v + 1), 64) for v in range(7)],
                              *[malloc(0, 10 + v, 64 * (v + 1)) for v in range(7)],
                              *[aligned(1, 20 + v, 64 * (v + 1), 256, 16) for v in range(7)],
                              *[free(v, v) for v in range(7)], *[free(v, 10 + v) for v in range(7)],
                              *[free(v, 20 + v) for v in range(7)], free(0, 31))
    s["usable"] = prog(*[malloc(0, i, n) for i, n in enumerate(SMALL + MEDIUM[:4])],
                       aligned(1, 30, 99, 64, 3), zalloc(0, 31, 333),
                       *[usable(i) for i in range(32)])
    s["expand"] = prog(malloc(0, 0, 100), expand(0, 0, 80), expand(0, 0, 110), expand(1, 0),
                       expand(2, 0, 5000), expand(3, 0), zalloc(0, 1, 200), expand(0, 1, 150),
                       expand(1, 1), fill(1), expand(0, 1, 10), malloc(0, 2, 70000),
                       expand(1, 2), expand(0, 2, 1), check_all())
    s["strdup"] = prog(*[strdup(v, v, "shardalloc fuzzes its API " + str(v), v % 3, 5 + 7 * v)
                         for v in range(7)], strdup(0, 10, ""), strdup(1, 11, "abc", 0, 0),
                       strdup(3, 12, "heap string", 1, 40), visit(0), visit(1), visit(2),
                       *[usable(v) for v in range(7)], check_all())
    s["dupenv"] = prog(strdup(6, 0, "", 0, 0), strdup(6, 1, "", 0, 1), strdup(6, 2, "", 0, 2),
                       usable(0), free(0, 0))
    s["heap-alloc-destroy"] = prog(heap_new(0), *[heap_alloc(v, 0, v, 40 + 300 * v, 128, 8, 2)
                                                  for v in range(22)],
                                   heap_alloc(0, 0, 25, 100 * KiB), malloc(0, 30, 100), visit(1),
                                   heap_destroy(0), check_all())
    s["heap-huge"] = prog(heap_alloc(0, 0, 26, 17 * MiB), visit(1), heap_destroy(0))
    s["heap-delete"] = prog(heap_new(1), *[heap_alloc(v % 13, 1, v, 100 * (v + 1)) for v in range(12)],
                            malloc(0, 20, 50), visit(2), heap_delete(1), usable(3), visit(0),
                            realloc(0, 3, 5000), *[free(0, v) for v in range(12)])
    s["heap-realloc-into"] = prog(malloc(0, 0, 500), zalloc(0, 1, 500),
                                  *[heap_alloc(13 + v, 2, 2 + v, 5000 + v * 100, 64, 8, 4)
                                    for v in range(9)],
                                  heap_alloc(13, 2, 0, 6000), heap_alloc(18, 2, 1, 9000),
                                  visit(3), heap_destroy(2), check_all())
    s["heap-default"] = prog(heap_default(0), malloc(0, 0, 100), zalloc(0, 1, 200),
                             aligned(0, 2, 64, 4096), usable(0), heap_default(1), malloc(0, 3, 70),
                             visit(1), heap_destroy(0), malloc(0, 4, 30), usable(4),
                             heap_default(BACKING), malloc(0, 5, 10), heap_delete(1), usable(3),
                             visit(0))
    s["heaps-many"] = prog(*[heap_alloc(0, h, h * 4 + i, 64 << i) for h in range(3) for i in range(4)],
                           visit(1), visit(2), visit(3, False), heap_delete(1), heap_destroy(2),
                           *[usable(i) for i in range(12)], heap_new(2), heap_alloc(1, 2, 20, 10))
    # fuzz-api's finding (README.md): a secure build's visit reported the size with the canary
    s["visit-small-block"] = prog(malloc(0, 0, 24), visit(0))
    s["visit-pages"] = prog(*[malloc(0, i, 16 if i < 16 else 2000) for i in range(32)],
                            *[free(0, i) for i in range(0, 32, 3)], visit(0), collect(0), visit(0),
                            visit(0, False))
    s["collect"] = prog(*[malloc(0, i, 5000) for i in range(10)], *[free(0, i) for i in range(10)],
                        collect(0), collect(0xF8), heap_alloc(0, 0, 0, 100), collect(2),
                        collect(0xFE), visit(1))
    s["errors"] = prog(*[errors(v) for v in range(8)], malloc(0, 0, 100),
                       *[errors(v, 0) for v in range(8)], check_all())
    s["churn"] = prog(*[op for i in range(60) for op in
                        ([malloc(i % 8, i % 32, (i * 97) % 3000)] if i % 3 else [free(0, (i * 7) % 32)])],
                      visit(0), check_all())
    return s


def selftests():
    # Each damages one byte in a FUZZ_SELFTEST build; the harness must notice and abort.
    return {
        "corrupt-small": prog(malloc(0, 0, 24), corrupt(0, 3), usable(0)),
        "corrupt-large-prefix": prog(malloc(0, 5, 150 * KiB), corrupt(5, 4000), realloc(0, 5, 200 * KiB)),
        "corrupt-zeroed": prog(zalloc(0, 2, 600), corrupt(2, 300), check_all()),
        "corrupt-then-visit": prog(heap_alloc(0, 1, 7, 5000), corrupt(7, 2600), visit(2)),
    }


def write(directory, prefix, inputs):
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(inputs.items()):
        with open(os.path.join(directory, prefix + name), "wb") as f:
            f.write(data)
    print("%s: %d inputs" % (directory, len(inputs)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    write(os.path.join(here, "corpus-api"), "seed-", seeds())
    write(os.path.join(here, "selftest-api"), "", selftests())
    return 0


if __name__ == "__main__":
    sys.exit(main())
