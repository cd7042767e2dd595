#!/usr/bin/env python3
"""Writes an ELF64 AArch64 executable for the host loader (docs/abi.md §1).

Without --image: one PT_LOAD segment of SIZE bytes at ADDR (entry ADDR)
whose code spins (`b .`), for the host-loader scenarios of
scripts/qemu-test.sh.

With --image IMAGE: an arm64 Linux `Image` as the host, entered at ADDR
(2 MiB aligned, as the Image's boot protocol wants): its file at ADDR with
the memory size its header asks for (image_size, bss included). Each
--blob ADDR FILE adds FILE as one more segment at ADDR (an initramfs,
which the kernel finds through `initrd=ADDR,SIZE` on its command line).

    tests/mkelf.py OUT ADDR [SIZE] [--machine N]
    tests/mkelf.py OUT ADDR --image IMAGE [--blob ADDR FILE]...
"""
import argparse
import struct

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("addr", type=lambda s: int(s, 0))
p.add_argument("size", type=lambda s: int(s, 0), nargs="?", default=0x1000)
p.add_argument("--machine", type=int, default=183)  # EM_AARCH64
p.add_argument("--image")
p.add_argument("--blob", nargs=2, action="append", default=[], metavar=("ADDR", "FILE"))
a = p.parse_args()

# (paddr, data, memory size, flags)
segments = []
if a.image:
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
ehdr += struct.pack("<HHIQQQIHHHHHH", 2, a.machine, 1, a.addr, 64, 0, 0, 64, 56, len(segments), 64, 0, 0)
offset = 64 + 56 * len(segments)
phdrs, body = b"", b""
for paddr, data, memsz, flags in segments:
    phdrs += struct.pack("<IIQQQQQQ", 1, flags, offset + len(body), paddr, paddr, len(data), memsz, 0x1000)
    body += data
with open(a.out, "wb") as f:
    f.write(ehdr + phdrs + body)
