//! Links the program as a static Linux executable at a fixed address.
include!("../link.rs");

fn main() {
    link_with(concat!(env!("CARGO_MANIFEST_DIR"), "/linker.ld"));
}
