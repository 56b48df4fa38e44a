//! Just enough SOQL for the simulator: `SELECT fields FROM Type [WHERE a op v [AND …]]
//! [ORDER BY f [ASC|DESC]] [LIMIT n]` over rows held as JSON objects.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub from: String,
    pub conditions: Vec<(String, String, Value)>,
    pub order_by: Option<(String, bool)>,
    pub limit: Option<usize>,
}

fn find_kw(upper: &str, kw: &str) -> Option<usize> {
    upper.find(kw)
}

/// Parses a query; the error text is what Salesforce's `MALFORMED_QUERY` would carry.
pub fn parse(q: &str) -> Result<Query, String> {
    let q = q.trim();
    let upper = q.to_ascii_uppercase();
    if !upper.starts_with("SELECT ") {
        return Err("unexpected token: query must start with SELECT".into());
    }
    let from_at = find_kw(&upper, " FROM ").ok_or("unexpected token: missing FROM")?;
    // `SELECT FROM x` finds " FROM " inside "SELECT ": no field list at all.
    let fields: Vec<String> = q
        .get(7..from_at)
        .unwrap_or("")
        .split(',')
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        return Err("unexpected token: FROM (no field to select)".into());
    }
    let rest = &q[from_at + 6..];
    let rest_upper = &upper[from_at + 6..];
    let ends = [" WHERE ", " ORDER BY ", " LIMIT "];
    let cut = |from: usize| {
        ends.iter()
            .filter_map(|k| rest_upper[from..].find(k).map(|i| i + from))
            .min()
            .unwrap_or(rest.len())
    };
    let from_end = cut(0);
    let from = rest[..from_end].trim().to_string();
    let mut conditions = Vec::new();
    if let Some(w) = rest_upper.find(" WHERE ") {
        let end = [" ORDER BY ", " LIMIT "]
            .iter()
            .filter_map(|k| rest_upper[w + 7..].find(k).map(|i| i + w + 7))
            .min()
            .unwrap_or(rest.len());
        let clause = &rest[w + 7..end];
        for part in split_and(clause) {
            conditions.push(parse_cond(part.trim())?);
        }
    }
    let mut order_by = None;
    if let Some(o) = rest_upper.find(" ORDER BY ") {
        let end = rest_upper[o + 10..]
            .find(" LIMIT ")
            .map(|i| i + o + 10)
            .unwrap_or(rest.len());
        let mut words = rest[o + 10..end].split_whitespace();
        let field = words.next().ok_or("ORDER BY needs a field")?.to_string();
        let desc = words.next().is_some_and(|w| w.eq_ignore_ascii_case("DESC"));
        order_by = Some((field, desc));
    }
    let mut limit = None;
    if let Some(l) = rest_upper.find(" LIMIT ") {
        limit = Some(
            rest[l + 7..]
                .trim()
                .parse()
                .map_err(|_| "LIMIT needs a number".to_string())?,
        );
    }
    Ok(Query {
        fields,
        from,
        conditions,
        order_by,
        limit,
    })
}

fn split_and(clause: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let bytes = clause.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            in_quote = !in_quote;
        } else if !in_quote
            && i + 5 <= bytes.len()
            && bytes[i..i + 5].eq_ignore_ascii_case(b" AND ")
        {
            out.push(&clause[start..i]);
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    out.push(&clause[start..]);
    out
}

fn parse_cond(c: &str) -> Result<(String, String, Value), String> {
    for op in ["!=", ">=", "<=", "=", ">", "<"] {
        if let Some(i) = c.find(op) {
            let field = c[..i].trim().to_string();
            let raw = c[i + op.len()..].trim();
            let value = if let Some(s) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                Value::String(s.replace("\\'", "'"))
            } else if raw.eq_ignore_ascii_case("true") || raw.eq_ignore_ascii_case("false") {
                Value::Bool(raw.eq_ignore_ascii_case("true"))
            } else if let Ok(n) = raw.parse::<f64>() {
                serde_json::json!(n)
            } else {
                // Date literals stay strings; ISO timestamps compare in text order.
                Value::String(raw.to_string())
            };
            return Ok((field, op.to_string(), value));
        }
    }
    Err(format!("unexpected condition: {c}"))
}

fn cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::String(y)) => Some(norm_date(x).cmp(&norm_date(y))),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

/// `2026-01-01T00:00:00.000+0000` and `2026-01-01T00:00:00Z` compare equal as text prefixes.
fn norm_date(s: &str) -> String {
    // `get` rather than slicing: byte 19 of arbitrary text need not be a char boundary.
    match s.get(..19) {
        Some(head) if s.as_bytes().get(10) == Some(&b'T') => head.to_string(),
        _ => s.to_string(),
    }
}

/// A field of a row; `CreatedBy.Name` follows the relationship (a nested object).
fn get<'a>(row: &'a Map<String, Value>, field: &str) -> &'a Value {
    let (head, rest) = match field.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (field, None),
    };
    let v = row
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(head))
        .map(|(_, v)| v)
        .unwrap_or(&Value::Null);
    match (rest, v) {
        (None, v) => v,
        (Some(r), Value::Object(m)) => get(m, r),
        (Some(_), _) => &Value::Null,
    }
}

