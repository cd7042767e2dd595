#!/usr/bin/env bash
# Cargo runner for EL1 programs (.cargo/config.toml): boots the ELF cargo
# built as the host under zxvisor on QEMU virt (GICv3, 4 CPUs).
#   cargo run -p <host crate> --release --target aarch64-unknown-none [-- QEMU ARGS]
# Console keys as in qemu-run.sh: Ctrl-A X quits, Ctrl-C goes to the machine.
. "$(dirname "$0")/lib.sh"
elf=$(realpath "${1:?the runner needs the ELF cargo built}")
shift
ensure_qemu
ensure_toolchain
build_monitor
interactive_console
qemu_virt_cmd 3 4
QEMU+=(-initrd "$elf" "$@")
say_qemu
exec "${QEMU[@]}"
