//! `[masking]` in `backflow.toml`: the raw table and its validation into [`MaskingConfig`].

use super::line_of;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// `[masking]`, validated (see `docs/masking.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskingConfig {
    /// Mask a sandbox right after `refresh --wait` completes (default on).
    pub mask_after_refresh: bool,
    /// Mixed into each org's seed, so fakes cannot be recomputed without the config.
    pub seed: String,
    pub rules: Vec<crate::domain::masking::MaskRule>,
}

impl Default for MaskingConfig {
    fn default() -> Self {
        Self {
            mask_after_refresh: true,
            seed: String::new(),
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMasking {
    mask_after_refresh: Option<bool>,
    seed: Option<String>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawMaskRule>,
    /// The first spelling (`[[masking.field]]`), read as rules.
    #[serde(default, rename = "field")]
    fields: Vec<RawMaskRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaskRule {
    object: Spanned<String>,
    field: Spanned<String>,
    strategy: Spanned<String>,
    value: Option<String>,
    domain: Option<String>,
    #[serde(rename = "where")]
    filter: Option<String>,
}

pub(super) fn masking(raw: RawMasking, text: &str) -> Result<MaskingConfig, (usize, String)> {
    use crate::domain::masking::{MaskRule, Strategy, api_name};
    let mut rules = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for r in raw.rules.iter().chain(&raw.fields) {
        let line = line_of(text, r.object.span());
        for (what, v) in [("object", &r.object), ("field", &r.field)] {
            if !api_name(v.get_ref()) {
                return Err((
                    line_of(text, v.span()),
                    format!("masking {what} '{}' is not an API name", v.get_ref()),
                ));
            }
        }
        let strategy = Strategy::parse(
            r.strategy.get_ref(),
            r.value.as_deref(),
            r.domain.as_deref(),
        )
        .map_err(|m| (line_of(text, r.strategy.span()), m))?;
        let filter = r
            .filter
            .as_ref()
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty());
        if let Some(w) = &filter
            && w.to_ascii_uppercase().starts_with("WHERE ")
        {
            return Err((
                line,
                format!("where = \"{w}\": write the condition without the WHERE keyword"),
            ));
        }
        let key = (
            r.object.get_ref().to_ascii_lowercase(),
            r.field.get_ref().to_ascii_lowercase(),
        );
        if !seen.insert(key) {
            return Err((
                line,
                format!(
                    "a second masking rule for {}.{}: one rule per field",
                    r.object.get_ref(),
                    r.field.get_ref()
                ),
            ));
        }
        rules.push(MaskRule {
            object: r.object.get_ref().clone(),
            field: r.field.get_ref().clone(),
            strategy,
            filter,
            line,
        });
    }
    Ok(MaskingConfig {
        mask_after_refresh: raw.mask_after_refresh.unwrap_or(true),
        seed: raw.seed.unwrap_or_default(),
        rules,
    })
}
