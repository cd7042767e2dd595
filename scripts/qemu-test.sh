#!/usr/bin/env bash
# Runs every zxvisor test and ends with one line `N passed, N failed` (and
# `, N skipped` when some were skipped). The tests come in groups, run in
# this order:
#   unit                    host unit tests (cargo test: ABI layouts, ESR
#                           decoding, page tables, DTB parsing and rewriting,
#                           handle table, the VMM's console, ...);
#   virt-gicv3-smp4         the on-target suite (the default host) on QEMU
#   virt-gicv2-smp2-initrd  virt with GICv3 -smp 4 (built-in host) and GICv2
#   raspi4b                 -smp 2 (the same host loaded with -initrd), and on
#                           QEMU raspi4b (Raspberry Pi 4: spin table, PM
#                           watchdog, GIC-400);
#   boot                    boot scenarios: PSCI SYSTEM_RESET, entry at EL1,
#                           too little RAM, too many CPUs, and rejected host
#                           images;
#   bench                   a smoke run of the benchmark mode, one benchmark
#                           alone, and scripts/profile.sh against bench.sh;
#   fuzz                    the hostile host (guest-images/fuzz) on virt
#                           GICv3 -smp 4 and GICv2 -smp 2: random and
#                           semi-valid calls and guest code from every CPU
#                           (ZXV_FUZZ=calls:N,entries:M,seed:S for another
#                           run than the CI one);
#   sdimage                 the Raspberry Pi 4 SD card image
#                           (scripts/mk-sdimage.sh), with and without a host;
#   gdb                     gdb-multiarch with target/zxvisor/zxvisor.gdb stops
#                           at breakpoints in the monitor and the host;
#   scripts                 the scripts themselves (tests/test-scripts.sh,
#                           tests/test-qemu-test.sh);
#   vmm                     the VMM with a raw binary guest, a bad blob, a
#                           refused command line and vmm.net=host without
#                           a usable virtio-net; the hostile virtio guest
#                           (malformed queues, bad requests, stray register
#                           accesses; on virtio-net also frames it cannot
#                           send, and receive queues found malformed when
#                           QEMU's ARP reply comes in) on a 4 GiB RAM
#                           disk, a 4 GiB file on QEMU's virtio-blk and a
#                           read-only RAM disk (GICv2), each with a
#                           network on QEMU's user networking; an LDP from
#                           device space; the hostile guest's isolation
#                           scan of its whole IPA space (GICv3, GICv2) and
#                           its self-test;
#   linux                   Linux under the VMM: Debian's arm64 kernel with
#                           2 vCPUs on virt GICv3 -smp 4 and GICv2 -smp 2,
#                           booted to the test init and powered off; guest
#                           RAM beyond 1 GiB of machine, the raw console; a
#                           kernel panic, a watchdog stop; a 20 s soak with
#                           a CPU-bound loop on both vCPUs (GICv3, GICv2):
#                           every CPU's timer keeps ticking, no RCU stall or
#                           soft lockup; 4 vCPUs on -smp 2 (GICv3, GICv2):
#                           Linux sees 4 CPUs, time slices end with kicks,
#                           and the soak on all 4 (GICv3) keeps every
#                           timer ticking in its share of a CPU, with no
#                           RCU stall; on GICv3 also the virtio devices
#                           (modules loaded, /dev/hwrng, hvc0 output, a RAM
#                           disk) and the PL031's date;
#   virtio                  the guest's root file system on a virtio disk
#                           backed by a file (QEMU virtio-blk, driven by the
#                           VMM): 64 MiB written and a file installed over
#                           the network, both read back after power-off
#                           with the same sha256 (read-only), fsck clean; a
#                           login shell on hvc0 driven through the console;
#                           the network (QEMU user networking, its
#                           virtio-net driven by the VMM): DHCP, an HTTP GET
#                           from a server on the build machine, a connection
#                           into the guest through hostfwd;
#   guests                  several guests in one VMM on virt GICv3 -smp 2:
#                           two Linux guests (2 + 2 vCPUs) on the VMM's
#                           switch ping each other both ways and each
#                           writes its own RAM disk (the disks are apart);
#                           one's poweroff -f ends it alone while the other
#                           keeps its heartbeat; one's reboot -f restarts
#                           it alone (its disk kept), the other running on;
#                           shells on both typed at in turn through the
#                           console's switch key (Ctrl-] N), each answer
#                           from the guest typed at; the hostile guest's
#                           isolation scan from a second guest while the
#                           first (victim) holds its RAM full of canaries:
#                           none seen, all still in place; both guests'
#                           four vCPUs busy for 20 s, every timer ticking;
#   linux-host              Debian's Linux as the EL1 host (no VMM) on -cpu
#                           max, virt GICv3 and GICv2 -smp 2: both CPUs up
#                           through the monitor's PSCI, no trap the monitor
#                           does not handle, powered off from its init;
#   raspi4b-linux           the Raspberry Pi 4 Linux SD images
#                           (scripts/mk-sdimage.sh --linux, without and with
#                           a RAM disk): their layout, and their files booted
#                           on QEMU raspi4b as the firmware boots them, to a
#                           shell typed at through the console (on the
#                           initramfs, and on the disk's root file system),
#                           then powered off.
# ZXV_TEST_ONLY="GROUP ..." runs only the groups named (shell patterns, e.g.
# ZXV_TEST_ONLY='virt-* linux'); the monitor is built first in any case.
# Every QEMU run has a timeout (ZXV_QEMU_TIMEOUT, default 300 s). Logs are in
# target/zxvisor/logs (ZXV_TEST_LOGS to change it). Exits non-zero on any
# failure.
#
# Each group runs in a subshell with errexit: whatever ends it early (a
# build, a download, a missing tool) is a `FAIL GROUP: ...` with the tail of
# its output, and the other groups still run. The tallies are kept in a file
# the subshells append to, and the closing line is printed on any exit.
. "$(dirname "$0")/lib.sh"
set +e +o pipefail

TIMEOUT=${ZXV_QEMU_TIMEOUT:-300}
LOGS=${ZXV_TEST_LOGS:-$OUT/logs}
GROUPS_ALL=(unit virt-gicv3-smp4 virt-gicv2-smp2-initrd raspi4b boot bench fuzz sdimage gdb scripts vmm linux virtio guests
    linux-host raspi4b-linux)
mkdir -p "$LOGS" || die "cannot make $LOGS"
TALLY="$LOGS/tally"
: >"$TALLY"

# tally KIND [N]: counts N (default 1) tests as passed, failed or skipped.
tally() { echo "$1 ${2:-1}" >>"$TALLY"; }
pass() { tally passed; echo "ok $1"; }
fail() { tally failed; echo "FAIL $1: $2"; }
skip() { tally skipped; echo "skip $1: $2"; }
total() { awk -v k="$1" '$1 == k {n += $2} END {print n + 0}' "$TALLY"; }

finished=''
closing_line() {
    [ -n "$finished" ] || fail qemu-test.sh "ended before every group had run"
    local passed failed skipped
    passed=$(total passed) failed=$(total failed) skipped=$(total skipped)
    if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$failed" -eq 0 ]
}
trap 'closing_line; exit $?' EXIT
trap 'exit 130' INT TERM

# tail_of FILE: the end of FILE, indented, below a failure.
tail_of() { tail -n 25 "$1" | sed 's/^/    | /'; }

# group NAME TITLE: runs group_NAME in a subshell with errexit, its output
# (stdout and stderr) also in $LOGS/NAME.group.log; an early end, or a
# group that counted no test, is a failure of the group.
group() {
    local name=$1 title=$2 log="$LOGS/$1.group.log" before rc
    [ "$name" = build ] || selected "$name" || return 0
    say "$name: $title"
    before=$(wc -l <"$TALLY")
    ( set -euo pipefail; "group_$name" ) 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        fail "$name" "the group ended early with status $rc (last lines of $log below)"
        tail_of "$log"
    elif [ "$(wc -l <"$TALLY")" -eq "$before" ]; then
        fail "$name" "the group ran no test"
    fi
}

