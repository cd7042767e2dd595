#!/usr/bin/env bash
# Tests scripts/qemu-test.sh itself: whatever goes wrong, it prints a FAIL
# line saying what, the closing `N passed, N failed` line, and exits
# non-zero. Three runs, each kept short with ZXV_TEST_ONLY and its own
# logs (ZXV_TEST_LOGS): a group name that does not exist; a fake
# qemu-system-aarch64 first on PATH that cannot start (GICv3), prints
# nothing (GICv2) or hangs (raspi4b, ZXV_QEMU_TIMEOUT=2); and a fake cargo
# whose build fails, which ends the build group early. Prints `ok NAME` or
# `FAIL NAME: why` per check.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then echo "ok $name"; else echo "FAIL $name: $why"; fi
}

# run NAME ENV...: runs qemu-test.sh with ENV; sets OUTPUT and RC.
run() {
    local name=$1
    shift
    OUTPUT=$(env "$@" ZXV_TEST_LOGS="$work/logs-$name" bash "$root/scripts/qemu-test.sh" </dev/null 2>&1)
    RC=$?
    printf '%s\n' "$OUTPUT" >"$work/$name.out"
}

# has NAME PATTERN: the last run printed a line matching PATTERN.
has() { grep -qE "$2" "$work/$1.out"; }

# ends_failing NAME: a closing line with failures last, and a failing exit.
ends_failing() {
    check "${1}_closing_line" "the last line is '$(tail -n 1 "$work/$1.out")'" \
        eval "tail -n 1 '$work/$1.out' | grep -qE '^[0-9]+ passed, [1-9][0-9]* failed(, [0-9]+ skipped)?\$'"
    check "${1}_exits_nonzero" "exit status $RC" test "$RC" -ne 0
}

run bad_group ZXV_TEST_ONLY="virt-gicv3-smp4 no-such-group"
check bad_group_says_why "no FAIL line for the unknown group" has bad_group "^FAIL ZXV_TEST_ONLY: no group matches 'no-such-group' \(groups: unit "
ends_failing bad_group

cat >"$work/bin/qemu-system-aarch64" <<'SH'
#!/bin/sh
case " $* " in
    *" --version "*) echo "QEMU emulator version 10.0.0 (a fake, tests/test-qemu-test.sh)" ;;
    *gic-version=3*) echo "qemu-system-aarch64: fake: cannot start" >&2; exit 1 ;;
    *gic-version=2*) ;;
    *raspi4b*) exec sleep 60 ;;
esac
SH
chmod +x "$work/bin/qemu-system-aarch64"
run fake_qemu PATH="$work/bin:$PATH" ZXV_QEMU_TIMEOUT=2 ZXV_TEST_ONLY="virt-gicv3-smp4 virt-gicv2-smp2-initrd raspi4b"
check fake_qemu_cannot_start "no FAIL line with QEMU's error for GICv3" eval \
    "has fake_qemu '^FAIL virt-gicv3-smp4: no closing .* \(QEMU exit 1\)' && has fake_qemu '^    \| qemu-system-aarch64: fake: cannot start\$'"
check fake_qemu_prints_nothing "no FAIL line for the silent GICv2 run" has fake_qemu '^FAIL virt-gicv2-smp2-initrd: no closing .* \(QEMU exit 0\)'
check fake_qemu_hangs "no FAIL line for the raspi4b hang" has fake_qemu '^FAIL raspi4b: QEMU did not finish within 2s \(a hang\)'
check fake_qemu_runs_every_group "not every group's FAIL line" eval \
    "[ \$(grep -cE '^FAIL (virt-gicv3-smp4|virt-gicv2-smp2-initrd|raspi4b|boot_host_from_initrd|raspi4b_system_off)' '$work/fake_qemu.out') -ge 5 ]"
ends_failing fake_qemu

cat >"$work/bin/cargo" <<'SH'
#!/bin/sh
echo "error: fake cargo: $1 fails (tests/test-qemu-test.sh)" >&2
exit 101
SH
chmod +x "$work/bin/cargo"
run fake_cargo PATH="$work/bin:$PATH" ZXV_TEST_ONLY="unit virt-gicv3-smp4"
check build_failure_ends_its_group "no FAIL line with cargo's error" eval \
    "has fake_cargo '^FAIL build: the group ended early with status [1-9]' && has fake_cargo '^    \| error: fake cargo: build fails'"
check build_failure_skips_what_needs_the_monitor "no skip line for virt-gicv3-smp4" has fake_cargo '^skip virt-gicv3-smp4: the monitor did not build$'
check build_failure_still_runs_unit_tests "no FAIL line for the unit tests" has fake_cargo '^FAIL cargo-test: cargo test exited with 101$'
ends_failing fake_cargo
