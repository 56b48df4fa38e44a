//! Metadata API (SOAP): deploy, checkDeployStatus, cancelDeploy, deployRecentValidation,
//! retrieve and checkRetrieveStatus, plus the polling loop the engine uses.

use super::client::{Kind, SalesforceClient};
use super::error::SfError;
use super::retry::PollInterval;
use super::xml::{Element, escape, push_el};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod deploy;
use deploy::result_of;
pub use deploy::{
    ComponentMessage, DeployOptions, DeployResult, DeployStatus, TestFailure, TestLevel,
    check_test_options,
};

impl SalesforceClient {
    /// Starts a deploy of a Metadata API zip (package.xml at the root or in one folder).
    /// Never retried once sent: on a lost answer the error is `OutcomeUnknown` and the caller
    /// looks the deploy up with [`SalesforceClient::find_deploy_requests`].
    pub async fn deploy(&self, zip: &[u8], opts: &DeployOptions) -> Result<String, SfError> {
        check_test_options(opts.test_level, &opts.run_tests, Some(self.api_version()))
            .and_then(|()| check_deploy_zip(zip, &Limits::default()))
            .map_err(|detail| SfError::Config {
                org: self.org().into(),
                detail,
            })?;
        let mut o = String::from("<deploy>");
        push_el(&mut o, "ZipFile", &B64.encode(zip));
        o.push_str("<DeployOptions>");
        push_el(&mut o, "checkOnly", &opts.check_only.to_string());
        push_el(&mut o, "ignoreWarnings", &opts.ignore_warnings.to_string());
        push_el(&mut o, "rollbackOnError", "true");
        for t in &opts.run_tests {
            push_el(&mut o, "runTests", t);
        }
        push_el(&mut o, "singlePackage", "true");
        if let Some(l) = opts.test_level.wire() {
            push_el(&mut o, "testLevel", l);
        }
        o.push_str("</DeployOptions></deploy>");
        let resp = self.soap(o, "deploy", Kind::Start).await?;
        let r = result_of(self, &resp, "deploy")?;
        r.text_of("id")
            .map(str::to_string)
            .ok_or_else(|| self.err_protocol("deploy", "no deploy id in the answer"))
    }

    /// Reads a deploy's state (`checkDeployStatus`); details add component and test results.
    pub async fn deploy_status(
        &self,
        id: &str,
        include_details: bool,
    ) -> Result<DeployResult, SfError> {
        let mut o = String::from("<checkDeployStatus>");
        push_el(&mut o, "asyncProcessId", id);
        push_el(&mut o, "includeDetails", &include_details.to_string());
        o.push_str("</checkDeployStatus>");
        let resp = self.soap(o, "checkDeployStatus", Kind::Idempotent).await?;
        let r = result_of(self, &resp, "checkDeployStatus")?;
        DeployResult::from_xml(r)
            .ok_or_else(|| self.err_protocol("checkDeployStatus", "unreadable DeployResult"))
    }

    /// Requests cancellation. `true` = cancelled at once (it was queued); otherwise keep polling:
    /// the deploy goes `Canceling` → `Canceled`, or finishes anyway.
    pub async fn cancel_deploy(&self, id: &str) -> Result<bool, SfError> {
        let o = format!(
            "<cancelDeploy><String>{}</String></cancelDeploy>",
            escape(id)
        );
        let resp = self.soap(o, "cancelDeploy", Kind::Idempotent).await?;
        Ok(result_of(self, &resp, "cancelDeploy")?.bool_of("done"))
    }

