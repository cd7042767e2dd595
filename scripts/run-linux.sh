#!/usr/bin/env bash
# Boots arm64 Linux (Debian's kernel, or yours) as a guest of zxvisor's VMM
# on QEMU virt, to a busybox shell on this terminal. `exit` in the shell
# powers the guest off (and the machine with it).
#
#   scripts/run-linux.sh [--kernel FILE] [--initrd FILE] [--gic 2|3] [--smp N] [--cpus N]
#                        [--mem SIZE] [--psci hvc|smc] [--disk FILE | --disk-ram FILE] [--disk-ro]
#                        [--net] [--hostfwd HOST_PORT:GUEST_PORT]... [--gdb] [-- GUEST COMMAND LINE]
#
#   --kernel FILE  the guest's kernel: an arm64 Image, or Image.gz (default:
#                  Debian's current arm64 kernel)
#   --initrd FILE  the guest's initrd or initramfs (default: busybox-static
#                  and the inits in guest-images/vmm/initramfs)
#   --gic 2|3      GIC version of the virt machine (default 3)
#   --smp N        physical CPUs (default 4)
#   --cpus N       the guest's vCPUs, 1 to 8 (default 2); more than --smp share
#                  the CPUs in time slices (vCPU i on CPU i mod --smp)
#   --mem SIZE     the guest's RAM, a multiple of 2M, e.g. 768M or 3G (default
#                  256M); the machine gets what that needs on top of 1 GiB
#   --psci M       the guest calls PSCI with hvc (default) or smc
#   --disk FILE    a virtio disk on FILE (a raw image, e.g. from
#                  scripts/mkrootfs.sh): QEMU gets a virtio-blk device on it,
#                  which the VMM drives, so what the guest writes is in FILE
#                  after power-off; the guest boots root=/dev/vda
#   --disk-ram FILE  the same disk served from a copy of FILE in RAM: the
#                  guest's writes are lost at power-off (as on the Pi)
#   --disk-ro      the disk is read-only (the guest mounts it ro)
#   --net          a virtio network: QEMU's user networking (QEMU gets a
#                  virtio-net device, which the VMM drives and switches the
#                  guest's frames to); in the guest `udhcpc -i eth0` gets
#                  10.0.2.15, the build machine is 10.0.2.2
#   --hostfwd H:G  (implies --net) TCP connections to 127.0.0.1:H on the build
#                  machine reach the guest's port G; may be repeated
#   --gdb          start stopped, waiting for gdb on localhost:1234; then
#                  `gdb-multiarch -x target/zxvisor/zxvisor.gdb`
#   after --       the guest's command line (default: console=ttyAMA0, and
#                  root=/dev/vda with a disk)
# Console keys (QEMU's -serial mon:stdio): Ctrl-C goes to the guest, Ctrl-A X
# quits QEMU, Ctrl-A H lists the others. The guest's console is passed
# through unchanged (vmm.console=raw); the kernel prints on the PL011
# (ttyAMA0) and the shell runs on hvc0, the virtio console, once its driver
# is loaded (keys then go to hvc0).
# Debian's kernel and busybox-static are downloaded once, into
# ~/.cache/zxvisor/debian-arm64 (ZXV_DEBIAN_CACHE to change it).
. "$(dirname "$0")/lib.sh"

kernel='' initrd='' gic=3 smp=4 cpus=2 mem=256M psci=hvc gdb='' cmdline='' disk='' disk_kind='' disk_ro='' net='' hostfwd=''
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) kernel=$(realpath "${2:?--kernel needs a file}"); shift 2 ;;
        --initrd) initrd=$(realpath "${2:?--initrd needs a file}"); shift 2 ;;
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --smp) smp=${2:?--smp needs a number}; shift 2 ;;
        --cpus) cpus=${2:?--cpus needs a number}; shift 2 ;;
        --mem) mem=${2:?--mem needs a size}; shift 2 ;;
        --psci) psci=${2:?--psci needs hvc or smc}; shift 2 ;;
        --disk) disk=$(realpath "${2:?--disk needs a file}"); disk_kind=file; shift 2 ;;
        --disk-ram) disk=$(realpath "${2:?--disk-ram needs a file}"); disk_kind=ram; shift 2 ;;
        --disk-ro) disk_ro=1; shift ;;
        --net) net=1; shift ;;
        --hostfwd) net=1; hostfwd+=" ${2:?--hostfwd needs HOST_PORT:GUEST_PORT}"; shift 2 ;;
        --gdb) gdb=1; shift ;;
        --) shift; cmdline="$*"; break ;;
        -h|--help) sed -n '2,43p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
case $gic in 2|3) ;; *) die "--gic takes 2 or 3" ;; esac
[ -z "$kernel" ] || [ -f "$kernel" ] || die "no such kernel: $kernel"
[ -z "$initrd" ] || [ -f "$initrd" ] || die "no such initrd: $initrd"
[ -z "$disk" ] || [ -f "$disk" ] || die "no such disk image: $disk"
[ -z "$disk" ] || [ $(($(stat -c %s "$disk") % 512)) -eq 0 ] || die "$disk: a disk image is whole 512-byte sectors"
[ -z "$disk_ro" ] || [ -n "$disk" ] || die "--disk-ro needs --disk or --disk-ram"
if [ -z "$cmdline" ]; then
    cmdline=console=ttyAMA0
    [ -z "$disk" ] || cmdline+=" root=/dev/vda${disk_ro:+ ro}"
fi
LINUX_DISK=$disk LINUX_DISK_KIND=$disk_kind LINUX_DISK_RO=$disk_ro LINUX_NET=$net LINUX_HOSTFWD=$hostfwd
mem_bytes=$(size_bytes "$mem")
# The VMM's limits (guest-images/vmm): guest RAM in 2 MiB blocks, from
# 0x40000000 to at most the end of the guest's 64 GiB address space.
[ $((mem_bytes % (2 << 20))) -eq 0 ] && [ "$mem_bytes" -gt 0 ] || die "--mem $mem: the guest's RAM is a non-zero multiple of 2M"
[ "$mem_bytes" -le $(((64 - 1) << 30)) ] || die "--mem $mem: at most 63G (the guest's RAM starts at 1 GiB in its 64 GiB address space)"

ensure_qemu
ensure_toolchain
build_monitor
build_vmm
if [ -n "$kernel" ]; then linux_image "$kernel"; else debian_kernel; fi
if [ -n "$initrd" ]; then LINUX_INITRD=$initrd; else busybox_initramfs; fi
interactive_console
qemu_linux_cmd "$gic" "$smp" "vmm.cpus=$cpus vmm.mem=$mem vmm.psci=$psci vmm.console=raw" "$cmdline"
if [ -n "$gdb" ]; then
    ensure_tools gdb-multiarch:gdb-multiarch
    gdb_script 1234 "$OUT/vmm.elf"
    QEMU+=(-s -S)
    say "waiting for gdb on localhost:1234; in another terminal: gdb-multiarch -x ${OUT#"$ROOT"/}/zxvisor.gdb"
fi
say_qemu
exec "${QEMU[@]}"
