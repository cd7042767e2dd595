# Shared by the zxvisor scripts: installing what is missing, building, and
# running QEMU. Source it; it sets ROOT and OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/target/zxvisor"
# Where cargo puts its output (it honours CARGO_TARGET_DIR).
CARGO_OUT=${CARGO_TARGET_DIR:-$ROOT/target}
MONITOR_IMAGE="$OUT/zxvisor.bin"
QEMU_MIN_MAJOR=9

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root to run: $* (install it yourself, or run as root)"
    fi
}

qemu_major() {
    qemu-system-aarch64 --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -1
}

# QEMU >= 9 from Debian; on bookworm it comes from bookworm-backports.
# qemu-system-arm is installed without its Recommends (GUI, SPICE, OpenGL),
# so the one the runs do need is named: ipxe-qemu, the option ROMs QEMU
# looks for whenever a machine has a NIC (-nic none keeps them out of the
# runs, but a user's own command line may add one).
ensure_qemu() {
    local major
    major=$(qemu_major || true)
    if [ -n "$major" ] && [ "$major" -ge "$QEMU_MIN_MAJOR" ] && [ -e /usr/lib/ipxe/qemu/efi-virtio.rom ]; then return; fi
    say "installing qemu-system-arm >= $QEMU_MIN_MAJOR (found: ${major:-none})"
    [ -r /etc/os-release ] || die "not a Debian system: install qemu-system-aarch64 >= $QEMU_MIN_MAJOR yourself"
    . /etc/os-release
    local release=()
    if [ "${VERSION_CODENAME:-}" = bookworm ]; then
        local list=/etc/apt/sources.list.d/zxvisor-backports.list
        if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            say "adding bookworm-backports to $list"
            echo 'deb http://deb.debian.org/debian bookworm-backports main' | as_root tee "$list" >/dev/null
        fi
        release=(-t bookworm-backports)
    fi
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${release[@]}" qemu-system-arm ipxe-qemu
    major=$(qemu_major || true)
    [ -n "$major" ] && [ "$major" -ge "$QEMU_MIN_MAJOR" ] || die "qemu-system-aarch64 is still older than $QEMU_MIN_MAJOR"
}

# The toolchain rust-toolchain.toml pins, with its targets and llvm-tools.
ensure_toolchain() {
    command -v rustup >/dev/null || die "rustup not found: install it from rustup.rs, then run this again"
    cd "$ROOT"
    local toolchain
    toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
    if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
        say "installing Rust $toolchain"
        rustup toolchain install "$toolchain" --profile minimal
    fi
    local installed
    installed=$(rustup target list --installed --toolchain "$toolchain")
    for target in aarch64-unknown-none aarch64-unknown-none-softfloat; do
        if ! grep -qx "$target" <<<"$installed"; then
            say "adding Rust target $target"
            rustup target add --toolchain "$toolchain" "$target"
        fi
    done
    if ! rustup component list --installed --toolchain "$toolchain" | grep -q '^llvm-tools'; then
        say "adding llvm-tools"
        rustup component add --toolchain "$toolchain" llvm-tools
    fi
    LLVM_BIN="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
}

# Builds the default host and the monitor; the image lands in $MONITOR_IMAGE.
build_monitor() {
    cd "$ROOT"
    say "building the default host and the monitor"
    cargo build -q -p zxv-host --release --target aarch64-unknown-none
    mkdir -p "$OUT"
    cp "$CARGO_OUT/aarch64-unknown-none/release/zxv-host" "$OUT/host.elf"
    ZXV_DEFAULT_HOST="$OUT/host.elf" cargo build -q -p el2 --release --target aarch64-unknown-none-softfloat
    local elf=$CARGO_OUT/aarch64-unknown-none-softfloat/release/zxvisor
    # boot.S applies only R_AARCH64_RELATIVE; refuse an image needing more.
    local other
    other=$("$LLVM_BIN/llvm-readobj" --elf-output-style=GNU -r "$elf" | awk '/^[0-9a-f]+ /{print $3}' | grep -vc R_AARCH64_RELATIVE || true)
    [ "$other" -eq 0 ] || die "the monitor has $other relocations boot.S cannot apply"
    cp "$elf" "$OUT/zxvisor.elf"
    "$LLVM_BIN/llvm-objcopy" -O binary "$elf" "$MONITOR_IMAGE"
    say "monitor image: ${MONITOR_IMAGE#"$ROOT"/} ($(stat -c %s "$MONITOR_IMAGE") bytes)"
}

# QEMU's console. The tests (stdin from /dev/null) have the serial port on
# stdio and no monitor. The interactive scripts call interactive_console
# first: -serial mon:stdio multiplexes QEMU's monitor onto the terminal the
# way QEMU's -nographic does, so Ctrl-C goes to the guest (as byte 0x03),
# Ctrl-A X quits QEMU, Ctrl-A C switches to the monitor and back, Ctrl-A H
# lists the keys.
QEMU_SERIAL=(-serial stdio -monitor none)
interactive_console() { QEMU_SERIAL=(-serial mon:stdio); }

