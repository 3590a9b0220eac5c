//! `just build` hands layout/rt.order to the linker, which cargo does not
//! know: a new order (`just layout`) must relink rt. On x86_64 the rt
//! binary's entry point is `rt_entry` (src/entry.rs), which runs before the C
//! library's `_start`. `rt --version` names the commit it was built from
//! (`RT_COMMIT`): `git describe`, or "unknown" outside a git checkout.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=layout/rt.order");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch == "x86_64" && os == "linux" {
        println!("cargo:rustc-link-arg-bin=rt=-Wl,-e,rt_entry");
    }
    println!("cargo:rustc-env=RT_COMMIT={}", commit());
}

/// `git describe --long --always` of HEAD; cargo reruns this when HEAD
/// moves (a commit, a checkout), not for uncommitted edits.
fn commit() -> String {
    println!("cargo:rerun-if-env-changed=RT_COMMIT");
    if let Ok(given) = std::env::var("RT_COMMIT") {
        return given;
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !text.is_empty()).then_some(text)
    };
    let Some(describe) = git(&["describe", "--long", "--always"]) else {
        return "unknown".into();
    };
    // HEAD, the branch it names and packed refs: what a commit changes.
    // Only files that exist: cargo reruns for a missing one every time.
    let mut watched = Vec::new();
    if let Some(dir) = git(&["rev-parse", "--git-dir"]).map(PathBuf::from) {
        watched.push(dir.join("HEAD"));
    }
    if let (Some(branch), Some(common)) = (
        git(&["symbolic-ref", "-q", "HEAD"]),
        git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from),
    ) {
        watched.push(common.join(branch));
        watched.push(common.join("packed-refs"));
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    describe
}
