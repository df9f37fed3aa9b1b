//! Build script: tells the OpenSSL backend which OpenSSL it is built against.
//!
//! `openssl-sys` reports the version through `DEP_OPENSSL_VERSION_NUMBER` (it is a direct,
//! optional dependency for exactly this). With OpenSSL 3 the legacy PKCS#12 algorithms live in
//! the "legacy" provider, which the backend loads on demand; `openssl::provider` only exists there.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(ossl300)");
    println!("cargo:rerun-if-env-changed=DEP_OPENSSL_VERSION_NUMBER");
    if let Ok(v) = std::env::var("DEP_OPENSSL_VERSION_NUMBER") {
        if u64::from_str_radix(v.trim(), 16).is_ok_and(|n| n >= 0x3000_0000) {
            println!("cargo:rustc-cfg=ossl300");
        }
    }
}
