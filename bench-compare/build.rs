//! Passes the official crate's version, as locked, to the report (`MONGODB_CRATE_VERSION`).
fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"mongodb\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map_or("3.x", |v| v.trim_end_matches('"'));
    println!("cargo:rustc-env=MONGODB_CRATE_VERSION={version}");
}
