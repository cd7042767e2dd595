// Included by the build scripts of the EL1 programs (`include!`): links a
// crate's binaries with the linker script `script` when they are built for
// the bare-metal target; the build machine's stubs link as usual.
fn link_with(script: &str) {
    println!("cargo:rerun-if-changed={script}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
}
