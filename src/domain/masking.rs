//! Data masking rules and the deterministic fakes they write (see `docs/masking.md`).
//!
//! A rule names an object, a field, a strategy and an optional SOQL `where`. Fakes are derived
//! from a per-org seed and the original value only, so the same input masks the same way in
//! the whole org (an email on a Contact and on a Lead gets the same fake) and a re-run over
//! already masked data is stable. No I/O here: the engine reads and writes the records.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// How a field's values are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// Blank the field.
    Null,
    /// The same text in every record.
    Fixed { value: String },
    /// A fake local part; the domain is kept (`None`) or replaced by the given one.
    Email { domain: Option<String> },
    /// A fake number in the 555 fictional range.
    Phone,
    /// A fake person name (first, last or full by the field's name).
    Name,
    /// A fake street address.
    Street,
    /// Fake words of about the original length.
    Text,
    /// A one-way hash of the value (hex, 16 characters).
    Hash,
    /// The column's values permuted among the records of each batch.
    Shuffle,
}

/// The strategy names a rule may use.
pub const STRATEGIES: &[&str] = &[
    "null", "fixed", "email", "phone", "name", "street", "text", "hash", "shuffle",
];

impl Strategy {
    /// Parses a rule's `strategy` with its `value` (fixed) and `domain` (email). The legacy
    /// `fixed:<text>` spelling is accepted.
    pub fn parse(name: &str, value: Option<&str>, domain: Option<&str>) -> Result<Self, String> {
        if let Some(text) = name.strip_prefix("fixed:") {
            return Ok(Strategy::Fixed {
                value: text.to_string(),
            });
        }
        Ok(match name {
            "null" => Strategy::Null,
            "fixed" => Strategy::Fixed {
                value: value
                    .ok_or("strategy \"fixed\" needs `value = \"…\"`: the text every record gets")?
                    .to_string(),
            },
            "email" => Strategy::Email {
                domain: match domain {
                    None | Some("keep") => None,
                    Some("replace") => Some("example.invalid".into()),
                    Some(d) if d.contains('.') && !d.contains(['@', ' ']) => Some(d.to_string()),
                    Some(d) => {
                        return Err(format!(
                            "domain \"{d}\" is not a domain: use \"keep\", \"replace\" or a domain such as \"example.test\""
                        ));
                    }
                },
            },
            "phone" => Strategy::Phone,
            "name" => Strategy::Name,
            "street" => Strategy::Street,
            "text" => Strategy::Text,
            "hash" => Strategy::Hash,
            "shuffle" => Strategy::Shuffle,
            other => {
                return Err(format!(
                    "unknown masking strategy \"{other}\": use one of {}",
                    STRATEGIES.join(", ")
                ));
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Null => "null",
            Strategy::Fixed { .. } => "fixed",
            Strategy::Email { .. } => "email",
            Strategy::Phone => "phone",
            Strategy::Name => "name",
            Strategy::Street => "street",
            Strategy::Text => "text",
            Strategy::Hash => "hash",
            Strategy::Shuffle => "shuffle",
        }
    }

    /// Whether the strategy can write a field of this describe `type` (`nillable` for null).
    pub fn writes(&self, field_type: &str, nillable: bool) -> bool {
        let text = matches!(field_type, "string" | "textarea");
        match self {
            Strategy::Null => nillable,
            Strategy::Fixed { .. } | Strategy::Shuffle => {
                text || matches!(field_type, "email" | "phone" | "url" | "picklist")
            }
            Strategy::Email { .. } => text || field_type == "email",
            Strategy::Phone => text || field_type == "phone",
            Strategy::Name | Strategy::Street | Strategy::Text | Strategy::Hash => text,
        }
    }

    /// The masked value of one field; `None` stays `None` (nothing to hide). Shuffle is
    /// applied per batch by [`shuffle`], so here it returns the value unchanged.
    pub fn mask(&self, seed: &Seed, field: &str, value: Option<&str>) -> Option<String> {
        if matches!(self, Strategy::Null) {
            return None;
        }
        let value = value.filter(|v| !v.is_empty())?;
        Some(match self {
            Strategy::Null => unreachable!("handled above"),
            Strategy::Fixed { value } => value.clone(),
            Strategy::Email { domain } => {
                let lower = value.trim().to_ascii_lowercase();
                let mut h = seed.stream("email", &lower);
                let (first, last) = (pick(&mut h, FIRST), pick(&mut h, LAST));
                let n = h.next() % 1000;
                let dom = match domain {
                    Some(d) => d.clone(),
                    None => lower
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_string())
                        .unwrap_or_else(|| "example.invalid".into()),
                };
                format!(
                    "{}.{}{n}@{dom}",
                    first.to_ascii_lowercase(),
                    last.to_ascii_lowercase()
                )
            }
            Strategy::Phone => {
                let digits: String = value.chars().filter(char::is_ascii_digit).collect();
                let mut h = seed.stream("phone", &digits);
                format!(
                    "+1 ({:03}) 555-01{:02}",
                    200 + h.next() % 800,
                    h.next() % 100
                )
            }
            Strategy::Name => {
                let mut h = seed.stream("name", value);
                let f = field.to_ascii_lowercase();
                if f.contains("first") {
                    pick(&mut h, FIRST).to_string()
                } else if f.contains("last") {
                    pick(&mut h, LAST).to_string()
                } else {
                    format!("{} {}", pick(&mut h, FIRST), pick(&mut h, LAST))
                }
            }
            Strategy::Street => {
                let mut h = seed.stream("street", value);
                format!(
                    "{} {} {}",
                    1 + h.next() % 9899,
                    pick(&mut h, STREETS),
                    pick(&mut h, SUFFIXES)
                )
            }
            Strategy::Text => {
                let mut h = seed.stream("text", value);
                let mut out = String::new();
                let want = value.chars().count().clamp(4, 400);
                while out.len() < want {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(pick(&mut h, WORDS));
                }
                out
            }
            Strategy::Hash => {
                let mut h = seed.stream("hash", value);
                format!("{:016x}", h.next())
            }
            Strategy::Shuffle => value.to_string(),
        })
    }
}

/// The per-org seed every fake is derived from.
#[derive(Clone)]
pub struct Seed([u8; 32]);

impl Seed {
    /// A seed from the org's id (and an optional extra secret from the config).
    pub fn for_org(org_id: &str, extra: &str) -> Seed {
        let mut d = Sha256::new();
        d.update(b"backflow-mask\0");
        d.update(org_id.as_bytes());
        d.update([0]);
        d.update(extra.as_bytes());
        Seed(d.finalize().into())
    }

