#!/usr/bin/env bash
# Boots arm64 Linux (Debian's kernel, or yours) as a guest of zxvisor's VMM
# on QEMU virt, to a busybox shell on this terminal; or several guests side
# by side in one VMM (--guest). `exit` in a shell powers its guest off; the
# machine powers off with the last guest.
#
#   scripts/run-linux.sh [--kernel FILE] [--initrd FILE] [--gic 2|3] [--smp N] [--cpus N]
#                        [--mem SIZE] [--psci hvc|smc] [--disk FILE | --disk-ram FILE] [--disk-ro]
#                        [--net] [--hostfwd HOST_PORT:GUEST_PORT]... [--switch]
#                        [--guest NAME[:CPUS] [GUEST OPTIONS]]... [--gdb] [--print]
#                        [-- GUEST COMMAND LINE]
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
#   --switch       (with --guest) a virtio network on the VMM's switch
#                  between the guests: guest number N (from 1, in the order
#                  given) is 10.0.3.N/24 (zxv.ip= on its command line)
#   --guest NAME[:CPUS]  one more guest (up to 4 of them; NAME 1 to 16
#                  letters, digits, - or _) with CPUS vCPUs (default --cpus).
#                  Options before the first --guest are every guest's
#                  defaults (--cpus, --mem, --psci, --switch); after one,
#                  --cpus, --mem, --switch, --disk, --disk-ram, --disk-ro,
#                  --net and --hostfwd are that guest's (--disk and --net
#                  for one guest at most; a guest has one network, the
#                  last of --net and --switch). Each guest has the same
#                  kernel and initramfs, its own RAM, console and devices
#   --gdb          start stopped, waiting for gdb on localhost:1234; then
#                  `gdb-multiarch -x target/zxvisor/zxvisor.gdb`
#   --print        print the QEMU command line (after building) and exit
#   after --       the guest's command line (default: console=ttyAMA0, and
#                  root=/dev/vda with a disk); with --guest, the start of
#                  every guest's command line
# Console keys (QEMU's -serial mon:stdio): Ctrl-C goes to the guest, Ctrl-A X
# quits QEMU, Ctrl-A H lists the others. One guest's console is passed
# through unchanged (vmm.console=raw); the kernel prints on the PL011
# (ttyAMA0) and the shell runs on hvc0, the virtio console, once its driver
# is loaded (keys then go to hvc0). With several guests each line is
# tagged with its guest's name (`a| ...`), keys go to the first guest, and
# Ctrl-] N sends them to guest N instead (Ctrl-] n: the next one, Ctrl-]
# Ctrl-]: a Ctrl-] to the guest).
# Debian's kernel and busybox-static are downloaded once, into
# ~/.cache/zxvisor/debian-arm64 (ZXV_DEBIAN_CACHE to change it).
. "$(dirname "$0")/lib.sh"

kernel='' initrd='' gic=3 smp=4 psci=hvc gdb='' print='' cmdline='' hostfwd=''
# Per guest, index g: the defaults (or the one guest) at 0, guest N at N.
names=('') cpus=(2) mem=(256M) switch=('') disk=('') disk_kind=('') disk_ro=('') net=('')
g=0
while [ $# -gt 0 ]; do
    case $1 in
        --kernel) kernel=$(realpath "${2:?--kernel needs a file}"); shift 2 ;;
        --initrd) initrd=$(realpath "${2:?--initrd needs a file}"); shift 2 ;;
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --smp) smp=${2:?--smp needs a number}; shift 2 ;;
        --cpus) cpus[g]=${2:?--cpus needs a number}; shift 2 ;;
        --mem) mem[g]=${2:?--mem needs a size}; shift 2 ;;
        --psci) psci=${2:?--psci needs hvc or smc}; shift 2 ;;
        --disk) disk[g]=$(realpath "${2:?--disk needs a file}"); disk_kind[g]=file; shift 2 ;;
        --disk-ram) disk[g]=$(realpath "${2:?--disk-ram needs a file}"); disk_kind[g]=ram; shift 2 ;;
        --disk-ro) disk_ro[g]=1; shift ;;
        --net) net[g]=1 switch[g]=''; shift ;;
        --hostfwd) net[g]=1 switch[g]=''; hostfwd+=" ${2:?--hostfwd needs HOST_PORT:GUEST_PORT}"; shift 2 ;;
        --switch) switch[g]=1 net[g]=''; shift ;;
        --guest)
            spec=${2:?--guest needs NAME[:CPUS]}
            g=${#names[@]}
            [ "$g" -le 4 ] || die "--guest $spec: at most 4 guests"
            names[g]=${spec%%:*} cpus[g]=${cpus[0]} mem[g]=${mem[0]} switch[g]=${switch[0]}
            [ "$spec" = "${names[g]}" ] || cpus[g]=${spec#*:}
            disk[g]='' disk_kind[g]='' disk_ro[g]='' net[g]=''
            shift 2
            ;;
        --gdb) gdb=1; shift ;;
        --print) print=1; shift ;;
        --) shift; cmdline="$*"; break ;;
        -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