# qemu_virt_cmd GIC SMP [MEM]: sets QEMU to the command line booting the
# monitor on virt with MEM of RAM (QEMU's -m, default 1G); more arguments
# can be appended.
qemu_virt_cmd() {
    QEMU=(qemu-system-aarch64 -M "virt,virtualization=on,gic-version=$1" -cpu max -smp "$2" -m "${3:-1G}"
        -display none -nic none "${QEMU_SERIAL[@]}" -semihosting -no-reboot -kernel "$MONITOR_IMAGE")
}

# shell_line WORDS...: prints WORDS as one line a shell reads back as the
# same words (each quoted where it needs it), e.g. a QEMU command line to
# paste into a terminal.
shell_line() {
    local word words=()
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then
            words+=("$word")
        else
            words+=("'${word//\'/\'\\\'\'}'")
        fi
    done
    printf '%s\n' "${words[*]}"
}

# say_qemu: shows the QEMU command line about to run, ready to paste.
say_qemu() { say "$(shell_line "${QEMU[@]}")"; }

# QEMU option values are comma-separated: a comma in a file name is doubled.
qemu_escape() { printf '%s' "${1//,/,,}"; }

# Debian bookworm arm64 packages (main, non-free-firmware, security), fetched
# with a private apt state so the system's apt configuration is untouched.
# Each package is extracted once into $DEBIAN_ARM64_CACHE/root/PKG and reused.
DEBIAN_ARM64_CACHE=${ZXV_DEBIAN_CACHE:-${XDG_CACHE_HOME:-${HOME:-$ROOT/target}/.cache}/zxvisor/debian-arm64}

# debian_arm64_apt COMMAND ARGS...: runs apt-get or apt-cache on the private
# state, updating its package lists when they are missing or a day old.
debian_arm64_apt() {
    local cmd=$1 d=$DEBIAN_ARM64_CACHE
    shift
    local opts=(-o "Dir::State=$d/state" -o "Dir::Cache=$d/cache" -o "Dir::Etc::SourceList=$d/sources.list"
        -o Dir::Etc::SourceParts=/dev/null -o APT::Architecture=arm64 -o APT::Architectures=arm64
        -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)" -q)
    if [ -z "$(find "$d/updated" -mmin -1440 2>/dev/null)" ]; then
        local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
        [ -r "$keyring" ] || die "$keyring is missing: install debian-archive-keyring"
        mkdir -p "$d/state/lists/partial" "$d/cache/archives/partial"
        local src="deb [arch=arm64 signed-by=$keyring] http://deb.debian.org/debian"
        printf '%s\n' "$src bookworm main non-free-firmware" "$src-security bookworm-security main" >"$d/sources.list"
        say "updating the Debian arm64 package lists in ${d/#"$HOME"/\~}"
        apt-get "${opts[@]}" update >/dev/null
        touch "$d/updated"
    fi
    "$cmd" "${opts[@]}" "$@"
}