    fn stream(&self, tag: &str, value: &str) -> Stream {
        let mut d = Sha256::new();
        d.update(self.0);
        d.update(tag.as_bytes());
        d.update([0]);
        d.update(value.as_bytes());
        Stream {
            block: d.finalize().into(),
            at: 0,
            round: 0,
        }
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(…)")
    }
}

/// Deterministic numbers from a seed and a value (SHA-256 in counter mode).
struct Stream {
    block: [u8; 32],
    at: usize,
    round: u64,
}

impl Stream {
    fn next(&mut self) -> u64 {
        if self.at + 8 > self.block.len() {
            self.round += 1;
            let mut d = Sha256::new();
            d.update(self.block);
            d.update(self.round.to_le_bytes());
            self.block = d.finalize().into();
            self.at = 0;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.block[self.at..self.at + 8]);
        self.at += 8;
        u64::from_le_bytes(b)
    }
}

fn pick<'a>(h: &mut Stream, list: &[&'a str]) -> &'a str {
    list[(h.next() % list.len() as u64) as usize]
}

/// Permutes `values` deterministically (seeded by the seed, the field and the batch number).
pub fn shuffle<T>(seed: &Seed, field: &str, batch: u64, values: &mut [T]) {
    let mut h = seed.stream("shuffle", &format!("{field}\0{batch}"));
    for i in (1..values.len()).rev() {
        let j = (h.next() % (i as u64 + 1)) as usize;
        values.swap(i, j);
    }
}

/// One validated `[[masking.rule]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskRule {
    pub object: String,
    pub field: String,
    pub strategy: Strategy,
    /// A SOQL condition (without `WHERE`) selecting the records to mask.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Line of the rule in the config file, for later errors (describe checks).
    pub line: usize,
}

impl MaskRule {
    /// `Contact.Email (email)`.
    pub fn label(&self) -> String {
        format!("{}.{} ({})", self.object, self.field, self.strategy.name())
    }
}

/// Whether `s` is a plain API name (letters, digits, underscores).
pub fn api_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

