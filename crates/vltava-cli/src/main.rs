//! The `vltava` binary. (being written)
fn main() {}
