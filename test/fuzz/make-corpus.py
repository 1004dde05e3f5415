#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz-ops harness: test/fuzz/corpus/seed-* (every operation and
variant, each size class and page kind, both threads), test/fuzz/selftest/* (inputs that damage
a block in FUZZ_SELFTEST builds, which must abort) and test/fuzz/known/* (the known findings). The byte encoding mirrors fuzz-ops.c and is
described in test/fuzz/README.md; keep the three in step. Standard library only.

    python3 test/fuzz/make-corpus.py          # rewrites the seed-*, selftest and known files
"""
import os
import sys

KiB = 1024
MiB = 1024 * KiB

# First code of each operation in fuzz-ops.c's op_of_code table.
MALLOC, ZALLOC, ALIGNED, REALLOC, REZALLOC, REALLOC_ALIGNED, FREE, USABLE, EXPAND, FILL = range(10)
HEAP_NEW, HEAP_ALLOC, HEAP_DESTROY, HEAP_DELETE, HEAP_DEFAULT = range(10, 15)
HANDOFF_FREE, HANDOFF_REALLOC, WORKER_ALLOC, SYNC, COLLECT, ERRORS, CHECK_ALL = range(15, 22)
WORKER_RESTART = CORRUPT = 31  # CORRUPT in FUZZ_SELFTEST builds only

SMALL_EDGES = [0, 8, 16, 1024, 1040, 8 * KiB, 12 * KiB, 16 * KiB,
               64 * KiB, 96 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 768 * KiB, MiB, 2 * MiB]
BIG_EDGES = [4 * MiB, 8 * MiB, 16 * MiB, 17 * MiB, 24 * MiB, 32 * MiB - 64 * KiB, 32 * MiB,
             34 * MiB]


def size(n):
    """The shortest encoding of exactly n bytes (see in_size)."""
    if n < 0x80:
        return [n]
    if n < (1 << 14):
        return [0x80 | (n >> 8), n & 0xFF]
    if n < (1 << 18):
        v = n << 3
        return [0xC0 | (v >> 16), v & 0xFF, (v >> 8) & 0xFF]
    for i, e in enumerate(SMALL_EDGES):
        if -128 <= n - e < 128:
            return small_edge(i, n - e)
    if n % 4 == 0 and (n >> 2) < (12 << 16):
        v = n >> 2
        return [0xF0 | (v >> 16), v & 0xFF, (v >> 8) & 0xFF]
    for i, e in enumerate(BIG_EDGES):
        if -128 <= n - e < 128:
            return big_edge(i, n - e)
    if n % 512 == 0 and (n >> 9) < (1 << 16):
        v = n >> 9
        return [0xFF, v & 0xFF, v >> 8]
    raise ValueError("no encoding for size %d" % n)


def small_edge(i, delta=0):
    return [0xE0 | i, delta & 0xFF]


def big_edge(i, delta=0):
    return [0xFC, i, delta & 0xFF]


def align(n):
    """Alignment n: a power of two up to 4 MiB, or 8, 16, 32, 64 MiB."""
    shift = n.bit_length() - 1
    assert n == 1 << shift and shift <= 26
    if shift <= 15:
        return [shift]
    if shift <= 22:
        return [0xC0 + shift - 16]
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


# Operations: each returns its bytes.
def malloc(v, slot, n): return [MALLOC, v, slot] + size(n)
def zalloc(v, slot, n, e=1): return [ZALLOC, v, slot] + size(n) + elem(e)
def aligned(v, slot, n, a=16, o=0): return [ALIGNED, v, slot] + size(n) + align(a) + offset(o)
def realloc(v, slot, n): return [REALLOC, v, slot] + size(n)
def rezalloc(v, slot, n, e=1): return [REZALLOC, v, slot] + size(n) + elem(e)
def realloc_aligned(v, slot, n, a, o=0, e=1):
    return [REALLOC_ALIGNED, v, slot] + size(n) + align(a) + offset(o) + elem(e)
def free(v, slot): return [FREE, v, slot]
def usable(slot): return [USABLE, slot]
def expand(v, slot, n=0): return [EXPAND, v, slot] + size(n)
def fill(slot): return [FILL, slot]
def heap_new(h): return [HEAP_NEW, h]
def heap_alloc(v, h, slot, n, a=16, o=0, e=1):
    return [HEAP_ALLOC, v, h, slot] + size(n) + align(a) + offset(o) + elem(e)
def heap_destroy(h): return [HEAP_DESTROY, h]
def heap_delete(h): return [HEAP_DELETE, h]
def heap_default(h): return [HEAP_DEFAULT, h]  # h == 4: the backing heap
def handoff_free(v, slot): return [HANDOFF_FREE, v, slot]
def handoff_realloc(v, slot, n, a=16, o=0):
    return [HANDOFF_REALLOC, v, slot] + size(n) + align(a) + offset(o)
def worker_alloc(v, slot, n, a=16, o=0):
    return [WORKER_ALLOC, v, slot] + size(n) + align(a) + offset(o)
def sync(): return [SYNC]
def collect(v): return [COLLECT, v]
def errors(v, slot=0): return [ERRORS, v, slot]
def check_all(): return [CHECK_ALL]
def worker_restart(): return [WORKER_RESTART]
def corrupt(slot, pos, flip=0x41): return [CORRUPT, slot, pos & 0xFF, pos >> 8, flip]


def prog(*ops):
    out = []
    for op in ops:
        out += op
    return bytes(out)


SMALL = [0, 1, 7, 8, 15, 16, 17, 100, 1023, 1024, 1025]
MEDIUM = [1040, 4000, 8 * KiB, 8 * KiB + 1, 30000, 64 * KiB]
LARGE = [64 * KiB + 1, 200 * KiB, 512 * KiB, MiB + 3, 4 * MiB]
HUGE = [16 * MiB + 1, 17 * MiB]


def seeds():
    s = {}
    s["malloc-small"] = prog(*[malloc(i, i, n) for i, n in enumerate(SMALL)],
                             *[free(0, i) for i in range(len(SMALL))])
    s["malloc-medium-large"] = prog(*[malloc(i, i, n) for i, n in enumerate(MEDIUM + LARGE)],
                                    *[usable(i) for i in range(len(MEDIUM + LARGE))])
    s["malloc-huge"] = prog(malloc(0, 1, HUGE[0]), malloc(0, 2, HUGE[1]), usable(1), free(0, 1),
                            malloc(0, 3, 16 * MiB), check_all())
    s["malloc-edges"] = prog(*[[MALLOC, i % 6, i] + small_edge(i, (i * 37) % 256 - 128)
                               for i in range(16)],
                             *[op for i in range(8) for op in
                               ([MALLOC, 0, 16] + big_edge(i, (i * 53) % 256 - 128), usable(16),
                                free(0, 16))], check_all())
    s["malloc-variants"] = prog(*[malloc(v, v, n) for v in range(6) for n in [24 + v * 200]],
                                *[free(v, v) for v in range(6)])
    s["zalloc-variants"] = prog(*[zalloc(v, v, n, e) for v, (n, e) in
                                  enumerate([(100, 1), (800, 8), (3000, 4), (500, 1), (64, 2)])],
                                *[zalloc(v, 10 + v, n) for v, n in enumerate([1 * MiB, 70 * KiB])],
                                fill(0), fill(10), check_all())
    s["zalloc-reuse"] = prog(*[malloc(0, i, 48) for i in range(20)],
                             *[free(0, i) for i in range(20)],
                             *[zalloc(0, i, 48) for i in range(20)], check_all())
    s["aligned-variants"] = prog(*[aligned(v, v, 100 + 37 * v, 1 << (4 + v % 9), (v * 9) % 64)
                                   for v in range(14)], check_all(),
                                 *[free(2, v) for v in range(14)])
    s["aligned-large"] = prog(aligned(1, 0, 3000, 4096, 8), aligned(0, 1, 70000, 65536),
                              aligned(3, 2, 100, 1 << 20, 5), aligned(1, 3, 5 * MiB, 4 * MiB, 32 * KiB),
                              aligned(0, 4, 64, 1 << 22), usable(3), check_all())
    s["aligned-huge"] = prog(aligned(0, 0, 100, 8 * MiB), aligned(1, 1, 1000, 32 * MiB, 16),
                             aligned(13, 2, 40, 64 * MiB), aligned(2, 3, 17 * MiB, 16 * MiB),
                             free(2, 0), check_all())
    s["aligned-posix"] = prog(aligned(8, 0, 24, 8), aligned(8, 1, 200, 1024), aligned(9, 2, 50, 64),
                              aligned(10, 3, 300, 256), aligned(11, 4, 10), aligned(12, 5, 5000),
                              aligned(12, 6, 0), aligned(13, 7, 77, 128), check_all())
    s["realloc-grow"] = prog(malloc(0, 0, 10), *[realloc(0, 0, n) for n in
                                                 [20, 100, 1000, 9000, 70000, 600 * KiB, 5 * MiB, 17 * MiB]],
                             usable(0))
    s["realloc-shrink"] = prog(malloc(0, 0, 17 * MiB), *[realloc(i % 6, 0, n) for i, n in
                                                         enumerate([12 * MiB, 2 * MiB, 100000, 5000,
                                                                    700, 300, 10, 0])],
                               usable(0))
    s["realloc-variants"] = prog(*[malloc(0, v, 300) for v in range(7)],
                                 *[realloc(v, v, 1000 + v) for v in range(7)],
                                 *[realloc(v, v, 150) for v in range(7)],
                                 realloc(0, 20, 64), realloc(5, 21, 64), check_all())
    s["realloc-in-place"] = prog(malloc(0, 0, 1000), realloc(0, 0, 990), realloc(0, 0, 600),
                                 realloc(0, 0, 1010), usable(0), expand(1, 0), realloc(0, 0, 100))
    s["rezalloc"] = prog(zalloc(0, 0, 100), fill(0), rezalloc(0, 0, 300), rezalloc(1, 0, 800, 8),
                         rezalloc(0, 0, 600), rezalloc(0, 0, 5000), zalloc(1, 1, 64, 2),
                         rezalloc(1, 1, 80000, 4), rezalloc(0, 1, 2 * MiB), check_all())
    s["rezalloc-fresh"] = prog(rezalloc(0, 3, 500), rezalloc(1, 4, 96, 4), rezalloc(0, 3, 4000),
                               malloc(0, 5, 100), rezalloc(0, 5, 200), check_all())
    s["realloc-aligned"] = prog(*[malloc(0, v, 200 + v) for v in range(7)],
                                *[zalloc(0, 10 + v, 200 + v) for v in range(7)],
                                *[realloc_aligned(v, v, 3000, 256, 24, 4) for v in range(7)],
                                *[realloc_aligned(v, 10 + v, 3000, 4096, 1 * KiB, 2) for v in range(7)],
                                *[realloc_aligned(v, 10 + v, 100, 64) for v in range(7)],
                                realloc_aligned(1, 30, 50000, 1 << 16, 8), check_all())
    s["free-variants"] = prog(*[aligned(0, v, 64 * (v + 1), 64) for v in range(6)],
                              *[malloc(0, 10 + v, 64 * (v + 1)) for v in range(6)],
                              *[aligned(1, 20 + v, 64 * (v + 1), 256, 16) for v in range(6)],
                              *[free(v, v) for v in range(6)], *[free(v, 10 + v) for v in range(6)],
                              *[free(v, 20 + v) for v in range(6)], free(0, 40))
    s["usable"] = prog(*[malloc(0, i, n) for i, n in enumerate(SMALL + MEDIUM)],
                       aligned(1, 30, 99, 64, 3), zalloc(0, 31, 333),
                       *[usable(i) for i in range(32)])
    s["expand"] = prog(malloc(0, 0, 100), expand(0, 0, 80), expand(0, 0, 110), expand(1, 0),
                       expand(2, 0, 5000), expand(3, 0), zalloc(0, 1, 200), expand(0, 1, 150),
                       expand(1, 1), fill(1), expand(0, 1, 10), malloc(0, 2, 70000),
                       expand(1, 2), expand(0, 2, 1), check_all())
    s["heap-alloc-destroy"] = prog(heap_new(0), *[heap_alloc(v, 0, v, 40 + 300 * v, 128, 8, 2)
                                                  for v in range(14)],
                                   heap_alloc(0, 0, 20, 2 * MiB), heap_alloc(1, 0, 21, 17 * MiB),
                                   malloc(0, 30, 100), heap_destroy(0), check_all())
    s["heap-delete"] = prog(heap_new(1), *[heap_alloc(v % 10, 1, v, 100 * (v + 1)) for v in range(12)],
                            malloc(0, 20, 50), heap_delete(1), usable(3), realloc(0, 3, 5000),
                            *[free(0, v) for v in range(12)])
    s["heap-realloc-into"] = prog(malloc(0, 0, 500), zalloc(0, 1, 500), heap_alloc(10, 2, 0, 5000),
                                  heap_alloc(12, 2, 1, 6000), heap_alloc(13, 2, 1, 9000, 16, 0, 4),
                                  heap_alloc(11, 2, 3, 100), heap_destroy(2), check_all())
    s["heap-default"] = prog(heap_default(0), malloc(0, 0, 100), zalloc(0, 1, 200),
                             aligned(0, 2, 64, 4096), usable(0), heap_default(1), malloc(0, 3, 70),
                             heap_destroy(0), malloc(0, 4, 30), usable(4), heap_default(4),
                             malloc(0, 5, 10), heap_delete(1), usable(3))
    s["heaps-many"] = prog(*[heap_alloc(0, h, h * 4 + i, 64 << i) for h in range(4) for i in range(4)],
                           heap_delete(1), heap_destroy(2), *[usable(i) for i in range(16)],
                           heap_new(2), heap_alloc(1, 2, 40, 10))
    s["handoff-free"] = prog(*[malloc(0, i, 16 << (i % 12)) for i in range(24)],
                             *[handoff_free(i, i) for i in range(24)], sync(),
                             *[malloc(0, i, 16 << (i % 12)) for i in range(24)])
    s["handoff-full-pages"] = prog(*[malloc(0, i, 1000) for i in range(64)],
                                   *[handoff_free(0, i) for i in range(0, 64, 2)],
                                   *[malloc(0, i, 1000) for i in range(0, 64, 2)], sync(),
                                   collect(0))
    s["handoff-realloc"] = prog(*[malloc(0, i, 100 + 500 * i) for i in range(6)], zalloc(0, 6, 300),
                                handoff_realloc(0, 0, 50), handoff_realloc(0, 1, 5000),
                                handoff_realloc(1, 2, 3000, 256, 8), handoff_realloc(1, 3, 100, 4096),
                                handoff_realloc(2, 6, 3000), handoff_realloc(0, 5, 2 * MiB),
                                usable(1), free(0, 1), handoff_free(0, 0), sync(), check_all())
    s["worker-alloc"] = prog(worker_alloc(0, 0, 100), worker_alloc(1, 1, 2000),
                             worker_alloc(2, 2, 300, 1024, 16), worker_alloc(0, 3, 3 * MiB),
                             usable(0), free(0, 0), realloc(0, 1, 9000), expand(1, 2),
                             handoff_free(0, 3), free(3, 2), sync(), check_all())
    s["handoff-heap-delete"] = prog(*[heap_alloc(0, 3, i, 200 + i) for i in range(16)],
                                    *[handoff_free(0, i) for i in range(8)],
                                    handoff_realloc(0, 9, 10000), heap_delete(3), sync(),
                                    usable(9), usable(10))
    s["handoff-heap-destroy"] = prog(*[heap_alloc(0, 0, i, 4000 + i) for i in range(10)],
                                     *[handoff_free(0, i) for i in range(5)],
                                     handoff_realloc(0, 6, 4000), heap_destroy(0), check_all())
    s["collect"] = prog(*[malloc(0, i, 5000) for i in range(10)], *[free(0, i) for i in range(10)],
                        collect(0), collect(1), heap_alloc(0, 1, 0, 100), collect(2 | (1 << 2)),
                        collect(2 | (1 << 2) | (1 << 4)), collect(3), collect(3 | 4),
                        worker_alloc(0, 1, 50), sync())
    s["errors"] = prog(*[errors(v) for v in range(6)], malloc(0, 0, 100), errors(4, 0),
                       errors(5, 0), check_all())
    s["mixed-big"] = prog(malloc(0, 0, 12 * MiB), zalloc(0, 1, 9 * MiB), aligned(1, 2, 3 * MiB, MiB, 1 * KiB),
                          realloc(0, 0, 20 * MiB), handoff_realloc(0, 2, 6 * MiB), rezalloc(0, 1, 10 * MiB),
                          handoff_free(0, 0), sync(), check_all())
    s["worker-restart"] = prog(*[worker_alloc(i % 3, i, 100 + 900 * i, 64, 8) for i in range(8)],
                               malloc(0, 10, 3000), handoff_realloc(0, 10, 200), worker_alloc(0, 11, 2 * MiB),
                               sync(), worker_restart(), usable(0), free(0, 0), realloc(0, 1, 50000),
                               handoff_free(0, 2), collect(1), free(1, 3), worker_alloc(0, 20, 500),
                               worker_restart(), collect(3 | 4), check_all())
    s["worker-restart-adopt"] = prog(*[worker_alloc(0, i, 64) for i in range(40)], worker_restart(),
                                     *[free(0, i) for i in range(0, 40, 2)], worker_restart(),
                                     collect(1), *[malloc(0, i, 64) for i in range(0, 40, 2)],
                                     *[handoff_free(0, i) for i in range(1, 40, 2)], sync())
    s["churn"] = prog(*[op for i in range(40) for op in
                        ([malloc(i % 6, i % 64, (i * 97) % 3000)] if i % 3 else [free(0, (i * 7) % 64)])],
                      *[handoff_free(0, i) for i in range(0, 40, 3)], check_all())
    return s


def selftests():
    # Each damages one byte in a FUZZ_SELFTEST build; the harness must notice and abort.
    return {
        "corrupt-small-sentinel": prog(malloc(0, 0, 24), corrupt(0, 3), malloc(0, 1, 24)),
        "corrupt-large-middle": prog(malloc(0, 5, 3 * MiB), corrupt(5, 40000), malloc(0, 6, 10)),
        "corrupt-zeroed": prog(zalloc(0, 2, 600), corrupt(2, 300), check_all()),
        "corrupt-before-handoff": prog(malloc(0, 7, 5000), corrupt(7, 2600), handoff_free(0, 7),
                                       sync()),
    }


def known():
    # The known findings (README.md): they pass here, and fail in a FUZZ_STRICT=1 build until the
    # allocator is fixed (the first in debug builds, whose fresh blocks are filled, or when the
    # reused block held data).
    return {
        "rezalloc-moved-tail": prog(zalloc(0, 0, 200), rezalloc(0, 0, 10), rezalloc(0, 0, 16)),
        "realloc-aligned-unaligned": prog(aligned(1, 0, 1413, 32, 5),
                                          realloc_aligned(0, 0, 1440, 2)),
    }


def write(directory, prefix, inputs):
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(inputs.items()):
        with open(os.path.join(directory, prefix + name), "wb") as f:
            f.write(data)
    print("%s: %d inputs" % (directory, len(inputs)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    write(os.path.join(here, "corpus"), "seed-", seeds())
    write(os.path.join(here, "selftest"), "", selftests())
    write(os.path.join(here, "known"), "", known())
    return 0


if __name__ == "__main__":
    sys.exit(main())