read -ra ONLY <<<"${ZXV_TEST_ONLY:-}"
selected() {
    local pattern
    [ ${#ONLY[@]} -eq 0 ] && return 0
    for pattern in "${ONLY[@]}"; do
        # shellcheck disable=SC2053 # a pattern, on purpose
        [[ $1 == $pattern ]] && return 0
    done
    return 1
}
for pattern in "${ONLY[@]}"; do
    matched=''
    for name in "${GROUPS_ALL[@]}"; do [[ $name == $pattern ]] && matched=1; done
    [ -n "$matched" ] || { finished=1; fail ZXV_TEST_ONLY "no group matches '$pattern' (groups: ${GROUPS_ALL[*]})"; exit 2; }
done

# qemu_log NAME ARGS...: runs QEMU (QEMU array + ARGS) with the timeout,
# output to $LOGS/NAME.log; sets RC.
qemu_log() {
    local name=$1
    shift
    RC=0
    timeout --foreground -k 10 "$TIMEOUT" "${QEMU[@]}" "$@" </dev/null >"$LOGS/$name.log" 2>&1 || RC=$?
}

explain() {
    local name=$1 why=$2
    fail "$name" "$why (last lines of $LOGS/$name.log below)"
    tail_of "$LOGS/$name.log"
}

# hung: whether the last qemu_log ended by its timeout.
hung() { [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; }

# check_exit NAME: the last qemu_log's QEMU ended by itself with status 0
# (NAME: machine_exits_with_success), else why not, with the log's tail.
check_exit() {
    if hung; then
        explain "$1" "QEMU did not finish within ${TIMEOUT}s (a hang)"
    elif [ "$RC" -ne 0 ]; then
        explain "$1" "QEMU exited with $RC"
    else
        pass "$1: machine_exits_with_success"
    fi
}

# count_lines NAME FILE: counts the `ok`/`FAIL`/`skip` lines of FILE as
# tests, printing them prefixed with NAME; sets OK (the number of ok lines).
count_lines() {
    local name=$1 file=$2
    OK=$(grep -c '^ok ' "$file" || true)
    tally passed "$OK"
    tally failed "$(grep -c '^FAIL ' "$file" || true)"
    tally skipped "$(grep -c '^skip ' "$file" || true)"
    { grep -E '^(ok|FAIL|skip) ' "$file" || true; } | sed -E "s/^(ok|FAIL|skip) /\1 $name: /"
}

# suite NAME ARGS...: one on-target run of the QEMU command line set up
# before; each `ok`/`FAIL` line of the host counts as a test.
suite() {
    local name=$1 closing
    shift
    qemu_log "$name" "$@"
    closing=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOGS/$name.log" | tail -1 || true)
    count_lines "$name" "$LOGS/$name.log"
    if hung; then
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
    if hung; then
        explain "$name" "QEMU did not finish within ${TIMEOUT}s (a hang)"
    elif ! grep -qE "$pattern" "$LOGS/$name.log"; then
        explain "$name" "expected output matching /$pattern/"
    elif { [ "$want_rc" = nonzero ] && [ "$RC" -eq 0 ]; } || { [ "$want_rc" != nonzero ] && [ "$RC" -ne "$want_rc" ]; }; then
        explain "$name" "QEMU exit status $RC, want $want_rc"
    else
        pass "$name"
    fi
}

# check_log NAME TEST PATTERN: a test that $LOGS/NAME.log (carriage returns
# dropped) has a line matching PATTERN.
check_log() {
    # grep reads the whole log (no -q): under pipefail, a grep that quits
    # at the first match would fail the pipeline with tr's SIGPIPE.
    if tr -d '\r' <"$LOGS/$1.log" | grep -E "$3" >/dev/null; then
        pass "$1: $2"
    else
        fail "$1: $2" "no line matching /$3/ in $LOGS/$1.log"
    fi
}

# check_guest_flood NAME: the suite's guest_unmapped_access_flood guest
# (its koid in the `flood: guest KOID` line) made thousands of exits the
# monitor warns about; it logs the first 10 and, when the guest goes, one
# line with the number it suppressed (el2/src/ratelimit.rs).
check_guest_flood() {
    local log="$LOGS/$1.log" koid lines
    koid=$(tr -d '\r' <"$log" | sed -n 's/^flood: guest \([0-9]*\) made .*/\1/p' | head -1)
    if [ -z "$koid" ]; then
        fail "$1: guest_flood_logs_at_most_11_lines" "no 'flood: guest KOID' line in $log"
        return
    fi
    lines=$(tr -d '\r' <"$log" | grep -c "WARN guest $koid: " || true)
    if [ "$lines" -le 11 ] && tr -d '\r' <"$log" | grep -E "WARN guest $koid: [0-9]+ more messages about it suppressed\$" >/dev/null; then
        pass "$1: guest_flood_logs_at_most_11_lines ($lines)"
    else
        fail "$1: guest_flood_logs_at_most_11_lines" "$lines lines about guest $koid in $log, want at most 11 ending with the suppressed count"
    fi
}

group_build() {
    ensure_qemu
    ensure_toolchain
    build_monitor
    pass build_monitor
}

group_unit() {
    local rc=0 ut_ok ut_bad
    cargo test -q --workspace 2>&1 | tee "$LOGS/cargo-test.log" || rc=$?
    read -r ut_ok ut_bad < <(awk '/^test result:/ {p += $4; f += $6} END {print p+0, f+0}' "$LOGS/cargo-test.log")
    tally passed "$ut_ok"
    tally failed "$ut_bad"
    if [ "$rc" -ne 0 ] && [ "$ut_bad" -eq 0 ]; then fail cargo-test "cargo test exited with $rc"; fi
}

group_virt-gicv3-smp4() {
    qemu_virt_cmd 3 4
    suite virt-gicv3-smp4
    check_guest_flood virt-gicv3-smp4
    # guest_exception_loop_stops_the_vcpu: the monitor's report names the
    # guest's registers.
    check_log virt-gicv3-smp4 exception_loop_report_has_the_registers \
        'exception loop: .*\(PC 0x20000000, ESR_EL2 0x82000006, FAR 0x20000000, ELR_EL1 0x[0-9a-f]+, VBAR_EL1 0x20000000\)'
}

group_virt-gicv2-smp2-initrd() {
    qemu_virt_cmd 2 2
    suite virt-gicv2-smp2-initrd -initrd "$OUT/host.elf"
    check_guest_flood virt-gicv2-smp2-initrd
    check_log virt-gicv2-smp2-initrd boot_host_from_initrd 'loaded the host from the initrd'
}

group_raspi4b() {
    qemu_raspi4b_cmd
    suite raspi4b
    check_guest_flood raspi4b
    # Without semihosting on raspi4b, only the monitor's PM watchdog reset
    # (with -no-reboot) lets QEMU exit by itself after the host's SYSTEM_OFF.
    if grep -q 'host requested SYSTEM_OFF' "$LOGS/raspi4b.log" && [ "$RC" -eq 0 ]; then
        pass raspi4b_system_off_through_pm_watchdog
    else
        fail raspi4b_system_off_through_pm_watchdog "no SYSTEM_OFF, or QEMU did not end by the watchdog reset (exit $RC)"
    fi
}

group_boot() {
    local monitor_base
    qemu_virt_cmd 3 2
    scenario boot_psci_system_reset 0 'host requested SYSTEM_RESET' -append zxv.test=reset
    QEMU=(qemu-system-aarch64 -M virt -cpu max -m 1G -display none -nic none "${QEMU_SERIAL[@]}" -semihosting -no-reboot
        -kernel "$MONITOR_IMAGE")
    scenario boot_refuses_el1 nonzero 'entered at EL1, not EL2'
    qemu_virt_cmd 3 2 32M
    scenario boot_refuses_too_little_ram nonzero 'no 32 MiB of free RAM for the monitor'
    qemu_virt_cmd 3 9
    scenario boot_refuses_too_many_cpus nonzero 'cannot use the devicetree at 0x[0-9a-f]+: the DTB lists 9 CPUs; zxvisor supports at most 8'
    qemu_virt_cmd 3 2
    echo "this is not an ELF file" >"$OUT/not-elf.bin"
    scenario boot_rejects_non_elf_host nonzero 'host ELF rejected: not an ELF file' -initrd "$OUT/not-elf.bin"
    # The SYSTEM_RESET run above had the same machine (virt, 1 GiB).
    monitor_base=$(sed -n 's/.*monitor [0-9]* MiB at \(0x[0-9a-f]*\)\.\..*/\1/p' "$LOGS/boot_psci_system_reset.log" | head -1)
    if [ -n "$monitor_base" ]; then
        python3 "$ROOT/scripts/mkelf.py" "$OUT/over-monitor.elf" "$monitor_base"
        scenario boot_rejects_host_over_monitor nonzero 'overlaps monitor memory' -initrd "$OUT/over-monitor.elf"
    else
        fail boot_rejects_host_over_monitor "could not read the monitor's base from the boot banner in $LOGS/boot_psci_system_reset.log"
    fi
    python3 "$ROOT/scripts/mkelf.py" "$OUT/outside-ram.elf" 0x1000
    scenario boot_rejects_host_outside_ram nonzero 'is not inside host RAM' -initrd "$OUT/outside-ram.elf"
    python3 "$ROOT/scripts/mkelf.py" "$OUT/x86.elf" 0x40200000 --machine 62
    scenario boot_rejects_foreign_elf nonzero 'not an ELF64 little-endian AArch64 executable' -initrd "$OUT/x86.elf"
}

group_bench() {
    local log="$LOGS/bench_mode_reports_every_operation.log" late
    qemu_virt_cmd 3 2
    QEMU+=(-icount shift=0,sleep=off)
    scenario bench_mode_reports_every_operation 0 '^bench state_pair\|' -append zxv.bench
    if grep -q '^bench-fail' "$log"; then
        fail bench_mode_measures "$(grep '^bench-fail' "$log" | head -1)"
    fi
    # The guest's timer wakes its WFI within 1 ms of the deadline, in virtual
    # time (one counter tick per instruction at 1 GHz: 1 ms = 1,000,000).
    late=$(tr -d '\r' <"$log" | sed -n 's/^bench timer_wfi|\([0-9]*\)|.*/\1/p')
    if [ -n "$late" ] && [ "$late" -lt 1000000 ]; then
        pass "timer_wakes_wfi_within_1ms_icount ($late ticks)"
    else
        fail timer_wakes_wfi_within_1ms_icount "timer IRQ ${late:-?} ticks after the deadline, want < 1,000,000"
    fi
    check_one_benchmark
    check_profile mem_store
}

# zxv.bench=NAME runs that benchmark alone; an unknown name is refused.
check_one_benchmark() {
    local log="$LOGS/bench_mode_runs_one_operation.log" others
    scenario bench_mode_runs_one_operation 0 '^bench null_call\|' -append zxv.bench=null_call
    others=$(tr -d '\r' <"$log" | grep '^bench' | grep -v '^bench null_call|' || true)
    [ -z "$others" ] || fail bench_mode_runs_only_that_operation "also ran: $others"
    scenario bench_mode_refuses_an_unknown_operation 0 '^bench-fail nope: no such benchmark' -append zxv.bench=nope
}

# check_profile OP: scripts/profile.sh's instructions per window for OP
# agree with its bench.sh figure (within 2%; the figure also holds the
# host's loop and counter reads), and most of them are the monitor's.
check_profile() {
    local name="profile_accounts_for_$1" log="$LOGS/profile_accounts_for_$1.log" figure window monitor
    if ! ZXV_QEMU_TIMEOUT=$TIMEOUT "$ROOT/scripts/profile.sh" "$1" >"$log" 2>&1; then
        fail "$name" "scripts/profile.sh $1 failed: $(tail -n 1 "$log")"
        return
    fi
    figure=$(sed -n "s/^$1: bench.sh's figure \([0-9]*\)$/\1/p" "$log")
    window=$(sed -n 's/^\([0-9]*\) instructions per window, [0-9]* windows$/\1/p' "$log")
    monitor=$(sed -n 's/^ *\([0-9.]*\)  monitor$/\1/p' "$log")
    if [ -z "$figure" ] || [ -z "$window" ] || [ -z "$monitor" ]; then
        fail "$name" "no figure, window total or monitor share in $log"
    elif [ $((window * 50 < figure * 49 || window * 50 > figure * 51)) = 1 ]; then
        fail "$name" "$window instructions per window against bench.sh's $figure"
    elif ! awk -v m="$monitor" -v w="$window" 'BEGIN { exit !(m * 2 > w) }'; then
        fail "$name" "the monitor's share is $monitor of $window"
    else
        pass "$name ($window per window, bench.sh $figure, monitor $monitor)"
    fi
}

# The hostile host: its check lines are the tests (each seed is new unless
# ZXV_FUZZ names one; the log's `zxv-fuzz: seed` line says how to repeat a
# run), and the monitor must never print a fatal report.
group_fuzz() {
    local run name
    ensure_toolchain
    build_fuzz
    for run in "virt-gicv3-smp4 3 4" "virt-gicv2-smp2 2 2"; do
        set -- $run
        name="fuzz-$1"
        qemu_virt_cmd "$2" "$3"
        suite "$name" -initrd "$OUT/fuzz.elf" ${ZXV_FUZZ:+-append "zxv.fuzz=$ZXV_FUZZ"}
        tr -d '\r' <"$LOGS/$name.log" | grep '^zxv-fuzz: seed' || true
        # grep reads the file itself: a grep -q at the end of a pipe would
        # fail the pipe (SIGPIPE) under pipefail just when it matches.
        if grep -q '^\*\*\* zxvisor' "$LOGS/$name.log"; then
            fail "$name: monitor_never_stops" "a fatal report in $LOGS/$name.log: $(grep -m1 '^\*\*\* zxvisor' "$LOGS/$name.log" | tr -d '\r')"
        else
            pass "$name: monitor_never_stops"
        fi
    done
}

group_sdimage() {
    local host img firmware="$DEBIAN_ARM64_CACHE/root/raspi-firmware/usr/lib/raspi-firmware"
    # tests/check-sdimage.sh identifies the file system with file(1).
    ensure_tools file:file
    pi4_dtb
    for host in "" "$OUT/host.elf"; do
        img="$OUT/sdimage-test${host:+-host}.img"
        if bash "$ROOT/scripts/mk-sdimage.sh" -o "$img" ${host:+--host "$host"} >"$LOGS/mk-sdimage${host:+-host}.log" 2>&1; then
            bash "$ROOT/tests/check-sdimage.sh" "$img" "$MONITOR_IMAGE" "$firmware" "$PI4_DTB" $host >"$LOGS/sdimage${host:+-host}.log"
            count_lines sdimage "$LOGS/sdimage${host:+-host}.log"
        else
            explain "mk-sdimage${host:+-host}" "scripts/mk-sdimage.sh${host:+ --host} failed"
        fi
    done
}

# The generated gdb script, for real: QEMU stopped at reset (-S), gdb in
# batch mode must stop at a breakpoint on a Rust function of the host (EL1,
# at its link address), then on one of the monitor (relocated to the top
# of RAM): the host's first service call.
group_gdb() {
    local port log="$LOGS/gdb.log" qemu_pid
    ensure_tools gdb-multiarch:gdb-multiarch
    ensure_toolchain
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("localhost", 0)); print(s.getsockname()[1])')
    gdb_script "$port" "$OUT/host.elf"
    qemu_virt_cmd 3 4
    timeout -k 5 60 "${QEMU[@]}" -gdb "tcp:localhost:$port" -S </dev/null >"$LOGS/gdb-qemu.log" 2>&1 &
    qemu_pid=$!
    timeout -k 5 60 gdb-multiarch -batch -nx -x "$OUT/zxvisor.gdb" \
        -ex 'break host_main' -ex continue -ex 'info symbol $pc' -ex delete \
        -ex 'break el2::calls::service_call' -ex continue -ex 'info symbol $pc' -ex kill >"$log" 2>&1 || true
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
    check_log gdb gdb_monitor_symbols_where_it_runs '^zxvisor: the monitor.s symbols are at 0x[0-9a-f]+, where it runs'
    # The breakpoint is on service_call, which the compiler may inline into
    # its caller: `info symbol` then names the caller, still in the
    # monitor's .text.
    check_log gdb gdb_breaks_in_the_monitor '^Thread [0-9]+ hit Breakpoint [0-9]+, el2::calls::service_call '
    check_log gdb gdb_monitor_pc_in_monitor_text '^[a-z_:0-9]+ \+ [0-9]+ in section \.text of .*/zxvisor\.elf$'
    check_log gdb gdb_breaks_in_the_host '^host_main( \+ [0-9]+)? in section \.text of .*/host\.elf$'
}

group_scripts() {
    bash "$ROOT/tests/test-scripts.sh" >"$LOGS/test-scripts.log" 2>&1 || true
    count_lines scripts "$LOGS/test-scripts.log"
    bash "$ROOT/tests/test-qemu-test.sh" >"$LOGS/test-qemu-test.log" 2>&1 || true
    count_lines scripts "$LOGS/test-qemu-test.log"
}

group_vmm() {
    local raw want
    ensure_toolchain
    build_vmm
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
        if grep -qE "$want" <<<"$raw"; then pass "vmm_raw_binary: /$want/"; else fail vmm_raw_binary "no line matching /$want/"; fi
    done
    # A kernel blob over the VMM's own image is refused before anything runs.
    qemu_virt_cmd 3 2
    scenario vmm_refuses_blob_over_itself nonzero 'vmm.kernel 0x40200000\.\..* overlaps the VMM image' \
        -initrd "$OUT/vmm.elf" -append "vmm.kernel=0x40200000,0x1000"
    # A command line the VMM refuses: the report names the guest and the limit.
    qemu_virt_cmd 3 2
    scenario vmm_refusal_names_the_guest nonzero '^vmm: guest big failed: vmm.cpus=9: a guest has 1 to 8 vCPUs' \
        -initrd "$OUT/vmm.elf" -append "vmm.kernel=0x50000000,0x1000 vmm.cpus=9 vmm.name=big"
    # Several guests: the machine's own virtio-net is one guest's; the report
    # names the first guest.
    qemu_virt_cmd 3 2
    scenario vmm_refuses_two_guests_on_the_host_net nonzero \
        '^vmm: guest a failed: guests a and b both have vmm.net=host: the machine.s virtio-net device is one guest.s' \
        -initrd "$OUT/vmm.elf" -append "vmm.kernel=0x50000000,0x1000 vmm.guest=a vmm.net=host vmm.guest=b vmm.net=host -- x -- y"
    # vmm.net=host needs the machine's virtio-net, version 2: without it, or
    # with a legacy one, the VMM stops before the guest runs and says why.
    local raw_guest=(-initrd "$OUT/vmm.elf" -device "loader,file=$OUT/raw-guest.bin,addr=0x50000000,force-raw=on")
    local raw_args="vmm.kernel=0x50000000,$(stat -c %s "$OUT/raw-guest.bin") vmm.mem=16M vmm.net=host"
    qemu_virt_cmd 3 2
    scenario vmm_net_refused_without_the_device nonzero \
        '^vmm: guest linux failed: vmm.net=host: the machine has no virtio-net device \(QEMU: -device virtio-net-device' \
        "${raw_guest[@]}" -append "$raw_args"
    scenario vmm_net_refuses_a_legacy_device nonzero \
        '^vmm: guest linux failed: vmm.net=host: the machine.s virtio-net device is legacy \(QEMU: -global virtio-mmio.force-legacy=false\)' \
        "${raw_guest[@]}" -netdev user,id=net0 -device virtio-net-device,netdev=net0 -append "$raw_args"
    # The hostile virtio guest on three disks: 4 GiB + 1 MiB of untouched
    # host RAM (zeroes), a sparse file of that size on QEMU's virtio-blk
    # (both with sectors past 4 GiB), and an image as a read-only RAM disk
    # on GICv2 (its distributor and the GICV frame elsewhere).
    hostile_run hostile_ram_disk_4g "$HOSTILE_CASES_BIG" zero
    hostile_run hostile_host_disk_4g "$HOSTILE_CASES_BIG" host
    hostile_run hostile_ram_disk_ro_gicv2 "$HOSTILE_CASES" ram ro
    # The hostile guest's isolation scan of its whole IPA space: with every
    # device on GICv3, with two on GICv2, and its self-test.
    isolation_run isolation_gicv3 16 scan disk net
    isolation_run isolation_gicv2 13 scan
    isolation_run isolation_self_test 18 scan-self-test disk net
    # An LDP from a virtio register page has no syndrome the monitor can
    # pass on: the VMM stops the guest and says why; the monitor carries on.
    qemu_virt_cmd 3 2
    scenario hostile_ldp_from_device_space nonzero \
        '^vmm: guest hostile failed: zx_vcpu_enter of vCPU 0 returned .*without a valid syndrome' \
        -initrd "$OUT/vmm.elf" -device "loader,file=$OUT/hostile.bin,addr=0x50000000,force-raw=on" \
        -append "vmm.kernel=0x50000000,$(stat -c %s "$OUT/hostile.bin") vmm.mem=64M vmm.name=hostile -- ldp"
    if grep -q '^\*\*\* zxvisor' "$LOGS/hostile_ldp_from_device_space.log"; then
        fail hostile_ldp_from_device_space "a fatal monitor report"
    else
        pass "hostile_ldp_from_device_space: no_monitor_fault"
    fi
}

# How many cases the hostile guest runs (guest-images/hostile/src/cases.rs)
# with a console, an entropy device, a disk, a network and 2 vCPUs; a
# read-write disk past 4 GiB adds one.
HOSTILE_CASES=238
HOSTILE_CASES_BIG=239

# hostile_run NAME CASES DISK [ro]: the hostile guest (guest-images/hostile)
# on virt -smp 2 (GICv2 if NAME ends in _gicv2, else GICv3) with 2 vCPUs
# (the second one feeds a queue in one case), 64 MiB of RAM, a virtio
# network on QEMU's user networking and a virtio disk: `zero`, 4 GiB + 1 MiB of host RAM QEMU never loads (zeroes; only
# what is touched costs the build machine memory), `ram`, an 8 MiB image
# (sector 0: a marker and the number of patterned sectors, 16384; each
# byte of sector i: i's low byte) as a RAM disk blob, or `host`, that image
# made sparse to 4 GiB + 1 MiB on QEMU's virtio-blk. Each case line is a
# test; CASES must have run, all `ok`, with no guest exception, no fatal
# monitor report, no VMM failure, the console's 64 KiB cut, each device's
# reset reported at most once, and QEMU exiting 0.
hostile_run() {
    local name=$1 want=$2 kind=$3 ro=${4:+,ro} bin=$OUT/hostile.bin image=$LOGS/hostile-disk.img
    local args opts size=0 need out ok failed done line dev
    python3 - "$image" <<'PY'
import struct, sys
with open(sys.argv[1], "wb") as f:
    f.write((b"zxv-hostile-disk" + struct.pack("<Q", 16384)).ljust(512, b"\0"))
    for i in range(1, 16384):
        f.write(bytes([i & 255]) * 512)
PY
    [ "$kind" != host ] || truncate -s $(((4 << 30) + (1 << 20))) "$image"
    # The network: QEMU's user networking without IPv6 (no router advertisements
    # to come in unasked), answering the guest's ARP requests.
    args=(-initrd "$OUT/vmm.elf" -device "loader,file=$bin,addr=0x50000000,force-raw=on"
        -netdev user,id=net0,ipv6=off -device virtio-net-device,netdev=net0 -global virtio-mmio.force-legacy=false)
    opts="vmm.kernel=0x50000000,$(stat -c %s "$bin") vmm.mem=64M vmm.cpus=2 vmm.name=hostile vmm.timeout=120 vmm.net=host"
    case $kind in
        zero) size=$(((4 << 30) + (1 << 20))) ;;
        ram)
            size=$(stat -c %s "$image")
            args+=(-device "loader,file=$(qemu_escape "$image"),addr=0x50200000,force-raw=on")
            ;;
        host)
            args+=(-drive "file=$(qemu_escape "$image"),format=raw,if=none,id=disk0${ro:+,readonly=on}"
                -device virtio-blk-device,drive=disk0)
            ;;
    esac
    if [ "$kind" = host ]; then opts+=" vmm.disk=host$ro"; else opts+=" vmm.disk=0x50200000,$size$ro"; fi
    need=$((0x50200000 + size - 0x40000000 + (64 << 20) + MONITOR_RESERVED))
    qemu_virt_cmd "$([[ $name == *_gicv2 ]] && echo 2 || echo 3)" 2 "$(((need > 1 << 30 ? need : 1 << 30) >> 20))M"
    qemu_log "$name" "${args[@]}" -append "$opts"
    out=$(tr -d '\r' <"$LOGS/$name.log")
    if hung; then
        explain "$name" "QEMU did not finish within ${TIMEOUT}s (a hang; the last case line is the last that ended)"
        return
    fi
    ok=$(grep -cE '^hostile\| hostile: [a-z0-9.-]+ ok$' <<<"$out" || true)
    failed=$(grep -E '^hostile\| hostile: .*FAIL' <<<"$out" || true)
    while IFS= read -r line; do
        if [ -n "$line" ]; then fail "$name" "${line#hostile| hostile: }"; fi
    done <<<"$failed"
    done=$(sed -n 's/^hostile| hostile: \([0-9]*\) cases, \([0-9]*\) failed$/\1 \2/p' <<<"$out")
    if [ "$ok" -eq "$want" ] && [ "$done" = "$want 0" ]; then
        tally passed "$ok"
        echo "ok $name: $ok cases ok (one test each)"
    else
        fail "$name: every_case_ok" "$ok case lines ok, the guest's count '${done:-none}' (cases, failed), want $want and 0 (log: $LOGS/$name.log)"
    fi
    # transmit-6-gib-chain-cut: 64 KiB of the chain printed, 512 lines of dots.
    line=$(grep -cE '^hostile\| \.{127}$' <<<"$out" || true)
    if [ "$line" -eq 512 ]; then
        pass "$name: console_transmit_cut_at_64_kib"
    else
        fail "$name: console_transmit_cut_at_64_kib" "$line lines of the 6 GiB transmit printed, want 512 (64 KiB)"
    fi
    for dev in virtio-console virtio-rng virtio-blk virtio-net; do
        if [ "$(grep -c "^vmm: guest hostile: $dev needs a reset" <<<"$out" || true)" -le 1 ]; then
            pass "$name: ${dev}_reset_reported_once"
        else
            fail "$name: ${dev}_reset_reported_once" "more than one DEVICE_NEEDS_RESET report for $dev"
        fi
    done
    hostile_ended "$name" "$out"
}

