//! Links the VMM with el1rt's linker script (the EL1 programs' fixed
//! physical address).
include!("../link.rs");

fn main() {
    link_with(concat!(env!("CARGO_MANIFEST_DIR"), "/../el1rt/linker.ld"));
}
