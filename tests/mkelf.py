#!/usr/bin/env python3
"""Writes a minimal ELF64 AArch64 executable for the host-loader scenarios of
scripts/qemu-test.sh: one PT_LOAD segment of SIZE bytes at ADDR (entry ADDR)
whose code spins (`b .`).

    tests/mkelf.py OUT ADDR [SIZE] [--machine N]
"""
import argparse
import struct

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("addr", type=lambda s: int(s, 0))
p.add_argument("size", type=lambda s: int(s, 0), nargs="?", default=0x1000)
p.add_argument("--machine", type=int, default=183)  # EM_AARCH64
a = p.parse_args()

code = struct.pack("<I", 0x14000000)  # b .
ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9
ehdr += struct.pack("<HHIQQQIHHHHHH", 2, a.machine, 1, a.addr, 64, 0, 0, 64, 56, 1, 64, 0, 0)
phdr = struct.pack("<IIQQQQQQ", 1, 5, 120, a.addr, a.addr, len(code), a.size, 0x1000)
with open(a.out, "wb") as f:
    f.write(ehdr + phdr + code)