# isolation_run NAME REGIONS MODE [disk] [net]: the hostile guest's isolation
# scan (MODE scan; guest-images/hostile/src/scan.rs) on virt -smp 2 (GICv2 if
# NAME ends in _gicv2, else GICv3) with 2 vCPUs and 64 MiB of RAM, with a
# 1 MiB RAM disk and a network if asked. It must end with `isolation:
# REGIONS regions, 0 failed` and no FAIL line; the isolation canary the VMM
# reports must not be in any guest line; guest RAM in host memory, as the VMM
# reports it, must be clear of the VMM's image, the canary's page and the
# monitor; and the VMM must not fail nor the monitor report a fault. MODE
# scan-self-test plants a canary in guest RAM and takes 2 MiB of RAM as
# outside: exactly those two regions must fail, each for its reason.
isolation_run() {
    local name=$1 regions=$2 mode=$3 bin=$OUT/hostile.bin opts out want line
    shift 3
    local args=(-initrd "$OUT/vmm.elf" -device "loader,file=$bin,addr=0x50000000,force-raw=on")
    opts="vmm.kernel=0x50000000,$(stat -c %s "$bin") vmm.mem=64M vmm.cpus=2 vmm.name=hostile vmm.timeout=120"
    case " $* " in *" disk "*) opts+=" vmm.disk=0x50200000,0x100000" ;; esac
    case " $* " in
        *" net "*)
            opts+=" vmm.net=host"
            args+=(-netdev user,id=net0,ipv6=off -device virtio-net-device,netdev=net0 -global virtio-mmio.force-legacy=false)
            ;;
    esac
    qemu_virt_cmd "$([[ $name == *_gicv2 ]] && echo 2 || echo 3)" 2
    qemu_log "$name" "${args[@]}" -append "$opts -- $mode"
    out=$(tr -d '\r' <"$LOGS/$name.log")
    if hung; then
        explain "$name" "QEMU did not finish within ${TIMEOUT}s (a hang; the last region line is the last that ended)"
        return
    fi
    want=0
    if [ "$mode" = scan-self-test ]; then
        want=2
        for line in '^hostile\| isolation: 0x40000000\.\.0x43c00000 ram: FAIL the VMM.s canary at 0x42000000: 7a7876436e727921efcdab8967452301$' \
            '^hostile\| isolation: 0x43c00000\.\.0x43e00000 outside: FAIL a store to 0x43c00000 stuck: memory is mapped there$'; do
            if grep -qE "$line" <<<"$out"; then pass "$name: /$line/"; else fail "$name" "no line matching /$line/"; fi
        done
    fi
    scan_count "$name" "$out" hostile "$regions" "$want"
    isolation_clear "$name" "$out" hostile
    hostile_ended "$name" "$out"
}

