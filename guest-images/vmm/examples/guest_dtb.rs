//! Writes the device tree the VMM gives a guest, on the build machine:
//! `cargo run -p zxv-vmm --example guest_dtb -- OUT [gic-version] [cpus] [mem-MiB]`
//! (defaults 3, 2, 256). scripts/bench.sh boots Linux directly with it, so
//! the kernel QEMU boots at EL1 probes the same devices as the guest.
//! Bootargs and the initrd are left to QEMU, which sets them in `/chosen`.

use zxv_devices::GicVersion;
use zxv_vmm::config::Conduit;
use zxv_vmm::devmap::Optional;
use zxv_vmm::guest_dtb::GuestDtb;
use zxv_vmm::layout::RAM_BASE;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    };
    let Some(out) = args.first() else {
        eprintln!("usage: guest_dtb OUT [gic-version] [cpus] [mem-MiB]");
        std::process::exit(2);
    };
    let gic = match arg(1, 3) {
        2 => GicVersion::V2,
        _ => GicVersion::V3,
    };
    let dtb = GuestDtb {
        cpus: arg(2, 2) as usize,
        ram: RAM_BASE..RAM_BASE + (arg(3, 256) << 20),
        gic,
        psci: Conduit::Hvc,
        bootargs: "",
        initrd: None,
        has: Optional::default(),
    }
    .build()
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(out, dtb).unwrap_or_else(|e| panic!("{out}: {e}"));
}
