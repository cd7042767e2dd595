#!/usr/bin/env python3
"""Writes a gzip-compressed newc cpio archive (a Linux initramfs) without root.

    mkinitramfs.py OUT ENTRY...

Each ENTRY is one of
    dir:PATH                  a directory (mode 0755)
    file:PATH=SOURCE          a regular file copied from SOURCE, keeping its mode
    dev:PATH=c,MAJOR,MINOR    a character device node (mode 0600)
    symlink:PATH=TARGET       a symbolic link
Paths are relative to the archive root; owners are root; times are 0, so the
same inputs give the same archive.
"""
import gzip
import os
import stat
import sys


def header(ino, mode, size, name, rdev=(0, 0), nlink=1):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def pad4(n):
    return b"\0" * (-n % 4)


def member(ino, mode, name, data=b"", rdev=(0, 0)):
    name_b = name.encode()
    head = header(ino, mode, len(data), name_b, rdev, 2 if stat.S_ISDIR(mode) else 1)
    out = head + name_b + b"\0"
    out += pad4(len(out))
    return out + data + pad4(len(data))


def entries(specs):
    for spec in specs:
        kind, _, rest = spec.partition(":")
        path, _, arg = rest.partition("=")
        path = path.strip("/")
        if kind == "dir":
            yield path, stat.S_IFDIR | 0o755, b"", (0, 0)
        elif kind == "file":
            with open(arg, "rb") as f:
                data = f.read()
            perm = stat.S_IMODE(os.stat(arg).st_mode)
            yield path, stat.S_IFREG | perm, data, (0, 0)
        elif kind == "dev":
            c, major, minor = arg.split(",")
            if c != "c":
                sys.exit(f"mkinitramfs: only character devices: {spec}")
            yield path, stat.S_IFCHR | 0o600, b"", (int(major), int(minor))
        elif kind == "symlink":
            yield path, stat.S_IFLNK | 0o777, arg.encode(), (0, 0)
        else:
            sys.exit(f"mkinitramfs: unknown entry kind in {spec!r}")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = bytearray()
    for ino, (path, mode, data, rdev) in enumerate(entries(sys.argv[2:]), start=1):
        out += member(ino, mode, path, data, rdev)
    out += member(0, 0, "TRAILER!!!")
    with open(sys.argv[1], "wb") as f:
        f.write(gzip.compress(bytes(out), mtime=0))


if __name__ == "__main__":
    main()
