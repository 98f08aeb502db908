//! Discount codes people can read aloud and nobody can guess.
//!
//! A code is the shop's prefix and 12 symbols in groups of four
//! (`THANKS-7KQ9-M2XP-4RTD`). The symbols are the digits 2–9 and the letters A–Z without
//! I, L and O: no 0/O, 1/I/L confusion when a customer types it. 12 symbols from 31 give
//! 12 × log2(31) ≈ 59.4 bits, drawn from the operating system's CSPRNG with rejection
//! sampling (no modulo bias), so guessing a live code is hopeless even with millions of
//! codes out.

/// The symbols codes are made of.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Random symbols per code.
pub const RANDOM_SYMBOLS: usize = 12;
/// Symbols per dash-separated group.
const GROUP: usize = 4;
/// Bytes at or above this are rejected so each symbol is equally likely (248 = 8 × 31).
const ACCEPT_BELOW: u8 = (256 - 256 % ALPHABET.len()) as u8;

/// Bits of randomness in a code.
pub fn entropy_bits() -> f64 {
    RANDOM_SYMBOLS as f64 * (ALPHABET.len() as f64).log2()
}

/// A new code with `prefix` (validated by the config: A–Z and 0–9).
pub fn new_code(prefix: &str) -> std::io::Result<String> {
    let mut symbols = Vec::with_capacity(RANDOM_SYMBOLS);
    // Each byte is kept with probability 248/256; two rounds almost always suffice.
    while symbols.len() < RANDOM_SYMBOLS {
        let mut bytes = [0u8; 2 * RANDOM_SYMBOLS];
        os_random(&mut bytes)?;
        symbols.extend(symbols_from(bytes).take(RANDOM_SYMBOLS - symbols.len()));
    }
    Ok(format_code(prefix, &symbols))
}

/// The alphabet symbols `bytes` stand for, without bias (rejected bytes are skipped).
pub fn symbols_from(bytes: impl IntoIterator<Item = u8>) -> impl Iterator<Item = u8> {
    bytes
        .into_iter()
        .filter(|b| *b < ACCEPT_BELOW)
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()])
}

/// `PREFIX-XXXX-XXXX-XXXX`.
pub fn format_code(prefix: &str, symbols: &[u8]) -> String {
    let mut out = String::with_capacity(prefix.len() + symbols.len() + symbols.len() / GROUP + 1);
    out.push_str(prefix);
    for group in symbols.chunks(GROUP) {
        out.push('-');
        out.extend(group.iter().map(|&b| char::from(b)));
    }
    out
}

/// Whether `code` looks like one this module makes (prefix, then groups of the alphabet).
pub fn is_well_formed(prefix: &str, code: &str) -> bool {
    let Some(rest) = code.strip_prefix(prefix) else {
        return false;
    };
    let groups: Vec<&str> = rest.split('-').skip(1).collect();
    rest.starts_with('-')
        && groups.len() == RANDOM_SYMBOLS.div_ceil(GROUP)
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|b| ALPHABET.contains(&b)))
        && groups.iter().map(|g| g.len()).sum::<usize>() == RANDOM_SYMBOLS
}

/// Fills `buf` from the kernel's CSPRNG (Lambda and every supported dev machine are
/// Unix-like).
fn os_random(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}
