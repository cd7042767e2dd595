//! Links the VMM with el1rt's linker script (the EL1 programs' fixed
//! physical address); the build machine's stub links as usual.
fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../el1rt/linker.ld");
    println!("cargo:rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
}
