fn main() {
    println!("vramplan");
}
