//! Writing masks: each (object, where) group read page by page, masked and written back, and
//! the re-send of a failed-rows file.

use super::{ObjectSummary, PAGE, Progress, SMALL, soql};
use crate::domain::masking::{MaskRule, Seed, Strategy, shuffle};
use crate::engine::EngineError;
use crate::salesforce::SalesforceClient;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

fn remote(e: impl std::fmt::Display) -> EngineError {
    EngineError::Remote(e.to_string())
}

/// Masks one (object, where) group page by page.
pub(super) async fn mask_group(
    client: &SalesforceClient,
    seed: &Seed,
    object: &str,
    filter: &Option<String>,
    rules: &[&MaskRule],
    failed_rows: &mut Vec<[String; 5]>,
    progress: Progress<'_>,
) -> Result<ObjectSummary, EngineError> {
    let mut fields = vec!["Id"];
    fields.extend(rules.iter().map(|r| r.field.as_str()));
    let job = client
        .bulk_query(&soql(object, &fields, filter.as_deref()))
        .await?;
    let job = client.bulk_wait(&job.id, false).await?;
    if job.state != "JobComplete" {
        return Err(remote(format!(
            "the Bulk query of {object} ended {}: {}",
            job.state,
            job.error.unwrap_or_default()
        )));
    }
    let mut sum = ObjectSummary {
        object: object.to_string(),
        filter: filter.clone(),
        rules: rules.iter().map(|r| r.label()).collect(),
        ..Default::default()
    };
    let mut locator: Option<String> = None;
    let mut page_no = 0u64;
    loop {
        let (csv_page, next) = client
            .bulk_query_page(&job.id, locator.as_deref(), PAGE)
            .await?;
        let rows = masked_page(&csv_page, seed, rules, page_no).map_err(remote)?;
        sum.read += rows.len() as u64;
        let rows: Vec<(String, Vec<String>)> = rows
            .into_iter()
            .filter(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
            .collect();
        let (ok, failed) = write_rows(client, object, rules, rows, failed_rows).await?;
        sum.written += ok;
        sum.failed += failed;
        progress(format!(
            "{object}: {} read, {} written, {} failed",
            sum.read, sum.written, sum.failed
        ));
        page_no += 1;
        match next {
            Some(l) => locator = Some(l),
            None => break,
        }
    }
    Ok(sum)
}

/// One CSV results page masked: (id, the new cell per rule; empty = unchanged, `#N/A` = blank).
fn masked_page(
    csv_page: &[u8],
    seed: &Seed,
    rules: &[&MaskRule],
    page_no: u64,
) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut r = csv::Reader::from_reader(csv_page);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| format!("Bulk results are not CSV: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let id_col = col("Id").ok_or("Bulk results have no Id column")?;
    let cols: Vec<Option<usize>> = rules.iter().map(|r| col(&r.field)).collect();
    let mut out = Vec::new();
    let mut originals: Vec<Vec<String>> = vec![Vec::new(); rules.len()];
    for rec in r.records() {
        let rec = rec.map_err(|e| format!("Bulk results are not CSV: {e}"))?;
        let id = rec.get(id_col).unwrap_or_default().to_string();
        let mut cells = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let value = cols[i].and_then(|c| rec.get(c)).unwrap_or_default();
            originals[i].push(value.to_string());
            cells.push(match &rule.strategy {
                Strategy::Null if value.is_empty() => String::new(),
                Strategy::Null => "#N/A".to_string(),
                s => s.mask(seed, &rule.field, Some(value)).unwrap_or_default(),
            });
        }
        out.push((id, cells));
    }
    for (i, rule) in rules.iter().enumerate() {
        if matches!(rule.strategy, Strategy::Shuffle) {
            let mut present: Vec<usize> = (0..out.len())
                .filter(|&k| !originals[i][k].is_empty())
                .collect();
            let values: Vec<String> = present.iter().map(|&k| originals[i][k].clone()).collect();
            shuffle(seed, &rule.field, page_no, &mut present);
            for (k, v) in present.into_iter().zip(values) {
                out[k].1[i] = v;
            }
        }
    }
    Ok(out)
}

