#!/usr/bin/env python3
"""Attributes the counts of the windows plugin (scripts/profile/windows.c)
to the functions of the images that ran, inline frames included, and
prints instructions per window: first per image, then per function chain.

usage: attribute.py COUNTS --image NAME=ELF@BASE [--image ...] [--depth D] [--top K]

--image NAME=ELF@BASE  an image whose code ran BASE bytes above its link
                       addresses (the monitor, linked at 0, runs where it
                       relocated itself; an EL1 program at its link address
                       has BASE 0). Its extent is its PT_LOAD segments.
--depth D              inline frames, outermost first, in a row's label (2)
--top K                rows printed (40)
PCs in no image (a guest's code) are summed as "guest (in no image)".
Needs llvm-symbolizer, from rustup's llvm-tools (rust-toolchain.toml).
"""
import argparse
import bisect
import collections
import glob
import os
import re
import shutil
import struct
import subprocess
import sys


def llvm_tool(name):
    found = shutil.which(name)
    if found:
        return found
    sysroot = subprocess.run(['rustc', '--print', 'sysroot'], capture_output=True, text=True,
                             check=True).stdout.strip()
    hits = glob.glob(os.path.join(sysroot, 'lib/rustlib/*/bin', name))
    if not hits:
        sys.exit(f'attribute.py: {name} not found (rustup component add llvm-tools)')
    return hits[0]


def load_extent(elf):
    """(lowest, highest) link address covered by the ELF64's PT_LOAD segments."""
    with open(elf, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF' or data[4] != 2 or data[5] != 1:
        sys.exit(f'attribute.py: {elf} is not a little-endian ELF64 file')
    phoff, = struct.unpack_from('<Q', data, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
    spans = []
    for i in range(phnum):
        kind, _, _, vaddr, _, _, memsz, _ = struct.unpack_from('<IIQQQQQQ', data, phoff + i * phentsize)
        if kind == 1 and memsz:
            spans.append((vaddr, vaddr + memsz))
    if not spans:
        sys.exit(f'attribute.py: {elf} has no PT_LOAD segment')
    return min(s for s, _ in spans), max(e for _, e in spans)


def inline_chains(elf, addresses):
    """Link address -> ['file:function', ...], outermost frame first."""
    if not addresses:
        return {}
    out = subprocess.run([llvm_tool('llvm-symbolizer'), '--obj=' + elf, '--inlines', '-C',
                          '--functions=short'],
                         input=''.join(f'{a:#x}\n' for a in addresses), capture_output=True,
                         text=True, check=True).stdout
    chains = {}
    for address, block in zip(addresses, out.strip('\n').split('\n\n')):
        lines = block.split('\n')
        chain = []
        for function, place in zip(lines[0::2], lines[1::2]):
            function = re.sub(r'<.*', '', function)
            path = place.split(':')[0]
            chain.append(function if path == '??' else f'{os.path.basename(path)}:{function}')
        chains[address] = chain[::-1]
    return chains


def symbol_starts(elf):
    """Sorted (address, name) of the ELF's functions, for code without line
    information (assembly)."""
    out = subprocess.run([llvm_tool('llvm-nm'), '-n', '-C', '--defined-only', elf],
                         capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split(' ', 2)
        if len(fields) == 3 and fields[1] in 'tT':
            found.append((int(fields[0], 16), fields[2]))
    return found


def enclosing_symbol(symbols, address):
    i = bisect.bisect_right(symbols, (address, '\uffff')) - 1
    return symbols[i][1] if i >= 0 else '??'


class Image:
    def __init__(self, spec):
        name, sep, rest = spec.partition('=')
        elf, sep2, base = rest.rpartition('@')
        if not (sep and sep2 and name and elf):
            sys.exit(f'attribute.py: --image wants NAME=ELF@BASE, got {spec!r}')
        self.name, self.elf, self.base = name, elf, int(base, 0)
        low, high = load_extent(elf)
        self.low, self.high = low + self.base, high + self.base

    def holds(self, pc):
        return self.low <= pc < self.high


def main():
    ap = argparse.ArgumentParser(description='Per-function instructions of the profile windows.')
    ap.add_argument('counts')
    ap.add_argument('--image', action='append', default=[], type=Image)
    ap.add_argument('--depth', type=int, default=2)
    ap.add_argument('--top', type=int, default=40)
    args = ap.parse_args()

    windows, sites = None, []
    with open(args.counts) as f:
        for line in f:
            if line.startswith('# windows '):
                windows = int(line.split()[2])
            elif line.strip():
                pc, _, count = line.split()
                sites.append((int(pc, 16), int(count)))
    if not windows:
        sys.exit('attribute.py: no profile window was opened (is the hint #126 marker on the path?)')

    per_image = collections.Counter()
    per_chain = collections.Counter()
    for image in args.image:
        mine = [(pc, n) for pc, n in sites if image.holds(pc)]
        chains = inline_chains(image.elf, sorted({pc - image.base for pc, _ in mine}))
        symbols = None
        for pc, n in mine:
            chain = chains.get(pc - image.base) or []
            if not chain or chain[0].startswith('??'):
                symbols = symbols or symbol_starts(image.elf)
                chain = [enclosing_symbol(symbols, pc - image.base)]
            per_image[image.name] += n
            per_chain[f'{image.name}: ' + ' > '.join(chain[:args.depth])] += n
    for pc, n in sites:
        if not any(image.holds(pc) for image in args.image):
            per_image['guest (in no image)'] += n
            per_chain['guest (in no image)'] += n

    total = sum(per_image.values())
    print(f'{total / windows:.0f} instructions per window, {windows} windows')
    for name, n in per_image.most_common():
        print(f'{n / windows:9.1f}  {name}')
    print()
    for label, n in per_chain.most_common(args.top):
        print(f'{n / windows:9.1f}  {label}')


if __name__ == '__main__':
    main()
