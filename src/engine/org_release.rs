//! Which sandboxes are in the release preview window: Salesforce upgrades preview sandboxes to
//! the next release weeks before production, so their newest API version is above
//! production's.

use super::orgs::OrgRow;
use crate::domain::config::Config;

fn num(v: &Option<String>) -> Option<f64> {
    v.as_deref().and_then(|v| v.parse().ok())
}

/// Sets `preview` on each sandbox row whose newest API version is known, against its own
/// production org (`sandbox_of`) or, without one, the newest production org answering.
pub fn flag_previews(cfg: &Config, rows: &mut [OrgRow]) {
    let versions: Vec<(String, Option<bool>, Option<f64>)> = rows
        .iter()
        .map(|r| (r.org.clone(), r.sandbox, num(&r.max_api_version)))
        .collect();
    let any_prod = versions
        .iter()
        .filter(|(_, sb, _)| *sb == Some(false))
        .filter_map(|(_, _, v)| *v)
        .reduce(f64::max);
    for r in rows.iter_mut() {
        let Some(mine) = num(&r.max_api_version) else {
            continue;
        };
        if r.sandbox != Some(true) {
            r.preview = Some(false);
            continue;
        }
        let prod = cfg
            .orgs
            .get(&r.org)
            .and_then(|o| o.sandbox_of.as_deref())
            .and_then(|p| versions.iter().find(|(o, _, _)| o == p))
            .and_then(|(_, _, v)| *v)
            .or(any_prod);
        r.preview = prod.map(|p| mine > p);
    }
}
