#!/usr/bin/env python3
"""Prints the kernel modules to load for the given ones, dependencies first.

    kmods.py MODULES_DIR NAME...

MODULES_DIR is a kernel package's lib/modules/VERSION (no modules.dep needed:
each module's dependencies are read from the `depends=` and `softdep=pre:`
entries of its .modinfo section). Names may use - or _ alike. Prints one
path per line, relative to MODULES_DIR, each after every module it needs.
"""
import os
import sys


def norm(name):
    return name.replace("-", "_")


def index(root):
    found = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".ko"):
                found[norm(f[:-3])] = os.path.relpath(os.path.join(dirpath, f), root)
    return found


def needs(path):
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for entry in data.split(b"\0"):
        if entry.startswith(b"depends="):
            out += [d for d in entry[8:].decode().split(",") if d]
        elif entry.startswith(b"softdep=pre:"):
            out += entry[12:].decode().split()
    return [norm(d) for d in out]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root, wanted = sys.argv[1], [norm(n) for n in sys.argv[2:]]
    modules = index(root)
    order, state = [], {}

    def visit(name, chain):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            sys.exit(f"kmods: dependency loop: {' -> '.join(chain + [name])}")
        if name not in modules:
            sys.exit(f"kmods: no module {name} in {root} (needed by {' -> '.join(chain) or 'the command line'})")
        state[name] = "visiting"
        for dep in needs(os.path.join(root, modules[name])):
            # A soft dependency may name an alias of a built-in module: only real files count.
            if dep in modules:
                visit(dep, chain + [name])
        state[name] = "done"
        order.append(modules[name])

    for name in wanted:
        visit(name, [])
    print("\n".join(order))


if __name__ == "__main__":
    main()
