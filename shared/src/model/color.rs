//! Brand colours: `#rrggbb` / `#rgb` as configured, and the text colour that reads on
//! them (WCAG 2 contrast).

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb` or `#rgb` (hex digits in either case); anything else is `None`.
    pub fn parse(s: &str) -> Option<Rgb> {
        let hex = s.strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(hex.get(i..=i)?, 16).ok();
        let pair = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        match hex.len() {
            3 => Some(Rgb(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
            6 => Some(Rgb(pair(0)?, pair(2)?, pair(4)?)),
            _ => None,
        }
    }

    /// `#rrggbb`, lower-case.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG 2 relative luminance, 0 (black) to 1 (white).
    pub fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }

    /// WCAG 2 contrast ratio between two colours, 1 to 21.
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// The text colour for a button or band of this colour: white, or near-black when
    /// that contrasts more.
    pub fn text_on(self) -> Rgb {
        if self.contrast(WHITE) >= self.contrast(INK) {
            WHITE
        } else {
            INK
        }
    }
}

pub const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
/// The body text colour.
pub const INK: Rgb = Rgb(0x1f, 0x23, 0x28);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_six_and_three_digit_hex_and_nothing_else() {
        assert_eq!(Rgb::parse("#1A5fB4"), Some(Rgb(0x1a, 0x5f, 0xb4)));
        assert_eq!(Rgb::parse("#fa0"), Some(Rgb(0xff, 0xaa, 0x00)));
        for bad in [
            "",
            "#",
            "1a5fb4",
            "#1a5fb",
            "#1a5fb4ff",
            "#ggg",
            "#+1+2+3",
            "red",
            "#１２３",
        ] {
            assert_eq!(Rgb::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn contrast_follows_wcag() {
        assert!((WHITE.contrast(Rgb(0, 0, 0)) - 21.0).abs() < 1e-9);
        assert!((WHITE.contrast(WHITE) - 1.0).abs() < 1e-9);
        // #767676 on white is the classic 4.54:1.
        assert!((Rgb(0x76, 0x76, 0x76).contrast(WHITE) - 4.54).abs() < 0.01);
    }

    #[test]
    fn text_on_a_dark_colour_is_white_and_on_a_light_one_dark() {
        assert_eq!(Rgb(0x1a, 0x5f, 0xb4).text_on(), WHITE);
        assert_eq!(Rgb(0xff, 0xd7, 0x00).text_on(), INK);
        assert_eq!(Rgb(0xff, 0xff, 0xff).text_on(), INK);
    }
}
