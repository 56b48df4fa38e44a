//! `mask --verify`: samples masked fields in the sandbox and compares them with the production
//! copy's values for the same records (a refreshed sandbox keeps production's record ids).
//! Reports field names and record ids only, never values.

use super::EngineError;
use super::mask::{Groups, VERIFY_SAMPLE, VerifyReport, soql};
use crate::domain::masking::Strategy;
use crate::salesforce::SalesforceClient;
use crate::salesforce::rest::soql_quote;
use serde_json::Value;
use std::collections::HashMap;

fn text(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

pub(super) async fn verify(
    sandbox: &SalesforceClient,
    prod: &SalesforceClient,
    groups: &Groups<'_>,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<VerifyReport, EngineError> {
    let mut report = VerifyReport::default();
    for ((object, filter), rules) in groups {
        // Shuffled columns keep production's values (moved between records): not comparable.
        let rules: Vec<_> = rules
            .iter()
            .filter(|r| !matches!(r.strategy, Strategy::Shuffle | Strategy::Null))
            .collect();
        if rules.is_empty() {
            continue;
        }
        let mut fields = vec!["Id"];
        fields.extend(rules.iter().map(|r| r.field.as_str()));
        let q = format!(
            "{} ORDER BY Id LIMIT {VERIFY_SAMPLE}",
            soql(object, &fields, filter.as_deref())
        );
        let originals = prod.query(&q).await?;
        let ids: Vec<&str> = originals.iter().filter_map(|r| r["Id"].as_str()).collect();
        let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
            continue;
        };
        let q = format!(
            "{} WHERE Id >= {} AND Id <= {} ORDER BY Id",
            soql(object, &fields, None),
            soql_quote(first),
            soql_quote(last)
        );
        let now: HashMap<String, Value> = sandbox
            .query(&q)
            .await?
            .into_iter()
            .filter_map(|r| Some((r["Id"].as_str()?.to_string(), r)))
            .collect();
        let mut compared = 0u64;
        for orig in &originals {
            let Some(id) = orig["Id"].as_str() else {
                continue;
            };
            let Some(cur) = now.get(id) else { continue };
            for r in &rules {
                let (Some(before), Some(after)) = (text(&orig[&r.field]), text(&cur[&r.field]))
                else {
                    continue;
                };
                compared += 1;
                let fixed_same =
                    matches!(&r.strategy, Strategy::Fixed { value } if value == before);
                if before == after && !fixed_same {
                    report
                        .unmasked
                        .push(format!("{object}.{} on {id}", r.field));
                }
            }
        }
        progress(format!(
            "{object}: {compared} masked values compared with production"
        ));
        report.compared += compared;
    }
    Ok(report)
}
