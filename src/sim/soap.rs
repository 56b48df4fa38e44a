//! SOAP bodies the simulator answers with (Metadata API WSDL order).

use super::model::*;
use crate::salesforce::xml::{escape, push_el};

pub fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"http://soap.sforce.com/2006/04/metadata\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

pub fn fault(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:sf=\"http://soap.sforce.com/2006/04/metadata\"><soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>",
        escape(&format!("{code}: {message}"))
    )
}

pub fn async_result(op: &str, id: &str) -> String {
    envelope(&format!(
        "<{op}Response><result><done>false</done><id>{id}</id><state>Queued</state></result></{op}Response>"
    ))
}

fn opt(out: &mut String, name: &str, v: &Option<String>) {
    match v {
        Some(v) => push_el(out, name, v),
        None => out.push_str(&format!("<{name} xsi:nil=\"true\"/>")),
    }
}

fn message(out: &mut String, tag: &str, m: &Message, date: &str) {
    out.push_str(&format!("<{tag}>"));
    push_el(out, "changed", &m.changed.to_string());
    if let Some(c) = m.column {
        push_el(out, "columnNumber", &c.to_string());
    }
    push_el(out, "componentType", &m.component_type);
    push_el(out, "created", &m.created.to_string());
    push_el(out, "createdDate", date);
    push_el(out, "deleted", &m.deleted.to_string());
    push_el(out, "fileName", &m.file_name);
    push_el(out, "fullName", &m.full_name);
    if let Some(l) = m.line {
        push_el(out, "lineNumber", &l.to_string());
    }
    if let Some(p) = &m.problem {
        push_el(out, "problem", p);
    }
    if let Some(p) = &m.problem_type {
        push_el(out, "problemType", p);
    }
    push_el(out, "success", &m.success.to_string());
    out.push_str(&format!("</{tag}>"));
}

/// `checkDeployStatusResponse` with the DeployResult as it stands.
pub fn deploy_result(d: &Deploy, details: bool) -> String {
    let mut o = String::from("<checkDeployStatusResponse><result>");
    if d.status == "Canceled" {
        push_el(&mut o, "canceledBy", &d.created_by);
        push_el(&mut o, "canceledByName", &d.created_by_name);
    }
    push_el(&mut o, "checkOnly", &d.check_only.to_string());
    if let Some(c) = &d.completed_date {
        push_el(&mut o, "completedDate", c);
    }
    push_el(&mut o, "createdBy", &d.created_by);
    push_el(&mut o, "createdByName", &d.created_by_name);
    push_el(&mut o, "createdDate", &d.created_date);
    let done = d.done();
    o.push_str("<details>");
    if details {
        let failures_visible = done || d.components_deployed > 0;
        if failures_visible {
            for m in &d.component_failures {
                message(&mut o, "componentFailures", m, &d.created_date);
            }
        }
        let shown = if done {
            d.component_successes.len()
        } else {
            d.components_deployed as usize
        };
        for m in d.component_successes.iter().take(shown) {
            message(&mut o, "componentSuccesses", m, &d.created_date);
        }
    }
    o.push_str("<runTestResult>");
    let finished_tests = done || d.tests_completed >= d.tests_total;
    if details && finished_tests {
        for c in &d.coverage {
            o.push_str("<codeCoverage>");
            push_el(&mut o, "id", "01p000000000000AAA");
            push_el(&mut o, "name", &c.name);
            o.push_str("<namespace xsi:nil=\"true\"/>");
            push_el(&mut o, "numLocations", &c.locations.to_string());
            push_el(&mut o, "numLocationsNotCovered", &c.not_covered.to_string());
            push_el(&mut o, "type", "Class");
            o.push_str("</codeCoverage>");
        }
        for w in &d.coverage_warnings {
            o.push_str("<codeCoverageWarnings>");
            push_el(&mut o, "id", "01p000000000000AAA");
            push_el(&mut o, "message", w);
            o.push_str(
                "<name xsi:nil=\"true\"/><namespace xsi:nil=\"true\"/></codeCoverageWarnings>",
            );
        }
        for f in &d.test_failures {
            o.push_str("<failures>");
            push_el(&mut o, "id", "01p000000000000AAA");
            push_el(&mut o, "message", f.message.as_deref().unwrap_or(""));
            push_el(&mut o, "methodName", &f.method);
            push_el(&mut o, "name", &f.class);
            o.push_str("<namespace xsi:nil=\"true\"/>");
            push_el(&mut o, "packageName", &f.class);
            push_el(&mut o, "stackTrace", f.stack_trace.as_deref().unwrap_or(""));
            push_el(&mut o, "time", "12.0");
            push_el(&mut o, "type", "Class");
            o.push_str("</failures>");
        }
    }
    let (nf, nr) = if finished_tests {
        (d.test_failures.len() as u64, d.tests_total)
    } else {
        (0, d.tests_completed)
    };
    push_el(&mut o, "numFailures", &nf.to_string());
    push_el(&mut o, "numTestsRun", &nr.to_string());
    if details && finished_tests {
        for s in &d.test_successes {
            o.push_str("<successes>");
            push_el(&mut o, "id", "01p000000000000AAA");
            push_el(&mut o, "methodName", &s.method);
            push_el(&mut o, "name", &s.class);
            o.push_str("<namespace xsi:nil=\"true\"/>");
            push_el(&mut o, "time", "8.0");
            o.push_str("</successes>");
        }
    }
    push_el(&mut o, "totalTime", &format!("{}.0", nr * 10));
    o.push_str("</runTestResult></details>");
    push_el(&mut o, "done", &done.to_string());
    opt(&mut o, "errorMessage", &d.error_message);
    opt(&mut o, "errorStatusCode", &d.error_status_code);
    push_el(&mut o, "id", &d.id);
    push_el(&mut o, "ignoreWarnings", &d.ignore_warnings.to_string());
    push_el(&mut o, "lastModifiedDate", &now_iso());
    let comp_errors = if done || d.components_deployed > 0 {
        d.component_failures.len()
    } else {
        0
    };
    push_el(&mut o, "numberComponentErrors", &comp_errors.to_string());
    push_el(
        &mut o,
        "numberComponentsDeployed",
        &d.components_deployed.to_string(),
    );
    push_el(
        &mut o,
        "numberComponentsTotal",
        &d.components_total.to_string(),
    );
    push_el(
        &mut o,
        "numberTestErrors",
        &(if finished_tests {
            d.test_failures.len()
        } else {
            0
        })
        .to_string(),
    );
    push_el(
        &mut o,
        "numberTestsCompleted",
        &d.tests_completed.to_string(),
    );
    push_el(&mut o, "numberTestsTotal", &d.tests_total.to_string());
    push_el(&mut o, "rollbackOnError", &d.rollback_on_error.to_string());
    push_el(&mut o, "runTestsEnabled", &d.run_tests_enabled.to_string());
    if let Some(s) = &d.start_date {
        push_el(&mut o, "startDate", s);
    }
    if let Some(s) = &d.state_detail {
        push_el(&mut o, "stateDetail", s);
    }
    push_el(&mut o, "status", &d.status);
    push_el(&mut o, "success", &d.success().to_string());
    o.push_str("</result></checkDeployStatusResponse>");
    envelope(&o)
}

