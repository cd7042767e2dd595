#!/usr/bin/env python3
"""Writes an ELF64 AArch64 executable for the host loader (docs/abi.md §1).

Without --image or --elf: one PT_LOAD segment of SIZE bytes at ADDR (entry
ADDR) whose code spins (`b .`), for the host-loader scenarios of
scripts/qemu-test.sh.

With --image IMAGE: an arm64 Linux `Image` as the host, entered at ADDR
(2 MiB aligned, as the Image's boot protocol wants): its file at ADDR with
the memory size its header asks for (image_size, bss included).

With --elf ELF (no ADDR): the host ELF's own PT_LOAD segments and entry
point (e.g. the VMM's), so that blobs can travel with it in one file.

Each --blob ADDR FILE adds FILE as one more segment at ADDR: an initramfs,
which a Linux host finds through `initrd=ADDR,SIZE` on its command line, or
the files the VMM reads (vmm.kernel=ADDR,SIZE and the like). Each segment's
file offset is congruent to its address modulo 4 KiB, as ELF asks.

    scripts/mkelf.py OUT ADDR [SIZE] [--machine N]
    scripts/mkelf.py OUT ADDR --image IMAGE [--blob ADDR FILE]...
    scripts/mkelf.py OUT --elf ELF [--blob ADDR FILE]...
"""
import argparse
import struct

PAGE = 0x1000
PT_LOAD = 1

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("addr", type=lambda s: int(s, 0), nargs="?")
p.add_argument("size", type=lambda s: int(s, 0), nargs="?", default=0x1000)
p.add_argument("--machine", type=int, default=183)  # EM_AARCH64
p.add_argument("--image")
p.add_argument("--elf")
p.add_argument("--blob", nargs=2, action="append", default=[], metavar=("ADDR", "FILE"))
a = p.parse_args()
if (a.addr is None) != bool(a.elf):
    p.error("give ADDR, or --elf without it")


def elf_segments(path):
    """The PT_LOAD segments and the entry point of the ELF64 at PATH."""
    data = open(path, "rb").read()
    if data[:7] != b"\x7fELF\x02\x01\x01":
        p.error(f"{path} is not an ELF64 little-endian file")
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    found = []
    for i in range(phnum):
        kind, flags, offset, vaddr, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if kind == PT_LOAD and vaddr != paddr:
            p.error(f"{path}: a segment's virtual address {vaddr:#x} is not its physical address {paddr:#x}")
        if kind == PT_LOAD:
            found.append((paddr, data[offset:offset + filesz], memsz, flags))
    if not found:
        p.error(f"{path} has no PT_LOAD segment")
    return found, entry


# (paddr, data, memory size, flags)
segments = []
entry = a.addr
if a.elf:
    segments, entry = elf_segments(a.elf)
elif a.image:
    data = open(a.image, "rb").read()
    if len(data) < 64 or data[56:60] != b"ARM\x64":
        p.error(f"{a.image} is not an arm64 Image (no ARM\\x64 magic at offset 56)")
    text_offset, image_size = struct.unpack_from("<QQ", data, 8)
    if a.addr % (2 << 20) or text_offset:
        p.error("the Image must sit at a 2 MiB aligned address with text_offset 0")
    segments.append((a.addr, data, max(len(data), image_size), 7))
else:
    segments.append((a.addr, struct.pack("<I", 0x14000000), a.size, 5))  # b .
for addr, path in a.blob:
    data = open(path, "rb").read()
    segments.append((int(addr, 0), data, len(data), 4))

ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9
ehdr += struct.pack("<HHIQQQIHHHHHH", 2, a.machine, 1, entry, 64, 0, 0, 64, 56, len(segments), 64, 0, 0)
offset = 64 + 56 * len(segments)
phdrs, body = b"", b""
for paddr, data, memsz, flags in segments:
    body += b"\0" * ((paddr - offset - len(body)) % PAGE)
    phdrs += struct.pack("<IIQQQQQQ", PT_LOAD, flags, offset + len(body), paddr, paddr, len(data), memsz, PAGE)
    body += data
with open(a.out, "wb") as f:
    f.write(ehdr + phdrs + body)
