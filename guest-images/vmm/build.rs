//! Links the VMM with el1rt's linker script (the EL1 programs' fixed
//! physical address).
fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../el1rt/linker.ld");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rustc-link-arg-bins=-T{script}");
}