/// Writes masked rows: sObject collections below [`SMALL`] rows, else an ingest job. Returns
/// (written, failed); failed rows are added to `failed_rows`.
async fn write_rows(
    client: &SalesforceClient,
    object: &str,
    rules: &[&MaskRule],
    rows: Vec<(String, Vec<String>)>,
    failed_rows: &mut Vec<[String; 5]>,
) -> Result<(u64, u64), EngineError> {
    if rows.is_empty() {
        return Ok((0, 0));
    }
    let fields: Vec<&str> = rules.iter().map(|r| r.field.as_str()).collect();
    let mut failed = 0u64;
    let total = rows.len() as u64;
    let mut fail = |id: &str, cells: &[String], error: &str| {
        failed += 1;
        for (f, v) in fields.iter().zip(cells) {
            if !v.is_empty() {
                failed_rows.push([
                    object.to_string(),
                    id.to_string(),
                    f.to_string(),
                    v.clone(),
                    error.to_string(),
                ]);
            }
        }
    };
    if rows.len() < SMALL {
        let records: Vec<Value> = rows
            .iter()
            .map(|(id, cells)| {
                let mut m = serde_json::Map::new();
                m.insert("attributes".into(), json!({"type": object}));
                m.insert("id".into(), json!(id));
                for (f, v) in fields.iter().zip(cells) {
                    match v.as_str() {
                        "" => {}
                        "#N/A" => {
                            m.insert(f.to_string(), Value::Null);
                        }
                        v => {
                            m.insert(f.to_string(), json!(v));
                        }
                    }
                }
                Value::Object(m)
            })
            .collect();
        let outcomes = client.update_records(records).await?;
        for ((id, cells), o) in rows.iter().zip(outcomes) {
            if let Some(err) = o.error {
                fail(id, cells, &err);
            }
        }
        return Ok((total - failed, failed));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec!["Id"];
    head.extend(&fields);
    w.write_record(&head).map_err(remote)?;
    for (id, cells) in &rows {
        w.write_record(std::iter::once(id).chain(cells))
            .map_err(remote)?;
    }
    let body = w.into_inner().map_err(remote)?;
    let id = client.bulk_update(object, body).await?;
    let job = client.bulk_wait(&id, true).await?;
    if job.state != "JobComplete" {
        return Err(remote(format!(
            "the Bulk update of {object} ended {}: {}",
            job.state,
            job.error.unwrap_or_default()
        )));
    }
    if job.failed > 0 {
        let csv_failed = client.bulk_failed_rows(&id).await?;
        let mut r = csv::Reader::from_reader(&csv_failed[..]);
        let header: Vec<String> = r
            .headers()
            .map_err(remote)?
            .iter()
            .map(str::to_string)
            .collect();
        let col = |n: &str| header.iter().position(|h| h.eq_ignore_ascii_case(n));
        let (err_col, id_col) = (col("sf__Error"), col("Id"));
        for rec in r.records() {
            let rec = rec.map_err(remote)?;
            let rid = id_col.and_then(|c| rec.get(c)).unwrap_or_default();
            let error = err_col.and_then(|c| rec.get(c)).unwrap_or_default();
            let cells: Vec<String> = fields
                .iter()
                .map(|f| {
                    col(f)
                        .and_then(|c| rec.get(c))
                        .unwrap_or_default()
                        .to_string()
                })
                .collect();
            fail(rid, &cells, error);
        }
    }
    Ok((total - failed, failed))
}

/// id → field → value.
type RetryRows = BTreeMap<String, BTreeMap<String, String>>;

/// A failed-rows file read back: object → (its fields in file order, id → field → value).
pub type RetryFile = BTreeMap<String, (Vec<String>, RetryRows)>;

/// Reads a failed-rows file (`object,id,field,value,error`, as `write_failed` wrote it). The
/// error names the record's line so a hand-edited file can be fixed.
pub fn read_retry_file(bytes: &[u8]) -> Result<RetryFile, String> {
    let mut r = csv::Reader::from_reader(bytes);
    let mut by_object = RetryFile::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let [object, id, field, value] = [0, 1, 2, 3].map(|c| rec.get(c).unwrap_or("").to_string());
        if object.is_empty() || id.is_empty() || field.is_empty() {
            return Err(format!(
                "line {line}: expected object,id,field,value,error (a file `backflow mask` wrote)"
            ));
        }
        let e = by_object.entry(object).or_default();
        if !e.0.contains(&field) {
            e.0.push(field.clone());
        }
        e.1.entry(id).or_default().insert(field, value);
    }
    Ok(by_object)
}

/// Re-sends the rows of a failed-rows file (`object,id,field,value,error`).
pub(super) async fn retry(
    client: &SalesforceClient,
    file: &Path,
    failed_rows: &mut Vec<[String; 5]>,
    progress: Progress<'_>,
) -> Result<Vec<ObjectSummary>, EngineError> {
    let bad = |m: String| EngineError::Input(format!("{}: {m}", file.display()));
    let bytes = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
    let by_object = read_retry_file(&bytes).map_err(bad)?;
    let mut out = Vec::new();
    for (object, (fields, rows)) in by_object {
        let rules: Vec<MaskRule> = fields
            .iter()
            .map(|f| MaskRule {
                object: object.clone(),
                field: f.clone(),
                strategy: Strategy::Hash,
                filter: None,
                line: 0,
            })
            .collect();
        let refs: Vec<&MaskRule> = rules.iter().collect();
        let rows: Vec<(String, Vec<String>)> = rows
            .into_iter()
            .map(|(id, vals)| {
                let cells = fields
                    .iter()
                    .map(|f| vals.get(f).cloned().unwrap_or_default())
                    .collect();
                (id, cells)
            })
            .collect();
        let read = rows.len() as u64;
        let (written, failed) = write_rows(client, &object, &refs, rows, failed_rows).await?;
        progress(format!(
            "{object}: {read} retried, {written} written, {failed} failed"
        ));
        out.push(ObjectSummary {
            object,
            filter: None,
            rules: fields,
            read,
            written,
            failed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::read_retry_file;

    #[test]
    fn a_failed_rows_file_reads_back_by_object_and_names_the_line_of_a_bad_row() {
        let ok = b"object,id,field,value,error\nContact,003A,Email,x@y,E\nContact,003A,Phone,1,E\nLead,00QB,Email,\"a,\nb\",E\n";
        let file = read_retry_file(ok).unwrap();
        assert_eq!(file["Contact"].0, ["Email", "Phone"]);
        assert_eq!(file["Contact"].1["003A"]["Phone"], "1");
        assert_eq!(file["Lead"].1["00QB"]["Email"], "a,\nb");
        // The quoted newline above moves the next record to line 6.
        let bad = [&ok[..], b"Lead,,Email,v,E\n"].concat();
        let e = read_retry_file(&bad).unwrap_err();
        assert!(e.starts_with("line 6: expected object,id,field"), "{e}");
    }
}
