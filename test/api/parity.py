#!/usr/bin/env python3
"""api-parity: every function declared in the public headers is exported and links from C.

1. Parses include/mimalloc.h (and include/mimalloc-stats.h when it exists) as a C compiler would
   see it: comments stripped, continued lines joined, the C++-only parts dropped (the #if branches
   that need __cplusplus), macros skipped (so `mi_malloc_tp(tp)` and friends are not functions),
   typedefs skipped (function types included), the decoration macros (mi_decl_*, mi_attr_*(...),
   mi_cdecl and any other macro the header defines) removed from each declaration. A declaration
   the parser does not understand is an error, not a silent omission.
2. Cross-checks that list against the compiler's own view: every `mi_...(` left in the
   preprocessed header (cc -E) must be a parsed function and the other way round.
3. `nm -D --defined-only` on the shared library must list every declared function.
4. A generated C program takes the address of every declared function into a volatile array,
   is compiled and linked against the shared library with the C compiler, and run.
5. Fewer than --min functions (default 150) fails: a parser that finds nothing cannot pass.
6. With --reference FILE (test/api/mimalloc-2.4.1-api.txt): every function that file names is
   among the declared ones (so 3. and 4. check its export and linking), every `macro NAME` is
   #defined by mimalloc.h as a function-like macro, every `type NAME` is a typedef of it.

Python 3 standard library only. Exit status 0 when everything holds, 1 otherwise.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

HEADERS = ("mimalloc.h", "mimalloc-stats.h")  # the second one only if it exists

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Decorations recognised by name even if the header were to define them somewhere the scan misses.
DECORATION = re.compile(r"^(mi_decl_\w+|mi_attr_\w+|mi_cdecl)$")
# Keywords and storage words that may lead a function declaration.
LEADING_WORDS = {"extern", "static", "inline", "__inline", "__inline__", "__extension__"}
# Compiler spellings of attributes, dropped with their argument list.
ATTRIBUTE_WORDS = {"__attribute__", "__declspec", "__asm__", "asm", "__asm"}
# Words dropped alone.
BARE_WORDS = {"_Noreturn", "__restrict", "__restrict__"}


class ParseError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Lexical clean-up


def strip_comments(text):
    """Removes /* */ and // comments (keeping line breaks) while leaving string and character
    literals alone."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "*":
            end = text.find("*/", i + 2)
            if end < 0:
                raise ParseError("unterminated /* comment")
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end + 2
        elif c == "/" and i + 1 < n and text[i + 1] == "/":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            # A literal ends at its closing quote or, unterminated (an apostrophe in an #error
            # text), at the end of the line.
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if j < n and text[j] == c:
                j += 1
            out.append(text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def logical_lines(text):
    """Joins backslash-continued lines; yields (first line number, text)."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i]
        yield start + 1, line
        i += 1


# ---------------------------------------------------------------------------------------------
# #if evaluation in C (not C++) mode: __cplusplus is undefined. Any other macro is unknown; a
# branch whose condition is unknown is kept (as is its #else), which can only add declarations,
# and step 2 and the compile step catch a declaration that C would not see.


class CondEval:
    TOKEN = re.compile(r"\s*(?:(\d+)[uUlL]*|([A-Za-z_]\w*)|(&&|\|\||==|!=|>=|<=|[!()<>+\-*/%]))")

    def __init__(self, expr):
        self.toks = []
        pos = 0
        expr = expr.strip()
        while pos < len(expr):
            m = self.TOKEN.match(expr, pos)
            if not m or m.end() == pos:
                raise ParseError("cannot evaluate #if expression: %r" % expr)
            if m.group(1) is not None:
                self.toks.append(("num", int(m.group(1))))
            elif m.group(2) is not None:
                self.toks.append(("id", m.group(2)))
            else:
                self.toks.append(("op", m.group(3)))
            pos = m.end()
            while pos < len(expr) and expr[pos].isspace():
                pos += 1
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, op=None):
        tok = self.peek()
        if op is not None and tok != ("op", op):
            raise ParseError("expected %r in #if expression" % op)
        self.i += 1
        return tok

    def evaluate(self):
        value = self.parse_or()
        if self.i != len(self.toks):
            raise ParseError("trailing tokens in #if expression")
        return value

    # Values: int, or None for "unknown".
    def parse_or(self):
        v = self.parse_and()
        while self.peek() == ("op", "||"):
            self.take()
            w = self.parse_and()
            if v is not None and v != 0 or w is not None and w != 0:
                v = 1
            elif v is None or w is None:
                v = None
            else:
                v = 0
        return v

    def parse_and(self):
        v = self.parse_cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            w = self.parse_cmp()
            if v == 0 or w == 0:
                v = 0
            elif v is None or w is None:
                v = None
            else:
                v = 1
        return v

    def parse_cmp(self):
        v = self.parse_add()
        ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">=": lambda a, b: a >= b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}
        while self.peek()[0] == "op" and self.peek()[1] in ops:
            f = ops[self.take()[1]]
            w = self.parse_add()
            v = None if v is None or w is None else int(f(v, w))
        return v

    def parse_add(self):
        v = self.parse_unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-", "*", "/", "%"):
            op = self.take()[1]
            w = self.parse_unary()
            if v is None or w is None or (op in "/%" and w == 0):
                v = None
            else:
                v = {"+": v + w, "-": v - w, "*": v * w, "/": v // w if w else 0,
                     "%": v % w if w else 0}[op]
        return v

    def parse_unary(self):
        kind, val = self.peek()
        if (kind, val) == ("op", "!"):
            self.take()
            v = self.parse_unary()
            return None if v is None else int(v == 0)
        if (kind, val) == ("op", "-"):
            self.take()
            v = self.parse_unary()
            return None if v is None else -v
        if (kind, val) == ("op", "("):
            self.take()
            v = self.parse_or()
            self.take(")")
            return v
        if kind == "num":
            self.take()
            return val
        if kind == "id":
            self.take()
            if val == "defined":
                paren = self.peek() == ("op", "(")
                if paren:
                    self.take()
                name_kind, name = self.take()
                if name_kind != "id":
                    raise ParseError("defined without a name")
                if paren:
                    self.take(")")
                return 0 if name == "__cplusplus" else None
            if val == "__cplusplus":
                return 0  # an undefined identifier in #if is 0
            if self.peek() == ("op", "("):  # a function-like macro such as __has_attribute(x)
                depth = 0
                while True:
                    k, v = self.take()
                    if k is None:
                        raise ParseError("unbalanced parentheses in #if expression")
                    if (k, v) == ("op", "("):
                        depth += 1
                    elif (k, v) == ("op", ")"):
                        depth -= 1
                        if depth == 0:
                            break
            return None
        raise ParseError("unexpected token in #if expression: %r" % (val,))


def c_mode_source(text, path):
    """The header's non-directive text as a C compiler would see it: the lines of the #if
    branches that are not excluded, and the names of the macros it defines."""
    kept = []
    macros = set()
    # Stack of [branch active, parent active, some branch was definitely taken].
    stack = []

    def active():
        return all(frame[0] for frame in stack)

    directive = re.compile(r"^\s*#\s*(\w+)(.*)$")
    for lineno, line in logical_lines(text):
        m = directive.match(line)
        if not m:
            kept.append(line if active() else "")
            continue
        kept.append("")
        word, rest = m.group(1), m.group(2).strip()
        try:
            if word in ("if", "ifdef", "ifndef"):
                if word == "if":
                    v = CondEval(rest).evaluate()
                else:
                    name = rest.split()[0]
                    known = name == "__cplusplus"
                    v = (0 if word == "ifdef" else 1) if known else None
                stack.append([v != 0, active(), v is not None and v != 0])
            elif word == "elif":
                if not stack:
                    raise ParseError("#elif without #if")
                frame = stack[-1]
                if frame[2]:
                    frame[0] = False
                else:
                    v = CondEval(rest).evaluate()
                    frame[0] = v != 0
                    frame[2] = v is not None and v != 0
            elif word == "else":
                if not stack:
                    raise ParseError("#else without #if")
                frame = stack[-1]
                frame[0] = not frame[2]
            elif word == "endif":
                if not stack:
                    raise ParseError("#endif without #if")
                stack.pop()
            elif word == "define":
                mm = IDENT.match(rest)
                if mm:
                    macros.add(mm.group(0))
        except ParseError as e:
            raise ParseError("%s:%d: %s" % (path, lineno, e))
    if stack:
        raise ParseError("%s: unterminated #if" % path)
    return "\n".join(kept), macros


# ---------------------------------------------------------------------------------------------
# Declarations


def split_statements(code):
    """Top-level statements ending in ';' (the insides of braces are part of their statement)."""
    stmts, cur, depth = [], [], 0
    for c in code:
        cur.append(c)
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                raise ParseError("unbalanced '}'")
        elif c == ";" and depth == 0:
            stmts.append("".join(cur).strip())
            cur = []
    rest = "".join(cur).strip()
    if depth != 0:
        raise ParseError("unbalanced '{'")
    if rest:
        raise ParseError("text after the last ';': %r" % rest[:80])
    return stmts


def tokenize(stmt):
    toks = []
    for m in re.finditer(r"[A-Za-z_]\w*|\d\w*|\[\[|\]\]|\.\.\.|\S", stmt):
        toks.append(m.group(0))
    return toks


def skip_group(toks, i, open_tok="(", close_tok=")"):
    """toks[i] is open_tok: returns the index after its matching close_tok."""
    depth = 0
    while i < len(toks):
        if toks[i] == open_tok:
            depth += 1
        elif toks[i] == close_tok:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ParseError("unbalanced %r" % open_tok)


def strip_decorations(toks, macros):
    """Removes decoration macros (with their arguments), compiler attributes and [[...]]."""
    out, i = [], 0
    while i < len(toks):
        t = toks[i]
        if t == "[[":
            i = skip_group(toks, i, "[[", "]]")
            continue
        if t in BARE_WORDS:
            i += 1
            continue
        if DECORATION.match(t) or t in macros or t in ATTRIBUTE_WORDS:
            i += 1
            if i < len(toks) and toks[i] == "(":
                i = skip_group(toks, i)
            continue
        out.append(t)
        i += 1
    return out


def parse_function(stmt, macros):
    """(name, return type, parameters) for a function declaration, None for anything that is
    not one (typedefs, type definitions, variables). Raises ParseError on a declaration it
    cannot read."""
    toks = tokenize(stmt.rstrip(";"))
    if not toks:
        return None
    if toks[0] == "typedef":
        return None  # function (pointer) types, structs, enums: not functions
    if "{" in toks:
        if toks[0] in ("struct", "union", "enum") and toks[-1] == "}":
            return None  # a bare type definition
        raise ParseError("a definition with a body at file scope: %r" % stmt[:100])
    toks = strip_decorations(toks, macros)
    while toks and toks[0] in LEADING_WORDS:
        toks = toks[1:]
    if "(" not in toks:
        return None  # a variable
    first = toks.index("(")
    if first == 0 or not IDENT.fullmatch(toks[first - 1]):
        raise ParseError("cannot find the function name in %r" % stmt[:120])
    name = toks[first - 1]
    end = skip_group(toks, first)
    if end != len(toks):
        raise ParseError("unexpected tokens %r after the parameters of %s" % (toks[end:], name))
    ret = " ".join(toks[:first - 1])
    if not ret or ret in ("struct", "union", "enum"):
        raise ParseError("no return type for %s in %r" % (name, stmt[:120]))
    params = " ".join(toks[first + 1:end - 1])
    return name, ret, params


def declared_functions(header_dir):
    """[(name, header, return type, params)] in declaration order, and the headers read."""
    funcs, seen, headers = [], {}, []
    for h in HEADERS:
        path = os.path.join(header_dir, h)
        if not os.path.exists(path):
            if h == HEADERS[0]:
                raise ParseError("%s does not exist" % path)
            continue
        headers.append(h)
        with open(path, encoding="utf-8") as f:
            text = strip_comments(f.read())
        code, macros = c_mode_source(text, path)
        for stmt in split_statements(code):
            try:
                fn = parse_function(stmt, macros)
            except ParseError as e:
                raise ParseError("%s: %s" % (path, e))
            if fn is None:
                continue
            name, ret, params = fn
            if name in seen:
                continue  # a repeated declaration
            seen[name] = h
            funcs.append((name, h, ret, params))
    return funcs, headers


# ---------------------------------------------------------------------------------------------
# Checks


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kw)


def preprocessor_names(cc, cflags, header_dir, headers):
    """Names written `mi_xxx(` in the headers after the C preprocessor: what C code sees."""
    src = "".join('#include "%s"\n' % os.path.join(header_dir, h) for h in headers)
    res = subprocess.run(cc + cflags + ["-E", "-P", "-x", "c", "-I", header_dir, "-"],
                         input=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    if res.returncode != 0:
        raise ParseError("the C preprocessor failed on the headers:\n" + res.stderr)
    return set(re.findall(r"\b(mi_\w+)\s*\(", res.stdout))


def exported_functions(nm, lib):
    res = run([nm, "-D", "--defined-only", lib])
    if res.returncode != 0:
        raise ParseError("%s failed on %s:\n%s" % (nm, lib, res.stdout))
    names = set()
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-2] in ("T", "W", "i"):
            names.add(parts[-1].split("@")[0])
    return names


def address_program(funcs, headers):
    lines = ["/* generated by test/api/parity.py: the address of every declared function */"]
    lines += ["#include <%s>" % h for h in headers]
    lines += ["#include <stdio.h>", "", "typedef void (*parity_fn_t)(void);",
              "static parity_fn_t volatile parity_fns[] = {"]
    lines += ["    (parity_fn_t)&%s," % name for name, _, _, _ in funcs]
    lines += ["};", "static const char* const parity_names[] = {"]
    lines += ['    "%s",' % name for name, _, _, _ in funcs]
    lines += ["};", "",
              "int main(void) {",
              "  const size_t n = sizeof(parity_fns) / sizeof(parity_fns[0]);",
              "  size_t null = 0;",
              "  for (size_t i = 0; i < n; i++) {",
              "    if (parity_fns[i] == NULL) {",
              '      printf("parity: %s has a NULL address\\n", parity_names[i]);',
              "      null++;",
              "    }",
              "  }",
              "  if (mi_version() != MI_MALLOC_VERSION) {",
              '    printf("parity: mi_version() %d, header %d\\n", mi_version(), MI_MALLOC_VERSION);',
              "    null++;",
              "  }",
              '  printf("parity: %zu function addresses taken and called mi_version()\\n", n);',
              "  return null == 0 ? 0 : 1;",
              "}", ""]
    return "\n".join(lines)


def reference_failures(path, header_dir, declared):
    """What of the reference list the header lacks (see 6. above)."""
    with open(os.path.join(header_dir, "mimalloc.h")) as f:
        text = strip_comments(f.read())
    missing = []
    count = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            count += 1
            words = line.split()
            if len(words) == 1 and words[0] not in declared:
                missing.append("function " + words[0])
            elif words[0] == "macro" and not re.search(r"#\s*define\s+%s\(" % re.escape(words[1]),
                                                       text):
                missing.append("macro " + words[1])
            elif words[0] == "type" and not re.search(r"\btypedef\b[^;]*\b%s\b[^;]*;" %
                                                      re.escape(words[1]), text):
                missing.append("type " + words[1])
    print("parity: %d names of %s: %d missing" % (count, os.path.basename(path), len(missing)))
    if count < 100:
        return ["the reference list %s names only %d things" % (path, count)]
    return ["%s declares no %s" % ("mimalloc.h", m) for m in missing]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header-dir", required=True, help="folder holding mimalloc.h")
    ap.add_argument("--lib", required=True, help="the shared library (libshardalloc.so)")
    ap.add_argument("--cc", default="cc", help="C compiler (may carry arguments)")
    ap.add_argument("--cflags", default="", help="extra compile and link flags")
    ap.add_argument("--nm", default="nm")
    ap.add_argument("--min", type=int, default=150, help="fewest functions a sane parse finds")
    ap.add_argument("--list", action="store_true", help="print every function found")
    ap.add_argument("--keep", action="store_true", help="keep the generated program")
    ap.add_argument("--reference", help="names another header version declares (see 6.)")
    args = ap.parse_args()
    cc = shlex.split(args.cc)
    cflags = shlex.split(args.cflags)
    failures = []

    try:
        funcs, headers = declared_functions(args.header_dir)
    except ParseError as e:
        print("parity: FAIL: cannot parse the headers: %s" % e)
        return 1
    names = [f[0] for f in funcs]
    print("parity: %d functions declared in %s" % (len(funcs), ", ".join(headers)))
    if args.list:
        for name, h, ret, params in funcs:
            print("  %-40s %s %s(%s)" % (h, ret, name, params))
    if len(funcs) < args.min:
        failures.append("only %d functions found, fewer than %d: the parser is broken or the "
                        "header lost declarations" % (len(funcs), args.min))

    # 6. A reference list (mimalloc 2.4.1's names).
    if args.reference:
        failures += reference_failures(args.reference, args.header_dir, set(names))

    # 2. The compiler's view.
    try:
        pp = preprocessor_names(cc, cflags, args.header_dir, headers)
        parsed = set(names)
        if pp - parsed:
            failures.append("seen by the C preprocessor but not parsed: " +
                            " ".join(sorted(pp - parsed)))
        if parsed - pp:
            failures.append("parsed but not in the preprocessed C header: " +
                            " ".join(sorted(parsed - pp)))
    except (ParseError, OSError) as e:
        failures.append(str(e))

    # 3. Exports.
    try:
        exported = exported_functions(args.nm, args.lib)
        missing = [n for n in names if n not in exported]
        print("parity: %d of %d exported by %s" % (len(names) - len(missing), len(names),
                                                    os.path.basename(args.lib)))
        if missing:
            where = dict((f[0], f[1]) for f in funcs)
            for n in missing:
                print("  declared but not exported: %s (%s)" % (n, where[n]))
            failures.append("%d declared functions are not exported: %s" %
                            (len(missing), " ".join(missing)))
        extra = sorted(n for n in exported if n.startswith("mi_") and n not in set(names))
        if extra:
            print("parity: note: exported but not declared: %s" % " ".join(extra))
    except (ParseError, OSError) as e:
        failures.append(str(e))

    # 4. Linking from C.
    tmp = tempfile.mkdtemp(prefix="sa-parity-")
    src = os.path.join(tmp, "parity.c")
    exe = os.path.join(tmp, "parity")
    with open(src, "w") as f:
        f.write(address_program(funcs, headers))
    lib = os.path.abspath(args.lib)
    cmd = cc + ["-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror",
                "-Wno-deprecated-declarations", "-I", args.header_dir] + cflags + \
        [src, "-o", exe, lib, "-Wl,-rpath," + os.path.dirname(lib)]
    res = run(cmd)
    if res.returncode != 0:
        print("parity: %s" % " ".join(shlex.quote(c) for c in cmd))
        print(res.stdout.rstrip())
        failures.append("the generated program (%s) does not compile or link" % src)
        args.keep = True
    else:
        res = run([exe])
        print(res.stdout.rstrip())
        if res.returncode != 0:
            failures.append("the generated program failed (exit %d)" % res.returncode)
    if args.keep:
        print("parity: generated program kept in %s" % tmp)
    else:
        for p in (src, exe):
            if os.path.exists(p):
                os.remove(p)
        os.rmdir(tmp)

    if failures:
        for f in failures:
            print("parity: FAIL: %s" % f)
        print("parity: FAILED: the exported API does not match %s (%d functions declared)" %
              (" + ".join(headers), len(funcs)))
        return 1
    print("parity: OK: %d declared functions, all exported and linkable" % len(funcs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
