fn main() {
    println!("vxgate {}", env!("CARGO_PKG_VERSION"));
}