const FIRST: &[&str] = &[
    "Alex", "Blair", "Casey", "Dana", "Eden", "Finley", "Gray", "Harper", "Indra", "Jules", "Kai",
    "Lane", "Morgan", "Noor", "Oakley", "Parker", "Quinn", "Reese", "Sage", "Tatum", "Uma", "Vale",
    "Wren", "Yael", "Zion", "Arden", "Briar", "Cody", "Devon", "Ellis",
];
const LAST: &[&str] = &[
    "Abbott", "Barlow", "Calder", "Dunmore", "Ellery", "Fairley", "Garrick", "Holloway", "Ingram",
    "Jessop", "Kendrick", "Lowell", "Marsden", "Norwood", "Oakes", "Pembrook", "Quarry", "Radley",
    "Sterling", "Thorne", "Upton", "Vickery", "Whitlock", "Yardley",
];
const STREETS: &[&str] = &[
    "Maple", "Cedar", "Harbor", "Willow", "Juniper", "Granite", "Meadow", "Orchard", "Summit",
    "Linden", "Aspen", "Beacon",
];
const SUFFIXES: &[&str] = &["St", "Ave", "Rd", "Ln", "Way", "Ct", "Blvd"];
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "labore",
    "magna",
    "aliqua",
    "veniam",
    "nostrud",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Seed {
        Seed::for_org("00D000000000001AAA", "")
    }

    #[test]
    fn same_input_masks_the_same_way_and_orgs_differ() {
        let e = Strategy::Email { domain: None };
        let a = e.mask(&seed(), "Email", Some("Ann.Lee@acme.com"));
        let b = e.mask(&seed(), "Email", Some("ann.lee@acme.com "));
        assert_eq!(a, b);
        let a = a.unwrap();
        assert!(a.ends_with("@acme.com"), "{a}");
        assert_ne!(a, "ann.lee@acme.com");
        let other = Seed::for_org("00D000000000002AAA", "");
        assert_ne!(
            e.mask(&other, "Email", Some("ann.lee@acme.com")).unwrap(),
            a
        );
        let r = Strategy::Email {
            domain: Some("example.test".into()),
        };
        assert!(
            r.mask(&seed(), "Email", Some("x@acme.com"))
                .unwrap()
                .ends_with("@example.test")
        );
    }

    #[test]
    fn fakes_have_their_shape_and_nulls_stay_null() {
        let s = seed();
        assert_eq!(Strategy::Phone.mask(&s, "Phone", None), None);
        assert_eq!(Strategy::Null.mask(&s, "Phone", Some("1")), None);
        let p = Strategy::Phone
            .mask(&s, "Phone", Some("(415) 555-2671"))
            .unwrap();
        assert!(p.starts_with("+1 (") && p.contains(" 555-01"), "{p}");
        let first = Strategy::Name.mask(&s, "FirstName", Some("Ann")).unwrap();
        assert!(FIRST.contains(&first.as_str()));
        let full = Strategy::Name.mask(&s, "Name", Some("Ann Lee")).unwrap();
        assert_eq!(full.split(' ').count(), 2);
        let t = Strategy::Text
            .mask(&s, "Description", Some("a long secret note"))
            .unwrap();
        assert!(t.len() >= 18 && !t.contains("secret"));
        assert_eq!(Strategy::Hash.mask(&s, "X", Some("abc")).unwrap().len(), 16);
    }

    #[test]
    fn strategies_parse_and_check_types() {
        assert_eq!(
            Strategy::parse("fixed:n/a", None, None).unwrap(),
            Strategy::Fixed {
                value: "n/a".into()
            }
        );
        assert!(Strategy::parse("fixed", None, None).is_err());
        let e = Strategy::parse("scramble", None, None).unwrap_err();
        assert!(e.contains("scramble") && e.contains("shuffle"), "{e}");
        assert!(Strategy::parse("email", None, Some("not a domain")).is_err());
        assert!(Strategy::Phone.writes("phone", false));
        assert!(!Strategy::Name.writes("boolean", true));
        assert!(!Strategy::Null.writes("string", false));
    }

    #[test]
    fn shuffle_is_a_deterministic_permutation() {
        let mut a: Vec<u32> = (0..50).collect();
        let mut b = a.clone();
        shuffle(&seed(), "Title", 0, &mut a);
        shuffle(&seed(), "Title", 0, &mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..50).collect::<Vec<_>>());
        a.sort();
        assert_eq!(a, (0..50).collect::<Vec<_>>());
    }
}
