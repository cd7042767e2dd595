#!/usr/bin/env bash
# Checks the helpers of scripts/lib.sh the run scripts are made of, printing
# `ok NAME` or `FAIL NAME: why` per check: the QEMU command line a script
# prints reads back as the same words; the machine's RAM follows the
# guest's (vmm.mem); the network's options; several guests' groups, blobs
# and RAM, and what run-linux.sh refuses of them; sizes; a gzipped kernel is
# unpacked; the console options of interactive and test runs; how bench.sh
# --virtio reads its figures from a guest log and the plugin's marks, and
# refuses what does not pair up; scripts/mkelf.py --elf; what
# scripts/mk-sdimage.sh refuses. Fast: nothing is built or booted.
. "$(dirname "$0")/../scripts/lib.sh"
set +e +o pipefail

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then echo "ok $name"; else echo "FAIL $name: $why"; fi
}

# same_words LINE WORDS...: LINE, read by the shell, is WORDS.
same_words() {
    local line=$1 words
    shift
    eval "words=($line)" && [ ${#words[@]} -eq $# ] \
        && [ "$(printf '%s\0' "${words[@]}" | od -An -tx1)" = "$(printf '%s\0' "$@" | od -An -tx1)" ]
}

# qemu_arg OPTION: the word after OPTION in QEMU.
qemu_arg() {
    local i
    for ((i = 0; i < ${#QEMU[@]} - 1; i++)); do
        [ "${QEMU[i]}" = "$1" ] && { echo "${QEMU[i + 1]}"; return; }
    done
}

# Blobs with a space, a comma and a quote in their names, as a user's may have.
mkdir -p "$work/my files"
LINUX_KERNEL="$work/my files/Image,v1"
LINUX_INITRD="$work/my files/it's.cpio"
head -c 3000000 /dev/zero >"$LINUX_KERNEL"
head -c 100000 /dev/zero >"$LINUX_INITRD"

qemu_linux_cmd 3 4 "vmm.cpus=2 vmm.mem=768M" 'console=ttyAMA0 init=/bin/sh -- "$HOME" *'
line=$(shell_line "${QEMU[@]}")
check printed_qemu_line_reads_back_as_its_words "the shell reads '$line' differently" same_words "$line" "${QEMU[@]}"
check qemu_append_is_one_word "-append is '$(qemu_arg -append)'" \
    test "$(qemu_arg -append)" = 'vmm.kernel=0x50000000,3000000 vmm.initrd=0x50400000,100000 vmm.cpus=2 vmm.mem=768M -- console=ttyAMA0 init=/bin/sh -- "$HOME" *'
check qemu_loader_doubles_commas_in_file_names "got ${QEMU[*]}" \
    grep -qF -- "-device loader,file=$work/my files/Image,,v1,addr=0x50000000,force-raw=on" <<<"$(printf '%s\n' "${QEMU[@]/#/-device }")"

# The machine holds the blobs, vmm.mem of guest RAM above them and the
# monitor's 32 MiB: the initrd ends below 0x50600000, 262 MiB into RAM, so
# 262 MiB + mem + 32 MiB, and 1 GiB at the least.
for case in "vmm.cpus=1:1024M" "vmm.mem=768M:1062M" "vmm.mem=3G:3366M" "vmm.mem=16G vmm.cpus=2:16678M"; do
    qemu_linux_cmd 3 4 "${case%:*}" "console=ttyAMA0"
    check "qemu_ram_for_${case%:*}" "-m $(qemu_arg -m), want ${case#*:}" test "$(qemu_arg -m)" = "${case#*:}"
done

# The network: QEMU's user networking with each hostfwd on 127.0.0.1, its
# virtio-net for the VMM, and vmm.net=host; a forward not PORT:PORT is refused.
LINUX_NET=1 LINUX_HOSTFWD="8022:22 8080:80"
qemu_linux_cmd 3 4 "vmm.cpus=2" "console=ttyAMA0"
check qemu_user_net_with_hostfwd "-netdev $(qemu_arg -netdev)" \
    test "$(qemu_arg -netdev)" = "user,id=net0,hostfwd=tcp:127.0.0.1:8022-:22,hostfwd=tcp:127.0.0.1:8080-:80"
check qemu_net_device_for_the_vmm "got ${QEMU[*]}" grep -qx virtio-net-device,netdev=net0 <<<"$(printf '%s\n' "${QEMU[@]}")"
check vmm_net_host_option "-append is '$(qemu_arg -append)'" grep -q ' vmm.net=host -- ' <<<"$(qemu_arg -append)"
LINUX_HOSTFWD="8022"
check hostfwd_needs_two_ports "qemu_linux_cmd took hostfwd 8022" eval '! (qemu_linux_cmd 3 4 "" "") 2>/dev/null'
LINUX_NET='' LINUX_HOSTFWD=''
qemu_linux_cmd 3 4 "vmm.cpus=2" "console=ttyAMA0"
check no_network_without_linux_net "got ${QEMU[*]}" test -z "$(qemu_arg -netdev)"

# Several guests: one vmm.guest= group each after the defaults, every
# guest's command line starting with the common words, each RAM disk a
# blob of its own after the initrd (2 MiB aligned), and the machine sized
# for every guest's RAM (a's default 256M, b's 512M, c's 1G).
mkdir -p "$work/disks"
head -c 1048576 /dev/zero >"$work/disks/a,1.img"
head -c 3145728 /dev/zero >"$work/disks/b.img"
guests_clear
guest_add a "vmm.cpus=2 vmm.net=switch" "zxv.ip=10.0.3.1/24" "$work/disks/a,1.img"
guest_add b "vmm.cpus=1 vmm.mem=512M" "" "$work/disks/b.img" ro
guest_add c "vmm.mem=1G" "quiet -- x"
qemu_linux_cmd 3 2 "vmm.mem=256M vmm.timeout=60" "console=ttyAMA0"
check guests_one_group_each "-append is '$(qemu_arg -append)'" test "$(qemu_arg -append)" = \
    'vmm.kernel=0x50000000,3000000 vmm.initrd=0x50400000,100000 vmm.mem=256M vmm.timeout=60 vmm.guest=a vmm.cpus=2 vmm.net=switch vmm.disk=0x50600000,1048576 -- console=ttyAMA0 zxv.ip=10.0.3.1/24 vmm.guest=b vmm.cpus=1 vmm.mem=512M vmm.disk=0x50800000,3145728,ro -- console=ttyAMA0 vmm.guest=c vmm.mem=1G -- console=ttyAMA0 quiet -- x'
loaders=$(printf '%s\n' "${QEMU[@]}" | grep -c '^loader,file=')
check guests_each_disk_its_own_blob "got ${QEMU[*]}" \
    eval 'test "$loaders" = 4 && printf "%s\n" "${QEMU[@]}" | grep -qxF "loader,file=$work/disks/a,,1.img,addr=0x50600000,force-raw=on"'
# The blobs end at 0x50c00000 (268 MiB into RAM), then 1792 MiB of guest RAM and the monitor's 32 MiB.
check guests_machine_ram_for_all "-m $(qemu_arg -m), want 2092M" test "$(qemu_arg -m)" = 2092M
check guests_refuse_a_shared_name "guest_add took a second guest a" eval '! (guest_add a "" "") 2>/dev/null'
check guests_refuse_a_bad_name "guest_add took a/b" eval '! (guest_add a/b "" "") 2>/dev/null'
LINUX_DISK="$work/disks/b.img" LINUX_DISK_KIND=ram
check guests_refuse_linux_disk_ram "qemu_linux_cmd took LINUX_DISK_KIND=ram with guests" eval '! (qemu_linux_cmd 3 2 "" "") 2>/dev/null'
# With guests, the machine's disk and network are QEMU devices only: the
# guest that uses one says so itself.
LINUX_DISK_KIND=file LINUX_NET=1
qemu_linux_cmd 3 2 "" ""
check guests_machine_devices_for_one_guest "-append is '$(qemu_arg -append)'" \
    eval 'test -n "$(qemu_arg -drive)" && test -n "$(qemu_arg -netdev)" && ! grep -qE "vmm.(disk|net)=host" <<<"$(qemu_arg -append)"'
LINUX_DISK='' LINUX_DISK_KIND='' LINUX_NET=''
guests_clear
qemu_linux_cmd 3 4 "vmm.cpus=2" "console=ttyAMA0"
check guests_clear_gives_one_guest "-append is '$(qemu_arg -append)'" test "$(qemu_arg -append)" = \
    'vmm.kernel=0x50000000,3000000 vmm.initrd=0x50400000,100000 vmm.cpus=2 -- console=ttyAMA0'

# scripts/run-linux.sh refuses guests it cannot make before it builds.
# run_linux_refuses WHY ARGS...: run-linux.sh --print ARGS fails at once, saying WHY.
run_linux_refuses() {
    local why=$1 out
    shift
    out=$(bash "$ROOT/scripts/run-linux.sh" --print "$@" 2>&1) && return 1
    grep -q "^error: .*$why" <<<"$out"
}
check run_linux_refuses_two_guests_of_a_name "--guest a --guest a was taken" \
    run_linux_refuses 'two guests of that name' --guest a --guest a
check run_linux_refuses_five_guests "five guests were taken" \
    run_linux_refuses 'at most 4 guests' --guest a --guest b --guest c --guest d --guest e
check run_linux_refuses_a_bad_guest_name "--guest a.b was taken" run_linux_refuses 'a name is 1 to 16' --guest a.b
check run_linux_refuses_nine_vcpus "--guest a:9 was taken" run_linux_refuses 'guest a: --cpus 9: 1 to 8 vCPUs' --guest a:9
check run_linux_refuses_a_disk_before_the_guests "--disk-ram before --guest was taken" \
    run_linux_refuses "are a guest's: give them after its --guest" --disk-ram "$work/disks/b.img" --guest a
check run_linux_refuses_two_guests_on_the_machines_disk "two --disk guests were taken" \
    run_linux_refuses 'at most one guest has the machine.s disk' --guest a --disk "$work/disks/b.img" --guest b --disk "$work/disks/b.img"
check run_linux_refuses_two_guests_on_the_machines_network "two --net guests were taken" \
    run_linux_refuses 'at most one guest has the machine.s network' --guest a --net --guest b --hostfwd 8022:22
check run_linux_refuses_switch_without_guests "--switch without --guest was taken" run_linux_refuses 'it needs --guest' --switch
check run_linux_refuses_a_guests_bad_mem "--guest a --mem 3M was taken" run_linux_refuses 'guest a: --mem 3M' --guest a --mem 3M
check run_linux_help_documents_guests "--help says nothing of --guest" \
    eval 'bash "$ROOT/scripts/run-linux.sh" --help | grep -q -- "--guest NAME\[:CPUS\]"'

sizes="$(size_bytes 768M) $(size_bytes 3G) $(size_bytes 4k) $(size_bytes 4096) $(size_bytes 0x300M)"
check size_bytes "768M, 3G, 4k, 4096, 0x300M give $sizes" test "$sizes" = "805306368 3221225472 4096 4096 805306368"
check size_bytes_refuses_words "size_bytes lots or 010M did not fail" eval '! (size_bytes lots) 2>/dev/null && ! (size_bytes 010M) 2>/dev/null'

# --kernel Image.gz: gunzipped; an Image is used where it is.
OUT="$work/out"
{ head -c 56 /dev/zero; printf 'ARM\x64'; head -c 1000 /dev/urandom; } >"$work/Image"
gzip -c "$work/Image" >"$work/Image.gz"
linux_image "$work/Image.gz" 2>"$work/say"
check kernel_gz_is_gunzipped "LINUX_KERNEL $LINUX_KERNEL differs from the Image" cmp -s "$LINUX_KERNEL" "$work/Image"
check kernel_image_magic_is_accepted "linux_image said: $(cat "$work/say")" test ! -s "$work/say"
linux_image "$work/Image"
check kernel_image_is_used_in_place "LINUX_KERNEL $LINUX_KERNEL" test "$LINUX_KERNEL" = "$work/Image"

qemu_virt_cmd 3 4
check test_runs_have_no_monitor "got: ${QEMU[*]}" test "$(qemu_arg -serial) $(qemu_arg -monitor)" = "stdio none"
interactive_console
qemu_virt_cmd 3 4
check interactive_console_is_mon_stdio "got: ${QEMU[*]}" test "$(qemu_arg -serial)/$(qemu_arg -monitor)" = "mon:stdio/"

# bench.sh --virtio's readings: the guest's log (as the VMM passes it on,
# "linux| " in front) paired with the plugin's marks in order.
printf '%s\n' 'linux| zxv-vbench: vda size 67108864 requests 4' 'linux| zxv-vbench: null-before ticks 5' \
    'linux| zxv-vbench: null-after ticks 9' 'linux| zxv-vbench: write-before ticks 20' \
    'linux| zxv-vbench: write-after ticks 90' 'linux| zxv-vbench: read-before ticks 95' \
    'linux| zxv-vbench: read-after ticks 99' 'linux| zxv-vbench: ping-before ticks 100' \
    'linux| zxv-vbench: ping-after ticks 110' 'linux| zxv-vbench: eth0 pings 2 size 1472 frames 5 bytes 6100' \
    'linux| zxv-vbench: done' \
    'vmm: guest linux: exits counted by the monitor: mem-trap 40, wfi 7, total 47' >"$work/vbench.log"
printf 'mark %s\n' 1000 1100 1200 5300 5400 9000 9500 11500 >"$work/vbench.marks"
check vbench_write_per_request "got $(vbench_per_op "$work/vbench.log" "$work/vbench.marks" write 2>&1)" \
    test "$(vbench_per_op "$work/vbench.log" "$work/vbench.marks" write)" = 1000
check vbench_read_per_request "got $(vbench_per_op "$work/vbench.log" "$work/vbench.marks" read 2>&1)" \
    test "$(vbench_per_op "$work/vbench.log" "$work/vbench.marks" read)" = 875
check vbench_ping_per_frame "got $(vbench_per_op "$work/vbench.log" "$work/vbench.marks" ping 2>&1)" \
    test "$(vbench_per_op "$work/vbench.log" "$work/vbench.marks" ping)" = 380
check vbench_network_bytes "got $(vbench_count "$work/vbench.log" bytes 2>&1)" \
    test "$(vbench_count "$work/vbench.log" bytes)" = 6100
head -n 5 "$work/vbench.marks" >"$work/short.marks"
check vbench_refuses_unpaired_marks "a mark short gave a figure" \
    eval '! vbench_per_op "$work/vbench.log" "$work/short.marks" read 2>/dev/null'
sed 's/write-after ticks 90/fail write: dd: No space left on device/' "$work/vbench.log" >"$work/failed.log"
check vbench_refuses_a_failed_run "a failed dd gave a figure" \
    eval '! vbench_per_op "$work/failed.log" "$work/vbench.marks" write 2>/dev/null'
sed 's/ping-after ticks 110/fail network: no reply from 10.0.2.2:/' "$work/vbench.log" >"$work/nonet.log"
check vbench_refuses_a_run_without_network "a run whose network did not come up gave a figure" \
    eval '! vbench_per_op "$work/nonet.log" "$work/vbench.marks" ping 2>/dev/null'
check vbench_reads_the_monitors_exits "got $(vmm_exits "$work/vbench.log" 2>&1 | tr '\n' ,)" \
    test "$(vmm_exits "$work/vbench.log" | tr '\n' ,)" = "mem-trap 40,wfi 7,total 47,"
check vbench_refuses_a_missing_exit_summary "a log without a summary gave exits" \
    eval '! vmm_exits "$work/short.marks" 2>/dev/null'

# scripts/mkelf.py --elf: another ELF's segments and entry, blobs added as
# segments whose file offsets match their addresses modulo 4 KiB.
python3 "$ROOT/scripts/mkelf.py" "$work/spin.elf" 0x40200000 0x2000
printf 'blob bytes' >"$work/blob"
python3 "$ROOT/scripts/mkelf.py" "$work/with-blob.elf" --elf "$work/spin.elf" --blob 0x50000000 "$work/blob"
segments=$(python3 - "$work/with-blob.elf" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
entry, phoff = struct.unpack_from("<QQ", d, 24)
out = [hex(entry)]
for i in range(struct.unpack_from("<H", d, 56)[0]):
    _, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", d, phoff + 56 * i)
    out.append(f"{paddr:#x}:{filesz}:{memsz}:{off % 4096 == paddr % 4096}:{d[off:off + filesz][:10]!r}")
print(" ".join(out))
PY
)
check mkelf_elf_keeps_segments_and_adds_blobs "got $segments" test "$segments" \
    = "0x40200000 0x40200000:4:8192:True:b'\\x00\\x00\\x00\\x14' 0x50000000:10:10:True:b'blob bytes'"
check mkelf_elf_takes_no_address "mkelf.py took ADDR with --elf" \
    eval '! python3 "$ROOT/scripts/mkelf.py" "$work/x.elf" 0x40200000 --elf "$work/spin.elf" 2>/dev/null'

# scripts/mk-sdimage.sh refuses what cannot go on a card before it builds.
printf 'x' >"$work/odd.img"
# refuses WHY ARGS...: mk-sdimage.sh ARGS fails at once, saying WHY.
refuses() {
    local why=$1 out
    shift
    out=$(bash "$ROOT/scripts/mk-sdimage.sh" -o "$work/card.img" "$@" 2>&1) && return 1
    grep -q "^error: .*$why" <<<"$out"
}
check sdimage_refuses_host_and_linux "--host with --linux was taken" refuses 'give one' --host "$work/spin.elf" --linux
check sdimage_refuses_disk_without_linux "--disk without --linux was taken" refuses 'it needs --linux' --disk "$work/blob"
check sdimage_refuses_a_partial_sector_disk "a 1-byte disk was taken" \
    refuses 'whole 512-byte sectors' --linux --disk "$work/odd.img"
truncate -s 513M "$work/big.img"
check sdimage_refuses_a_disk_over_512m "a 513 MiB disk was taken" refuses 'at most 512 MiB' --linux --disk "$work/big.img"