    /// Quick deploy of a passed validation that ran tests (`deployRecentValidation`); returns
    /// the new deploy id. Not retried once sent.
    pub async fn quick_deploy(&self, validation_id: &str) -> Result<String, SfError> {
        let o = format!(
            "<deployRecentValidation><validationId>{}</validationId></deployRecentValidation>",
            escape(validation_id)
        );
        let resp = self.soap(o, "deployRecentValidation", Kind::Start).await?;
        resp.text_of("result")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                self.err_protocol("deployRecentValidation", "no deploy id in the answer")
            })
    }

    /// Polls a deploy until it is done, calling `on_progress` whenever something moved. The
    /// interval starts at `timing.poll_ms` and stretches to `poll_max_ms` while nothing changes.
    /// When `cancel` fires, a cancel request is sent once and polling continues, so the result
    /// is the org's real outcome (`Canceled`, or finished anyway). Gives up with `Timeout` after
    /// `deploy_timeout_ms` (the deploy may still finish). The last poll includes details.
    pub async fn poll_deploy(
        &self,
        id: &str,
        cancel: &CancellationToken,
        mut on_progress: impl FnMut(&DeployResult),
    ) -> Result<DeployResult, SfError> {
        let timing = self.timing().clone();
        let started = Instant::now();
        let mut interval = PollInterval::new(&timing);
        let mut last: Option<(DeployStatus, u32, u32, Option<String>)> = None;
        let mut cancel_sent = false;
        let mut unknown_id_left = 3;
        loop {
            let r = match self.deploy_status(id, false).await {
                Ok(r) => r,
                // Just after submission the id can be briefly unknown.
                Err(e)
                    if e.code() == Some("INVALID_CROSS_REFERENCE_KEY") && unknown_id_left > 0 =>
                {
                    unknown_id_left -= 1;
                    tokio::time::sleep(interval.next(false)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if r.done {
                let full = self.deploy_status(id, true).await?;
                on_progress(&full);
                return Ok(full);
            }
            let key = r.progress_key();
            let moved = last.as_ref() != Some(&key);
            if moved {
                on_progress(&r);
                last = Some(key);
            }
            if cancel.is_cancelled() && !cancel_sent {
                cancel_sent = true;
                match self.cancel_deploy(id).await {
                    Ok(_) => {}
                    // Already finishing: report the real outcome.
                    Err(SfError::Api { .. }) => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            if started.elapsed() > Duration::from_millis(timing.deploy_timeout_ms) {
                return Err(SfError::Timeout {
                    org: self.org().into(),
                    op: format!("deploy {id}"),
                    ms: timing.deploy_timeout_ms,
                });
            }
            let mut wait = interval.next(moved);
            // Each poll is an API call: when the org's allowance runs low, poll at the slowest pace.
            if self
                .api_usage()
                .is_some_and(|(used, max)| used.saturating_mul(10) >= max.saturating_mul(9))
            {
                wait = wait.max(Duration::from_millis(timing.poll_max_ms));
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = cancel.cancelled(), if !cancel_sent => {}
            }
        }
    }

    /// Retrieves what a package.xml lists and returns the zip (`unpackaged/…` layout).
    pub async fn retrieve(
        &self,
        package_xml: &str,
        cancel: &CancellationToken,
    ) -> Result<RetrieveResult, SfError> {
        let manifest = Element::parse(package_xml.as_bytes()).map_err(|e| SfError::Config {
            org: self.org().into(),
            detail: format!("package.xml for the retrieve is not valid XML: {e}"),
        })?;
        let mut o = String::from("<retrieve><retrieveRequest>");
        push_el(
            &mut o,
            "apiVersion",
            manifest.text_of("version").unwrap_or(self.api_version()),
        );
        push_el(&mut o, "singlePackage", "false");
        o.push_str("<unpackaged>");
        for t in manifest.all("types") {
            o.push_str("<types>");
            for m in t.all("members") {
                push_el(&mut o, "members", m.text.trim());
            }
            push_el(&mut o, "name", t.text_of("name").unwrap_or(""));
            o.push_str("</types>");
        }
        push_el(
            &mut o,
            "version",
            manifest.text_of("version").unwrap_or(self.api_version()),
        );
        o.push_str("</unpackaged></retrieveRequest></retrieve>");
        // Salesforce hands a retrieve's zip out once: when the answer carrying it was lost
        // (the connection dropped and the poll was retried), the retrieve is started again.
        let mut restarts_left = 2;
        loop {
            match self.run_retrieve(&o, cancel).await? {
                Some(r) => return Ok(r),
                None if restarts_left > 0 => restarts_left -= 1,
                None => {
                    return Err(self.err_protocol(
                        "checkRetrieveStatus",
                        "the finished retrieve carried no zip three times (its answers were lost); retry later",
                    ));
                }
            }
        }
    }

    /// Starts one retrieve and polls it; `None` when it finished but its zip was already
    /// handed out (an earlier answer was lost).
    async fn run_retrieve(
        &self,
        request: &str,
        cancel: &CancellationToken,
    ) -> Result<Option<RetrieveResult>, SfError> {
        let resp = self
            .soap(request.to_string(), "retrieve", Kind::Idempotent)
            .await?;
        let id = result_of(self, &resp, "retrieve")?
            .text_of("id")
            .map(str::to_string)
            .ok_or_else(|| self.err_protocol("retrieve", "no retrieve id"))?;
        let timing = self.timing().clone();
        let started = Instant::now();
        let mut interval = PollInterval::new(&timing);
        loop {
            let o = format!(
                "<checkRetrieveStatus><asyncProcessId>{}</asyncProcessId><includeZip>true</includeZip></checkRetrieveStatus>",
                escape(&id)
            );
            let resp = self
                .soap(o, "checkRetrieveStatus", Kind::Idempotent)
                .await?;
            let r = result_of(self, &resp, "checkRetrieveStatus")?;
            if r.bool_of("done") {
                if r.text_of("status") == Some("Failed") {
                    return Err(SfError::Api {
                        org: self.org().into(),
                        op: "retrieve".into(),
                        status: 200,
                        code: r.text_of("errorStatusCode").unwrap_or("FAILED").into(),
                        message: r.text_of("errorMessage").unwrap_or("").into(),
                    });
                }
                let Some(zip) = r.text_of("zipFile") else {
                    return Ok(None);
                };
                let cleaned: String = zip.chars().filter(|c| !c.is_whitespace()).collect();
                let zip = B64.decode(cleaned).map_err(|e| {
                    self.err_protocol("checkRetrieveStatus", format!("zip is not base64: {e}"))
                })?;
                let messages = r
                    .all("messages")
                    .map(|m| {
                        (
                            m.text_of("fileName").unwrap_or("").to_string(),
                            m.text_of("problem").unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                return Ok(Some(RetrieveResult { id, zip, messages }));
            }
            if cancel.is_cancelled() {
                return Err(SfError::Cancelled {
                    org: self.org().into(),
                    op: "retrieve".into(),
                });
            }
            if started.elapsed() > Duration::from_millis(timing.deploy_timeout_ms) {
                return Err(SfError::Timeout {
                    org: self.org().into(),
                    op: "retrieve".into(),
                    ms: timing.deploy_timeout_ms,
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(interval.next(false)) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }
}

/// One component the org holds (`FileProperties` of `listMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProperties {
    pub component_type: String,
    pub full_name: String,
    pub file_name: String,
    pub last_modified_by: String,
    pub last_modified_date: String,
    pub manageable_state: Option<String>,
}

impl SalesforceClient {
    /// Components of up to three types (`(type, folder)` — folder types need a folder), as
    /// `listMetadata` reports them.
    pub async fn list_metadata(
        &self,
        queries: &[(&str, Option<&str>)],
    ) -> Result<Vec<FileProperties>, SfError> {
        let mut out = Vec::new();
        for chunk in queries.chunks(3) {
            let mut o = String::from("<listMetadata>");
            for (t, folder) in chunk {
                o.push_str("<queries>");
                if let Some(f) = folder {
                    push_el(&mut o, "folder", f);
                }
                push_el(&mut o, "type", t);
                o.push_str("</queries>");
            }
            push_el(&mut o, "asOfVersion", self.api_version());
            o.push_str("</listMetadata>");
            let resp = self.soap(o, "listMetadata", Kind::Idempotent).await?;
            out.extend(resp.all("result").map(|r| FileProperties {
                component_type: r.text_of("type").unwrap_or("").into(),
                full_name: r.text_of("fullName").unwrap_or("").into(),
                file_name: r.text_of("fileName").unwrap_or("").into(),
                last_modified_by: r.text_of("lastModifiedByName").unwrap_or("").into(),
                last_modified_date: r.text_of("lastModifiedDate").unwrap_or("").into(),
                manageable_state: r.text_of("manageableState").map(str::to_string),
            }));
        }
        Ok(out)
    }

    /// Whether deploys to this org must run tests (`describeMetadata` → `testRequired`, true in
    /// production).
    pub async fn tests_required(&self) -> Result<bool, SfError> {
        let o = format!(
            "<describeMetadata><asOfVersion>{}</asOfVersion></describeMetadata>",
            self.api_version()
        );
        let resp = self.soap(o, "describeMetadata", Kind::Idempotent).await?;
        Ok(result_of(self, &resp, "describeMetadata")?.bool_of("testRequired"))
    }
}

/// What Salesforce accepts in one Metadata API call: a retrieve returns at most 10,000 files
/// and 39 MB; a deploy zip may be at most 39 MB compressed and 600 MB uncompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub retrieve_files: usize,
    pub retrieve_bytes: u64,
    pub deploy_zip_bytes: u64,
    pub deploy_unzipped_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            retrieve_files: 10_000,
            retrieve_bytes: 39 * 1024 * 1024,
            deploy_zip_bytes: 39 * 1024 * 1024,
            deploy_unzipped_bytes: 600 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Salesforce's limits, with the retrieve caps lowered by `BACKFLOW_MAX_RETRIEVE_FILES` and
    /// `BACKFLOW_MAX_RETRIEVE_BYTES` where set (for orgs whose big retrieves time out).
    pub fn configured() -> Limits {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
        };
        let mut l = Limits::default();
        if let Some(n) = read("BACKFLOW_MAX_RETRIEVE_FILES") {
            l.retrieve_files = (n as usize).min(l.retrieve_files);
        }
        if let Some(n) = read("BACKFLOW_MAX_RETRIEVE_BYTES") {
            l.retrieve_bytes = n.min(l.retrieve_bytes);
        }
        l
    }
}

/// Splits what one retrieve would ask for into retrieves Salesforce accepts. Each group (a
/// file's components: an object with its fields) stays in one retrieve, since a retrieve
/// naming only some of them returns only those entries; `files` and `bytes` are the group's
/// expected size. A group too big on its own gets a retrieve of its own.
pub fn chunk_retrieves<T>(groups: Vec<(T, usize, u64)>, limits: &Limits) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let (mut files, mut bytes) = (0usize, 0u64);
    for (g, f, b) in groups {
        let full = out.last().is_none_or(|c| {
            !c.is_empty()
                && (files + f > limits.retrieve_files || bytes + b > limits.retrieve_bytes)
        });
        if full {
            out.push(Vec::new());
            (files, bytes) = (0, 0);
        }
        files += f;
        bytes += b;
        if let Some(c) = out.last_mut() {
            c.push(g);
        }
    }
    out
}

/// Refuses a deploy zip Salesforce would reject for its size, before it is sent.
pub fn check_deploy_zip(zip: &[u8], limits: &Limits) -> Result<(), String> {
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    if zip.len() as u64 > limits.deploy_zip_bytes {
        return Err(format!(
            "the deploy package is {:.1} MB compressed; Salesforce accepts at most {:.0} MB per deploy: split the promotion (fewer stories or components per run)",
            mb(zip.len() as u64),
            mb(limits.deploy_zip_bytes)
        ));
    }
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| format!("the deploy package is not a readable zip: {e}"))?;
    let unzipped: u64 = archive.decompressed_size().map_or(0, |n| n as u64);
    if unzipped > limits.deploy_unzipped_bytes {
        return Err(format!(
            "the deploy package holds {:.1} MB uncompressed; Salesforce accepts at most {:.0} MB per deploy: split the promotion (fewer stories or components per run)",
            mb(unzipped),
            mb(limits.deploy_unzipped_bytes)
        ));
    }
    Ok(())
}

/// A finished retrieve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveResult {
    pub id: String,
    /// Zip bytes: `unpackaged/package.xml` and the files.
    pub zip: Vec<u8>,
    /// (fileName, problem) warnings, e.g. members the org does not have.
    pub messages: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_failed_deploy_result_in_any_order() {
        let xml = br#"<result xmlns:xsi="x"><status>Failed</status><id>0Af1</id><done>true</done>
<details><componentFailures><changed>false</changed><columnNumber>5</columnNumber><componentType>ApexClass</componentType>
<created>false</created><deleted>false</deleted><fileName>unpackaged/classes/Foo.cls</fileName><fullName>Foo</fullName>
<lineNumber>12</lineNumber><problem>Variable does not exist: bar</problem><problemType>Error</problemType><success>false</success></componentFailures>
<runTestResult><failures><message>System.AssertException: boom</message><methodName>testIt</methodName><name>FooTest</name>
<namespace xsi:nil="true"/><stackTrace>Class.FooTest.testIt: line 9, column 1</stackTrace></failures>
<codeCoverageWarnings><message>low</message></codeCoverageWarnings><numFailures>1</numFailures></runTestResult></details>
<numberComponentErrors>1</numberComponentErrors><numberTestsTotal>3</numberTestsTotal><success>false</success><errorMessage xsi:nil="true"/></result>"#;
        let el = Element::parse(xml).unwrap();
        let r = DeployResult::from_xml(&el).unwrap();
        assert_eq!(r.status, DeployStatus::Failed);
        assert!(r.done && !r.success);
        assert_eq!(r.error_message, None);
        let f = &r.component_failures[0];
        assert_eq!(
            (f.line, f.column, f.full_name.as_str()),
            (Some(12), Some(5), "Foo")
        );
        assert_eq!(r.test_failures[0].method, "testIt");
        assert_eq!(r.coverage_warnings, ["low"]);
        assert_eq!(r.tests_total, 3);
    }

    #[test]
    fn test_levels_round_trip() {
        for l in [
            "NoTestRun",
            "RunSpecifiedTests",
            "RunRelevantTests",
            "RunLocalTests",
            "RunAllTestsInOrg",
        ] {
            assert_eq!(TestLevel::parse(l).and_then(TestLevel::wire), Some(l));
        }
        assert_eq!(TestLevel::parse("bogus"), None);
    }

    #[test]
    fn retrieves_are_split_at_salesforces_limits() {
        let limits = Limits {
            retrieve_files: 3,
            retrieve_bytes: 100,
            ..Limits::default()
        };
        let groups = vec![
            ("a", 2, 10),
            ("b", 1, 10),
            ("c", 1, 10),
            ("d", 1, 95),
            ("e", 9, 1),
        ];
        assert_eq!(
            chunk_retrieves(groups, &limits),
            vec![vec!["a", "b"], vec!["c"], vec!["d"], vec!["e"]]
        );
        assert!(chunk_retrieves(Vec::<(u8, usize, u64)>::new(), &limits).is_empty());
    }

    #[test]
    fn oversized_deploy_zips_are_refused() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("a.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, &[b'x'; 5000]).unwrap();
        let z = w.finish().unwrap().into_inner();
        assert!(check_deploy_zip(&z, &Limits::default()).is_ok());
        let small = Limits {
            deploy_unzipped_bytes: 4000,
            ..Limits::default()
        };
        let e = check_deploy_zip(&z, &small).unwrap_err();
        assert!(e.contains("uncompressed"), "{e}");
        let tiny = Limits {
            deploy_zip_bytes: 10,
            ..Limits::default()
        };
        let e = check_deploy_zip(&z, &tiny).unwrap_err();
        assert!(e.contains("compressed") && e.contains("split"), "{e}");
    }

    #[test]
    fn test_options_follow_salesforces_rules() {
        let t = vec!["ATest".to_string()];
        assert!(check_test_options(TestLevel::RunSpecifiedTests, &t, None).is_ok());
        assert!(check_test_options(TestLevel::RunSpecifiedTests, &[], None).is_err());
        assert!(check_test_options(TestLevel::Default, &t, None).is_err());
        assert!(check_test_options(TestLevel::RunRelevantTests, &[], Some("65.0")).is_err());
        assert!(check_test_options(TestLevel::RunRelevantTests, &[], Some("66.0")).is_ok());
        assert!(check_test_options(TestLevel::RunLocalTests, &[], Some("50.0")).is_ok());
    }
}
