//! Links the monitor as a self-relocating static PIE (see linker.ld) and embeds
//! the default EL1 host image named by `ZXV_DEFAULT_HOST` (`build_monitor` in
//! scripts/lib.sh builds it first). Without it the monitor embeds nothing and
//! needs `-initrd`. Built for the build machine, the binary is a stub and
//! nothing is linked specially.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=ZXV_DEFAULT_HOST");
    let host = match env::var("ZXV_DEFAULT_HOST") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            fs::read(&path).unwrap_or_else(|e| panic!("ZXV_DEFAULT_HOST={path}: {e}"))
        }
        _ => Vec::new(),
    };
    fs::write(out.join("default-host.elf"), host).unwrap();

    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let dir = env::var("CARGO_MANIFEST_DIR").unwrap();
        println!("cargo:rerun-if-changed={dir}/linker.ld");
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-bins=-pie");
        println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
        println!("cargo:rustc-link-arg-bins=-z");
        println!("cargo:rustc-link-arg-bins=norelro");
        // The prebuilt core/alloc are not PIC: allow their absolute pointers in
        // read-only data; boot.S relocates them before the MMU protects anything.
        println!("cargo:rustc-link-arg-bins=-z");
        println!("cargo:rustc-link-arg-bins=notext");
    }
}
