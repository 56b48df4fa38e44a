//! Wire helpers: SOAP envelopes, error bodies, the limit header, URLs for logs.

use super::*;

pub(super) fn version_num(v: &str) -> f64 {
    v.parse().unwrap_or(0.0)
}

pub(super) fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

pub(super) fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

pub(super) fn soap_envelope(session: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"http://soap.sforce.com/2006/04/metadata\"><soapenv:Header><CallOptions><client>backflow</client></CallOptions><SessionHeader><sessionId>{}</sessionId></SessionHeader></soapenv:Header><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>",
        super::super::xml::escape(session)
    )
}

/// `api-usage=12/15000; per-app-api-usage=…` → (12, 15000).
pub fn parse_limit_info(v: &str) -> Option<(u64, u64)> {
    v.split(';').find_map(|part| {
        let (k, val) = part.trim().split_once('=')?;
        if k != "api-usage" {
            return None;
        }
        let (u, m) = val.split_once('/')?;
        Some((u.trim().parse().ok()?, m.trim().parse().ok()?))
    })
}

/// (errorCode, message) from a REST error array/object, an OAuth error or a SOAP fault.
pub fn parse_error(body: &[u8]) -> (String, String) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let first = v.as_array().and_then(|a| a.first()).unwrap_or(&v);
        let code = first["errorCode"]
            .as_str()
            .or(first["error"].as_str())
            .unwrap_or("UNKNOWN");
        let msg = first["message"]
            .as_str()
            .or(first["error_description"].as_str())
            .unwrap_or("");
        return (code.to_string(), msg.to_string());
    }
    if let Ok(doc) = Element::parse(body)
        && let Some(f) = doc.path(&["Body", "Fault"])
    {
        let code = f.text_of("faultcode").unwrap_or("UNKNOWN");
        let code = code.rsplit(':').next().unwrap_or(code).to_string();
        let msg = f.text_of("faultstring").unwrap_or("").to_string();
        let msg = msg
            .strip_prefix(&format!("{code}: "))
            .map(str::to_string)
            .unwrap_or(msg);
        return (code, msg);
    }
    let text = String::from_utf8_lossy(body);
    ("UNKNOWN".into(), text.chars().take(200).collect())
}
