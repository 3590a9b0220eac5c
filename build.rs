//! `just build` hands layout/rt.order to the linker, which cargo does not
//! know: a new order (`just layout`) must relink rt.

fn main() {
    println!("cargo:rerun-if-changed=layout/rt.order");
}
