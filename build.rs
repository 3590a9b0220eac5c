//! `just build` hands layout/rt.order to the linker, which cargo does not
//! know: a new order (`just layout`) must relink rt. On x86_64 the rt
//! binary's ELF entry is `rt_entry` (src/entry.rs), which runs before the C
//! library's `_start`.

fn main() {
    println!("cargo:rerun-if-changed=layout/rt.order");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "linux" {
        println!("cargo:rustc-link-arg-bin=rt=-Wl,-e,rt_entry");
    }
}
