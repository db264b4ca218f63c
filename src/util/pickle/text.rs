//! Text arguments of the pickle machine's protocol-0 opcodes: Python's raw-unicode-escape
//! strings (UNICODE) and decimal integers of any width (INT, LONG).

/// Decodes Python's raw-unicode-escape text: bytes are Latin-1 characters; `\u` with four
/// hex digits and `\U` with eight escape the others.
pub(super) fn raw_unicode_escape(s: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.iter().map(|b| char::from(*b));
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let width = match chars.clone().next() {
            Some('u') => 4,
            Some('U') => 8,
            _ => {
                out.push(c);
                continue;
            }
        };
        chars.next();
        let hex: String = chars.by_ref().take(width).collect();
        let code = u32::from_str_radix(&hex, 16)
            .ok()
            .filter(|_| hex.len() == width)
            .and_then(char::from_u32)
            .ok_or_else(|| format!("bad escape `\\u{hex}` in UNICODE"))?;
        out.push(code);
    }
    Ok(out)
}

/// A decimal integer (optional sign) as little-endian two's complement bytes.
pub(super) fn decimal_to_le(t: &str) -> Option<Vec<u8>> {
    let (negative, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut mag: Vec<u8> = vec![0];
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in &mut mag {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    mag.push(0);
    if negative {
        let mut carry = 1u16;
        for byte in &mut mag {
            let v = u16::from(!*byte) + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
    }
    // Shortest form: drop sign bytes the byte below already implies.
    while mag.len() > 1 {
        let (top, below) = (mag[mag.len() - 1], mag[mag.len() - 2]);
        if (top == 0 && below & 0x80 == 0) || (top == 0xff && below & 0x80 != 0) {
            mag.pop();
        } else {
            break;
        }
    }
    Some(mag)
}