# scan_count NAME OUT GUEST REGIONS FAILED: in OUT, the log of the run NAME,
# GUEST's isolation scan ended with `isolation: REGIONS regions, FAILED
# failed`; with FAILED 0, each region that failed is a failure of its own.
scan_count() {
    local name=$1 out=$2 guest=$3 regions=$4 want=$5 line
    if [ "$want" -eq 0 ]; then
        while IFS= read -r line; do
            if [ -n "$line" ]; then fail "$name" "${line#"$guest"| isolation: }"; fi
        done < <(grep -E "^$guest\\| isolation: .*FAIL" <<<"$out" || true)
    fi
    if grep -qx "$guest| isolation: $regions regions, $want failed" <<<"$out"; then
        pass "$name: $regions regions, $want failed"
    else
        fail "$name" "the scan's count: '$(grep -E "^$guest\\| isolation: [0-9]+ regions" <<<"$out" || echo none)', want $regions regions, $want failed (log: $LOGS/$name.log)"
    fi
}

# isolation_clear NAME OUT GUEST...: in OUT, the log of the run NAME, no line
# of any GUEST shows the isolation canary the VMM reported (NAME:
# canary_never_seen), and each GUEST's RAM in host memory, as the VMM
# reports it, is clear of the VMM's image, the canary's page, the monitor
# and every other GUEST's RAM (NAME: guest_ram_clear_of_the_vmm_and_the_monitor).
isolation_clear() {
    local name=$1 out=$2 canary ranges guest guests
    shift 2
    guests=$(IFS='|'; echo "$*")
    # vmm: guest G: isolation canary HEX in the VMM image at A (B..C) and in host RAM at D; the monitor at E..F
    canary=$(sed -n 's/^vmm: \(guest [^:]*: \)\{0,1\}isolation canary \([0-9a-f]\{32\}\) .*/\2/p' <<<"$out" | head -1)
    if [ -z "$canary" ]; then
        fail "$name: canary_never_seen" "the VMM reported no isolation canary"
    elif grep -qE "^($guests)\\|.*$canary" <<<"$out"; then
        fail "$name: canary_never_seen" "a guest printed the VMM's canary $canary"
    else
        pass "$name: canary_never_seen"
    fi
    ranges=$(sed -n 's/^vmm: \(guest [^:]*: \)\{0,1\}isolation canary [0-9a-f]* in the VMM image at 0x[0-9a-f]* (\(0x[0-9a-f]*\)\.\.\(0x[0-9a-f]*\)) and in host RAM at \(0x[0-9a-f]*\); the monitor at \(0x[0-9a-f]*\)\.\.\(0x[0-9a-f]*\)$/\2 \3 \4 \5 \6/p' <<<"$out" | head -1)
    for guest in "$@"; do
        ranges+=" $(sed -n "s/^vmm: guest $guest: \([0-9]*\) MiB RAM at 0x40000000 (host \(0x[0-9a-f]*\)).*/\2 \1/p" <<<"$out" | head -1)"
    done
    read -ra ranges <<<"$ranges"
    if python3 - "$#" "${ranges[@]}" <<'PY2'
import sys
n, a = int(sys.argv[1]), [int(x, 0) for x in sys.argv[2:]]
if len(a) != 5 + 2 * n:
    sys.exit(1)
vmm = [(a[0], a[1]), (a[2], a[2] + 4096), (a[3], a[4])]
rams = [(a[i], a[i] + (a[i + 1] << 20)) for i in range(5, len(a), 2)]
apart = lambda r, s: r[1] <= s[0] or s[1] <= r[0]
sys.exit(not all(apart(r, s) for i, r in enumerate(rams) for s in vmm + rams[i + 1:]))
PY2
    then
        pass "$name: guest_ram_clear_of_the_vmm_and_the_monitor"
    else
        fail "$name: guest_ram_clear_of_the_vmm_and_the_monitor" "overlapping or missing host ranges: '${ranges[*]}'"
    fi
}

# hostile_ended NAME OUT: the hostile guest's run NAME, whose log is OUT, had
# no fatal monitor report and no VMM failure (NAME: no_fault), and the guest
# powered off and QEMU exited 0.
hostile_ended() {
    local name=$1 out=$2
    if grep -qE '^\*\*\* zxvisor|^vmm: guest hostile failed' <<<"$out"; then
        fail "$name: no_fault" "$(grep -m1 -E '^\*\*\* zxvisor|^vmm: guest hostile failed' <<<"$out")"
    else
        pass "$name: no_fault"
    fi
    if grep -q '^vmm: guest hostile: SYSTEM_OFF from vCPU 0$' <<<"$out"; then
        check_exit "$name"
    else
        explain "$name" "the guest did not power off"
    fi
}

# timer_counts TEXT TAG CPUS [GUEST]: the arch_timer line of /proc/interrupts
# that guest GUEST's (default linux) init printed after "TAG " in TEXT ("NN:
# <count on CPU0> <on CPU1> ... GIC... arch_timer"), as the CPUS counts, or
# nothing.
timer_counts() {
    sed -n "s/^${4:-linux}| $2 *[0-9]*: *\\([0-9 ]*\\) .*arch_timer\$/\\1/p" <<<"$1" \
        | awk -v n="$3" 'NF >= n { for (i = 1; i <= n; i++) printf "%s%s", $i, (i < n ? " " : "\n") }'
}

