"""gen_sql.py ROWS: writes to stdout an SQL script for sqlite3 (real-program tests).

The script creates three indexed tables, inserts ROWS orders (and ROWS/10 customers, ROWS/5 items)
in transactions of 10,000 statements, then updates, deletes, builds an extra index, and ends with
aggregate queries (GROUP BY, joins, window functions, a recursive CTE) and an integrity check.
Everything is derived from a fixed-seed generator, so the output of the script is the same on
every run; that output is what the test compares between the glibc and the preloaded run.
"""
import random
import sys

rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
rng = random.Random(20261124)
out = sys.stdout
w = out.write

customers = max(10, rows // 10)
items = max(10, rows // 5)
batch = 10000
regions = ["north", "south", "east", "west", "centre"]
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet"]

w(".bail on\n")
w("PRAGMA journal_mode=WAL;\n")
w("PRAGMA cache_size=-65536;\n")
w("CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL,"
  " since INTEGER NOT NULL);\n")
w("CREATE TABLE item (id INTEGER PRIMARY KEY, label TEXT NOT NULL, price REAL NOT NULL,"
  " stock INTEGER NOT NULL);\n")
w("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER NOT NULL REFERENCES customer,"
  " item INTEGER NOT NULL REFERENCES item, qty INTEGER NOT NULL, day INTEGER NOT NULL,"
  " note TEXT);\n")
w("CREATE INDEX customer_region ON customer(region, since);\n")
w("CREATE UNIQUE INDEX item_label ON item(label);\n")
w("CREATE INDEX orders_customer ON orders(customer, day);\n")
w("CREATE INDEX orders_item ON orders(item);\n")


def transaction(statements):
    w("BEGIN;\n")
    for s in statements:
        w(s)
    w("COMMIT;\n")


def customer_rows():
    for i in range(1, customers + 1):
        name = "%s-%s-%d" % (rng.choice(words), rng.choice(words), i)
        yield "INSERT INTO customer VALUES(%d,'%s','%s',%d);\n" % (
            i, name, rng.choice(regions), rng.randrange(2000, 2026))


def item_rows():
    for i in range(1, items + 1):
        yield "INSERT INTO item VALUES(%d,'item-%06d-%s',%d.%02d,%d);\n" % (
            i, i, rng.choice(words), rng.randrange(1, 500), rng.randrange(100), rng.randrange(1000))


def order_rows():
    for i in range(1, rows + 1):
        note = "NULL" if i % 3 else "'%s'" % (" ".join(rng.choice(words) for _ in range(i % 7 + 1)))
        yield "INSERT INTO orders VALUES(%d,%d,%d,%d,%d,%s);\n" % (
            i, rng.randrange(1, customers + 1), rng.randrange(1, items + 1), rng.randrange(1, 20),
            rng.randrange(0, 3650), note)


for gen in (customer_rows(), item_rows(), order_rows()):
    chunk = []
    for stmt in gen:
        chunk.append(stmt)
        if len(chunk) == batch:
            transaction(chunk)
            chunk = []
    if chunk:
        transaction(chunk)

# Updates and deletes, some row by row (each a B-tree change in a table and its indexes).
transaction(["UPDATE orders SET qty = qty + 1, note = coalesce(note, '') || ' upd' WHERE id = %d;\n"
             % rng.randrange(1, rows + 1) for _ in range(rows // 20)])
w("UPDATE item SET price = round(price * 1.1, 2) WHERE stock < 100;\n")
w("UPDATE customer SET region = 'moved' WHERE id % 17 = 0;\n")
transaction(["DELETE FROM orders WHERE id = %d;\n" % rng.randrange(1, rows + 1)
             for _ in range(rows // 20)])
w("DELETE FROM orders WHERE day BETWEEN 1000 AND 1100;\n")
w("CREATE INDEX orders_day_qty ON orders(day, qty);\n")

# Queries: their output is the result of the test.
w(".headers on\n.mode list\n")
w("SELECT count(*), sum(qty), min(day), max(day) FROM orders;\n")
w("SELECT c.region, count(*) AS n, sum(o.qty * i.price) AS revenue FROM orders o"
  " JOIN customer c ON c.id = o.customer JOIN item i ON i.id = o.item"
  " GROUP BY c.region ORDER BY c.region;\n")
w("SELECT day / 365 AS year, count(DISTINCT customer), avg(qty) FROM orders"
  " GROUP BY year ORDER BY year;\n")
w("SELECT customer, total, rank FROM (SELECT customer, sum(qty) AS total,"
  " rank() OVER (ORDER BY sum(qty) DESC, customer) AS rank FROM orders GROUP BY customer)"
  " WHERE rank <= 20 ORDER BY rank;\n")
w("SELECT i.label, count(o.id) AS n FROM item i LEFT JOIN orders o ON o.item = i.id"
  " GROUP BY i.id ORDER BY n DESC, i.label LIMIT 20;\n")
w("SELECT length(group_concat(note, ';')) FROM (SELECT note FROM orders WHERE note IS NOT NULL"
  " ORDER BY id);\n")
w("WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 1000)"
  " SELECT count(*), sum(o.qty) FROM seq JOIN orders o ON o.id = seq.n * 7;\n")
w("SELECT region, count(*) FROM customer INDEXED BY customer_region WHERE region > 'e'"
  " GROUP BY region ORDER BY region;\n")
w("PRAGMA integrity_check;\n")
