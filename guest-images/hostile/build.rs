//! Links the guest at the first byte of guest RAM, where the VMM enters a raw binary.
include!("../link.rs");

fn main() {
    link_with(concat!(env!("CARGO_MANIFEST_DIR"), "/linker.ld"));
}