/// Puts a relationship field (`CreatedBy.Name`) into `out` the way Salesforce answers it: a
/// nested object with its `attributes`, or null when the relationship is empty.
fn put_related(out: &mut Map<String, Value>, row: &Map<String, Value>, field: &str) {
    let Some((head, rest)) = field.split_once('.') else {
        return;
    };
    let (key, related) = match row.iter().find(|(k, _)| k.eq_ignore_ascii_case(head)) {
        Some((k, Value::Object(m))) => (k.clone(), m),
        Some((k, _)) => {
            out.insert(k.clone(), Value::Null);
            return;
        }
        None => {
            out.insert(head.to_string(), Value::Null);
            return;
        }
    };
    let slot = out.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(nested) = slot {
        if let Some(a) = related.get("attributes") {
            nested.insert("attributes".into(), a.clone());
        }
        if rest.contains('.') {
            put_related(nested, related, rest);
        } else {
            let k = related
                .keys()
                .find(|k| k.eq_ignore_ascii_case(rest))
                .cloned()
                .unwrap_or_else(|| rest.to_string());
            nested.insert(k, get(related, rest).clone());
        }
    }
}

impl Query {
    /// Filters, orders, limits and projects rows; `attributes` is added per row.
    pub fn run(&self, rows: Vec<Map<String, Value>>, url_base: &str) -> Vec<Value> {
        use std::cmp::Ordering;
        let mut rows: Vec<_> = rows
            .into_iter()
            .filter(|r| {
                self.conditions.iter().all(|(f, op, v)| {
                    let o = cmp(get(r, f), v);
                    match op.as_str() {
                        "=" => o == Some(Ordering::Equal),
                        "!=" => o != Some(Ordering::Equal),
                        ">" => o == Some(Ordering::Greater),
                        "<" => o == Some(Ordering::Less),
                        ">=" => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
                        "<=" => matches!(o, Some(Ordering::Less | Ordering::Equal)),
                        _ => false,
                    }
                })
            })
            .collect();
        if let Some((f, desc)) = &self.order_by {
            rows.sort_by(|a, b| {
                let o = cmp(get(a, f), get(b, f)).unwrap_or(Ordering::Equal);
                if *desc { o.reverse() } else { o }
            });
        }
        if let Some(l) = self.limit {
            rows.truncate(l);
        }
        rows.into_iter()
            .map(|r| {
                let mut out = Map::new();
                let id = get(&r, "Id").as_str().unwrap_or("").to_string();
                out.insert(
                    "attributes".into(),
                    serde_json::json!({"type": self.from, "url": format!("{url_base}/sobjects/{}/{id}", self.from)}),
                );
                for f in &self.fields {
                    if f.eq_ignore_ascii_case("COUNT()") {
                        continue;
                    }
                    if f.contains('.') {
                        put_related(&mut out, &r, f);
                        continue;
                    }
                    let key = r
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(f))
                        .cloned()
                        .unwrap_or_else(|| f.clone());
                    out.insert(key, get(&r, f).clone());
                }
                Value::Object(out)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_ascii_values_do_not_break_the_parser() {
        let q = parse("SELECT Id FROM User WHERE Name = 'Zoë ÅND' AND IsActive = true").unwrap();
        assert_eq!(q.conditions.len(), 2);
        assert_eq!(q.conditions[0].2, json!("Zoë ÅND"));
        assert!(parse("DELETE everything").is_err());
        assert!(parse("SELECT Id FROM").is_err() || parse("SELECT Id FROM").is_ok());
    }

    #[test]
    fn filters_orders_and_projects() {
        let q = parse("SELECT Id, RevisionCounter FROM SourceMember WHERE RevisionCounter > 1 AND MemberName != 'x and y' ORDER BY RevisionCounter DESC LIMIT 5").unwrap();
        assert_eq!(q.from, "SourceMember");
        let rows = [1, 2, 3]
            .iter()
            .map(|n| {
                json!({"Id": format!("0MZ{n}"), "RevisionCounter": n, "MemberName": "a"})
                    .as_object()
                    .cloned()
                    .unwrap()
            })
            .collect();
        let out = q.run(rows, "/x");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["RevisionCounter"], 3);
        assert!(out[0].get("MemberName").is_none());
    }

    #[test]
    fn relationship_fields_nest_like_salesforce() {
        let q = parse("SELECT Id, CreatedBy.Name, CreatedBy.Username FROM SetupAuditTrail WHERE CreatedBy.Name = 'Jo Kim'").unwrap();
        let row = |id: &str, by: Value| {
            json!({"Id": id, "CreatedBy": by})
                .as_object()
                .cloned()
                .unwrap()
        };
        let rows = vec![
            row(
                "0Ym1",
                json!({"attributes": {"type": "User"}, "Name": "Jo Kim", "Username": "jo@x"}),
            ),
            row("0Ym2", json!({"Name": "Al Bo", "Username": "al@x"})),
            row("0Ym3", Value::Null),
        ];
        let out = q.run(rows.clone(), "/x");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["CreatedBy"]["Name"], "Jo Kim");
        assert_eq!(out[0]["CreatedBy"]["Username"], "jo@x");
        assert_eq!(out[0]["CreatedBy"]["attributes"]["type"], "User");
        let all = parse("SELECT CreatedBy.Name FROM SetupAuditTrail")
            .unwrap()
            .run(rows, "/x");
        assert_eq!(all[2]["CreatedBy"], Value::Null);
    }

    /// Found by the `soql` fuzz target: both panicked (a slice before its start, a slice
    /// inside a character), which dropped the simulator's connection mid-request.
    #[test]
    fn fuzz_found_queries_fail_or_run_instead_of_panicking() {
        assert!(parse("SELECT FROM Account").unwrap_err().contains("FROM"));
        let q = parse("SELECT Id FROM Account WHERE Name = '2026-01-01T00:00:0\u{e9}'").unwrap();
        let rows = vec![
            json!({"Id": "001", "Name": "2026-01-01T00:00:0\u{e9}x"})
                .as_object()
                .cloned()
                .unwrap(),
        ];
        assert_eq!(q.run(rows, "/x").len(), 0);
    }
}
