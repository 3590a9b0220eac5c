#!/usr/bin/env python3
"""Find import cycles between the modules of a Rust library crate.

Usage: module-cycles.py CRATE_ROOT... (e.g. src/lib.rs rt-stage/src/lib.rs)

A node is a module with a file of its own (`foo.rs`, `foo/mod.rs`); an edge
A -> B means code in A's file names an item of B (`use crate::b::X`,
`super::b::f()`, `b::X` for a child `b`). An item is attributed to the
deepest module in the path that has a file; inline modules (`mod tests {}`)
belong to their file. Declaring a child (`mod b;`) is no edge. Every
strongly connected component of more than one module is a cycle: each is
printed with the references that make it, and the exit status is 1.
"""

import os
import re
import sys

TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<line>//[^\n]*)
  | (?P<block>/\*)
  | (?P<raw>b?r(?P<hashes>\#*)")
  | (?P<str>b?"(?:\\.|[^"\\])*")
  | (?P<char>b?'(?:\\u\{[0-9a-fA-F]+\}|\\x[0-9a-fA-F]{2}|\\.|[^\\'\n])')
  | (?P<lifetime>'[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>r\#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<path>::)
  | (?P<num>[0-9][0-9A-Za-z_.]*)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokens(text):
    """(kind, value, line) for identifiers, `::` and punctuation; comments,
    literals and whitespace dropped."""
    pos, line, out = 0, 1, []
    while pos < len(text):
        m = TOKEN.match(text, pos)
        kind = m.lastgroup
        if kind == "block":
            depth, end = 1, m.end()
            while depth:
                nxt = re.compile(r"/\*|\*/").search(text, end)
                if nxt is None:
                    end = len(text)
                    break
                depth += 1 if nxt.group() == "/*" else -1
                end = nxt.end()
        elif kind == "raw":
            close = '"' + m.group("hashes")
            end = text.find(close, m.end())
            end = len(text) if end < 0 else end + len(close)
        else:
            end = m.end()
        if kind in ("ident", "path", "punct"):
            out.append((kind, m.group(kind), line))
        line += text.count("\n", pos, end)
        pos = end
    return out


def child_file(directory, name):
    for candidate in (os.path.join(directory, name + ".rs"),
                      os.path.join(directory, name, "mod.rs")):
        if os.path.isfile(candidate):
            return candidate
    return None


def load_crate(root):
    """Module path (tuple) -> (file, token list) for every module with a file."""
    modules = {}

    def visit(path, file):
        toks = tokens(open(file, encoding="utf-8").read())
        modules[path] = (file, toks)
        base = os.path.basename(file)
        if path == () or base == "mod.rs":
            directory = os.path.dirname(file)
        else:
            directory = os.path.join(os.path.dirname(file), base[:-3])
        for i in range(len(toks) - 2):
            if toks[i][1] == "mod" and toks[i + 1][0] == "ident" and toks[i + 2][1] == ";":
                name = toks[i + 1][1]
                found = child_file(directory, name)
                if found is None:
                    sys.exit(f"{file}:{toks[i][2]}: no file for `mod {name};`")
                visit(path + (name,), found)

    visit((), root)
    return modules


def use_paths(toks, i):
    """Expand the use tree starting at toks[i]; returns (paths, index after `;`)."""
    paths = []

    def tree(i, prefix):
        seg = list(prefix)
        while True:
            kind, value, _ = toks[i]
            if value == "{":
                i += 1
                while toks[i][1] != "}":
                    i = tree(i, seg)
                    if toks[i][1] == ",":
                        i += 1
                return i + 1
            if value == "*":
                paths.append(seg)
                return i + 1
            if kind == "ident":
                seg.append(value)
                i += 1
                if toks[i][1] == "::":
                    i += 1
                    continue
                if toks[i][1] == "as":
                    i += 2
                paths.append(seg)
                return i
            if kind == "path":  # a leading `::`
                i += 1
                continue
            raise ValueError(f"unexpected {value!r} in a use tree")

    i = tree(i, [])
    return paths, i + 1


def references(path, toks):
    """(module path the code is in, path segments, line) for every path in the file."""
    out = []
    scope = [(path, None)]  # (module, brace depth at which its inline body closes)
    depth, i = 0, 0
    while i < len(toks):
        kind, value, line = toks[i]
        current = scope[-1][0]
        if value == "mod" and i + 2 < len(toks) and toks[i + 2][1] == "{":
            scope.append((current + (toks[i + 1][1],), depth + 1))
            i += 2
            continue
        if value == "{":
            depth += 1
        elif value == "}":
            if scope[-1][1] == depth:
                scope.pop()
            depth -= 1
        elif value == "use" and (i == 0 or toks[i - 1][1] != "::"):
            paths, i = use_paths(toks, i + 1)
            out.extend((current, p, line) for p in paths)
            continue
        elif kind == "ident" and i + 1 < len(toks) and toks[i + 1][0] == "path" and (
            i == 0 or toks[i - 1][0] != "path"
        ):
            seg = [value]
            j = i + 1
            while j + 1 < len(toks) and toks[j][0] == "path" and toks[j + 1][0] == "ident":
                seg.append(toks[j + 1][1])
                j += 2
            out.append((current, seg, line))
            i = j
            continue
        i += 1
    return out


def resolve(modules, current, seg):
    """The deepest module with a file that the path names, or None (another crate,
    a type's associated item, ...)."""
    if not seg:
        return None
    if seg[0] == "crate":
        target, rest = (), seg[1:]
    elif seg[0] in ("self", "super"):
        target, rest = current, seg
        while rest and rest[0] in ("self", "super"):
            if rest[0] == "super":
                target = target[:-1]
            rest = rest[1:]
    elif current + (seg[0],) in modules:
        target, rest = current, seg
    else:
        return None
    for name in rest:
        if target + (name,) not in modules:
            break
        target = target + (name,)
    while target not in modules:  # an inline module: its file's module
        target = target[:-1]
    return target


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return out


def name(path):
    return "::".join(path) or "crate"


def lifted(edges):
    """Each file-level edge A -> B lifted to the directory module L where the
    paths of A and B part: (L, child of L holding A, child of L holding B).
    An edge between a module and its own descendant is none: a directory's
    `mod.rs` is its facade, and its children use the types it defines."""
    for a, b in edges:
        common = 0
        while common < min(len(a), len(b)) and a[common] == b[common]:
            common += 1
        if common < len(a) and common < len(b):
            yield a[:common], a[: common + 1], b[: common + 1]


def check(root, allowed):
    """Print each cycle not in `allowed`; returns (cycles found, their sets)."""
    modules = load_crate(root)
    why = {}
    for path, (file, toks) in modules.items():
        for current, seg, line in references(path, toks):
            target = resolve(modules, current, seg)
            if target is not None and target != path:
                shown = "::".join(seg[:-1] if seg[-1] == "self" else seg)
                why.setdefault((path, target), f"{file}:{line}: {shown}")
    levels = {}
    for (a, b), reference in why.items():
        for level, x, y in lifted([(a, b)]):
            levels.setdefault(level, {}).setdefault(x, {}).setdefault(y, reference)
    found, bad = set(), 0
    for level in sorted(levels):
        graph = levels[level]
        nodes = set(graph) | {y for ys in graph.values() for y in ys}
        for comp in sccs(nodes, {x: set(ys) for x, ys in graph.items()}):
            if len(comp) < 2:
                continue
            names = frozenset(name(m) for m in comp)
            found.add(names)
            if names in allowed:
                continue
            bad += 1
            print(f"{root}: cycle between {', '.join(sorted(names))}:")
            for x in comp:
                for y in sorted(graph.get(x, ())):
                    if y in comp:
                        print(f"  {name(x)} -> {name(y)}  ({graph[x][y]})")
    return bad, found


def read_allowed(file):
    """`ROOT MODULE,MODULE...` per line, `#` comments: cycles known and tracked
    by an issue, which the check lets pass until they are gone."""
    allowed = {}
    if file is None:
        return allowed
    for raw in open(file, encoding="utf-8"):
        line = raw.split("#", 1)[0].strip()
        if line:
            root, mods = line.split(None, 1)
            allowed.setdefault(root, set()).add(frozenset(m.strip() for m in mods.split(",")))
    return allowed


def main():
    args, allow_file = sys.argv[1:], None
    if args[:1] == ["--allow"] and len(args) > 1:
        allow_file, args = args[1], args[2:]
    if not args:
        sys.exit(__doc__)
    allowed, bad, stale = read_allowed(allow_file), 0, []
    for root in args:
        n, found = check(root, allowed.get(root, set()))
        bad += n
        stale += [f"{root} {', '.join(sorted(c))}" for c in allowed.get(root, set()) - found]
    for entry in stale:
        print(f"{allow_file}: no such cycle any more, remove it: {entry}")
    if bad or stale:
        sys.exit(f"{bad} import cycle(s) between modules")
    print(f"no import cycle between the modules of {', '.join(args)}")


if __name__ == "__main__":
    main()
