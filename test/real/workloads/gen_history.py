"""gen_history.py COMMITS: writes to stdout a `git fast-import` stream (real-program tests).

A history of COMMITS commits on branch main over a tree of about 300 text files in 12 folders:
each commit rewrites a few lines of 1-4 files, now and then adds, renames or deletes a file; every
50th commit is made on a side branch and every 100th is a merge of that branch back into main;
every 500th is tagged. Authors, messages, contents and timestamps come from a fixed-seed
generator, so the stream (and every object hash of the imported history) is the same on every run.
"""
import random
import sys

commits = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
rng = random.Random(4242)
out = sys.stdout.buffer
names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov",
         "Donald Knuth", "Frances Allen", "Ken Thompson"]
verbs = ["fix", "add", "tune", "rework", "document", "simplify", "extend", "test"]
nouns = ["parser", "cache", "allocator", "scheduler", "index", "config", "logger", "planner"]
start = 1500000000  # fixed epoch seconds; each commit is 600 s after the previous one

files = {}  # path -> list of lines
for d in range(12):
    for f in range(25):
        path = "dir%02d/file%03d.txt" % (d, d * 25 + f)
        files[path] = ["%s line %d of %s" % (rng.choice(nouns), i, path)
                       for i in range(20 + f % 40)]
mark = 0


def emit(text):
    out.write(text if isinstance(text, bytes) else text.encode())


def data(payload):
    raw = payload.encode()
    emit("data %d\n" % len(raw))
    emit(raw)
    emit("\n")


def commit(ref, when, parent_marks, changes, message):
    global mark
    mark += 1
    name = names[when % len(names)]
    ident = "%s <%s@example.org> %d +0000" % (name, name.split()[0].lower(), start + when * 600)
    emit("commit %s\nmark :%d\nauthor %s\ncommitter %s\n" % (ref, mark, ident, ident))
    data(message)
    if parent_marks:
        emit("from :%d\n" % parent_marks[0])
        for p in parent_marks[1:]:
            emit("merge :%d\n" % p)
    for change in changes:
        if change[0] == "M":
            emit("M 100644 inline %s\n" % change[1])
            data("\n".join(change[2]) + "\n")
        elif change[0] == "D":
            emit("D %s\n" % change[1])
        elif change[0] == "R":
            emit("R %s %s\n" % (change[1], change[2]))
    emit("\n")
    return mark


def edit(path):
    lines = files[path]
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(lines))
        lines[i] = "%s %s at %d" % (rng.choice(verbs), rng.choice(nouns), rng.randrange(10**6))
    if rng.random() < 0.3:
        lines.insert(rng.randrange(len(lines) + 1), "inserted %d" % rng.randrange(10**6))
    return ("M", path, lines)


# The first commit adds every file.
main_head = commit("refs/heads/main", 0, [], [("M", p, files[p]) for p in sorted(files)],
                   "initial import of %d files\n" % len(files))
side_head = main_head
for n in range(1, commits):
    paths = sorted(files)
    changes = [edit(p) for p in rng.sample(paths, rng.randrange(1, 5))]
    r = rng.random()
    if r < 0.02:
        new = "dir%02d/new%05d.txt" % (rng.randrange(12), n)
        files[new] = ["new file %d" % n, "created by commit %d" % n]
        changes.append(("M", new, files[new]))
    elif r < 0.03 and len(files) > 100:
        victim = rng.choice([p for p in paths if p not in {c[1] for c in changes}])
        del files[victim]
        changes.append(("D", victim))
    elif r < 0.04:
        old = rng.choice([p for p in paths if p not in {c[1] for c in changes}])
        new = old.replace(".txt", "-r%d.txt" % n)
        files[new] = files.pop(old)
        changes.append(("R", old, new))
    message = "%s %s (%d)\n\n%s\n" % (rng.choice(verbs), rng.choice(nouns), n,
                                      " ".join(rng.choice(nouns) for _ in range(n % 12 + 3)))
    if n % 100 == 0:
        main_head = commit("refs/heads/main", n, [main_head, side_head], changes,
                           "merge side branch (%d)\n" % n)
        side_head = main_head
    elif n % 50 == 0:
        # A commit on the side branch; fast-import builds each tree from the first parent plus
        # the listed changes, so the merges keep the main line's tree and record both parents.
        side_head = commit("refs/heads/side", n, [side_head], changes, message)
    else:
        main_head = commit("refs/heads/main", n, [main_head], changes, message)
    if n % 500 == 0:
        emit("tag v%d\nfrom :%d\ntagger %s <t@example.org> %d +0000\n" % (
            n // 500, main_head, names[0], start + n * 600))
        data("release %d\n" % (n // 500))
emit("done\n")