/// `checkRetrieveStatusResponse`; the zip is handed out once.
pub fn retrieve_result(r: &mut Retrieve, include_zip: bool) -> String {
    let mut o = String::from("<checkRetrieveStatusResponse><result>");
    let done = r.polls > 0;
    push_el(&mut o, "done", &done.to_string());
    if done && let Some((code, msg)) = &r.error {
        push_el(&mut o, "errorMessage", msg);
        push_el(&mut o, "errorStatusCode", code);
    }
    let failed = done && r.error.is_some();
    for (file, ty, full) in r.file_names.iter().filter(|_| done && !failed) {
        o.push_str("<fileProperties>");
        push_el(&mut o, "createdById", "005000000000001AAA");
        push_el(&mut o, "createdByName", "Sim User");
        push_el(&mut o, "createdDate", &now_iso());
        push_el(&mut o, "fileName", file);
        push_el(&mut o, "fullName", full);
        push_el(&mut o, "id", "");
        push_el(&mut o, "lastModifiedById", "005000000000001AAA");
        push_el(&mut o, "lastModifiedByName", "Sim User");
        push_el(&mut o, "lastModifiedDate", &now_iso());
        push_el(&mut o, "type", ty);
        o.push_str("</fileProperties>");
    }
    push_el(&mut o, "id", &r.id);
    for (f, p) in r.messages.iter().filter(|_| done) {
        o.push_str("<messages>");
        push_el(&mut o, "fileName", f);
        push_el(&mut o, "problem", p);
        o.push_str("</messages>");
    }
    let status = match (done, failed) {
        (false, _) => "InProgress",
        (true, false) => "Succeeded",
        (true, true) => "Failed",
    };
    push_el(&mut o, "status", status);
    push_el(&mut o, "success", &(done && !failed).to_string());
    if done && !failed && include_zip && !r.zip_handed_out {
        r.zip_handed_out = true;
        // Handed out once: the bytes are not kept (a long-running simulator would hold every
        // retrieve's zip otherwise).
        push_el(&mut o, "zipFile", &b64(&std::mem::take(&mut r.zip)));
    } else {
        o.push_str("<zipFile xsi:nil=\"true\"/>");
    }
    o.push_str("</result></checkRetrieveStatusResponse>");
    r.polls += 1;
    envelope(&o)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zip goes out once and is not kept after: a simulator serving many retrieves does
    /// not hold every zip it made.
    #[test]
    fn a_retrieve_zip_is_handed_out_once_then_forgotten() {
        let mut r = Retrieve {
            id: "09S000000000001AAA".into(),
            org: "dev1".into(),
            polls: 1,
            zip: vec![7; 4096],
            zip_handed_out: false,
            messages: Vec::new(),
            file_names: Vec::new(),
            error: None,
        };
        let first = retrieve_result(&mut r, true);
        assert!(first.contains("<zipFile>"), "{first}");
        assert!(
            r.zip.is_empty() && r.zip.capacity() == 0,
            "the bytes are freed"
        );
        let again = retrieve_result(&mut r, true);
        assert!(again.contains("<zipFile xsi:nil=\"true\"/>"), "{again}");
    }
}
