#!/usr/bin/env bash
# Builds an ext4 root file system image for the VMM's virtio disk, without
# root (mke2fs -d): busybox-static, the root init
# (guest-images/vmm/rootfs/init, as /sbin/init) and the usual directories.
# `scripts/run-linux.sh --disk FILE` boots it (root=/dev/vda).
#
#   scripts/mkrootfs.sh [--size SIZE] FILE
#
#   --size SIZE  the image's size (a sparse file), e.g. 512M or 2G (default 1G)
# Installs e2fsprogs if mke2fs is missing; busybox-static is downloaded once
# into ~/.cache/zxvisor/debian-arm64, as for the other scripts.
. "$(dirname "$0")/lib.sh"

size=1G file=''
while [ $# -gt 0 ]; do
    case $1 in
        --size) size=${2:?--size needs a size}; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) file=$1; shift ;;
    esac
done
[ -n "$file" ] || die "usage: scripts/mkrootfs.sh [--size SIZE] FILE"
rootfs_image "$file" "$size"
say "root file system image: $file ($size)"
