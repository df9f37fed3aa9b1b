//! Bounds on the work a key file may ask for: key-derivation parameters ([`KdfLimits`]) and
//! the size of the TLS files read ([`MAX_TLS_FILE_SIZE`]).
//!
//! A key file names its own KDF cost (iteration counts, scrypt's N, r and p). Without a cap a
//! crafted file makes the process run for minutes or allocate a terabyte (an abort, not a
//! panic), so every parameter is checked against these limits before anything is derived.

use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

/// The largest certificate-key, CA or CRL file read: 4 MiB. Real files are a few kB (a CA
/// bundle of every public root is about 250 kB); a larger file is refused rather than parsed.
pub const MAX_TLS_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// Limits on the key-derivation parameters of an encrypted private key or PKCS#12 file,
/// checked before deriving. A file above a limit is refused with
/// [`IdentityErrorKind::KdfLimitExceeded`](crate::error::IdentityErrorKind::KdfLimitExceeded).
///
/// The defaults accept what tools emit (OpenSSL, Java `keytool`, .NET: 2,048 to 600,000
/// iterations; scrypt N=16384, r=8, p=1) and what OpenSSL 3 itself accepts by default. Raise a
/// limit only for a key file you trust:
///
/// ```
/// use mongo_x509::options::{KdfLimits, TlsOptions};
///
/// let mut limits = KdfLimits::default();
/// limits.max_iterations = 20_000_000; // a key file made with 20 million PBKDF2 iterations
/// let tls = TlsOptions::builder()
///     .cert_key_file_path("/etc/ssl/client.pem")
///     .kdf_limits(limits)
///     .build();
/// # assert_eq!(tls.kdf_limits.unwrap().max_iterations, 20_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KdfLimits {
    /// The largest PBKDF2 iteration count, PKCS#12 MAC iteration count and PKCS#12 key
    /// (PBE) iteration count. Default [`KdfLimits::DEFAULT_MAX_ITERATIONS`] (10,000,000).
    pub max_iterations: u32,
    /// The largest scrypt cost, in bytes: `128·r·(N·p + p + 2)`, which is OpenSSL 3's memory
    /// check for p = 1 and also bounds the work for larger p. Default
    /// [`KdfLimits::DEFAULT_MAX_SCRYPT_MEMORY`] (32 MiB, OpenSSL 3's own default). Above
    /// 32 MiB the OpenSSL backend decrypts scrypt keys in Rust, as OpenSSL would refuse them.
    pub max_scrypt_memory: u64,
}

impl KdfLimits {
    /// The default [`max_iterations`](KdfLimits::max_iterations): 10,000,000.
    pub const DEFAULT_MAX_ITERATIONS: u32 = 10_000_000;
    /// The default [`max_scrypt_memory`](KdfLimits::max_scrypt_memory): 32 MiB.
    pub const DEFAULT_MAX_SCRYPT_MEMORY: u64 = 32 * 1024 * 1024;

    /// Limits with the given maximums.
    pub const fn new(max_iterations: u32, max_scrypt_memory: u64) -> Self {
        Self {
            max_iterations,
            max_scrypt_memory,
        }
    }
}

impl Default for KdfLimits {
    fn default() -> Self {
        Self::new(
            Self::DEFAULT_MAX_ITERATIONS,
            Self::DEFAULT_MAX_SCRYPT_MEMORY,
        )
    }
}

/// What reading a capped file can fail with.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The operating system's error.
    Io(std::io::Error),
    /// The file holds more than [`MAX_TLS_FILE_SIZE`] bytes (at least this many).
    TooLarge(u64),
}

/// Reads a whole file of at most [`MAX_TLS_FILE_SIZE`] bytes into a buffer sized once from
/// its length, so that no reallocated copy of a key is left behind.
pub(crate) fn read_capped(path: &Path) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    if len > MAX_TLS_FILE_SIZE {
        return Err(ReadError::TooLarge(len));
    }
    // +1: the read that finds the end needs no second allocation.
    let mut bytes = Zeroizing::new(Vec::with_capacity(len as usize + 1));
    // One byte past the cap tells a file that grew since `metadata` from one at the cap.
    file.take(MAX_TLS_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_TLS_FILE_SIZE {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}
