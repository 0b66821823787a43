//! fundingd: under construction.

fn main() {}