# debian_arm64_fetch PKG...: makes $DEBIAN_ARM64_CACHE/root/PKG hold each
# package's extracted files (downloaded and extracted on first use only).
debian_arm64_fetch() {
    local pkg root
    for pkg in "$@"; do
        root="$DEBIAN_ARM64_CACHE/root/$pkg"
        [ -e "$root/.extracted" ] && continue
        say "fetching Debian arm64 package $pkg"
        rm -rf "$root" "$DEBIAN_ARM64_CACHE/deb"
        mkdir -p "$root" "$DEBIAN_ARM64_CACHE/deb"
        (cd "$DEBIAN_ARM64_CACHE/deb" && debian_arm64_apt apt-get download "$pkg" >/dev/null)
        dpkg-deb -x "$DEBIAN_ARM64_CACHE"/deb/*.deb "$root"
        rm -rf "$DEBIAN_ARM64_CACHE/deb"
        touch "$root/.extracted"
    done
}

# debian_arm64_kernel: prints the name of the kernel package Debian's
# linux-image-arm64 currently depends on (remembered after the first lookup;
# delete $DEBIAN_ARM64_CACHE/kernel-package to look again).
debian_arm64_kernel() {
    local file="$DEBIAN_ARM64_CACHE/kernel-package"
    if [ ! -s "$file" ]; then
        mkdir -p "$DEBIAN_ARM64_CACHE"
        debian_arm64_apt apt-cache depends linux-image-arm64 \
            | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\)$/\1/p' | head -1 >"$file"
        [ -s "$file" ] || die "could not find the kernel package linux-image-arm64 depends on"
    fi
    cat "$file"
}

# ensure_tools CMD:PACKAGE...: installs the Debian packages whose commands
# are missing (e.g. ensure_tools dtc:device-tree-compiler).
ensure_tools() {
    local spec missing=()
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null || PATH=$PATH:/sbin:/usr/sbin command -v "${spec%%:*}" >/dev/null \
            || missing+=("${spec#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return
    say "installing ${missing[*]} from Debian"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# pi4_dtb: sets PI4_DTB to bcm2711-rpi-4-b.dtb from Debian's current arm64
# kernel package (downloaded once, see debian_arm64_fetch).
pi4_dtb() {
    local kernel
    kernel=$(debian_arm64_kernel)
    debian_arm64_fetch "$kernel"
    PI4_DTB="$DEBIAN_ARM64_CACHE/root/$kernel/usr/lib/$kernel/broadcom/bcm2711-rpi-4-b.dtb"
    [ -f "$PI4_DTB" ] || die "$kernel has no broadcom/bcm2711-rpi-4-b.dtb"
}

# qemu_raspi4b_cmd [KERNEL DTB]: sets QEMU to the command line booting
# KERNEL (default: the monitor) on QEMU's raspi4b with DTB (default: Debian's
# bcm2711-rpi-4-b.dtb, pi4_dtb); more arguments can be appended. QEMU gives
# the board 2 GiB but its DTB fix-up replaces every memory@ node with one for
# the RAM below the VideoCore's (0..0x3c000000); the Pi firmware would also
# list 0x40000000..0x80000000, so the DTB passed ($OUT/raspi4b.dtb) carries
# that range in a device_type = "memory" node QEMU leaves alone. No
# -semihosting: the monitor powers off through the PM watchdog, which with
# -no-reboot ends QEMU.
qemu_raspi4b_cmd() {
    local kernel=${1:-$MONITOR_IMAGE} src=${2:-} dtb="$OUT/raspi4b.dtb"
    ensure_tools dtc:device-tree-compiler
    if [ -z "$src" ]; then
        pi4_dtb
        src=$PI4_DTB
    fi
    # $dtb.from: the DTB it was made from.
    if [ ! -f "$dtb" ] || ! cmp -s "$src" "$dtb.from"; then
        cp "$src" "$dtb.tmp"
        fdtput -p -t s "$dtb.tmp" /sdram@40000000 device_type memory
        fdtput -t x "$dtb.tmp" /sdram@40000000 reg 0 40000000 40000000
        cp "$src" "$dtb.from"
        mv "$dtb.tmp" "$dtb"
    fi
    QEMU=(qemu-system-aarch64 -M raspi4b -dtb "$dtb" -display none -nic none "${QEMU_SERIAL[@]}" -no-reboot
        -kernel "$kernel")
}

# qemu_sdimage_cmd IMAGE DIR: copies the files of IMAGE, an SD card image
# from scripts/mk-sdimage.sh (its FAT32 partition at 1 MiB), into DIR and
# sets QEMU to boot them on raspi4b as the Pi firmware would: config.txt's
# kernel as -kernel, its device_tree as -dtb (qemu_raspi4b_cmd adds the RAM
# QEMU leaves out), its `initramfs FILE followkernel` as -initrd and
# cmdline.txt, if there is one, as -append.
qemu_sdimage_cmd() {
    local image=$1 dir=$2 config initramfs
    ensure_tools mcopy:mtools
    rm -rf "$dir"
    mkdir -p "$dir"
    MTOOLS_SKIP_CHECK=1 mcopy -n -i "$image@@1M" '::*' "$dir/" || die "$image: no FAT file system at 1 MiB"
    [ -f "$dir/config.txt" ] || die "$image has no config.txt"
    config=$(grep -v '^#' "$dir/config.txt")
    qemu_raspi4b_cmd "$dir/$(sed -n 's/^kernel=//p' <<<"$config")" "$dir/$(sed -n 's/^device_tree=//p' <<<"$config")"
    initramfs=$(sed -n 's/^initramfs \([^ ]*\) followkernel$/\1/p' <<<"$config")
    [ -z "$initramfs" ] || QEMU+=(-initrd "$dir/$initramfs")
    [ ! -f "$dir/cmdline.txt" ] || QEMU+=(-append "$(cat "$dir/cmdline.txt")")
}

# Builds the VMM (guest-images/vmm), the benchmark's counter program
# (guest-images/ticks) and the hostile virtio guest (guest-images/hostile, a
# raw binary): $OUT/vmm.elf, $OUT/ticks and $OUT/hostile.bin.
build_vmm() {
    cd "$ROOT"
    say "building the VMM"
    cargo build -q -p zxv-vmm -p zxv-ticks -p zxv-hostile --release --target aarch64-unknown-none
    local bin=$CARGO_OUT/aarch64-unknown-none/release
    cp "$bin/zxv-vmm" "$OUT/vmm.elf"
    "$LLVM_BIN/llvm-objcopy" --strip-all "$bin/zxv-ticks" "$OUT/ticks"
    "$LLVM_BIN/llvm-objcopy" -O binary "$bin/zxv-hostile" "$OUT/hostile.bin"
}

# Builds the hostile host (guest-images/fuzz): $OUT/fuzz.elf.
build_fuzz() {
    cd "$ROOT"
    say "building the hostile host (zxv-fuzz)"
    cargo build -q -p zxv-fuzz --release --target aarch64-unknown-none
    cp "$CARGO_OUT/aarch64-unknown-none/release/zxv-fuzz" "$OUT/fuzz.elf"
}

# linux_guest: Debian's arm64 kernel and the busybox initramfs
# (debian_kernel, busybox_initramfs): LINUX_KERNEL and LINUX_INITRD.
linux_guest() {
    debian_kernel
    busybox_initramfs
}

# linux_image FILE: sets LINUX_KERNEL to FILE, an arm64 Image, or to
# $OUT/linux/Image gunzipped from it if it is compressed (Image.gz, as
# Debian's /boot/vmlinuz-* may be).
linux_image() {
    [ -f "$1" ] || die "no such kernel: $1"
    if [ "$(head -c 2 "$1" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
        mkdir -p "$OUT/linux"
        LINUX_KERNEL="$OUT/linux/Image"
        gunzip -c "$1" >"$LINUX_KERNEL" || die "could not gunzip $1"
    else
        LINUX_KERNEL=$1
    fi
    # The arm64 Image header's magic, "ARM\x64" at offset 56.
    [ "$(od -An -j56 -N4 -tx1 "$LINUX_KERNEL" | tr -d ' ')" = 41524d64 ] \
        || say "$1 is no arm64 Image (no ARM\\x64 magic): the VMM enters it as a raw binary"
}

# debian_kernel: Debian's current arm64 kernel package (downloaded once):
# LINUX_KERNEL.
debian_kernel() {
    local kpkg kernel
    kpkg=$(debian_arm64_kernel)
    debian_arm64_fetch "$kpkg"
    kernel=$(find "$DEBIAN_ARM64_CACHE/root/$kpkg/boot" -name 'vmlinuz-*' | head -1)
    [ -n "$kernel" ] || die "no /boot/vmlinuz-* in Debian's $kpkg"
    linux_image "$kernel"
}

# The kernel modules the guest's virtio devices and ext4 need (Debian builds
# them as modules; PL031 is built in), loaded by the inits in this order
# after their dependencies (scripts/kmods.py).
GUEST_MODULES=(crc32c_generic virtio_mmio virtio_blk virtio_net virtio_console virtio-rng ext4)

# guest_modules: sets MODULE_ENTRIES to mkinitramfs.py entries for
# /lib/modules/NAME.ko of GUEST_MODULES and their dependencies, from the
# kernel package debian_kernel fetched, and /lib/modules/load, their names
# in load order.
guest_modules() {
    local kpkg dir list="$OUT/linux/modules.load" path
    kpkg=$(debian_arm64_kernel)
    debian_arm64_fetch "$kpkg"
    dir=$(find "$DEBIAN_ARM64_CACHE/root/$kpkg/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -1)
    [ -n "$dir" ] || die "no lib/modules/VERSION in Debian's $kpkg"
    mkdir -p "$OUT/linux"
    MODULE_ENTRIES=(dir:lib dir:lib/modules)
    : >"$list"
    while read -r path; do
        MODULE_ENTRIES+=("file:lib/modules/$(basename "$path")=$dir/$path")
        basename "$path" .ko >>"$list"
    done < <(python3 "$ROOT/scripts/kmods.py" "$dir" "${GUEST_MODULES[@]}")
    MODULE_ENTRIES+=("file:lib/modules/load=$list")
}

# busybox_initramfs: an initramfs of busybox-static, zxv-ticks, the kernel
# modules of guest_modules and the inits in guest-images/vmm/initramfs (/init
# a shell, /test the boot test, /soak the timer soak test, /bench the boot
# benchmark, /vbench the virtio disk and network benchmark, /net the network
# test, /pair the several-guests test; /lib/zxv-modules loads the modules,
# /lib/zxv-udhcpc is udhcpc's script): LINUX_INITRD. Needs build_vmm first.
busybox_initramfs() {
    debian_arm64_fetch busybox-static
    guest_modules
    mkdir -p "$OUT/linux"
    LINUX_INITRD="$OUT/linux/initramfs.cpio.gz"
    local inits="$ROOT/guest-images/vmm/initramfs"
    python3 "$ROOT/scripts/mkinitramfs.py" "$LINUX_INITRD" dir:bin dir:dev dir:proc dir:sys dir:tmp dir:mnt \
        dev:dev/console=c,5,1 file:bin/busybox="$DEBIAN_ARM64_CACHE/root/busybox-static/bin/busybox" \
        file:bin/ticks="$OUT/ticks" file:init="$inits/init" file:test="$inits/test" \
        file:soak="$inits/soak" file:bench="$inits/bench" file:vbench="$inits/vbench" file:net="$inits/net" \
        file:pair="$inits/pair" \
        "${MODULE_ENTRIES[@]}" \
        file:lib/zxv-modules="$inits/zxv-modules" file:lib/zxv-udhcpc="$inits/zxv-udhcpc"
}

# rootfs_image FILE SIZE: writes FILE, an ext4 image of SIZE (sparse) made
# without root by mke2fs -d from a staging directory: busybox-static as
# /bin/busybox and guest-images/vmm/rootfs/init as /sbin/init.
rootfs_image() {
    local file=$1 size=$2 stage="$OUT/rootfs"
    ensure_tools mke2fs:e2fsprogs
    debian_arm64_fetch busybox-static
    rm -rf "$stage"
    mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,mnt,root,etc}
    cp "$DEBIAN_ARM64_CACHE/root/busybox-static/bin/busybox" "$stage/bin/busybox"
    cp "$ROOT/guest-images/vmm/rootfs/init" "$stage/sbin/init"
    chmod 755 "$stage/bin/busybox" "$stage/sbin/init"
    rm -f "$file"
    truncate -s "$(size_bytes "$size")" "$file"
    PATH=$PATH:/sbin:/usr/sbin mke2fs -q -t ext4 -L zxv-root -E root_owner=0:0 -d "$stage" -F "$file" \
        || die "mke2fs could not make $file"
}

# The host's load address (el1rt's linker.ld), also where an arm64 Image wrapped
# as a host goes: 2 MiB aligned, as the Image's boot protocol wants.
HOST_LOAD_ADDR=0x40200000

# linux_host: Debian's arm64 kernel (debian_kernel) as an EL1 host image,
# $OUT/linux-host.elf (scripts/mkelf.py): the Image at HOST_LOAD_ADDR and, in
# the first 2 MiB aligned place after its memory, an initramfs of
# busybox-static with tests/linux-host-init as /init. Sets
# LINUX_HOST_CMDLINE to the kernel command line that finds that initramfs.
linux_host() {
    local initrd="$OUT/linux/host-initramfs.cpio.gz" image_size addr
    debian_kernel
    debian_arm64_fetch busybox-static
    mkdir -p "$OUT/linux"
    python3 "$ROOT/scripts/mkinitramfs.py" "$initrd" dir:bin dir:dev dir:proc dir:sys dir:tmp \
        dev:dev/console=c,5,1 file:bin/busybox="$DEBIAN_ARM64_CACHE/root/busybox-static/bin/busybox" \
        file:init="$ROOT/tests/linux-host-init"
    # The Image header's image_size (u64 at offset 16): its memory, bss included.
    image_size=$(od -An -j16 -N8 -tu8 "$LINUX_KERNEL" | tr -d ' ')
    addr=$(printf '0x%x' $(((HOST_LOAD_ADDR + image_size + 0x1fffff) & ~0x1fffff)))
    python3 "$ROOT/scripts/mkelf.py" "$OUT/linux-host.elf" "$HOST_LOAD_ADDR" --image "$LINUX_KERNEL" --blob "$addr" "$initrd"
    LINUX_HOST_CMDLINE="initrd=$addr,$(stat -c %s "$initrd")"
}

# Where the Linux runs put the kernel for the VMM (QEMU puts the VMM, its
# own -initrd, at RAM + 128 MiB; this is clear of it and of the DTB after it).
LINUX_KERNEL_ADDR=0x50000000
# What the monitor keeps at the top of RAM: itself and the host DTB's
# hand-off area below it (el2/src/boot.rs).
MONITOR_RESERVED=$((32 << 20))

# size_bytes SIZE: prints SIZE (decimal or 0x hexadecimal, with an optional
# K, M or G, as the VMM reads vmm.mem) in bytes.
size_bytes() {
    local n=${1%[KkMmGg]} shift=0
    case $1 in *[Kk]) shift=10 ;; *[Mm]) shift=20 ;; *[Gg]) shift=30 ;; esac
    [[ $n =~ ^([1-9][0-9]*|0|0[xX][0-9a-fA-F]+)$ ]] || die "$1 is not a size (a number with K, M or G)"
    echo $((n << shift))
}

# qemu_linux_cmd GIC SMP VMM_OPTIONS GUEST_COMMAND_LINE: sets QEMU to boot the
# monitor with the VMM as its host, and LINUX_KERNEL and LINUX_INITRD as
# `-device loader` blobs the VMM finds through its command line. The
# machine gets 1 GiB of RAM, or more if the guest's (vmm.mem in
# VMM_OPTIONS) needs it: guest RAM is the top of host RAM, above the
# blobs and below the monitor. With LINUX_DISK set to an image file the
# guest gets a virtio disk: with LINUX_DISK_KIND=ram the image is a blob
# too, served from RAM (volatile); with LINUX_DISK_KIND=file QEMU gets a
# virtio-blk device on the file, which the VMM drives (writes persist).
# LINUX_DISK_RO=1 makes it read-only. With LINUX_NET set the guest gets a
# network: QEMU gets a virtio-net device on user networking (the guest is
# 10.0.2.15 by DHCP, the build machine 10.0.2.2), which the VMM drives and
# switches the guest's virtio-net to; LINUX_HOSTFWD, words HOST_PORT:GUEST_PORT,
# forwards TCP connections to 127.0.0.1:HOST_PORT on the build machine to
# the guest's GUEST_PORT.
#
# Several guests: after guests_clear, each guest_add makes one, and
# qemu_linux_cmd then boots them all in one VMM, each in its own
# `vmm.guest=NAME` group; VMM_OPTIONS are the defaults every guest starts
# from (vmm.mem, vmm.cpus, ...) and the machine's (vmm.timeout), and
# GUEST_COMMAND_LINE the start of every guest's command line. Each guest
# has the same kernel and initramfs, its RAM disk (if it has one) a blob of
# its own, and the machine RAM for all of the guests' RAM. LINUX_DISK
# (LINUX_DISK_KIND=file only) and LINUX_NET then only give QEMU its
# virtio-blk and virtio-net devices: the one guest that uses each says so
# in its options (vmm.disk=host, vmm.net=host).
qemu_linux_cmd() {
    local gic=$1 smp=$2 options=$3 cmdline=$4 ksize isize iaddr mem=256M word need end dsize daddr ro='' ram g
    ksize=$(stat -c %s "$LINUX_KERNEL")
    isize=$(stat -c %s "$LINUX_INITRD")
    iaddr=$(printf '0x%x' $(((LINUX_KERNEL_ADDR + ksize + 0x1fffff) & ~0x1fffff)))
    end=$(((iaddr + isize + 0x1fffff) & ~0x1fffff))
    for word in $options; do
        case $word in vmm.mem=*) mem=${word#vmm.mem=} ;; esac
    done
    [ -z "${LINUX_DISK_RO:-}" ] || ro=,ro
    local disk_args=() groups=''
    if [ -n "${LINUX_DISK:-}" ]; then
        case ${LINUX_DISK_KIND:-file} in
            ram)
                [ ${#GUEST_NAMES[@]} -eq 0 ] || die "LINUX_DISK_KIND=ram is for one guest: give each guest its RAM disk with guest_add"
                dsize=$(stat -c %s "$LINUX_DISK")
                daddr=$(printf '0x%x' "$end")
                end=$(((end + dsize + 0x1fffff) & ~0x1fffff))
                disk_args=(-device "loader,file=$(qemu_escape "$LINUX_DISK"),addr=$daddr,force-raw=on")
                options+=" vmm.disk=$daddr,$dsize$ro"
                ;;
            file)
                disk_args=(-drive "file=$(qemu_escape "$LINUX_DISK"),format=raw,if=none,id=disk0${ro:+,readonly=on}"
                    -device virtio-blk-device,drive=disk0 -global virtio-mmio.force-legacy=false)
                [ ${#GUEST_NAMES[@]} -gt 0 ] || options+=" vmm.disk=host$ro"
                ;;
            *) die "LINUX_DISK_KIND is ram or file" ;;
        esac
    fi
    local net_args=() netdev=user,id=net0 fwd
    if [ -n "${LINUX_NET:-}" ]; then
        for fwd in ${LINUX_HOSTFWD:-}; do
            [[ $fwd =~ ^[0-9]+:[0-9]+$ ]] || die "hostfwd $fwd: want HOST_PORT:GUEST_PORT"
            netdev+=",hostfwd=tcp:127.0.0.1:${fwd%:*}-:${fwd#*:}"
        done
        net_args=(-netdev "$netdev" -device virtio-net-device,netdev=net0 -global virtio-mmio.force-legacy=false)
        [ ${#GUEST_NAMES[@]} -gt 0 ] || options+=" vmm.net=host"
    fi
    if [ ${#GUEST_NAMES[@]} -eq 0 ]; then
        ram=$(size_bytes "$mem")
        groups=" -- $cmdline"
    else
        # Each guest: its RAM (its own vmm.mem, else the default's), its
        # RAM disk as the next blob, its group on the VMM's command line.
        local gmem gopts gcmd
        ram=0
        for g in "${!GUEST_NAMES[@]}"; do
            gmem=$mem gopts=${GUEST_OPTIONS[g]} gcmd="$cmdline${GUEST_CMDLINES[g]:+ ${GUEST_CMDLINES[g]}}"
            for word in $gopts; do
                case $word in vmm.mem=*) gmem=${word#vmm.mem=} ;; esac
            done
            ram=$((ram + $(size_bytes "$gmem")))
            if [ -n "${GUEST_DISKS[g]}" ]; then
                dsize=$(stat -c %s "${GUEST_DISKS[g]}")
                daddr=$(printf '0x%x' "$end")
                end=$(((end + dsize + 0x1fffff) & ~0x1fffff))
                disk_args+=(-device "loader,file=$(qemu_escape "${GUEST_DISKS[g]}"),addr=$daddr,force-raw=on")
                gopts+="${gopts:+ }vmm.disk=$daddr,$dsize${GUEST_DISK_RO[g]:+,ro}"
            fi
            groups+=" vmm.guest=${GUEST_NAMES[g]}${gopts:+ $gopts}${gcmd:+ -- $gcmd}"
        done
    fi
    need=$((end - 0x40000000 + ram + MONITOR_RESERVED))
    qemu_virt_cmd "$gic" "$smp" "$(((need > 1 << 30 ? need : 1 << 30) >> 20))M"
    QEMU+=(-initrd "$OUT/vmm.elf"
        -device "loader,file=$(qemu_escape "$LINUX_KERNEL"),addr=$LINUX_KERNEL_ADDR,force-raw=on"
        -device "loader,file=$(qemu_escape "$LINUX_INITRD"),addr=$iaddr,force-raw=on"
        "${disk_args[@]}" "${net_args[@]}"
        -append "vmm.kernel=$LINUX_KERNEL_ADDR,$ksize vmm.initrd=$iaddr,$isize $options$groups")
}

# The guests qemu_linux_cmd boots in one VMM (none: the single guest of
# its arguments): their names, vmm.* options, own command line words, and
# RAM disk image (if any) and whether it is read-only (1 or empty).
GUEST_NAMES=() GUEST_OPTIONS=() GUEST_CMDLINES=() GUEST_DISKS=() GUEST_DISK_RO=()

# guests_clear: back to one guest.
guests_clear() { GUEST_NAMES=() GUEST_OPTIONS=() GUEST_CMDLINES=() GUEST_DISKS=() GUEST_DISK_RO=(); }

# guest_add NAME OPTIONS CMDLINE [DISK [ro]]: one more guest for
# qemu_linux_cmd: NAME (as vmm.name takes it: 1 to 16 letters, digits, -
# or _), its vmm.* OPTIONS, the words of its command line after the common
# ones, and DISK, an image file, as its RAM disk (read-only with ro).
guest_add() {
    local name=$1 g
    [[ $name =~ ^[A-Za-z0-9_-]{1,16}$ ]] || die "guest name '$name': 1 to 16 letters, digits, - or _"
    for g in "${GUEST_NAMES[@]}"; do [ "$g" != "$name" ] || die "two guests named $name"; done
    [ -z "${4:-}" ] || [ -f "$4" ] || die "no such disk image: $4"
    case ${5:-} in '' | ro) ;; *) die "guest_add $name: the disk is ro or not" ;; esac
    GUEST_NAMES+=("$name") GUEST_OPTIONS+=("$2") GUEST_CMDLINES+=("$3") GUEST_DISKS+=("${4:-}")
    GUEST_DISK_RO+=("${5:+1}")
}

# gdb_script PORT EL1_ELF...: writes $OUT/zxvisor.gdb, which attaches
# gdb-multiarch to QEMU virt's gdb stub on PORT (QEMU started with -S, so
# nothing has run yet) and loads the monitor's symbols where it runs, then
# the EL1 ELFs' at their link addresses. The monitor is linked at 0, starts
# where QEMU loaded it (the entry address in QEMU's boot stub, at the
# reset PC + 0x20) and moves to the base boot_plan returns: the script
# stops at that return, before the move, with the symbols in place.
gdb_script() {
    local port=$1 plan elf
    shift
    plan=$("$LLVM_BIN/llvm-nm" "$OUT/zxvisor.elf" | awk '$3 == "boot_plan" {print "0x" $1}')
    [ -n "$plan" ] || die "no boot_plan in $OUT/zxvisor.elf"
    {
        echo "# Written by scripts/lib.sh (gdb_script): gdb-multiarch -x ${OUT#"$ROOT"/}/zxvisor.gdb"
        echo "set pagination off"
        echo "set confirm off"
        echo "target remote localhost:$port"
        echo "tbreak *(*(unsigned long *)(\$pc + 0x20) + $plan)"
        echo "continue"
        echo "tbreak *\$x30"
        echo "continue"
        echo "eval \"add-symbol-file $OUT/zxvisor.elf -o %#lx\", \$x0"
        for elf in "$@"; do echo "add-symbol-file $elf"; done
        echo "printf \"zxvisor: the monitor's symbols are at %#lx, where it runs from now on; set breakpoints and continue\\n\", \$x0"
    } >"$OUT/zxvisor.gdb"
}

# The virtio benchmark's readings (scripts/bench.sh --virtio), from the
# guest's log (guest-images/vmm/initramfs/vbench: "zxv-vbench: NAME ticks
# N" per zxv-ticks run, "zxv-vbench: vda size S requests R", "zxv-vbench:
# eth0 pings P size S frames F bytes B") and the plugin's marks
# (scripts/profile/marks.c: "mark N" per zxv-ticks run, in the same order).

# vbench_marks LOG MARKS: prints "NAME N" per zxv-ticks run, N the
# instructions executed up to its marker; fails, saying why, unless LOG and
# MARKS have as many readings (a marker from anything else, or a run cut
# short, would pair them wrongly).
vbench_marks() {
    local names marks
    names=$(tr -d '\r' <"$1" | sed -n 's/^\(linux| \)\{0,1\}zxv-vbench: \([a-z-]*\) ticks [0-9]*$/\2/p')
    marks=$(sed -n 's/^mark \([0-9]*\)$/\1/p' "$2" 2>/dev/null)
    [ -n "$names" ] || { echo "no zxv-vbench counter readings in $1" >&2; return 1; }
    [ "$(wc -l <<<"$names")" = "$(wc -l <<<"$marks")" ] \
        || { echo "$(wc -l <<<"$names") counter readings in $1 but $(grep -c . <<<"$marks") marks in $2" >&2; return 1; }
    paste -d ' ' <(echo "$names") <(echo "$marks")
}

# vbench_count LOG WHAT: from the guest's log, the requests of each dd
# (WHAT requests), or the frames or the bytes eth0 sent and received during
# the pings (WHAT frames, bytes); fails unless there is such a reading.
vbench_count() {
    local n
    case $2 in
        requests) n=$(tr -d '\r' <"$1" | sed -n 's/.*zxv-vbench: vda size [0-9]* requests \([0-9]*\)$/\1/p' | head -1) ;;
        frames) n=$(tr -d '\r' <"$1" | sed -n 's/.*zxv-vbench: eth0 pings [0-9]* size [0-9]* frames \([0-9]*\) bytes [0-9]*$/\1/p' | head -1) ;;
        bytes) n=$(tr -d '\r' <"$1" | sed -n 's/.*zxv-vbench: eth0 pings [0-9]* size [0-9]* frames [0-9]* bytes \([0-9]*\)$/\1/p' | head -1) ;;
        *) echo "vbench_count: no such reading: $2" >&2; return 1 ;;
    esac
    [ -n "$n" ] || { echo "no $2 count in $1" >&2; return 1; }
    echo "$n"
}

# vbench_per_op LOG MARKS OP: instructions per request of OP (write or
# read), or per frame of the pings (ping): those from the marker before it
# to the one after, less what one zxv-ticks run costs (null-before to
# null-after), over its requests or frames. Fails, saying why, if a reading
# is missing or zero, or the guest reported a failure.
vbench_per_op() {
    local log=$1 marks=$2 op=$3 pairs n
    if tr -d '\r' <"$log" | grep -q 'zxv-vbench: fail'; then
        echo "the guest says: $(tr -d '\r' <"$log" | sed -n 's/.*zxv-vbench: fail //p' | head -1) ($log)" >&2
        return 1
    fi
    n=$(vbench_count "$log" "$([ "$op" = ping ] && echo frames || echo requests)") || return 1
    [ "$n" -gt 0 ] || { echo "no $op requests or frames in $log" >&2; return 1; }
    pairs=$(vbench_marks "$log" "$marks") || return 1
    awk -v op="$op" -v n="$n" '
        { at[$1] = $2 }
        END {
            if (!("null-before" in at) || !("null-after" in at) || !((op "-before") in at) || !((op "-after") in at)) {
                print "no " op " or null readings" > "/dev/stderr"; exit 1
            }
            d = at[op "-after"] - at[op "-before"] - (at["null-after"] - at["null-before"])
            if (d <= 0) { print op ": " d " instructions" > "/dev/stderr"; exit 1 }
            printf "%.0f\n", d / n
        }' <<<"$pairs"
}

# vmm_exits LOG: the exits the monitor counted, from the VMM's closing
# summary, as "KIND N" lines, the last "total N"; fails if there is none.
vmm_exits() {
    local counts
    counts=$(tr -d '\r' <"$1" | sed -n 's/^vmm: guest [^:]*: exits counted by the monitor: //p' | tail -1)
    [ -n "$counts" ] || { echo "no exit summary from the VMM in $1" >&2; return 1; }
    tr ',' '\n' <<<"$counts" | sed 's/^ *//'
}
