//! Links the host with el1rt's linker script (its fixed physical address),
//! and gathers the guest programs: guest_code.S (the shared macros and
//! snippets) and every other `.S` under src/ with a `snippet NAME` line (the
//! snippets of the module beside it) are assembled as one, this file first,
//! and each `snippet NAME` becomes `guest_code::NAME()` — the name is
//! written once, in the assembly.
include!("../link.rs");

use std::{env, fs, path::Path, path::PathBuf};

fn main() {
    link_with(concat!(env!("CARGO_MANIFEST_DIR"), "/../el1rt/linker.ld"));

    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    println!("cargo:rerun-if-changed={}", src.display());
    let shared = src.join("guest_code.S");
    let mut files = vec![shared.clone()];
    let mut others = Vec::new();
    find_snippet_files(&src, &mut others);
    others.retain(|f| *f != shared);
    others.sort();
    files.extend(others);

    let mut names = Vec::new();
    let mut includes = String::new();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        names.extend(snippet_names(&text));
        includes += &format!(
            "    include_str!({:?}),\n    \"\\n\",\n",
            file.display().to_string()
        );
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("guest_code.rs");
    fs::write(
        out,
        format!(
            "core::arch::global_asm!(concat!(\n{includes}));\n\nsnippets!({});\n",
            names.join(", ")
        ),
    )
    .unwrap();
}

/// The `.S` files under `dir` that define snippets.
fn find_snippet_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            find_snippet_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "S")
            && fs::read_to_string(&path).is_ok_and(|t| !snippet_names(&t).is_empty())
        {
            out.push(path);
        }
    }
}

/// The NAME of every `snippet NAME` line.
fn snippet_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("snippet "))
        .map(|name| name.trim().to_string())
        .collect()
}
