//! Random secrets and their hexadecimal form: the page-token key, console
//! session secrets and generated tokens all come from here.

use super::error::{DomainError, DomainResult};

/// 32 bytes from the operating system's random source.
pub fn random_32() -> DomainResult<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| {
        DomainError::Internal(format!("the system's random source failed: {error}"))
    })?;
    Ok(bytes)
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 32 bytes that 64 hexadecimal characters spell; `None` for anything
/// else.
pub fn from_hex_32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_32_bytes() {
        let bytes = random_32().unwrap();
        assert_ne!(bytes, random_32().unwrap());
        assert_eq!(from_hex_32(&hex(&bytes)), Some(bytes));
        for bad in ["", "ab", &"g".repeat(64), &"a".repeat(66)] {
            assert_eq!(from_hex_32(bad), None, "{bad}");
        }
    }
}
