#!/usr/bin/env python3
"""check-malloc-info: parses the document malloc_info wrote (test-glibc-extras --xml FILE, with
1000 blocks of 1000 bytes, one of 40000 and one of 17 MiB live) as XML and checks its elements
and that its figures agree with each other (docs/api.md, "glibc's malloc extras").
Usage: check-malloc-info.py FILE"""
import sys
import xml.etree.ElementTree as ET

MIB = 1 << 20
failed = 0
passed = 0


def check(cond, what):
    global failed, passed
    if cond:
        passed += 1
    else:
        failed += 1
        print("check-malloc-info: FAIL: " + what)


def ints(elem, names):
    return {n: int(elem.get(n)) for n in names}


def main():
    root = ET.parse(sys.argv[1]).getroot()
    check(root.tag == "malloc" and root.get("version") == "1", "root is <malloc version=\"1\">")
    check(root.get("allocator") == "shardalloc", "allocator=\"shardalloc\"")
    totals = {e.get("type"): ints(e, ["count", "size"]) for e in root.findall("total")}
    check(set(totals) == {"fast", "rest", "mmap"}, "total types fast, rest, mmap: %s" % sorted(totals))
    system = {e.get("type"): int(e.get("size")) for e in root.findall("system")}
    check(set(system) == {"current", "max"}, "system types current, max")
    aspace = {e.get("type"): int(e.get("size")) for e in root.findall("aspace")}
    check("total" in aspace, "aspace total")
    fields = ["arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
              "fordblks", "keepcost"]
    mi = ints(root.find("mallinfo2"), fields)
    stats = {e.get("name"): e for e in root.findall("stat")}
    for name in ["reserved", "committed", "purged", "malloc_huge", "segments", "pages", "threads"]:
        check(name in stats, "stat %s present" % name)
    proc = root.find("process")
    check(proc is not None and int(proc.get("rss")) > 0, "process rss")

    live = 1000 * 1000 + 40000 + 17 * MIB
    check(mi["uordblks"] >= live, "uordblks %d >= %d live" % (mi["uordblks"], live))
    check(totals["mmap"]["count"] >= 1 and totals["mmap"]["size"] >= 17 * MIB,
          "mmap total counts the 17 MiB block: %s" % totals["mmap"])
    check(totals["mmap"] == {"count": mi["hblks"], "size": mi["hblkhd"]}, "mmap total = hblks, hblkhd")
    check(totals["fast"] == {"count": mi["smblks"], "size": mi["fsmblks"]}, "fast total = smblks, fsmblks")
    check(totals["fast"]["count"] + totals["rest"]["count"] == mi["ordblks"], "fast + rest = ordblks")
    check(int(stats["reserved"].get("current")) == mi["arena"] == aspace["total"], "reserved = arena")
    check(system["current"] == int(stats["committed"].get("current")), "system current = committed")
    check(system["current"] == mi["uordblks"] + mi["fordblks"], "committed = uordblks + fordblks")
    check(system["max"] >= system["current"] and mi["usmblks"] == system["max"], "max = usmblks")
    check(int(stats["malloc_huge"].get("current")) == mi["hblkhd"], "malloc_huge = hblkhd")
    check(mi["keepcost"] <= mi["fordblks"], "keepcost <= fordblks")
    print("check-malloc-info: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
