#!/usr/bin/env bash
# Cargo runner for EL1 programs (.cargo/config.toml): boots the ELF cargo
# built as the host under zxvisor on QEMU virt (GICv3, 4 CPUs).
#   cargo run -p <host crate> --release --target aarch64-unknown-none [-- QEMU ARGS]
. "$(dirname "$0")/lib.sh"
elf=$(realpath "${1:?the runner needs the ELF cargo built}")
shift
ensure_qemu
ensure_toolchain
build_monitor
qemu_virt_cmd 3 4
QEMU+=(-initrd "$elf" "$@")
say "${QEMU[*]}"
exec "${QEMU[@]}"
