"""gen_xml.py ITEMS: writes to stdout an XML catalogue of ITEMS items (real-program tests).

Each item has attributes, a name, a price, 0-5 tags, a description with character entities and
CDATA, and a nested list of parts; about 600 bytes per item, so 8,000 items make a document of
about 5 MB. Fixed-seed generator: the document is the same on every run.
"""
import random
import sys
from xml.sax.saxutils import escape

items = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
rng = random.Random(7)
words = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo",
         "jasper", "kelp", "lagoon", "marble", "nectar", "onyx", "quartz"]
w = sys.stdout.write
w('<?xml version="1.0" encoding="UTF-8"?>\n')
w('<!DOCTYPE catalog [\n  <!ENTITY shop "Shard &amp; Sons">\n]>\n')
w('<catalog xmlns:x="urn:example:extra" generator="gen_xml.py" items="%d">\n' % items)
for i in range(items):
    kind = rng.choice(["tool", "part", "kit", "book"])
    w('  <item id="i%06d" kind="%s" stock="%d">\n' % (i, kind, rng.randrange(0, 500)))
    w("    <name>%s</name>\n" % escape(" ".join(rng.choice(words) for _ in range(3)).title()))
    w("    <price currency=\"EUR\">%d.%02d</price>\n" % (rng.randrange(1, 900), rng.randrange(100)))
    w("    <tags>%s</tags>\n" % "".join("<tag>%s</tag>" % rng.choice(words)
                                      for _ in range(rng.randrange(0, 6))))
    desc = " ".join(rng.choice(words) for _ in range(rng.randrange(10, 40)))
    w("    <desc>%s &lt;sold by &shop;&gt; <![CDATA[raw <%s> & more]]></desc>\n"
      % (escape(desc), rng.choice(words)))
    w("    <parts>\n")
    for p in range(rng.randrange(1, 5)):
        w('      <part n="%d" x:weight="%d">%s</part>\n' % (p, rng.randrange(1, 1000),
                                                          rng.choice(words)))
    w("    </parts>\n  </item>\n")
w("</catalog>\n")