case $gic in 2|3) ;; *) die "--gic takes 2 or 3" ;; esac
[ -z "$kernel" ] || [ -f "$kernel" ] || die "no such kernel: $kernel"
[ -z "$initrd" ] || [ -f "$initrd" ] || die "no such initrd: $initrd"
guests=$((${#names[@]} - 1))
if [ "$guests" -gt 0 ]; then
    [ -z "${disk[0]}${disk_ro[0]}${net[0]}" ] || die "--disk, --disk-ram, --disk-ro, --net and --hostfwd are a guest's: give them after its --guest"
    [ "$(printf '%s\n' "${disk_kind[@]}" | grep -c '^file$')" -le 1 ] || die "--disk: at most one guest has the machine's disk"
    [ "$(printf '%s\n' "${net[@]}" | grep -c '^1$')" -le 1 ] || die "--net: at most one guest has the machine's network"
else
    [ -z "${switch[0]}" ] || die "--switch joins guests: it needs --guest"
fi
for g in "${!names[@]}"; do
    [ "$guests" -eq 0 ] || [ "$g" -gt 0 ] || continue
    what=${names[g]:+guest ${names[g]}: }
    [ "$g" -eq 0 ] || [[ ${names[g]} =~ ^[A-Za-z0-9_-]{1,16}$ ]] || die "--guest ${names[g]}: a name is 1 to 16 letters, digits, - or _"
    [[ ${cpus[g]} =~ ^[1-8]$ ]] || die "$what--cpus ${cpus[g]}: 1 to 8 vCPUs"
    [ -z "${disk[g]}" ] || [ -f "${disk[g]}" ] || die "no such disk image: ${disk[g]}"
    [ -z "${disk[g]}" ] || [ $(($(stat -c %s "${disk[g]}") % 512)) -eq 0 ] || die "${disk[g]}: a disk image is whole 512-byte sectors"
    [ -z "${disk_ro[g]}" ] || [ -n "${disk[g]}" ] || die "$what--disk-ro needs --disk or --disk-ram"
    mem_bytes=$(size_bytes "${mem[g]}")
    # The VMM's limits (guest-images/vmm): guest RAM in 2 MiB blocks, from
    # 0x40000000 to at most the end of the guest's 64 GiB address space.
    [ $((mem_bytes % (2 << 20))) -eq 0 ] && [ "$mem_bytes" -gt 0 ] || die "$what--mem ${mem[g]}: the guest's RAM is a non-zero multiple of 2M"
    [ "$mem_bytes" -le $(((64 - 1) << 30)) ] || die "$what--mem ${mem[g]}: at most 63G (the guest's RAM starts at 1 GiB in its 64 GiB address space)"
done
for g in "${!names[@]}"; do
    for ((h = 1; h < g; h++)); do [ "${names[h]}" != "${names[g]}" ] || die "--guest ${names[g]}: two guests of that name"; done
done
given_cmdline=$cmdline
if [ -z "$cmdline" ]; then
    cmdline=console=ttyAMA0
    [ -z "${disk[0]}" ] || cmdline+=" root=/dev/vda${disk_ro[0]:+ ro}"
fi
# The machine's own disk and network, for the guest that has them.
LINUX_DISK='' LINUX_DISK_KIND='' LINUX_DISK_RO='' LINUX_NET='' LINUX_HOSTFWD=$hostfwd
for g in "${!names[@]}"; do
    if [ "${disk_kind[g]}" = file ] || [ "$g" -eq 0 ]; then
        LINUX_DISK=${disk[g]} LINUX_DISK_KIND=${disk_kind[g]} LINUX_DISK_RO=${disk_ro[g]}
    fi
    [ -z "${net[g]}" ] || LINUX_NET=1
done

ensure_qemu
ensure_toolchain
build_monitor
build_vmm
if [ -n "$kernel" ]; then linux_image "$kernel"; else debian_kernel; fi
if [ -n "$initrd" ]; then LINUX_INITRD=$initrd; else busybox_initramfs; fi
interactive_console
if [ "$guests" -eq 0 ]; then
    qemu_linux_cmd "$gic" "$smp" "vmm.cpus=${cpus[0]} vmm.mem=${mem[0]} vmm.psci=$psci vmm.console=raw" "$cmdline"
else
    guests_clear
    for ((g = 1; g <= guests; g++)); do
        options="vmm.cpus=${cpus[g]} vmm.mem=${mem[g]}" words=''
        case ${disk_kind[g]} in file) options+=" vmm.disk=host${disk_ro[g]:+,ro}" ;; esac
        [ -z "${net[g]}" ] || options+=" vmm.net=host"
        if [ -n "${switch[g]}" ]; then
            options+=" vmm.net=switch"
            words="zxv.ip=10.0.3.$g/24"
        fi
        # A disk is the root file system unless the command line says otherwise.
        [ -z "${disk[g]}" ] || [ -n "$given_cmdline" ] || words+="${words:+ }root=/dev/vda${disk_ro[g]:+ ro}"
        guest_add "${names[g]}" "$options" "$words" \
            "$([ "${disk_kind[g]}" = ram ] && echo "${disk[g]}")" "$([ "${disk_kind[g]}" = ram ] && [ -n "${disk_ro[g]}" ] && echo ro)"
    done
    qemu_linux_cmd "$gic" "$smp" "vmm.psci=$psci" "$cmdline"
fi
if [ -n "$gdb" ]; then
    ensure_tools gdb-multiarch:gdb-multiarch
    gdb_script 1234 "$OUT/vmm.elf"
    QEMU+=(-s -S)
    say "waiting for gdb on localhost:1234; in another terminal: gdb-multiarch -x ${OUT#"$ROOT"/}/zxvisor.gdb"
fi
if [ -n "$print" ]; then
    shell_line "${QEMU[@]}"
    exit 0
fi
say_qemu
exec "${QEMU[@]}"
