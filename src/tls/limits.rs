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
/// Each limit bounds one derivation and also the sum over every derivation one file asks for:
/// a PKCS#12 file's MAC, each of its encrypted sections and its key together, so that a file
/// of many encrypted sections (with or without a MAC) costs at most the limit in all. Each
/// derivation counts with its declared iteration count (or scrypt cost), and is paid before it
/// runs: a file whose total would cross a limit is refused at that derivation, naming the
/// total (`parameter` then reads "total iteration count of the file's N key derivations").
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
    /// (PBE) iteration count, and the largest sum of them over one file. Default
    /// [`KdfLimits::DEFAULT_MAX_ITERATIONS`] (10,000,000).
    pub max_iterations: u32,
    /// The largest scrypt cost, in bytes: `128·r·(N·p + p + 2)`, which is OpenSSL 3's memory
    /// check for p = 1 and also bounds the work for larger p; also the largest sum of the
    /// scrypt costs of one file. Default
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

/// Reads a whole file of at most [`MAX_TLS_FILE_SIZE`] bytes into a buffer sized from its
/// length. The buffer is never reallocated, which would leave a copy of a key behind: a file
/// that grows after its length was read (or reports none: a FIFO, a file in `/proc`) is
/// moved to a larger buffer and the smaller one wiped.
pub(crate) fn read_capped(path: &Path) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let mut file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    if len > MAX_TLS_FILE_SIZE {
        return Err(ReadError::TooLarge(len));
    }
    // One byte past the cap tells a file that grew since `metadata` from one at the cap; +1:
    // the read that finds the end of an unchanged file needs no larger buffer.
    let cap = MAX_TLS_FILE_SIZE as usize + 1;
    let mut bytes = Zeroizing::new(vec![0u8; len as usize + 1]);
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if filled >= cap {
                return Err(ReadError::TooLarge(filled as u64));
            }
            let mut larger = Zeroizing::new(vec![0u8; (filled * 2).clamp(4096, cap)]);
            larger[..filled].copy_from_slice(&bytes[..filled]);
            // The smaller buffer is wiped as it is dropped.
            bytes = larger;
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    // Shortening keeps the allocation (wiped whole on drop).
    bytes.truncate(filled);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_whole_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0usize,
            1,
            4095,
            4096,
            4097,
            100_000,
            MAX_TLS_FILE_SIZE as usize,
        ] {
            let path = dir.path().join(format!("f{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            assert_eq!(&**read_capped(&path).unwrap(), &data[..], "{len}");
        }
        let path = dir.path().join("big");
        std::fs::write(&path, vec![0u8; MAX_TLS_FILE_SIZE as usize + 1]).unwrap();
        assert!(matches!(
            read_capped(&path),
            Err(ReadError::TooLarge(n)) if n == MAX_TLS_FILE_SIZE + 1
        ));
    }

    /// A file that reports no length (a FIFO, `/proc`) is read whole all the same, and one
    /// that grows past the cap is refused.
    #[cfg(target_os = "linux")]
    #[test]
    fn files_without_a_length_are_read_whole() {
        let status = std::fs::read("/proc/self/status").unwrap();
        assert_eq!(std::fs::metadata("/proc/self/status").unwrap().len(), 0);
        let read = read_capped(Path::new("/proc/self/status")).unwrap();
        // Both start with the process name; the counters after it move.
        assert_eq!(read[..16], status[..16]);
        assert!(read.len() > 100);
    }
}