# each_grew BEFORE AFTER: every count of AFTER is above BEFORE's (as many).
each_grew() {
    local before=($1) after=($2) i
    [ ${#before[@]} -gt 0 ] && [ ${#before[@]} -eq ${#after[@]} ] || return 1
    for i in "${!before[@]}"; do [ "${after[i]}" -gt "${before[i]}" ] || return 1; done
}

# linux_checks NAME [CPUS]: the lines the test init (guest-images/vmm/
# initramfs/test) prints and the VMM's SYSTEM_OFF report, each a test, for
# a guest of CPUS vCPUs (default 2).
linux_checks() {
    local name=$1 cpus=${2:-2} out before after off
    out=$(tr -d '\r' <"$LOGS/$name.log")
    check() {
        if grep -qE "$2" <<<"$out"; then pass "$name: $1"; else fail "$name: $1" "no line matching /$2/ in $LOGS/$name.log"; fi
    }
    check kernel_version "^linux\| zxv-test: kernel ${LINUX_VERSION}\$"
    check "cpus_$cpus" "^linux\| zxv-test: cpus $cpus\$"
    check "smp_total_of_$cpus" "^linux\| \[ *[0-9.]+\] SMP: Total of $cpus processors activated"
    # Every CPU's arch_timer count grows.
    before=$(timer_counts "$out" zxv-test:\ timer-before "$cpus")
    after=$(timer_counts "$out" zxv-test:\ timer-after "$cpus")
    if each_grew "$before" "$after"; then
        pass "$name: arch_timer_ticks_on_every_cpu ($before -> $after)"
    else
        fail "$name: arch_timer_ticks_on_every_cpu" "arch_timer counts '${before:-?}' then '${after:-?}', want each of the $cpus CPUs' to grow"
    fi
    # Booted at start and again after CPU_OFF and CPU_ON, both times with
    # MPIDR 1 (the monitor numbers a new vCPU by the lowest free slot).
    booted=$(grep -cE '^linux\| \[ *[0-9.]+\] CPU1: Booted secondary processor 0x0000000001 ' <<<"$out" || true)
    if [ "$booted" -ge 2 ]; then
        pass "$name: cpu1_keeps_mpidr_1"
    else
        fail "$name: cpu1_keeps_mpidr_1" "CPU1 booted with MPIDR 0x1 $booted times, want 2 (at start and after hotplug)"
    fi
    # CPU 1 offline, then every CPU online again.
    off=0
    [ "$cpus" -le 2 ] || off+=,2
    [ "$cpus" -le 3 ] || off+=-$((cpus - 1))
    check cpu1_off_and_on_again "^linux\| zxv-test: hotplug $off 0-$((cpus - 1))\$"
    check vmm_reports_cpu_off '^vmm: guest linux: vCPU 1 turned itself off \(CPU_OFF\)$'
    # The guest's PSCI AFFINITY_INFO answers (ON until the VMM has closed
    # the vCPU, then OFF; -1 would be NOT_SUPPORTED). Linux polls for a
    # limited time, so a slow host may still see ON.
    check cpu1_affinity_info '^linux\| \[ *[0-9.]+\] psci: CPU1 (killed|may not have shut down cleanly \(AFFINITY_INFO reports 0\))'
    check busybox_commands '^linux\| zxv-test: busybox ZXVISOR 1,2,3,4,5 [0-9]+ sh$'
    check uname '^linux\| zxv-test: uname Linux aarch64$'
    check vmm_reports_system_off '^vmm: guest linux: SYSTEM_OFF from vCPU [0-7]$'
    check vmm_counts_exits '^vmm: guest linux: exits to the VMM: gicd [1-9]'
    check_exit "$name"
}

# virtio_checks NAME BEFORE AFTER DISK: the test init's zxv.virtio lines:
# the three virtio devices bound to their drivers, /dev/hwrng bytes, the
# guest's date between BEFORE - 60 and AFTER + 60 (the build machine's
# clock around the run), a line through hvc0, and the RAM disk DISK (its
# size, first 4 KiB, a write read back, the last sector).
virtio_checks() {
    local name=$1 before=$2 after=$3 disk=$4 out date rng
    out=$(tr -d '\r' <"$LOGS/$name.log")
    check() {
        if grep -qE "$2" <<<"$out"; then pass "$name: $1"; else fail "$name: $1" "no line matching /$2/ in $LOGS/$name.log"; fi
    }
    check virtio_console_bound '^linux\| zxv-test: virtio 0x0003 virtio_console$'
    check virtio_rng_bound '^linux\| zxv-test: virtio 0x0004 virtio_rng$'
    check virtio_blk_bound '^linux\| zxv-test: virtio 0x0002 virtio_blk$'
    rng=$(sed -n 's/^linux| zxv-test: hwrng virtio_rng.0 \([0-9a-f]*\)$/\1/p' <<<"$out")
    if [ ${#rng} -eq 32 ] && [ "$rng" != 00000000000000000000000000000000 ]; then
        pass "$name: hwrng_gives_bytes ($rng)"
    else
        fail "$name: hwrng_gives_bytes" "/dev/hwrng (virtio_rng.0) gave '${rng:-nothing}', want 16 random bytes"
    fi
    date=$(sed -n 's/^linux| zxv-test: date \([0-9]*\)$/\1/p' <<<"$out")
    if [ -n "$date" ] && [ "$date" -ge $((before - 60)) ] && [ "$date" -le $((after + 60)) ]; then
        pass "$name: date_within_a_minute ($date, build machine $before..$after)"
    else
        fail "$name: date_within_a_minute" "the guest's date is '${date:-?}', the build machine's was $before..$after during the run"
    fi
    check hvc0_output '^linux\| zxv-test: via hvc0$'
    check ram_disk_size "^linux\| zxv-test: vda size $(stat -c %s "$disk") ro 0\$"
    check ram_disk_reads "^linux\| zxv-test: vda first $(head -c 4096 "$disk" | md5sum | cut -d' ' -f1)\$"
    check ram_disk_writes '^linux\| zxv-test: vda wrote zxvisor was here$'
    check ram_disk_last_sector '^linux\| zxv-test: vda last 512$'
}

# linux_mem_checks NAME MEM: a run of the test init with MEM of guest RAM
# (more than 1 GiB of machine leaves after the blobs) and the raw console.
linux_mem_checks() {
    local name=$1 mem=$2 kib want
    kib=$(tr -d '\r' <"$LOGS/$name.log" | sed -n 's/^zxv-test: memtotal \([0-9]*\) kB$/\1/p')
    want=$(($(size_bytes "$mem") >> 10))
    # The kernel keeps some RAM for itself: MemTotal is a little less.
    if [ -n "$kib" ] && [ "$kib" -le "$want" ] && [ "$kib" -gt $((want - 131072)) ]; then
        pass "$name: memtotal ($kib kB of $want)"
    else
        fail "$name: memtotal" "MemTotal '${kib:-?}' kB, want a little under $want kB"
    fi
    # Raw console: the guest's 300-character line arrives whole, with no
    # prefix; the VMM's reports still start lines of their own.
    check_log "$name" raw_console_long_line_unsplit "^zxv-test: long 0{300}\$"
    check_log "$name" raw_console_has_no_prefix '^zxv-test: kernel '
    check_log "$name" raw_console_reports_on_their_own_line '^vmm: guest linux: SYSTEM_OFF from vCPU [01]$'
    check_exit "$name"
}

# soak_checks NAME HZ [CPUS [SMP [GUEST]]]: each of guest GUEST's (default
# linux) CPUS (default 2) arch_timer counts grew by at least a quarter of HZ
# per second of the soak, in the share of a physical CPU it had (SMP of
# them, default CPUS: a vCPU
# that is not running takes no interrupt), and the kernel warned of no
# stall, lockup or timer trouble. A quarter, not HZ: a vCPU's ticks come
# only while QEMU's thread for it runs, and on a 2-core build machine shared
# with other QEMUs a busy vCPU got +1800 to +2200 of the 5300 a 21 s soak at
# HZ=250 would give; a lost timer leaves its CPU near +0.
soak_checks() {
    local name=$1 hz=$2 cpus=${3:-2} out before after cs want cpu grew=() short=''
    local smp=${4:-$cpus} guest=${5:-linux} tag=${5:+$5: }
    out=$(tr -d '\r' <"$LOGS/$name.log")
    before=$(timer_counts "$out" zxv-soak:\ timer-before "$cpus" "$guest")
    after=$(timer_counts "$out" zxv-soak:\ timer-after "$cpus" "$guest")
    cs=$(sed -n "s/^$guest| zxv-soak: centiseconds \\([0-9]*\\)\$/\\1/p" <<<"$out")
    if [ -z "$before" ] || [ -z "$after" ] || [ -z "$cs" ]; then
        fail "$name: ${tag}timer_keeps_up_on_every_cpu" "no arch_timer counts of $cpus CPUs or soak time in $LOGS/$name.log"
    else
        want=$((hz * cs * (smp < cpus ? smp : cpus) / cpus / 400))
        before=($before) after=($after)
        for cpu in "${!before[@]}"; do
            grew[cpu]=$((after[cpu] - before[cpu]))
            [ "${grew[cpu]}" -ge "$want" ] || short+=" CPU$cpu"
        done
        if [ -z "$short" ]; then
            pass "$name: ${tag}timer_keeps_up_on_every_cpu ($(printf "+%s " "${grew[@]}")in ${cs}0 ms, want +$want at HZ=$hz)"
        else
            fail "$name: ${tag}timer_keeps_up_on_every_cpu" "arch_timer grew $(printf "+%s " "${grew[@]}")in ${cs}0 ms; want +$want (a quarter of HZ=$hz, in a share of $smp/$cpus) on every CPU; short:$short"
        fi
    fi
    if grep -q "^$guest| zxv-soak: warning" <<<"$out"; then
        fail "$name: ${tag}no_stall_or_lockup_warnings" "$(grep -m3 "^$guest| zxv-soak: warning" <<<"$out")"
    elif grep -q "^$guest| zxv-soak: done\$" <<<"$out"; then
        pass "$name: ${tag}no_stall_or_lockup_warnings"
    else
        fail "$name: ${tag}no_stall_or_lockup_warnings" "the soak did not finish (no 'zxv-soak: done')"
    fi
}

group_linux() {
    local vmm_timeout cmdline="console=ttyAMA0 panic=-1" run mem
    ensure_toolchain
    build_vmm
    linux_guest
    LINUX_VERSION=$(debian_arm64_kernel)
    LINUX_VERSION=${LINUX_VERSION#linux-image-}
    # The VMM's own watchdog fires a minute before QEMU's timeout, and after
    # 10 s at the least (ZXV_QEMU_TIMEOUT may be 60 or less).
    vmm_timeout=$((TIMEOUT - 60 > 10 ? TIMEOUT - 60 : 10))
    # The GICv2 guest calls PSCI with smc, the GICv3 one with hvc.
    # On GICv3 also the virtio devices, with a 4 MiB RAM disk of random bytes.
    head -c 4M /dev/urandom >"$OUT/ram-disk.img"
    for run in "virt-gicv3-smp4 3 4 hvc zxv.virtio" "virt-gicv2-smp2 2 2 smc"; do
        set -- $run
        say "Linux: $1 (virt, GICv$2, -smp $3, 2 vCPUs, PSCI via $4${5:+, virtio devices and a RAM disk})"
        LINUX_DISK=${5:+$OUT/ram-disk.img} LINUX_DISK_KIND=ram
        qemu_linux_cmd "$2" "$3" "vmm.cpus=2 vmm.psci=$4 vmm.timeout=$vmm_timeout" "$cmdline rdinit=/test ${5:-}"
        LINUX_DISK=''
        local before after
        before=$(date +%s)
        qemu_log "linux-$1"
        after=$(date +%s)
        linux_checks "linux-$1"
        [ -z "${5:-}" ] || virtio_checks "linux-$1" "$before" "$after" "$OUT/ram-disk.img"
    done
    # The timer soak: a CPU-bound loop on both vCPUs for 20 s.
    hz=$(sed -n 's/^CONFIG_HZ=//p' "$DEBIAN_ARM64_CACHE/root/linux-image-$LINUX_VERSION/boot/config-$LINUX_VERSION")
    for run in "virt-gicv3-smp2 3" "virt-gicv2-smp2 2"; do
        set -- $run
        say "Linux: linux-soak-$1 (virt, GICv$2, -smp 2, 2 vCPUs, both busy for 20 s)"
        qemu_linux_cmd "$2" 2 "vmm.cpus=2 vmm.timeout=$vmm_timeout" "$cmdline rdinit=/soak"
        qemu_log "linux-soak-$1"
        soak_checks "linux-soak-$1" "${hz:-250}"
    done
    # More vCPUs than CPUs: 4 on -smp 2, vCPU i on CPU i mod 2 in 10 ms time
    # slices. Linux sees 4 CPUs; the soak's loops keep all 4 busy, and
    # every one's timer keeps ticking in its half of a CPU.
    for run in "virt-gicv3-smp2 3 hvc" "virt-gicv2-smp2 2 smc"; do
        set -- $run
        say "Linux: linux-4-vcpus-$1 (virt, GICv$2, -smp 2, 4 vCPUs, PSCI via $3)"
        qemu_linux_cmd "$2" 2 "vmm.cpus=4 vmm.psci=$3 vmm.timeout=$vmm_timeout" "$cmdline rdinit=/test"
        qemu_log "linux-4-vcpus-$1"
        linux_checks "linux-4-vcpus-$1" 4
        check_log "linux-4-vcpus-$1" vmm_reports_placement \
            '^vmm: guest linux: 4 vCPUs on 2 CPUs: vCPU i runs on CPU i mod 2, in 10 ms time slices$'
        check_log "linux-4-vcpus-$1" time_slices_end_with_kicks '^vmm: guest linux: exits to the VMM: .* preempted [1-9]'
    done
    say "Linux: linux-soak-4-vcpus-virt-gicv3-smp2 (virt, GICv3, -smp 2, 4 vCPUs, all busy for 20 s)"
    qemu_linux_cmd 3 2 "vmm.cpus=4 vmm.timeout=$vmm_timeout" "$cmdline rdinit=/soak"
    qemu_log linux-soak-4-vcpus-virt-gicv3-smp2
    soak_checks linux-soak-4-vcpus-virt-gicv3-smp2 "${hz:-250}" 4 2
    # Guest RAM the default 1 GiB machine could not hold: qemu_linux_cmd
    # gives the machine what vmm.mem needs.
    for mem in 768M 3G; do
        say "Linux: linux-mem-$mem (virt, GICv3, -smp 2, 2 vCPUs, $mem of guest RAM, vmm.console=raw)"
        qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.mem=$mem vmm.console=raw vmm.timeout=$vmm_timeout" "$cmdline rdinit=/test"
        qemu_log "linux-mem-$mem"
        linux_mem_checks "linux-mem-$mem" "$mem"
    done
    # A panic (no init) resets the guest: the VMM says so and resets the machine.
    qemu_linux_cmd 3 2 "vmm.cpus=1" "$cmdline rdinit=/missing"
    scenario linux_panic_resets 0 '^vmm: guest linux: SYSTEM_RESET from vCPU 0'
    # A guest that outlives vmm.timeout is stopped with its last console lines
    # (earlycon: the kernel prints from its first instructions on).
    qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.timeout=3" "$cmdline earlycon=pl011,0x9000000 rdinit=/test"
    scenario linux_watchdog_reports_last_lines nonzero '^vmm: guest linux: its last console lines:'
    if grep -qE '^    \| \[ *[0-9.]+\] ' "$LOGS/linux_watchdog_reports_last_lines.log"; then
        pass linux_watchdog_shows_kernel_lines
    else
        fail linux_watchdog_shows_kernel_lines "no kernel line in the report"
    fi
}

# disk_checks NAME PATTERN...: each PATTERN is a line the root init
# (guest-images/vmm/rootfs/init) printed in $LOGS/NAME.log, then the
# VMM's SYSTEM_OFF and QEMU's exit status 0.
disk_checks() {
    local name=$1
    shift
    for pattern in "$@"; do check_log "$name" "/$pattern/" "$pattern"; done
    check_log "$name" vmm_reports_system_off '^vmm: guest linux: SYSTEM_OFF from vCPU [01]$'
    check_exit "$name"
}

# fsck_clean NAME IMAGE: e2fsck -fn of IMAGE on the build machine finds
# nothing to fix.
fsck_clean() {
    if PATH=$PATH:/sbin:/usr/sbin e2fsck -fn "$2" >"$LOGS/$1.log" 2>&1; then
        pass "$1"
    else
        explain "$1" "e2fsck -fn $2 is not clean"
    fi
}

# The root file system on a file-backed virtio disk: a 2 GiB image (over
# 1 GiB: sector numbers past 32 bits of bytes), 64 MiB written with its
# sha256, powered off; booted again read-only, the file reads back with the
# same sha256 and writes are refused; e2fsck clean after each boot. Then the
# login shell on hvc0, driven through the console by tests/console-session.py,
# and the network (virtio_net). The first boot also has the network: it
# installs a 4 MiB file from a server on the build machine (http_server) on
# the disk, which the second boot finds there with the same sha256.
group_virtio() {
    local vmm_timeout=$((TIMEOUT - 60 > 10 ? TIMEOUT - 60 : 10)) image="$OUT/rootfs.img" sum www="$LOGS/virtio-www" fetched
    ensure_toolchain
    build_vmm
    linux_guest
    rootfs_image "$image" 2G
    mkdir -p "$www"
    head -c 4M /dev/urandom >"$www/file"
    fetched=$(sha256sum "$www/file" | cut -d' ' -f1)
    http_server "$www"
    say "Linux: virtio-disk-write (root on /dev/vda, the disk backed by $image; a file installed from 127.0.0.1:$HTTP_PORT)"
    LINUX_DISK=$image LINUX_DISK_KIND=file LINUX_NET=1
    qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.timeout=$vmm_timeout" \
        "console=ttyAMA0 panic=-1 root=/dev/vda zxv.disk=write zxv.net.get=10.0.2.2:$HTTP_PORT/file"
    LINUX_NET=''
    qemu_log virtio-disk-write
    disk_checks virtio-disk-write '^linux\| zxv-disk: root /dev/vda / ext4$' '^linux\| zxv-disk: wrote [0-9a-f]{64}$' \
        '^vmm: guest linux: virtio disk: the machine.s virtio-blk device, 2048 MiB$' '^linux\| init: eth0 10\.0\.2\.15/24$' \
        "^linux\\| zxv-disk: installed $fetched\$"
    fsck_clean virtio-disk-fsck-after-write "$image"
    sum=$(tr -d '\r' <"$LOGS/virtio-disk-write.log" | sed -n 's/^linux| zxv-disk: wrote \([0-9a-f]*\)$/\1/p')
    say "Linux: virtio-disk-read (the same disk, read-only)"
    LINUX_DISK_RO=1
    qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.timeout=$vmm_timeout" "console=ttyAMA0 panic=-1 root=/dev/vda ro zxv.disk=read"
    LINUX_DISK='' LINUX_DISK_RO=''
    qemu_log virtio-disk-read
    disk_checks virtio-disk-read "^linux\| zxv-disk: read ${sum:-none} stored ${sum:-none}\$" \
        '^linux\| zxv-disk: size 2147483648$' '^linux\| zxv-disk: ro 1 refused$' '^vmm: guest linux: virtio disk is read-only$' \
        "^linux\\| zxv-disk: installed file $fetched\$"
    fsck_clean virtio-disk-fsck-after-read "$image"
    # A login shell on hvc0: keys typed on the console reach it through the
    # virtio console, its output comes back, `exit` powers off.
    say "Linux: virtio-hvc0-login (a shell on hvc0, typed at through the console)"
    qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.timeout=$vmm_timeout" "console=ttyAMA0 panic=-1"
    if python3 "$ROOT/tests/console-session.py" "$LOGS/virtio-hvc0-login.log" "$TIMEOUT" \
        'expect:init: the shell is on hvc0' 'expect:/ # ' 'send:echo zxv-hvc $(tty) $((6*7))' \
        'expect:zxv-hvc /dev/hvc0 42' 'send:exit' 'expect:vmm: guest linux: SYSTEM_OFF' \
        -- "${QEMU[@]}" >"$LOGS/virtio-hvc0-login.session" 2>&1; then
        pass virtio-hvc0-login_shell_on_hvc0
    else
        fail virtio-hvc0-login_shell_on_hvc0 "$(cat "$LOGS/virtio-hvc0-login.session") (last lines of $LOGS/virtio-hvc0-login.log below)"
        tail_of "$LOGS/virtio-hvc0-login.log"
    fi
    virtio_net "$vmm_timeout" "$fetched"
    http_server_stop
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_server DIR: python's http.server serving DIR on a free port of the
# build machine's loopback (HTTP_PORT), until http_server_stop or the
# group's end; waits (10 s at most) until it accepts connections.
http_server() {
    local i
    HTTP_PORT=$(free_port)
    python3 -m http.server --bind 127.0.0.1 --directory "$1" "$HTTP_PORT" >"$LOGS/http-server.log" 2>&1 &
    HTTP_PID=$!
    trap http_server_stop EXIT
    for i in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $HTTP_PORT), timeout=1)" 2>/dev/null && break
        sleep 0.2
    done
}

http_server_stop() {
    kill "$HTTP_PID" 2>/dev/null || true
    wait "$HTTP_PID" 2>/dev/null || true
    trap - EXIT
}

# virtio_net VMM_TIMEOUT SHA256: the guest's network on QEMU's user networking (the
# VMM drives QEMU's virtio-net and switches the guest's frames to it), with
# the test init /net: the virtio_net driver binds, DHCP gives 10.0.2.15 and
# the gateway 10.0.2.2; an HTTP GET of the 4 MiB file http_server serves
# comes back with its sha256 (SHA256); a connection to a free
# port on the build machine reaches the guest's port 8080 through hostfwd
# and gets its reply; the VMM's report counts the frames.
virtio_net() {
    local name=virtio-net http=$HTTP_PORT sum=$2 fwd
    fwd=$(free_port)
    say "Linux: $name (DHCP, a GET from 127.0.0.1:$http on the build machine, hostfwd 127.0.0.1:$fwd to the guest's 8080)"
    LINUX_NET=1 LINUX_HOSTFWD="$fwd:8080"
    qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.timeout=$1" \
        "console=ttyAMA0 panic=-1 rdinit=/net zxv.net.get=10.0.2.2:$http/file zxv.net.serve=8080"
    LINUX_NET='' LINUX_HOSTFWD=''
    if python3 "$ROOT/tests/console-session.py" "$LOGS/$name.log" "$TIMEOUT" 'expect:zxv-net: serving 8080' \
        "connect:$fwd:^zxv-net-reply aarch64 02:5a:58:56:00:01\$" 'expect:zxv-net: done' 'expect:vmm: guest linux: SYSTEM_OFF' \
        -- "${QEMU[@]}" >"$LOGS/$name.session" 2>&1; then
        pass "$name: hostfwd_reaches_the_guest ($(sed -n 's/^console-session: //p' "$LOGS/$name.session"))"
    else
        fail "$name: hostfwd_reaches_the_guest" "$(cat "$LOGS/$name.session") (last lines of $LOGS/$name.log below)"
        tail_of "$LOGS/$name.log"
    fi
    check_log "$name" virtio_net_bound '^linux\| zxv-net: eth0 02:5a:58:56:00:01 virtio_net$'
    check_log "$name" dhcp_address '^linux\| zxv-net: address 10\.0\.2\.15/24$'
    check_log "$name" dhcp_gateway '^linux\| zxv-net: gateway 10\.0\.2\.2$'
    check_log "$name" http_get_from_the_build_machine "^linux\| zxv-net: got $sum 4194304 in [0-9.]+ s\$"
    check_log "$name" guest_served_hostfwd '^linux\| zxv-net: served$'
    check_log "$name" vmm_counts_frames '^vmm: guest linux: virtio-net: [1-9][0-9]* frames to the guest, [1-9][0-9]* from it; dropped: '
}

# Several guests in one VMM (issue 15), on virt GICv3 -smp 2, each run's
# checks named after it: guests-pair, two Linux guests a and b (2 + 2
# vCPUs, the init /pair, guest-images/vmm/initramfs) on the VMM's switch and
# each with a RAM disk of its own, pinging each other; a powers off, b
# stays; guests-restart, the same with a resetting once (the VMM restarts
# it) while b keeps running; guests-console, a shell on each typed at in
# turn through the console's switch key (Ctrl-] N); guests-isolation, the
# hostile guest's victim and its isolation scan from a second guest;
# guests-soak, every vCPU of both guests busy.
group_guests() {
    # Each run takes a minute or less: a hang shows well before the usual timeout.
    local TIMEOUT=$((TIMEOUT < 240 ? TIMEOUT : 240)) vmm_timeout
    vmm_timeout=$((TIMEOUT - 30 > 10 ? TIMEOUT - 30 : 10))
    ensure_toolchain
    build_vmm
    linux_guest
    guests_pair "$vmm_timeout"
    guests_restart "$vmm_timeout"
    guests_console "$vmm_timeout"
    guests_isolation
    guests_soak "$vmm_timeout"
}

# guests_soak VMM_TIMEOUT: guests a and b, 2 vCPUs each on -smp 2, run the
# soak's CPU-bound loops on all four vCPUs for 20 s at once: every vCPU's
# timer keeps ticking in its half of a CPU, in both guests, with no stall
# warning; then each powers off, and the machine with the last.
guests_soak() {
    local hz g version
    version=$(debian_arm64_kernel)
    version=${version#linux-image-}
    hz=$(sed -n 's/^CONFIG_HZ=//p' "$DEBIAN_ARM64_CACHE/root/linux-image-$version/boot/config-$version")
    guests_clear
    guest_add a "vmm.cpus=2" ""
    guest_add b "vmm.cpus=2" ""
    qemu_linux_cmd 3 2 "vmm.timeout=$1" "console=ttyAMA0 panic=-1 rdinit=/soak"
    guests_clear
    say "several guests: guests-soak (virt, GICv3, -smp 2; a and b, 2 vCPUs each, all four busy for 20 s)"
    qemu_log guests-soak
    for g in a b; do
        soak_checks guests-soak "${hz:-250}" 2 1 "$g"
        check_log guests-soak "${g}_powers_off" "^vmm: guest $g: SYSTEM_OFF from vCPU [01]\$"
    done
    check_log guests-soak first_end_leaves_the_other '^vmm: guest [ab]: stopped; 1 guest still running$'
    check_exit guests-soak
}

# guests_linux NAME VMM_TIMEOUT A_WORDS B_WORDS: runs guests a and b (2
# vCPUs each, on the switch as 10.0.3.1 and 10.0.3.2, the init /pair, each
# with a fresh 1 MiB RAM disk of zeroes), each with its command line words
# after those, as the run NAME.
guests_linux() {
    local name=$1 g
    for g in a b; do head -c 1M /dev/zero >"$OUT/guest-$g.img"; done
    guests_clear
    guest_add a "vmm.cpus=2 vmm.net=switch" "zxv.name=a zxv.ip=10.0.3.1/24 zxv.peer=10.0.3.2${3:+ $3}" "$OUT/guest-a.img"
    guest_add b "vmm.cpus=2 vmm.net=switch" "zxv.name=b zxv.ip=10.0.3.2/24 zxv.peer=10.0.3.1${4:+ $4}" "$OUT/guest-b.img"
    qemu_linux_cmd 3 2 "vmm.timeout=$2" "console=ttyAMA0 panic=-1 rdinit=/pair"
    guests_clear
    say "several guests: $name (virt, GICv3, -smp 2; a: ${3:-powers off}; b: ${4:-powers off})"
    qemu_log "$name"
}

# in_log NAME TEST PATTERN...: a test that $LOGS/NAME.log (carriage returns
# dropped) has a line matching each PATTERN, in that order.
in_log() {
    local name=$1 test=$2 missing
    shift 2
    missing=$(tr -d '\r' <"$LOGS/$name.log" | awk -v n=$# '
        BEGIN { for (i = 1; i <= n; i++) want[i] = ARGV[i]; ARGC = 1; k = 1 }
        k <= n && $0 ~ want[k] { k++ }
        END { if (k <= n) print want[k] }' "$@")
    if [ -z "$missing" ]; then
        pass "$name: $test"
    else
        fail "$name: $test" "no line matching /$missing/ (after the lines before it) in $LOGS/$name.log"
    fi
}

# lines_between NAME FROM TO PATTERN: how many lines of $LOGS/NAME.log
# match PATTERN after the first line matching FROM and before the first
# line after it matching TO (to the end if none does).
lines_between() {
    # The patterns go in ARGV: awk -v would take their backslashes as escapes.
    tr -d '\r' <"$LOGS/$1.log" | awk '
        BEGIN { from = ARGV[1]; to = ARGV[2]; p = ARGV[3]; ARGC = 1 }
        !on && $0 ~ from { on = 1; next }
        on && $0 ~ to { exit }
        on && $0 ~ p { n++ }
        END { print n + 0 }' "$2" "$3" "$4"
}

# guests_booted NAME GUEST...: each GUEST booted Linux on its 2 vCPUs with
# its RAM and disk as the VMM reports them, no init said FAIL, no guest
# failed and the monitor reported no fault.
guests_booted() {
    local name=$1 g bad
    shift
    for g in "$@"; do
        in_log "$name" "${g}_vmm_setup" "^vmm: guest $g: 256 MiB RAM at 0x40000000 \\(host 0x[0-9a-f]+\\), 2 vCPUs" \
            "^vmm: guest $g: virtio disk: 1 MiB RAM image at 0x[0-9a-f]+ \\(volatile\\)\$"
        check_log "$name" "${g}_smp_2" "^$g\\| \\[ *[0-9.]+\\] SMP: Total of 2 processors activated"
    done
    bad=$(tr -d '\r' <"$LOGS/$name.log" | grep -m1 -E 'zxv-pair: FAIL|^vmm: guest [^ ]+ failed|^\*\*\* zxvisor' || true)
    if [ -z "$bad" ]; then pass "$name: no_failure"; else fail "$name: no_failure" "$bad"; fi
}

# guests_exchanged NAME GUEST PEER_IP MAC: GUEST's eth0 on the switch with
# its MAC, its pings of the peer all answered, and its disk: empty at first
# boot, its string written and still there after the peer wrote its own.
guests_exchanged() {
    local name=$1 g=$2
    check_log "$name" "${g}_eth0_on_the_switch" "^$g\\| zxv-pair: eth0 10\\.0\\.3\\.[12]/24 $4\$"
    check_log "$name" "${g}_pings_the_peer" "^$g\\| zxv-pair: ping $3: 3 packets transmitted, 3 packets received, 0% packet loss\$"
    in_log "$name" "${g}_own_disk" "^$g\\| zxv-pair: vda before \\(nothing\\)\$" "^$g\\| zxv-pair: vda wrote zxv-pair-$g\$" \
        "^$g\\| zxv-pair: vda after zxv-pair-$g\$"
}

# guests_pair VMM_TIMEOUT: a and b ping each other both ways over the
# switch and each writes its own disk (b then finds only its own string:
# the disks are apart); a powers off and the VMM ends only a, b keeps its
# heartbeat going until it sees a gone, then powers off, and the machine
# with it (status 0).
guests_pair() {
    local name=guests-pair n
    guests_linux "$name" "$1" "" "zxv.stay=1"
    guests_booted "$name" a b
    guests_exchanged "$name" a 10.0.3.2 02:5a:58:56:00:01
    guests_exchanged "$name" b 10.0.3.1 02:5a:58:56:00:02
    in_log "$name" a_off_leaves_b_running '^vmm: guest a: SYSTEM_OFF from vCPU [01]$' \
        '^vmm: guest a: stopped; 1 guests? still running' '^b\| zxv-pair: peer gone \(1\)$' \
        '^vmm: guest b: SYSTEM_OFF from vCPU [01]$'
    n=$(lines_between "$name" '^vmm: guest a: SYSTEM_OFF' '^vmm: guest b: SYSTEM_OFF' '^b\| zxv-pair: alive [0-9]+ ')
    if [ "$n" -ge 3 ]; then
        pass "$name: b_heartbeats_after_a_is_off ($n)"
    else
        fail "$name: b_heartbeats_after_a_is_off" "$n heartbeats of b after a's SYSTEM_OFF, want 3 or more"
    fi
    check_exit "$name"
}

# guests_restart VMM_TIMEOUT: a resets after its first exchange; the VMM
# restarts a alone, which boots again (its disk still holds what it wrote,
# its boot count is 2) and pings b again, while b keeps its heartbeat going
# and boots only once; then a powers off, b after it.
guests_restart() {
    local name=guests-restart n
    guests_linux "$name" "$1" "zxv.reboot=1" "zxv.stay=2"
    guests_booted "$name" a b
    guests_exchanged "$name" a 10.0.3.2 02:5a:58:56:00:01
    in_log "$name" a_restarts_alone '^a\| zxv-pair: a boot 1$' '^a\| zxv-pair: resetting$' '^vmm: guest a: restarting' \
        '^a\| \[ *0\.0+\] Booting Linux' '^a\| zxv-pair: vda before zxv-pair-a$' '^a\| zxv-pair: a boot 2$' \
        '^a\| zxv-pair: ping 10\.0\.3\.2: 3 packets transmitted, 3 packets received' '^vmm: guest a: SYSTEM_OFF from vCPU [01]$' \
        '^vmm: guest b: SYSTEM_OFF from vCPU [01]$'
    in_log "$name" b_pings_a_again '^b\| zxv-pair: ping 10\.0\.3\.1: 3 packets transmitted, 3 packets received' \
        '^b\| zxv-pair: peer gone \(1\)$' '^b\| zxv-pair: peer back$' \
        '^b\| zxv-pair: ping 10\.0\.3\.1: 3 packets transmitted, 3 packets received' '^b\| zxv-pair: peer gone \(2\)$'
    n=$(lines_between "$name" '^vmm: guest a: restarting' '^a\| zxv-pair: a boot 2$' '^b\| zxv-pair: alive [0-9]+ ')
    if [ "$n" -ge 2 ]; then
        pass "$name: b_heartbeats_while_a_restarts ($n)"
    else
        fail "$name: b_heartbeats_while_a_restarts" "$n heartbeats of b between a's restart and its second boot, want 2 or more"
    fi
    n=$(tr -d '\r' <"$LOGS/$name.log" | grep -cE '^b\| \[ *0\.0+\] Booting Linux' || true)
    if [ "$n" -eq 1 ] && ! tr -d '\r' <"$LOGS/$name.log" | grep -E '^(vmm: guest b: restarting|b\| zxv-pair: b boot 2$)' >/dev/null; then
        pass "$name: b_boots_once"
    else
        fail "$name: b_boots_once" "b booted $n times, or was restarted"
    fi
    check_exit "$name"
}

# guests_console VMM_TIMEOUT: guests a and b (1 vCPU each) with a shell on
# their hvc0, typed at through the console (tests/console-session.py):
# keys go to a first; Ctrl-] 2 sends them to b, Ctrl-] 1 to a again, and
# Ctrl-] Ctrl-] passes one Ctrl-] (0x1d) on; each answer must come from
# the guest typed at, and from it alone (its `NAME| ` prefix). Then a
# powers off, and Ctrl-] 2 must still reach b (input switches away from a
# stopped guest), which powers off too. The run takes some 30 s: its
# vmm.timeout is 90 s at most.
guests_console() {
    local name=guests-console both wrong step
    guests_clear
    guest_add a "vmm.cpus=1" ""
    guest_add b "vmm.cpus=1" ""
    qemu_linux_cmd 3 2 "vmm.timeout=$(($1 < 90 ? $1 : 90))" "console=ttyAMA0 panic=-1"
    guests_clear
    say "several guests: $name (virt, GICv3, -smp 2; shells on a and b, typed at in turn)"
    # Both prompts, in either order.
    both='(?ms)^a\| / # .*^b\| / # |^b\| / # .*^a\| / # '
    if python3 "$ROOT/tests/console-session.py" "$LOGS/$name.log" "$TIMEOUT" "expect:$both" \
        'send:echo zxv-one $((6*7))' 'expect:(?m)^a\| zxv-one 42$' \
        'sendraw:1d32' 'expect:(?m)^vmm: .*input to guest b \(Ctrl-\] 2\)' \
        'send:echo zxv-two $((7*8))' 'expect:(?m)^b\| zxv-two 56$' \
        'send:read -r x; echo zxv-esc $(printf %s "$x" | od -An -tx1)' 'sendraw:1d1d0a' 'expect:(?m)^b\| zxv-esc 1d$' \
        'sendraw:1d31' 'expect:(?m)^vmm: .*input to guest a \(Ctrl-\] 1\)' \
        'send:echo zxv-three $((8*9))' 'expect:(?m)^a\| zxv-three 72$' \
        'send:poweroff -f' 'expect:(?m)^vmm: guest a: stopped; 1 guest still running' \
        'sendraw:1d32' 'send:poweroff -f' 'expect:(?m)^vmm: guest b: SYSTEM_OFF' \
        -- "${QEMU[@]}" >"$LOGS/$name.session" 2>&1; then
        pass "$name: typed_at_in_turn_then_powered_off"
    else
        fail "$name: typed_at_in_turn_then_powered_off" "$(cat "$LOGS/$name.session") (last lines of $LOGS/$name.log below)"
        tail_of "$LOGS/$name.log"
    fi
    # Each step on its own, for a failure to say which.
    for step in 'a_answers:^a\| zxv-one 42$' 'switch_to_b:^vmm: .*input to guest b \(Ctrl-\] 2\)$' \
        'b_answers:^b\| zxv-two 56$' 'escape_escape_passes_one_0x1d:^b\| zxv-esc 1d$' \
        'switch_to_a:^vmm: .*input to guest a \(Ctrl-\] 1\)$' 'a_answers_again:^a\| zxv-three 72$' \
        'b_powers_off:^vmm: guest b: SYSTEM_OFF from vCPU 0$'; do
        check_log "$name" "${step%%:*}" "${step#*:}"
    done
    in_log "$name" switch_away_from_a_stopped_guest '^vmm: guest a: stopped; 1 guest still running' \
        '^vmm: .*input to guest b \(Ctrl-\] 2\)$'
    wrong=$(tr -d '\r' <"$LOGS/$name.log" | grep -E '^(b\| zxv-(one 42|three 72)|a\| zxv-(two 56|esc .*))$' || true)
    if [ -z "$wrong" ]; then
        pass "$name: no_answer_from_the_other_guest"
    else
        fail "$name: no_answer_from_the_other_guest" "$(head -1 <<<"$wrong")"
    fi
}

# guests_isolation: the hostile guest (guest-images/hostile) twice: guest
# victim fills its free RAM with canaries (the isolation canary's magic)
# and idles in WFI; once it has, guest scan (Ctrl-] 2, a key, and Ctrl-] 1
# back) scans its whole IPA space (the isolation scan of the vmm group)
# and must find nothing but its own RAM and devices: no region fails, no
# guest line shows the magic; then the victim (a key) finds every canary
# still in place. Some 15 s: vmm.timeout is 60 s. Each guest's RAM in host memory is clear of the other's,
# the VMM's and the monitor's.
guests_isolation() {
    local name=guests-isolation bin=$OUT/hostile.bin out planted kept both
    qemu_virt_cmd 3 2
    say "several guests: $name (virt, GICv3, -smp 2; hostile victim and scan, 64 MiB each)"
    both='(?ms)^victim\| victim: idling in WFI.*^scan\| isolation: waiting for a key|^scan\| isolation: waiting for a key.*^victim\| victim: idling in WFI'
    if python3 "$ROOT/tests/console-session.py" "$LOGS/$name.log" "$TIMEOUT" "expect:$both" \
        'sendraw:1d32' 'sendraw:73' 'expect:(?m)^scan\| isolation: key 0x73$' \
        'sendraw:1d31' 'expect:(?m)^vmm: .*input to guest victim \(Ctrl-\] 1\)' \
        'expect:(?m)^scan\| isolation: [0-9]+ regions, [0-9]+ failed$' 'expect:(?m)^vmm: guest scan: SYSTEM_OFF' \
        'sendraw:71' 'expect:(?m)^victim\| victim: key 0x71: ' 'expect:(?m)^vmm: guest victim: SYSTEM_OFF' \
        -- "${QEMU[@]}" -initrd "$OUT/vmm.elf" -device "loader,file=$bin,addr=0x50000000,force-raw=on" \
        -append "vmm.kernel=0x50000000,$(stat -c %s "$bin") vmm.mem=64M vmm.cpus=1 vmm.timeout=60 vmm.guest=victim -- victim vmm.guest=scan -- scan key" \
        >"$LOGS/$name.session" 2>&1; then
        pass "$name: victim_then_scan_then_victim"
    else
        fail "$name: victim_then_scan_then_victim" "$(cat "$LOGS/$name.session") (last lines of $LOGS/$name.log below)"
        tail_of "$LOGS/$name.log"
    fi
    out=$(tr -d '\r' <"$LOGS/$name.log")
    # All of the victim's 64 MiB but its image and DTB (some 300 KiB).
    planted=$(sed -n 's/^victim| victim: \([0-9]*\) canaries planted .*/\1/p' <<<"$out")
    if [ -n "$planted" ] && [ "$planted" -ge $(((63 << 20) / 16)) ]; then
        pass "$name: victim_fills_its_ram ($planted canaries)"
    else
        fail "$name: victim_fills_its_ram" "${planted:-no} canaries planted, want over 63 MiB of them"
    fi
    kept=$(sed -n 's/^victim| victim: key 0x71: \([0-9]*\) of [0-9]* canaries still in place$/\1/p' <<<"$out")
    if [ -n "$planted" ] && [ "${kept:-}" = "$planted" ]; then
        pass "$name: victim_keeps_every_canary"
    else
        fail "$name: victim_keeps_every_canary" "${kept:-no} of ${planted:-?} canaries still in place"
    fi
    # The scan with no disk and no network on GICv3, as of a guest alone.
    scan_count "$name" "$out" scan 14 0
    # The magic "zxvCnry!" in hex, as the scan prints what it finds.
    if grep -E '^scan\|.*7a7876436e727921' <<<"$out" >/dev/null; then
        fail "$name: scan_never_sees_a_canary" "$(grep -m1 -E '^scan\|.*7a7876436e727921' <<<"$out")"
    else
        pass "$name: scan_never_sees_a_canary"
    fi
    isolation_clear "$name" "$out" victim scan
    if grep -qE '^\*\*\* zxvisor|^vmm: guest [^ ]+ failed' <<<"$out"; then
        fail "$name: no_fault" "$(grep -m1 -E '^\*\*\* zxvisor|^vmm: guest [^ ]+ failed' <<<"$out")"
    else
        pass "$name: no_fault"
    fi
}

# Debian's Linux as the host, its init tests/linux-host-init: it boots with
# both CPUs (PSCI CPU_ON through the monitor), nothing it does traps to the
# monitor's "not handled" path (the host's ID registers advertise only what
# works: docs/design.md, "CPU features"; Linux uses pointer authentication),
# and its SYSTEM_OFF ends QEMU with status 0.
group_linux-host() {
    # Each boot takes seconds: a hang shows well before the usual timeout.
    local gic name TIMEOUT=$((TIMEOUT < 120 ? TIMEOUT : 120))
    linux_host
    for gic in 3 2; do
        name=linux-host-gicv$gic-smp2
        say "Linux as the host: $name (virt, GICv$gic, -smp 2, -cpu max)"
        qemu_virt_cmd "$gic" 2
        qemu_log "$name" -initrd "$OUT/linux-host.elf" -append "console=ttyAMA0 $LINUX_HOST_CMDLINE rdinit=/init panic=-1"
        check_log "$name" boots_to_its_init '^zxv-host: kernel [0-9]'
        check_log "$name" both_cpus_online '^zxv-host: cpus online 0-1, 2 processors$'
        check_log "$name" uses_pointer_authentication '^zxv-host: features .* paca( |$)'
        if tr -d '\r' <"$LOGS/$name.log" | grep -E 'not handled by the monitor|^zxv-host: features .* (sve|sme|mte)( |$)' >"$LOGS/$name.unexpected"; then
            fail "$name: nothing_traps_unhandled" "$(head -1 "$LOGS/$name.unexpected")"
        else
            pass "$name: nothing_traps_unhandled"
        fi
        check_log "$name" powers_off_through_the_monitor '^\[cpu[0-9]\] host requested SYSTEM_OFF'
        check_exit "$name"
    done
}

# The Linux SD images (scripts/mk-sdimage.sh --linux), without a disk and
# with a 32 MiB root file system image as the RAM disk: each image's layout
# (tests/check-sdimage.sh --linux), then pi_linux_boot of its files.
group_raspi4b-linux() {
    local firmware="$DEBIAN_ARM64_CACHE/root/raspi-firmware/usr/lib/raspi-firmware" kind img disk
    ensure_tools file:file
    pi4_dtb
    rootfs_image "$OUT/pi-rootfs.img" 32M
    for kind in initramfs disk; do
        img="$OUT/sdimage-linux-$kind.img" disk=''
        [ "$kind" = initramfs ] || disk=$OUT/pi-rootfs.img
        if ! bash "$ROOT/scripts/mk-sdimage.sh" --linux ${disk:+--disk "$disk"} -o "$img" >"$LOGS/mk-sdimage-linux-$kind.log" 2>&1; then
            explain "mk-sdimage-linux-$kind" "scripts/mk-sdimage.sh --linux${disk:+ --disk} failed"
            continue
        fi
        # The files it packed: the kernel is Debian's (debian_kernel finds it
        # again), the VMM and the initramfs as the script built them.
        debian_kernel
        bash "$ROOT/tests/check-sdimage.sh" "$img" "$MONITOR_IMAGE" "$firmware" "$PI4_DTB" \
            --linux "$OUT/vmm.elf" "$LINUX_KERNEL" "$OUT/linux/initramfs.cpio.gz" $disk >"$LOGS/sdimage-linux-$kind.log"
        count_lines raspi4b-linux "$LOGS/sdimage-linux-$kind.log"
        pi_linux_boot "$kind" "$img"
    done
}

# pi_linux_boot KIND IMAGE: boots the files of the SD image IMAGE on QEMU
# raspi4b the way the Pi firmware would (qemu_sdimage_cmd). Through the
# console (tests/console-session.py) the guest's shell on hvc0 must answer:
# on the initramfs (KIND initramfs) with its architecture and 4 CPUs, on the
# RAM disk's ext4 root (KIND disk) with a file written and read back; `exit`
# powers the guest off, the VMM and the monitor after it (PM watchdog: QEMU
# exits 0). TCG runs 4 CPUs on this machine's cores: some 20 s, within
# ZXV_QEMU_TIMEOUT.
pi_linux_boot() {
    local kind=$1 name="raspi4b-linux-$1" steps start
    qemu_sdimage_cmd "$2" "$OUT/$name.files"
    if [ "$kind" = initramfs ]; then
        steps=('expect:init: Linux [^ ]+ on 4 CPUs' 'expect:init: the shell is on hvc0' 'expect:/ # '
            'send:echo zxv-pi $(uname -m) $(nproc) $((6*7))' 'expect:zxv-pi aarch64 4 42')
    else
        steps=('expect:init: Linux [^ ]+ on 4 CPUs, root on /dev/vda' 'expect:/ # '
            'send:echo pi >/root/f; echo zxv-pi-root $(grep " / " /proc/mounts | cut -d" " -f1-3) $(cat /root/f)'
            'expect:zxv-pi-root /dev/vda / ext4 pi')
    fi
    start=$(date +%s)
    if python3 "$ROOT/tests/console-session.py" "$LOGS/$name.log" "$TIMEOUT" "${steps[@]}" 'send:exit' \
        'expect:vmm: guest linux: SYSTEM_OFF' -- "${QEMU[@]}" >"$LOGS/$name.session" 2>&1; then
        pass "$name: shell_answers_then_powers_off ($(($(date +%s) - start)) s)"
    else
        fail "$name: shell_answers_then_powers_off" "$(cat "$LOGS/$name.session") (last lines of $LOGS/$name.log below)"
        tail_of "$LOGS/$name.log"
    fi
    check_log "$name" vmm_runs_the_guest_on_4_cpus '^vmm: guest linux: 512 MiB RAM at 0x40000000 \(host 0x[0-9a-f]+\), 4 vCPUs, GICv2'
    [ "$kind" = initramfs ] || check_log "$name" disk_served_from_ram '^vmm: guest linux: virtio disk: 32 MiB RAM image at 0x[0-9a-f]+ \(volatile\)$'
    check_log "$name" machine_off_through_pm_watchdog '^\[cpu[0-9]\] host requested SYSTEM_OFF'
}

group build "ensure QEMU and the toolchain, build the monitor"
if [ "$(total failed)" -eq 0 ]; then
    group unit "host unit tests (cargo test)"
    group virt-gicv3-smp4 "on-target suite (virt, GICv3, -smp 4)"
    group virt-gicv2-smp2-initrd "on-target suite (virt, GICv2, -smp 2, host from -initrd)"
    group raspi4b "on-target suite (QEMU raspi4b: Raspberry Pi 4, GIC-400, 4 CPUs)"
    group boot "boot scenarios"
    group bench "benchmark mode (smoke run; figures are in the README)"
    group fuzz "the hostile host (guest-images/fuzz) on virt GICv3 -smp 4 and GICv2 -smp 2"
    group sdimage "Raspberry Pi 4 SD card images (scripts/mk-sdimage.sh)"
    group gdb "debugging the monitor and the host with gdb-multiarch"
    group scripts "the scripts (tests/test-scripts.sh, tests/test-qemu-test.sh)"
    group vmm "the VMM with a raw binary guest, the hostile virtio guest and its isolation scan"
    group linux "Linux under the VMM (Debian's kernel, busybox initramfs)"
    group virtio "Linux's root file system on a file-backed virtio disk; a login shell on hvc0; the network"
    group guests "several guests in one VMM: Linux pairs on the switch, one powering off or restarting, the console's switch key, isolation"
    group linux-host "Linux as the EL1 host (Debian's kernel, busybox initramfs)"
    group raspi4b-linux "Linux from the Raspberry Pi 4 SD image (mk-sdimage.sh --linux) on QEMU raspi4b"
else
    group unit "host unit tests (cargo test)"
    for name in "${GROUPS_ALL[@]}"; do
        [ "$name" = unit ] || ! selected "$name" || skip "$name" "the monitor did not build"
    done
fi
finished=1
