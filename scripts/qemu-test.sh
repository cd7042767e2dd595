#!/usr/bin/env bash
# Runs every zxvisor test and ends with one line `N passed, N failed`:
#   1. host unit tests (cargo test: ABI layouts, ESR decoding, page tables,
#      DTB parsing and rewriting, handle table, ...);
#   2. the on-target suite (the default host) on QEMU virt with GICv3 -smp 4
#      (built-in host) and GICv2 -smp 2 (the same host loaded with -initrd),
#      and on QEMU raspi4b (Raspberry Pi 4: spin table, PM watchdog, GIC-400);
#   3. boot scenarios: PSCI SYSTEM_RESET, entry at EL1, too little RAM, and
#      rejected host images; a smoke run of the benchmark mode;
#   4. the Raspberry Pi 4 SD card image (scripts/mk-sdimage.sh), with and
#      without a host: partition table, FAT32, files, config.txt;
#   5. Linux under the VMM (guest-images/vmm): Debian's arm64 kernel with 2
#      vCPUs on virt GICv3 -smp 4 and GICv2 -smp 2, booted to the test init
#      and powered off; a kernel panic, a watchdog stop and a bad blob.
# Every QEMU run has a timeout (ZXV_QEMU_TIMEOUT, default 300 s). Logs are in
# target/zxvisor/logs. Exits non-zero on any failure.
. "$(dirname "$0")/lib.sh"

TIMEOUT=${ZXV_QEMU_TIMEOUT:-300}
LOGS="$OUT/logs"
passed=0 failed=0 skipped=0

