//! Secrets from the operating system's random source: robot client secrets, the admin
//! token and the URL signing key.

use std::io;

/// `N` bytes from the OS random source (`getrandom`).
///
/// # Errors
/// When the OS has no random source to give (it never fails on Linux once booted).
pub(crate) fn bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(io::Error::from)?;
    Ok(out)
}

/// A new secret: 64 lowercase hex characters (32 random bytes), the form the real
/// repository issues client secrets in.
///
/// # Errors
/// As [`bytes`].
pub fn secret() -> io::Result<String> {
    Ok(hex::encode(bytes::<32>()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_64_lowercase_hex_and_differ() -> std::io::Result<()> {
        let s = super::secret()?;
        assert_eq!(s.len(), 64);
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_ne!(s, super::secret()?);
        Ok(())
    }
}