pass() { passed=$((passed + 1)); echo "ok $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }

# qemu_log NAME ARGS...: runs QEMU (QEMU array + ARGS) with the timeout,
# output to $LOGS/NAME.log; sets RC.
qemu_log() {
    local name=$1
    shift
    set +e
    timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" "$@" </dev/null >"$LOGS/$name.log" 2>&1
    RC=$?
    set -e
}

explain() {
    local name=$1 why=$2
    fail "$name" "$why (last lines of $LOGS/$name.log below)"
    tail -n 25 "$LOGS/$name.log" | sed 's/^/    | /'
}

# count_lines NAME FILE: counts the `ok`/`FAIL`/`skip` lines of FILE as
# tests, printing them prefixed with NAME; sets OK (the number of ok lines).
count_lines() {
    local name=$1 file=$2 bad
    OK=$(grep -c '^ok ' "$file" || true)
    bad=$(grep -c '^FAIL ' "$file" || true)
    skipped=$((skipped + $(grep -c '^skip ' "$file" || true)))
    grep -E '^(ok|FAIL|skip) ' "$file" | sed -E "s/^(ok|FAIL|skip) /\1 $name: /"
    passed=$((passed + OK))
    failed=$((failed + bad))
}

# suite NAME ARGS...: one on-target run of the QEMU command line set up
# before; each `ok`/`FAIL` line of the host counts as a test.
suite() {
    local name=$1
    shift
    qemu_log "$name" "$@"
    local closing
    closing=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOGS/$name.log" | tail -1 || true)
    count_lines "$name" "$LOGS/$name.log"
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        explain "$name" "QEMU did not finish within ${TIMEOUT}s (a hang)"
    elif [ -z "$closing" ]; then
        explain "$name" "no closing 'N passed, N failed' line (QEMU exit $RC)"
    elif [ "$RC" -ne 0 ]; then
        explain "$name" "QEMU exited with $RC"
    elif [ "$OK" -eq 0 ]; then
        explain "$name" "no test ran"
    fi
}

# scenario NAME WANT_RC PATTERN ARGS...: a QEMU run that must print PATTERN
# and exit with WANT_RC (0 or "nonzero").
scenario() {
    local name=$1 want_rc=$2 pattern=$3
    shift 3
    qemu_log "$name" "$@"
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        explain "$name" "QEMU did not finish within ${TIMEOUT}s (a hang)"
    elif ! grep -qE "$pattern" "$LOGS/$name.log"; then
        explain "$name" "expected output matching /$pattern/"
    elif [ "$want_rc" = nonzero ] && [ "$RC" -eq 0 ] || [ "$want_rc" != nonzero ] && [ "$RC" -ne "$want_rc" ]; then
        explain "$name" "QEMU exit status $RC, want $want_rc"
    else
        pass "$name"
    fi
}

ensure_qemu
ensure_toolchain
build_monitor
mkdir -p "$LOGS"

say "host unit tests (cargo test)"
set +e
cargo test -q --workspace 2>&1 | tee "$LOGS/cargo-test.log"
cargo_rc=${PIPESTATUS[0]}
set -e
read -r ut_ok ut_bad < <(awk '/^test result:/ {p += $4; f += $6} END {print p+0, f+0}' "$LOGS/cargo-test.log")
passed=$((passed + ut_ok))
failed=$((failed + ut_bad))
if [ "$cargo_rc" -ne 0 ] && [ "$ut_bad" -eq 0 ]; then fail cargo-test "cargo test exited with $cargo_rc"; fi

say "on-target suite: virt-gicv3-smp4 (virt, GICv3, -smp 4)"
qemu_virt_cmd 3 4
suite virt-gicv3-smp4
say "on-target suite: virt-gicv2-smp2-initrd (virt, GICv2, -smp 2, host from -initrd)"
qemu_virt_cmd 2 2
suite virt-gicv2-smp2-initrd -initrd "$OUT/host.elf"
grep -q 'loaded the host from the initrd' "$LOGS/virt-gicv2-smp2-initrd.log" \
    && pass "boot_host_from_initrd" || fail boot_host_from_initrd "the -initrd host was not the one that ran"

say "on-target suite: raspi4b (QEMU raspi4b: Raspberry Pi 4, GIC-400, 4 CPUs)"
qemu_raspi4b_cmd
suite raspi4b
# Without semihosting on raspi4b, only the monitor's PM watchdog reset
# (with -no-reboot) lets QEMU exit by itself after the host's SYSTEM_OFF.
if grep -q 'host requested SYSTEM_OFF' "$LOGS/raspi4b.log" && [ "$RC" -eq 0 ]; then
    pass raspi4b_system_off_through_pm_watchdog
else
    fail raspi4b_system_off_through_pm_watchdog "no SYSTEM_OFF, or QEMU did not end by the watchdog reset (exit $RC)"
fi

say "boot scenarios"
qemu_virt_cmd 3 2
scenario boot_psci_system_reset 0 'host requested SYSTEM_RESET' -append zxv.test=reset
QEMU=(qemu-system-aarch64 -M virt -cpu max -m 1G -display none -serial stdio -monitor none -semihosting -no-reboot -kernel "$MONITOR_IMAGE")
scenario boot_refuses_el1 nonzero 'entered at EL1, not EL2'
qemu_virt_cmd 3 2
QEMU+=(-m 32M)
scenario boot_refuses_too_little_ram nonzero 'no 32 MiB of free RAM for the monitor'
qemu_virt_cmd 3 9
scenario boot_refuses_too_many_cpus nonzero 'cannot use the devicetree at 0x[0-9a-f]+: the DTB lists 9 CPUs; zxvisor supports at most 8'
qemu_virt_cmd 3 2
echo "this is not an ELF file" >"$OUT/not-elf.bin"
scenario boot_rejects_non_elf_host nonzero 'host ELF rejected: not an ELF file' -initrd "$OUT/not-elf.bin"
monitor_base=$(sed -n 's/.*monitor [0-9]* MiB at \(0x[0-9a-f]*\)\.\..*/\1/p' "$LOGS/virt-gicv3-smp4.log" | head -1)
if [ -n "$monitor_base" ]; then
    python3 "$ROOT/tests/mkelf.py" "$OUT/over-monitor.elf" "$monitor_base"
    scenario boot_rejects_host_over_monitor nonzero 'overlaps monitor memory' -initrd "$OUT/over-monitor.elf"
else
    fail boot_rejects_host_over_monitor "could not read the monitor's base from the GICv3 boot banner"
fi
python3 "$ROOT/tests/mkelf.py" "$OUT/outside-ram.elf" 0x1000
scenario boot_rejects_host_outside_ram nonzero 'is not inside host RAM' -initrd "$OUT/outside-ram.elf"
python3 "$ROOT/tests/mkelf.py" "$OUT/x86.elf" 0x40200000 --machine 62
scenario boot_rejects_foreign_elf nonzero 'not an ELF64 little-endian AArch64 executable' -initrd "$OUT/x86.elf"

say "benchmark mode (smoke run; figures are in the README)"
qemu_virt_cmd 3 2
QEMU+=(-icount shift=0,sleep=off)
scenario bench_mode_reports_every_operation 0 '^bench state_pair\|' -append zxv.bench
if grep -q '^bench-fail' "$LOGS/bench_mode_reports_every_operation.log"; then
    fail bench_mode_measures "$(grep '^bench-fail' "$LOGS/bench_mode_reports_every_operation.log" | head -1)"
fi
# The guest's timer wakes its WFI within 1 ms of the deadline, in virtual
# time (one counter tick per instruction at 1 GHz: 1 ms = 1,000,000).
late=$(tr -d '\r' <"$LOGS/bench_mode_reports_every_operation.log" | sed -n 's/^bench timer_wfi|\([0-9]*\)|.*/\1/p')
if [ -n "$late" ] && [ "$late" -lt 1000000 ]; then
    pass "timer_wakes_wfi_within_1ms_icount ($late ticks)"
else
    fail timer_wakes_wfi_within_1ms_icount "timer IRQ ${late:-?} ticks after the deadline, want < 1,000,000"
fi

say "Raspberry Pi 4 SD card images (scripts/mk-sdimage.sh)"
# tests/check-sdimage.sh identifies the file system with file(1).
ensure_tools file:file
firmware="$DEBIAN_ARM64_CACHE/root/raspi-firmware/usr/lib/raspi-firmware"
for host in "" "$OUT/host.elf"; do
    img="$OUT/sdimage-test${host:+-host}.img"
    if bash "$ROOT/scripts/mk-sdimage.sh" -o "$img" ${host:+--host "$host"} >"$LOGS/mk-sdimage${host:+-host}.log" 2>&1; then
        bash "$ROOT/tests/check-sdimage.sh" "$img" "$MONITOR_IMAGE" "$firmware" "$PI4_DTB" $host >"$LOGS/sdimage${host:+-host}.log"
        count_lines sdimage "$LOGS/sdimage${host:+-host}.log"
    else
        fail "mk-sdimage${host:+ --host}" "scripts/mk-sdimage.sh failed (see $LOGS/mk-sdimage${host:+-host}.log)"
    fi
done

# linux_checks NAME: the lines the test init (guest-images/vmm/initramfs/
# test) prints and the VMM's SYSTEM_OFF report, each a test.
linux_checks() {
    local name=$1 out before after
    out=$(tr -d '\r' <"$LOGS/$name.log")
    check() {
        if grep -qE "$2" <<<"$out"; then pass "$name: $1"; else fail "$name: $1" "no line matching /$2/ in $LOGS/$name.log"; fi
    }
    check kernel_version "^linux\| zxv-test: kernel ${LINUX_VERSION}\$"
    check two_cpus '^linux\| zxv-test: cpus 2$'
    # "NN: <count on CPU0> <count on CPU1> GIC... arch_timer": both grow.
    before=$(sed -n 's/^linux| zxv-test: timer-before *[0-9]*: *\([0-9]*\) *\([0-9]*\) .*arch_timer$/\1 \2/p' <<<"$out")
    after=$(sed -n 's/^linux| zxv-test: timer-after *[0-9]*: *\([0-9]*\) *\([0-9]*\) .*arch_timer$/\1 \2/p' <<<"$out")
    if [ -n "$before" ] && [ -n "$after" ] && [ "${after% *}" -gt "${before% *}" ] && [ "${after#* }" -gt "${before#* }" ]; then
        pass "$name: arch_timer_ticks_on_both_cpus ($before -> $after)"
    else
        fail "$name: arch_timer_ticks_on_both_cpus" "arch_timer counts '${before:-?}' then '${after:-?}', want both CPUs' to grow"
    fi
    # Booted at start and again after CPU_OFF and CPU_ON, both times with
    # MPIDR 1 (the monitor numbers a new vCPU by the lowest free slot).
    booted=$(grep -cE '^linux\| \[ *[0-9.]+\] CPU1: Booted secondary processor 0x0000000001 ' <<<"$out")
    if [ "$booted" -ge 2 ]; then
        pass "$name: cpu1_keeps_mpidr_1"
    else
        fail "$name: cpu1_keeps_mpidr_1" "CPU1 booted with MPIDR 0x1 $booted times, want 2 (at start and after hotplug)"
    fi
    check cpu1_off_and_on_again '^linux\| zxv-test: hotplug 0 0-1$'
    check vmm_reports_cpu_off '^vmm: guest linux: vCPU 1 turned itself off \(CPU_OFF\)$'
    # The guest's PSCI AFFINITY_INFO answers (ON until the VMM has closed
    # the vCPU, then OFF; -1 would be NOT_SUPPORTED). Linux polls for a
    # limited time, so a slow host may still see ON.
    check cpu1_affinity_info '^linux\| \[ *[0-9.]+\] psci: CPU1 (killed|may not have shut down cleanly \(AFFINITY_INFO reports 0\))'
    check busybox_commands '^linux\| zxv-test: busybox ZXVISOR 1,2,3,4,5 [0-9]+ sh$'
    check uname '^linux\| zxv-test: uname Linux aarch64$'
    check vmm_reports_system_off '^vmm: guest linux: SYSTEM_OFF from vCPU [01]$'
    check vmm_counts_exits '^vmm: guest linux: exits to the VMM: gicd [1-9]'
    if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        explain "$name" "QEMU did not finish within ${TIMEOUT}s (a hang)"
    elif [ "$RC" -ne 0 ]; then
        explain "$name" "QEMU exited with $RC"
    else
        pass "$name: machine_exits_with_success"
    fi
}

say "Linux under the VMM (Debian's kernel, busybox initramfs)"
build_vmm
linux_guest
LINUX_VERSION=$(debian_arm64_kernel)
LINUX_VERSION=${LINUX_VERSION#linux-image-}
LINUX_CMDLINE="console=ttyAMA0 panic=-1"
# The VMM's own watchdog fires a minute before QEMU's timeout, and after
# 10 s at the least (ZXV_QEMU_TIMEOUT may be 60 or less).
VMM_TIMEOUT=$((TIMEOUT - 60 > 10 ? TIMEOUT - 60 : 10))
# The GICv2 guest calls PSCI with smc, the GICv3 one with hvc.
for run in "virt-gicv3-smp4 3 4 hvc" "virt-gicv2-smp2 2 2 smc"; do
    set -- $run
    say "Linux: $1 (virt, GICv$2, -smp $3, 2 vCPUs, PSCI via $4)"
    qemu_linux_cmd "$2" "$3" "vmm.cpus=2 vmm.psci=$4 vmm.timeout=$VMM_TIMEOUT" "$LINUX_CMDLINE rdinit=/test"
    qemu_log "linux-$1"
    linux_checks "linux-$1"
done
# A panic (no init) resets the guest: the VMM says so and resets the machine.
qemu_linux_cmd 3 2 "vmm.cpus=1" "$LINUX_CMDLINE rdinit=/missing"
scenario linux_panic_resets 0 '^vmm: guest linux: SYSTEM_RESET from vCPU 0'
# A guest that outlives vmm.timeout is stopped with its last console lines
# (earlycon: the kernel prints from its first instructions on).
qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.timeout=3" "$LINUX_CMDLINE earlycon=pl011,0x9000000 rdinit=/test"
scenario linux_watchdog_reports_last_lines nonzero '^vmm: guest linux: its last console lines:'
grep -qE '^    \| \[ *[0-9.]+\] ' "$LOGS/linux_watchdog_reports_last_lines.log" \
    && pass linux_watchdog_shows_kernel_lines || fail linux_watchdog_shows_kernel_lines "no kernel line in the report"
# A raw binary (hand-assembled below) is entered at its first byte with x0 =
# the DTB (in the last 2 MiB of 16 MiB): it prints "hi" and "dtb" if x0 is
# right, reads unclaimed device space at 0x0a000000 and powers off.
python3 - "$OUT/raw-guest.bin" <<'PY'
import struct, sys
def movz(rd, imm, shift16=False, w=False):
    return (0x52800000 if w else 0xD2800000) | (0x200000 if shift16 else 0) | imm << 5 | rd
def putc(c):  # w2 = c; str w2, [x1]
    return [movz(2, ord(c), w=True), 0xB9000022]
code = [movz(1, 0x0900, True)]                      # x1 = the PL011
code += putc("h") + putc("i") + putc("\n")
code += [movz(5, 0x40E0, True), 0xEB05001F,         # cmp x0, 0x40e00000
         0x54000000 | (1 + 8) << 5 | 1]             # b.ne over the 4 putc
code += putc("d") + putc("t") + putc("b") + putc("\n")
code += [movz(3, 0x0A00, True), 0xB9400064]         # ldr w4, [0x0a000000]
code += [movz(0, 0x8400, True), 0xF2800100,         # x0 = SYSTEM_OFF
         0xD4000002, 0x14000000]                    # hvc #0; b .
open(sys.argv[1], "wb").write(struct.pack("<%dI" % len(code), *code))
PY
qemu_virt_cmd 3 2
scenario vmm_boots_raw_binary 0 '^vmm: guest raw: SYSTEM_OFF from vCPU 0' -initrd "$OUT/vmm.elf" \
    -device "loader,file=$OUT/raw-guest.bin,addr=0x50000000,force-raw=on" \
    -append "vmm.kernel=0x50000000,$(stat -c %s "$OUT/raw-guest.bin") vmm.mem=16M vmm.name=raw"
raw=$(tr -d '\r' <"$LOGS/vmm_boots_raw_binary.log")
for want in '^vmm: guest raw: raw binary at 0x40000000$' '^raw\| hi$' '^raw\| dtb$' \
    '^vmm: guest raw: read of unclaimed device space at 0xa000000 '; do
    grep -qE "$want" <<<"$raw" && pass "vmm_raw_binary: /$want/" || fail vmm_raw_binary "no line matching /$want/"
done
# A kernel blob over the VMM's own image is refused before anything runs.
qemu_virt_cmd 3 2
scenario vmm_refuses_blob_over_itself nonzero 'vmm.kernel 0x40200000\.\..* overlaps the VMM image' \
    -initrd "$OUT/vmm.elf" -append "vmm.kernel=0x40200000,0x1000"
# A command line the VMM refuses: the report names the guest and the limit.
qemu_virt_cmd 3 2
scenario vmm_refusal_names_the_guest nonzero '^vmm: guest big failed: vmm.cpus=9: a guest has 1 to 8 vCPUs' \
    -initrd "$OUT/vmm.elf" -append "vmm.kernel=0x50000000,0x1000 vmm.cpus=9 vmm.name=big"

if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
