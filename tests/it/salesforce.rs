//! The real client against the simulator (a real HTTP server on 127.0.0.1): every call,
//! every fault, the login flows, token storage and redaction.

use crate::sim::{CLASS, CLASS_META, b64, start_sim};
use backflow::domain::config::{Auth, OrgConfig, TimingConfig};
use backflow::salesforce::auth::{WebLogin, token_request};
use backflow::salesforce::{
    DeployOptions, DeployStatus, SalesforceClient, Secret, SfError, StoredLogin, TestLevel,
    TokenStore, redact,
};
use backflow::sim::oauth::ClientApp;
use backflow::sim::{Fault, FaultKind, SimServer};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn fast() -> TimingConfig {
    TimingConfig {
        poll_ms: 2,
        poll_max_ms: 10,
        deploy_timeout_ms: 20_000,
        request_timeout_ms: 15_000,
    }
}

/// A client whose requests time out after `ms`, for the slow-answer faults (kept apart so the
/// other tests do not depend on machine load).
async fn impatient(sim: &SimServer, org: &str, ms: u64) -> SalesforceClient {
    let timing = TimingConfig {
        request_timeout_ms: ms,
        ..fast()
    };
    SalesforceClient::connect(
        org,
        &simulated(sim, org),
        &timing,
        &TokenStore::unavailable("tests"),
    )
    .await
    .expect("connects")
}

fn simulated(sim: &SimServer, org: &str) -> OrgConfig {
    OrgConfig {
        auth: Auth::Simulated,
        url: Some(format!("{}/o/{org}", sim.url)),
        ..Default::default()
    }
}

async fn client(sim: &SimServer, org: &str) -> SalesforceClient {
    SalesforceClient::connect(
        org,
        &simulated(sim, org),
        &fast(),
        &TokenStore::unavailable("tests"),
    )
    .await
    .expect("connects")
}

const PKG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n<version>66.0</version>\n</Package>\n";

fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let mut all: Vec<(String, &[u8])> = files
        .iter()
        .map(|(p, c)| (format!("unpackaged/{p}"), c.as_bytes()))
        .collect();
    if !files.iter().any(|(p, _)| *p == "package.xml") {
        all.push(("unpackaged/package.xml".into(), PKG.as_bytes()));
    }
    backflow::sim::deploy::write_zip(all.into_iter()).unwrap()
}

fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        out.insert(f.name().to_string(), s);
    }
    out
}

const TEST_CLASS: &str = "@isTest\nprivate class AccountServiceTest {\n    @isTest\n    static void answers() {\n        System.assertEquals(42, AccountService.answer());\n    }\n    @isTest\n    static void answersAgain() {\n        System.assertEquals(42, AccountService.answer());\n    }\n}\n";
const NEW_CLASS: &str = "public class AccountService {\n    public static Integer answer() {\n        return 43;\n    }\n}\n";

#[tokio::test]
async fn connects_and_reads_org_info_limits_versions_and_paged_queries() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    assert_eq!(c.api_version(), "66.0");
    assert!(c.versions().await.unwrap().contains(&"67.0".to_string()));
    let info = c.org_info().await.unwrap();
    assert!(info.is_sandbox);
    assert!(info.username.contains("dev1"));
    assert!(info.org_id.starts_with("00D"));
    let prod = client(&sim, "prod").await;
    assert!(!prod.org_info().await.unwrap().is_sandbox);
    let limits = c.limits().await.unwrap();
    assert!(limits["DailyApiRequests"].remaining < limits["DailyApiRequests"].max);
    assert!(
        c.api_usage()
            .is_some_and(|(used, max)| used > 0 && max == 15_000)
    );

    // Drift edits are recorded as SourceMember rows; tiny batches force nextRecordsUrl paging.
    let admin = sim.admin();
    let mut s = admin.settings().await.unwrap();
    s.query_batch = 2;
    admin.set_settings(&s).await.unwrap();
    for i in 0..5 {
        let body = format!("public class Drift{i} {{}}");
        admin
            .edit_org(
                "dev1",
                &[(&format!("classes/Drift{i}.cls"), body.as_bytes())],
                &[],
            )
            .await
            .unwrap();
    }
    let all = c.source_members_since(0).await.unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|m| m.member_type == "ApexClass"
        && m.is_new
        && m.changed_by == backflow::sim::DRIFT_USER));
    let later = c.source_members_since(all[2].revision).await.unwrap();
    assert_eq!(
        later
            .iter()
            .map(|m| m.member_name.as_str())
            .collect::<Vec<_>>(),
        ["Drift3", "Drift4"]
    );
    // Production has no source tracking.
    let e = prod.source_members_since(0).await.unwrap_err();
    assert_eq!(e.code(), Some("INVALID_TYPE"), "{e}");
}

#[tokio::test]
async fn deploy_reports_progress_then_retrieve_returns_what_was_deployed() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let z = zip(&[
        ("classes/AccountService.cls", NEW_CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
        ("classes/AccountServiceTest.cls", TEST_CLASS),
        ("classes/AccountServiceTest.cls-meta.xml", CLASS_META),
    ]);
    let id = c
        .deploy(
            &z,
            &DeployOptions {
                test_level: TestLevel::RunLocalTests,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(id.starts_with("0Af"));
    let mut seen = Vec::new();
    let r = c
        .poll_deploy(&id, &CancellationToken::new(), |p| {
            seen.push((p.status, p.components_deployed, p.tests_completed))
        })
        .await
        .unwrap();
    assert_eq!(r.status, DeployStatus::Succeeded, "{r:?}");
    assert!(r.success && r.done);
    assert_eq!(
        (r.components_total, r.tests_total, r.test_errors),
        (2, 2, 0)
    );
    assert!(
        seen.iter()
            .any(|s| s.0 == DeployStatus::InProgress && s.1 > 0 && s.1 < 2),
        "{seen:?}"
    );
    assert!(
        seen.windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].2 <= w[1].2),
        "{seen:?}"
    );
    assert!(
        r.component_successes
            .iter()
            .any(|m| m.full_name == "AccountService" && m.changed)
    );
    assert!(
        r.component_successes
            .iter()
            .any(|m| m.full_name == "AccountServiceTest" && m.created)
    );

    let pkg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n<types><members>AccountService</members><members>Missing</members><name>ApexClass</name></types>\n<types><members>Account.Region__c</members><name>CustomField</name></types>\n<version>66.0</version>\n</Package>";
    let got = c.retrieve(pkg, &CancellationToken::new()).await.unwrap();
    let files = unzip(&got.zip);
    assert_eq!(files["unpackaged/classes/AccountService.cls"], NEW_CLASS);
    assert!(files.contains_key("unpackaged/package.xml"));
    let object = &files["unpackaged/objects/Account.object"];
    assert!(
        object.contains("Region__c") && !object.contains("Tier__c"),
        "{object}"
    );
    assert!(got.messages.iter().any(|(_, p)| p.contains("Missing")));
    // The deployment shows up as SourceMember rows by the deploying user, and in the deploy log.
    let user = c.org_info().await.unwrap().user_id;
    assert!(
        c.source_members_since(0)
            .await
            .unwrap()
            .iter()
            .any(|m| m.member_name == "AccountServiceTest" && m.changed_by == user)
    );
    let log = sim.admin().deploy_log().await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, "Succeeded");
}

#[tokio::test]
async fn invalid_metadata_fails_with_component_lines_and_changes_nothing() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let broken_object = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fields>\n        <fullName>X__c</fullName>\n    </field>\n</CustomObject>\n";
    let orphan_field = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fields>\n        <fullName>Amount__c</fullName>\n        <type>Number</type>\n    </fields>\n</CustomObject>\n";
    let bad_class = "public class Broken {\n    void run() {\n        Integer x = SIM_COMPILE_ERROR: Variable does not exist: y\n    }\n}\n";
    let z = zip(&[
        ("objects/Account.object", broken_object),
        ("objects/Invoice__c.object", orphan_field),
        ("classes/Broken.cls", bad_class),
        ("classes/Broken.cls-meta.xml", CLASS_META),
    ]);
    let id = c.deploy(&z, &DeployOptions::default()).await.unwrap();
    let r = c
        .poll_deploy(&id, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(r.status, DeployStatus::Failed);
    assert_eq!(r.component_errors, 3, "{:?}", r.component_failures);
    let f = |name: &str| {
        r.component_failures
            .iter()
            .find(|m| m.full_name == name)
            .unwrap_or_else(|| panic!("{name}: {:?}", r.component_failures))
    };
    assert_eq!(f("Account").line, Some(5));
    assert_eq!(f("Account").file_name, "unpackaged/objects/Account.object");
    assert_eq!(f("Broken").line, Some(3));
    assert!(
        f("Broken")
            .problem
            .as_deref()
            .unwrap()
            .contains("Variable does not exist")
    );
    assert_eq!(f("Invoice__c.Amount__c").component_type, "CustomField");
    assert_eq!(f("Invoice__c.Amount__c").line, Some(3));
    let files = sim.admin().files("dev1").await.unwrap();
    assert!(!files.contains_key("classes/Broken.cls"));
    assert_eq!(
        files["objects/Account.object"],
        crate::sim::OBJECT.as_bytes()
    );

    // A zip without package.xml is a request-level failure on package.xml.
    let z = backflow::sim::deploy::write_zip(
        [("classes/A.cls".to_string(), b"x".as_slice())].into_iter(),
    )
    .unwrap();
    let id = c.deploy(&z, &DeployOptions::default()).await.unwrap();
    let r = c
        .poll_deploy(&id, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(r.status, DeployStatus::Failed);
    assert_eq!(r.component_failures[0].full_name, "package.xml");
}

#[tokio::test]
async fn test_failures_and_production_coverage() {
    let sim = start_sim().await;
    let prod = client(&sim, "prod").await;
    let failing = "@isTest\nprivate class AccountServiceTest {\n    @isTest\n    static void answers() {\n        System.assertEquals(42, AccountService.answer());\n    }\n    @isTest\n    static void breaks() {\n        System.assert(false, 'nope');\n    }\n}\n";
    let z = zip(&[
        ("classes/AccountServiceTest.cls", failing),
        ("classes/AccountServiceTest.cls-meta.xml", CLASS_META),
    ]);
    let id = prod
        .deploy(
            &z,
            &DeployOptions {
                test_level: TestLevel::RunLocalTests,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = prod
        .poll_deploy(&id, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(r.status, DeployStatus::Failed);
    assert_eq!((r.tests_total, r.test_errors), (2, 1));
    assert_eq!(r.test_failures[0].method, "breaks");
    assert_eq!(
        r.test_failures[0].stack_trace,
        "Class.AccountServiceTest.breaks: line 9, column 1"
    );

    // Production: an uncovered class fails on coverage even with NoTestRun (local tests run).
    let z = zip(&[
        (
            "classes/Uncovered.cls",
            "public class Uncovered {\n    public void a() {}\n}\n",
        ),
        ("classes/Uncovered.cls-meta.xml", CLASS_META),
        ("classes/AccountServiceTest.cls", TEST_CLASS),
        ("classes/AccountServiceTest.cls-meta.xml", CLASS_META),
    ]);
    let id = prod
        .deploy(
            &z,
            &DeployOptions {
                test_level: TestLevel::NoTestRun,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let r = prod
        .poll_deploy(&id, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(r.status, DeployStatus::Failed, "{r:?}");
    assert!(r.run_tests_enabled);
    assert!(
        r.coverage_warnings.iter().any(|w| w.contains("Uncovered")),
        "{:?}",
        r.coverage_warnings
    );

    // The same deploy to a sandbox: no coverage rule, no tests by default.
    let dev = client(&sim, "dev1").await;
    let id = dev.deploy(&z, &DeployOptions::default()).await.unwrap();
    let r = dev
        .poll_deploy(&id, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(r.status, DeployStatus::Succeeded, "{r:?}");
    assert_eq!(r.tests_total, 0);
}

#[tokio::test]
async fn validation_then_quick_deploy_and_its_rules() {
    let sim = start_sim().await;
    let prod = client(&sim, "prod").await;
    let z = zip(&[
        ("classes/AccountService.cls", NEW_CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
        ("classes/AccountServiceTest.cls", TEST_CLASS),
        ("classes/AccountServiceTest.cls-meta.xml", CLASS_META),
    ]);
    let opts = DeployOptions {
        check_only: true,
        test_level: TestLevel::RunSpecifiedTests,
        run_tests: vec!["AccountServiceTest".into()],
        ..Default::default()
    };
    let vid = prod.deploy(&z, &opts).await.unwrap();
    let v = prod
        .poll_deploy(&vid, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(v.status, DeployStatus::Succeeded);
    assert!(v.check_only);
    assert_eq!(
        sim.admin().files("prod").await.unwrap()["classes/AccountService.cls"],
        CLASS.as_bytes(),
        "check-only commits nothing"
    );
    let qid = prod.quick_deploy(&vid).await.unwrap();
    assert_ne!(qid, vid);
    let q = prod
        .poll_deploy(&qid, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(q.status, DeployStatus::Succeeded);
    assert_eq!(
        sim.admin().files("prod").await.unwrap()["classes/AccountService.cls"],
        NEW_CLASS.as_bytes()
    );
    // Used up: the org changed after the validation.
    let e = prod.quick_deploy(&vid).await.unwrap_err();
    assert_eq!(e.code(), Some("INVALID_ID_FIELD"), "{e}");
    // A validation that ran no tests cannot be quick-deployed.
    let dev = client(&sim, "dev1").await;
    let vid = dev
        .deploy(
            &z,
            &DeployOptions {
                check_only: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    dev.poll_deploy(&vid, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    let e = dev.quick_deploy(&vid).await.unwrap_err();
    assert!(e.to_string().contains("did not run tests"), "{e}");
    let log = sim.admin().deploy_log().await.unwrap();
    assert_eq!(log.iter().filter(|l| l.quick).count(), 1);
}

#[tokio::test]
async fn cancel_is_a_request_and_the_outcome_is_reread() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let z = zip(&[
        ("classes/AccountServiceTest.cls", TEST_CLASS),
        ("classes/AccountServiceTest.cls-meta.xml", CLASS_META),
    ]);
    // Still queued: cancelled at once.
    let id = c.deploy(&z, &DeployOptions::default()).await.unwrap();
    assert!(c.cancel_deploy(&id).await.unwrap());
    assert_eq!(
        c.deploy_status(&id, false).await.unwrap().status,
        DeployStatus::Canceled
    );
    // In progress: Canceling, then Canceled on a later poll.
    let id = c
        .deploy(
            &z,
            &DeployOptions {
                test_level: TestLevel::RunLocalTests,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let token = CancellationToken::new();
    let mut statuses = Vec::new();
    let r = c
        .poll_deploy(&id, &token, |p| {
            statuses.push(p.status);
            if p.status == DeployStatus::InProgress {
                token.cancel();
            }
        })
        .await
        .unwrap();
    assert_eq!(r.status, DeployStatus::Canceled, "{statuses:?}");
    assert!(statuses.contains(&DeployStatus::Canceling), "{statuses:?}");
    assert!(
        !sim.admin()
            .files("dev1")
            .await
            .unwrap()
            .contains_key("classes/AccountServiceTest.cls")
    );
}

#[tokio::test]
async fn deploys_queue_one_at_a_time_per_org() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let z = zip(&[
        ("classes/AccountService.cls", NEW_CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
    ]);
    let first = c.deploy(&z, &DeployOptions::default()).await.unwrap();
    let second = c.deploy(&z, &DeployOptions::default()).await.unwrap();
    c.deploy_status(&first, false).await.unwrap();
    assert_eq!(
        c.deploy_status(&second, false).await.unwrap().status,
        DeployStatus::Pending
    );
    c.poll_deploy(&first, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        c.poll_deploy(&second, &CancellationToken::new(), |_| {})
            .await
            .unwrap()
            .status,
        DeployStatus::Succeeded
    );
}

async fn fault(sim: &SimServer, matches: &str, kind: FaultKind, times: u32) {
    sim.admin()
        .add_fault(&Fault {
            matches: matches.into(),
            kind,
            times,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn transient_faults_are_retried() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    fault(&sim, "/limits", FaultKind::Unavailable, 2).await;
    assert!(c.limits().await.is_ok());
    fault(&sim, "/limits", FaultKind::UnknownException, 1).await;
    assert!(c.limits().await.is_ok());
    fault(&sim, "/limits", FaultKind::Html, 1).await;
    assert!(c.limits().await.is_ok());
    fault(&sim, "/limits", FaultKind::Drop, 1).await;
    assert!(c.limits().await.is_ok());
    fault(&sim, "/limits", FaultKind::RequestLimit, 1).await;
    assert!(c.limits().await.is_ok());
    let short = impatient(&sim, "dev1", 400).await;
    fault(&sim, "/limits", FaultKind::Slow { ms: 700 }, 1).await;
    assert!(
        short.limits().await.is_ok(),
        "a request past the timeout is retried"
    );
    // Polls survive a dropped connection.
    let z = zip(&[
        ("classes/AccountService.cls", NEW_CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
    ]);
    let id = c.deploy(&z, &DeployOptions::default()).await.unwrap();
    fault(&sim, "checkDeployStatus", FaultKind::Drop, 2).await;
    assert_eq!(
        c.poll_deploy(&id, &CancellationToken::new(), |_| {})
            .await
            .unwrap()
            .status,
        DeployStatus::Succeeded
    );
    // Persistent failure: reported with the org and what to do.
    fault(&sim, "/limits", FaultKind::Unavailable, 0).await;
    let e = c.limits().await.unwrap_err();
    assert_eq!(e.code(), Some("SERVER_UNAVAILABLE"), "{e}");
    assert!(e.to_string().starts_with("dev1:"), "{e}");
}

#[tokio::test]
async fn starts_are_never_resent_and_lost_deploys_are_found() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let user = c.org_info().await.unwrap().user_id;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    let z = zip(&[
        ("classes/AccountService.cls", NEW_CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
    ]);
    // The answer is lost after the deploy was created.
    let short = impatient(&sim, "dev1", 400).await;
    fault(&sim, "deploy", FaultKind::SlowAnswer { ms: 700 }, 1).await;
    let e = short
        .deploy(&z, &DeployOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, SfError::OutcomeUnknown { .. }), "{e}");
    fault(&sim, " deploy", FaultKind::Drop, 1).await;
    let e = c.deploy(&z, &DeployOptions::default()).await.unwrap_err();
    assert!(matches!(e, SfError::OutcomeUnknown { .. }), "{e}");
    // Each was sent exactly once, and both are found by user and time.
    assert_eq!(
        sim.admin().deploy_log().await.unwrap().len(),
        1,
        "the dropped one never reached the handler"
    );
    let found = c.find_deploy_requests(&user, since).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        c.find_deploy_requests(&user, chrono::Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    // A 503 means Salesforce did not take it: retried safely.
    fault(&sim, " deploy", FaultKind::Unavailable, 1).await;
    c.deploy(&z, &DeployOptions::default()).await.unwrap();
    assert_eq!(sim.admin().deploy_log().await.unwrap().len(), 2);
}

#[tokio::test]
async fn daily_limit_is_surfaced_without_retry() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let admin = sim.admin();
    let mut s = admin.settings().await.unwrap();
    s.daily_api_limit = 3;
    admin.set_settings(&s).await.unwrap();
    let mut last = None;
    for _ in 0..5 {
        if let Err(e) = c.limits().await {
            last = Some(e);
            break;
        }
    }
    let e = last.expect("limit reached");
    assert!(matches!(e, SfError::Limit { .. }), "{e}");
}

#[tokio::test]
async fn expired_sessions_are_renewed_once_for_rest_and_soap() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let before = c.session().access_token;
    sim.admin().expire_sessions("dev1").await.unwrap();
    c.limits().await.unwrap();
    let after = c.session().access_token;
    assert_ne!(before, after);
    // Concurrent calls share one renewal.
    sim.admin().expire_sessions("dev1").await.unwrap();
    let (a, b) = tokio::join!(c.limits(), c.deploy_status("0Af000000000999AAA", false));
    a.unwrap();
    assert_eq!(b.unwrap_err().code(), Some("INVALID_ID_FIELD"));
    // Expiry injected as a fault on a SOAP call.
    fault(&sim, "checkDeployStatus", FaultKind::SessionExpiry, 1).await;
    let z = zip(&[
        ("classes/AccountService.cls", NEW_CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
    ]);
    let id = c.deploy(&z, &DeployOptions::default()).await.unwrap();
    assert!(
        c.poll_deploy(&id, &CancellationToken::new(), |_| {})
            .await
            .unwrap()
            .success
    );
}

#[tokio::test]
async fn sandbox_refresh_copies_production_after_a_delay() {
    let sim = start_sim().await;
    let prod = client(&sim, "prod").await;
    sim.admin()
        .edit_org(
            "prod",
            &[("classes/ProdOnly.cls", b"public class ProdOnly {}")],
            &[],
        )
        .await
        .unwrap();
    sim.admin()
        .edit_org(
            "dev1",
            &[("classes/DevOnly.cls", b"public class DevOnly {}")],
            &[],
        )
        .await
        .unwrap();
    let info = prod.sandbox_info("dev1").await.unwrap().unwrap();
    assert_eq!(info.license_type, "DEVELOPER");
    prod.refresh_sandbox("dev1", "back-promotion reset")
        .await
        .unwrap();
    let mut progress = Vec::new();
    let p = prod
        .poll_sandbox_refresh(
            "dev1",
            &CancellationToken::new(),
            std::time::Duration::from_secs(60),
            |p| progress.push(p.copy_progress),
        )
        .await
        .unwrap();
    assert!(p.is_completed());
    assert!(
        progress.len() >= 2 && progress.windows(2).all(|w| w[0] < w[1]),
        "{progress:?}"
    );
    let files = sim.admin().files("dev1").await.unwrap();
    assert!(
        files.contains_key("classes/ProdOnly.cls") && !files.contains_key("classes/DevOnly.cls")
    );
    // Inside the refresh interval Salesforce refuses another refresh.
    let e = prod.refresh_sandbox("dev1", "again").await.unwrap_err();
    assert_eq!(e.code(), Some("INVALID_OPERATION"), "{e}");
    assert!(prod.sandbox_info("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn jwt_bearer_signature_is_verified() {
    let sim = start_sim().await;
    let admin = sim.admin();
    let mut s = admin.settings().await.unwrap();
    s.jwt_public_key_pem = Some(include_str!("../fixtures/jwt-test-only-pub.pem").into());
    s.jwt_client_id = Some("CONSUMER_KEY".into());
    admin.set_settings(&s).await.unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt-test-only-key.pem"
    );
    let cfg = OrgConfig {
        auth: Auth::Jwt,
        login_url: Some(format!("{}/o/prod", sim.url)),
        client_id: Some("CONSUMER_KEY".into()),
        username: Some("admin@prod.sim".into()),
        jwt_key_file: Some(key.into()),
        ..Default::default()
    };
    let store = TokenStore::unavailable("tests");
    let c = SalesforceClient::connect("prod", &cfg, &fast(), &store)
        .await
        .unwrap();
    assert_eq!(c.auth_kind(), "jwt");
    // JWT sessions renew by signing a new assertion.
    sim.admin().expire_sessions("prod").await.unwrap();
    c.limits().await.unwrap();
    let wrong_user = OrgConfig {
        username: Some("someone@else".into()),
        ..cfg.clone()
    };
    let e = SalesforceClient::connect("prod", &wrong_user, &fast(), &store)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("hasn't approved"), "{e}");
    let wrong_client = OrgConfig {
        client_id: Some("OTHER".into()),
        ..cfg.clone()
    };
    assert!(
        SalesforceClient::connect("prod", &wrong_client, &fast(), &store)
            .await
            .unwrap_err()
            .to_string()
            .contains("invalid_client_id")
    );
    // A key the simulator does not know (signed by another key) fails verification.
    let other = tempfile::NamedTempFile::new().unwrap();
    let out = std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(other.path())
        .arg("2048")
        .output();
    if out.is_ok_and(|o| o.status.success()) {
        let forged = OrgConfig {
            jwt_key_file: Some(other.path().display().to_string()),
            ..cfg
        };
        let e = SalesforceClient::connect("prod", &forged, &fast(), &store)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("invalid assertion"), "{e}");
    }
}

#[tokio::test]
async fn web_login_through_the_loopback_redirect_then_keyring_refresh() {
    let sim = start_sim().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login_url = format!("{}/o/dev1", sim.url);
    let login = WebLogin::start("dev1", &login_url, "CONSUMER_KEY", 0, http.clone())
        .await
        .unwrap();
    assert!(login.auth_url.contains("code_challenge_method=S256"));
    let auth_url = login.auth_url.clone();
    let browser = tokio::spawn(async move {
        let b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // A stray request with another state is ignored by the listener.
        let r = b.get(&auth_url).send().await.unwrap();
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let stray = loc.split("code=").next().unwrap().to_string() + "code=x&state=forged";
        b.get(&stray).send().await.unwrap();
        let page = b.get(&loc).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("logged in"), "{page}");
    });
    let tokens = login.finish(Duration::from_secs(10)).await.unwrap();
    browser.await.unwrap();
    let refresh = tokens.refresh_token.clone().expect("refresh token");
    let user = backflow::salesforce::auth::username(&http, "dev1", &tokens.session)
        .await
        .unwrap();
    assert_eq!(user, "admin@dev1.sim");

    let store = TokenStore::mock();
    store
        .save(
            "dev1",
            &StoredLogin {
                username: user,
                login_url: login_url.clone(),
                instance_url: tokens.session.instance_url.clone(),
                client_id: "CONSUMER_KEY".into(),
                refresh_token: refresh.clone(),
                client_secret: None,
            },
        )
        .unwrap();
    let loaded = store.load("dev1").unwrap().unwrap();
    assert_eq!(loaded.refresh_token, refresh);
    let cfg = OrgConfig {
        auth: Auth::Web,
        login_url: Some(login_url.clone()),
        client_id: Some("CONSUMER_KEY".into()),
        ..Default::default()
    };
    let c = SalesforceClient::connect("dev1", &cfg, &fast(), &store)
        .await
        .unwrap();
    assert_eq!(c.auth_kind(), "web");
    assert!(c.org_info().await.unwrap().is_sandbox);

    // A revoked refresh token fails with a login hint that does not echo the token.
    http.post(format!("{login_url}/services/oauth2/revoke"))
        .form(&[("token", refresh.expose())])
        .send()
        .await
        .unwrap();
    let e = SalesforceClient::connect("dev1", &cfg, &fast(), &store)
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("invalid_grant") && text.contains("backflow login"),
        "{text}"
    );
    assert!(!text.contains(refresh.expose()));
    // Logged out: nothing stored, a clear error.
    assert!(store.delete("dev1").unwrap());
    assert!(store.load("dev1").unwrap().is_none());
    let e = SalesforceClient::connect("dev1", &cfg, &fast(), &store)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not logged in"), "{e}");
    // Without a keyring there is no fallback.
    let none = TokenStore::unavailable("no store in this test");
    let e = none.save("dev1", &loaded).unwrap_err();
    assert!(
        e.to_string().contains("jwt") && e.to_string().contains("sf-cli"),
        "{e}"
    );
}

/// Registers one External Client App (`ECA_KEY` / `ECA_SECRET`) in the simulator.
async fn register_app(sim: &SimServer, app: ClientApp) {
    let admin = sim.admin();
    let mut s = admin.settings().await.unwrap();
    s.client_apps = vec![ClientApp {
        consumer_key: "ECA_KEY".into(),
        consumer_secret: "ECA_SECRET".into(),
        ..app
    }];
    admin.set_settings(&s).await.unwrap();
}

/// A browser login through the loopback redirect: the user approves at once.
async fn browser_login(
    sim: &SimServer,
    org: &str,
    secret: Option<&str>,
) -> Result<backflow::salesforce::auth::TokenResponse, SfError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = WebLogin::start(org, &format!("{}/o/{org}", sim.url), "ECA_KEY", 0, http)
        .await
        .unwrap()
        .with_client_secret(secret.map(Secret::new));
    let auth_url = login.auth_url.clone();
    let browser = tokio::spawn(async move {
        let b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = b.get(&auth_url).send().await.unwrap();
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        b.get(&loc).send().await.unwrap().text().await.unwrap()
    });
    let out = login.finish(Duration::from_secs(10)).await;
    browser.await.unwrap();
    out
}

#[tokio::test]
async fn default_external_client_app_needs_the_secret_for_code_and_refresh() {
    let sim = start_sim().await;
    register_app(&sim, ClientApp::default()).await;
    // Without the secret the exchange is refused, and the error says what to configure.
    let e = browser_login(&sim, "dev1", None).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("invalid_client") && text.contains("client_secret_env"),
        "{text}"
    );
    let tokens = browser_login(&sim, "dev1", Some("ECA_SECRET"))
        .await
        .unwrap();
    assert_eq!(tokens.scope.as_deref(), Some("refresh_token api web"));
    let refresh = tokens.refresh_token.clone().expect("refresh token");
    let login_url = format!("{}/o/dev1", sim.url);
    let stored = StoredLogin {
        username: "admin@dev1.sim".into(),
        login_url: login_url.clone(),
        instance_url: tokens.session.instance_url.clone(),
        client_id: "ECA_KEY".into(),
        refresh_token: refresh.clone(),
        client_secret: None,
    };
    let cfg = OrgConfig {
        auth: Auth::Web,
        login_url: Some(login_url),
        client_id: Some("ECA_KEY".into()),
        ..Default::default()
    };
    // The refresh needs the secret too: none stored and no variable named → refused.
    let store = TokenStore::mock();
    store.save("dev1", &stored).unwrap();
    let e = SalesforceClient::connect("dev1", &cfg, &fast(), &store)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_client"), "{e}");
    // Stored with the login, it is sent on every refresh.
    store
        .save(
            "dev1",
            &StoredLogin {
                client_secret: Some(Secret::new("ECA_SECRET")),
                ..stored
            },
        )
        .unwrap();
    let c = SalesforceClient::connect("dev1", &cfg, &fast(), &store)
        .await
        .unwrap();
    sim.admin().expire_sessions("dev1").await.unwrap();
    c.limits().await.unwrap();
    // A variable named in the config wins over the stored secret (this test's own variable).
    let var = "BACKFLOW_IT_ECA_SECRET_WRONG";
    unsafe { std::env::set_var(var, "not-the-secret") };
    let wrong = OrgConfig {
        client_secret_env: Some(var.into()),
        ..cfg
    };
    let e = SalesforceClient::connect("dev1", &wrong, &fast(), &store)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_client"), "{e}");
}

#[tokio::test]
async fn rotated_refresh_tokens_replace_the_stored_one() {
    let sim = start_sim().await;
    register_app(
        &sim,
        ClientApp {
            rotate_refresh_tokens: true,
            ..Default::default()
        },
    )
    .await;
    let tokens = browser_login(&sim, "dev1", Some("ECA_SECRET"))
        .await
        .unwrap();
    let first = tokens.refresh_token.clone().expect("refresh token");
    let login_url = format!("{}/o/dev1", sim.url);
    let store = TokenStore::mock();
    store
        .save(
            "dev1",
            &StoredLogin {
                username: "admin@dev1.sim".into(),
                login_url: login_url.clone(),
                instance_url: tokens.session.instance_url.clone(),
                client_id: "ECA_KEY".into(),
                refresh_token: first.clone(),
                client_secret: Some(Secret::new("ECA_SECRET")),
            },
        )
        .unwrap();
    let cfg = OrgConfig {
        auth: Auth::Web,
        login_url: Some(login_url.clone()),
        client_id: Some("ECA_KEY".into()),
        ..Default::default()
    };
    let c = SalesforceClient::connect("dev1", &cfg, &fast(), &store)
        .await
        .unwrap();
    let second = store.load("dev1").unwrap().unwrap().refresh_token;
    assert_ne!(second, first, "the rotated token is stored");
    // The old one is dead.
    let http = reqwest::Client::new();
    let token_url = format!("{login_url}/services/oauth2/token");
    let e = token_request(
        &http,
        "dev1",
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first.expose()),
            ("client_id", "ECA_KEY"),
            ("client_secret", "ECA_SECRET"),
        ],
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("invalid_grant"), "{e}");
    // A renewal inside the same client rotates again, using the token it holds.
    sim.admin().expire_sessions("dev1").await.unwrap();
    c.limits().await.unwrap();
    let third = store.load("dev1").unwrap().unwrap().refresh_token;
    assert!(third != second && third != first);
    // Revoked: invalid_grant, and the error does not echo the token.
    http.post(format!("{login_url}/services/oauth2/revoke"))
        .form(&[("token", third.expose())])
        .send()
        .await
        .unwrap();
    let e = SalesforceClient::connect("dev1", &cfg, &fast(), &store)
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(!text.contains(third.expose()));
}

#[tokio::test]
async fn missing_scopes_are_named() {
    let sim = start_sim().await;
    let narrow = ClientApp {
        scopes: vec!["api".into(), "web".into()],
        ..Default::default()
    };
    // An External Client App refuses the request outright.
    register_app(&sim, narrow.clone()).await;
    let e = browser_login(&sim, "dev1", Some("ECA_SECRET"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("invalid_scope") && e.to_string().contains("refresh_token"),
        "{e}"
    );
    // An app that grants less than asked: the login fails naming what is missing.
    register_app(
        &sim,
        ClientApp {
            refuse_unknown_scopes: false,
            ..narrow
        },
    )
    .await;
    let e = browser_login(&sim, "dev1", Some("ECA_SECRET"))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("missing: refresh_token") && text.contains("OAuth scopes"),
        "{text}"
    );
    // Registered apps refuse unknown consumer keys before any redirect.
    let r = reqwest::Client::new()
        .get(format!(
            "{}/o/dev1/services/oauth2/authorize?response_type=code&client_id=OTHER&redirect_uri=http%3A%2F%2Flocalhost%3A1717%2FOauthRedirect",
            sim.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_client_id"));
}

/// `data` as a gzip member with one stored (uncompressed) deflate block: enough to check that
/// the client asks for and decodes gzip, without a compression crate in the tests.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let crc = data.iter().fold(!0u32, |mut c, &b| {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
        c
    }) ^ !0u32;
    let len = u16::try_from(data.len()).expect("small body");
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Large retrieves arrive gzip-compressed: the client asks for gzip and decodes it.
#[tokio::test]
async fn compressed_answers_are_decoded() {
    use axum::http::{HeaderMap, header};
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!(
        "http://127.0.0.1:{}/o/gz",
        listener.local_addr().unwrap().port()
    );
    let instance = base.clone();
    let token = move || {
        let instance = instance.clone();
        async move {
            axum::Json(
                serde_json::json!({"access_token": "00D000000000001!AQgz", "instance_url": instance, "token_type": "Bearer"}),
            )
        }
    };
    let versions = |headers: HeaderMap| async move {
        let asked = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("gzip"));
        let body = br#"[{"label":"Spring '26","url":"/services/data/v66.0","version":"66.0"}]"#;
        if asked {
            (
                [
                    (header::CONTENT_ENCODING, "gzip"),
                    (header::CONTENT_TYPE, "application/json"),
                ],
                gzip_stored(body),
            )
                .into_response()
        } else {
            (axum::http::StatusCode::NOT_ACCEPTABLE, "gzip expected").into_response()
        }
    };
    use axum::response::IntoResponse;
    let app = axum::Router::new()
        .route("/o/gz/services/oauth2/token", axum::routing::post(token))
        .route("/o/gz/services/data/", axum::routing::get(versions));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg = OrgConfig {
        auth: Auth::Simulated,
        url: Some(base),
        ..Default::default()
    };
    let c = SalesforceClient::connect("gz", &cfg, &fast(), &TokenStore::unavailable("tests")).await;
    server.abort();
    assert_eq!(c.unwrap().api_version(), "66.0");
}

/// A fake `sf` answering per alias: `current` as sf ≥ 2.136.8 does (`org display` redacts the
/// token, `org auth show-access-token` gives it), `token-key` the same with the token under
/// `result.token`, `old` as earlier versions (the token in `org display`), `broken` redacting
/// everywhere.
fn fake_sf(dir: &std::path::Path, token: &str, instance: &str) -> std::path::PathBuf {
    let redacted = "[REDACTED] Use 'sf org auth show-access-token' to view";
    let display = |t: &str| {
        serde_json::json!({"status": 0, "result": {"accessToken": t, "instanceUrl": instance,
            "id": "00D000000000001AAA", "username": "admin@dev1.sim", "connectedStatus": "Connected"}})
    };
    let shown = |key: &str, t: &str| {
        let mut r = serde_json::json!({"instanceUrl": instance, "username": "admin@dev1.sim"});
        r[key] = t.into();
        serde_json::json!({"status": 0, "result": r})
    };
    let script = dir.join("sf");
    let body = format!(
        "#!/bin/sh\nalias=''\nprev=''\nfor a in \"$@\"; do [ \"$prev\" = --target-org ] && alias=$a; prev=$a; done\n\
         case \"$1 $2 $alias\" in\n\
         'org display old') echo '{old}' ;;\n\
         'org display '*) echo '{red}' ;;\n\
         'org auth current') echo '{cur}' ;;\n\
         'org auth token-key') echo '{key}' ;;\n\
         'org auth broken') echo '{broken}' ;;\n\
         *) echo '{{\"status\":1,\"message\":\"unexpected\"}}' ;;\nesac\n",
        old = display(token),
        red = display(redacted),
        cur = shown("accessToken", token),
        key = shown("token", token),
        broken = shown("accessToken", redacted),
    );
    std::fs::write(&script, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[tokio::test]
async fn sf_cli_login_is_reused_with_redacted_and_old_output() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let t = token_request(
        &http,
        "dev1",
        &format!("{}/o/dev1/services/oauth2/token", sim.url),
        &[("grant_type", "client_credentials")],
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = fake_sf(
        dir.path(),
        t.session.access_token.expose(),
        &t.session.instance_url,
    );
    // The only test that sets this variable; nothing else reads it concurrently.
    unsafe { std::env::set_var("BACKFLOW_SF_BIN", &script) };
    let user = client(&sim, "dev1").await.org_info().await.unwrap().user_id;
    for alias in ["current", "token-key", "old"] {
        let cfg = OrgConfig {
            auth: Auth::SfCli,
            sf_alias: Some(alias.into()),
            ..Default::default()
        };
        let c = SalesforceClient::connect("dev1", &cfg, &fast(), &TokenStore::unavailable("tests"))
            .await
            .unwrap();
        assert_eq!(c.auth_kind(), "sf-cli");
        assert_eq!(c.session().access_token, t.session.access_token, "{alias}");
        c.limits().await.unwrap();
        // The CLI does not say who the user is; userinfo does (lost deploys are found by it).
        assert!(c.session().ids().is_none());
        assert_eq!(c.user_id().await.unwrap(), user, "{alias}");
    }
    // A placeholder everywhere is an error naming the fix, never a bearer token.
    let cfg = OrgConfig {
        auth: Auth::SfCli,
        sf_alias: Some("broken".into()),
        ..Default::default()
    };
    let e = SalesforceClient::connect("dev1", &cfg, &fast(), &TokenStore::unavailable("tests"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SfError::Auth { .. }) && e.to_string().contains("show-access-token"),
        "{e}"
    );
}

#[tokio::test]
async fn plain_http_is_refused_except_on_loopback() {
    let cfg = OrgConfig {
        auth: Auth::Simulated,
        url: Some("http://example.com/o/x".into()),
        ..Default::default()
    };
    let e = SalesforceClient::connect("x", &cfg, &fast(), &TokenStore::unavailable("t"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, SfError::Config { .. }) && e.to_string().contains("https"),
        "{e}"
    );
    assert!(backflow::salesforce::check_url("x", "https://acme.my.salesforce.com").is_ok());
    assert!(backflow::salesforce::check_url("x", "http://127.0.0.1:9/o/a").is_ok());
}

#[test]
fn secrets_never_show_in_debug_errors_or_logs() {
    let token = "00D000000000001!AQsecretsecretsecret";
    let refresh = "5Aep861secretrefresh";
    assert_eq!(format!("{:?}", Secret::new(token)), "Secret(***)");
    let login = StoredLogin {
        username: "u".into(),
        login_url: "l".into(),
        instance_url: "i".into(),
        client_id: "c".into(),
        refresh_token: Secret::new(refresh),
        client_secret: Some(Secret::new("consumer-secret-value")),
    };
    assert!(!format!("{login:?}").contains(refresh));
    assert!(!format!("{login:?}").contains("consumer-secret-value"));
    for text in [
        format!("Bearer {token}"),
        format!("{{\"access_token\":\"{token}\",\"refresh_token\":\"{refresh}\"}}"),
        format!("grant_type=refresh_token&refresh_token={refresh}&client_id=x"),
        format!("<sessionId>{token}</sessionId>"),
        "assertion=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln".to_string(),
    ] {
        let r = redact(&text);
        assert!(!r.contains("secret") && !r.contains("eyJ"), "{text} → {r}");
    }
    let e = SfError::Protocol {
        org: "o".into(),
        op: "x".into(),
        detail: redact(&format!("body {token}")),
    };
    assert!(!e.to_string().contains("secret"));
}

#[tokio::test]
async fn retrieve_handles_unpackaged_wildcards() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let pkg = "<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\"><types><members>*</members><name>ApexClass</name></types><version>66.0</version></Package>";
    let r = c.retrieve(pkg, &CancellationToken::new()).await.unwrap();
    let files = unzip(&r.zip);
    assert!(files.contains_key("unpackaged/classes/AccountService.cls"));
    assert!(files.contains_key("unpackaged/classes/AccountService.cls-meta.xml"));
    assert!(!files.contains_key("unpackaged/objects/Account.object"));
    assert!(r.messages.is_empty());
    let _ = b64(b"");
}

#[tokio::test]
async fn object_and_profile_deploys_overlay_what_the_org_has() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let partial = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fields>\n        <fullName>Status__c</fullName>\n        <type>Text</type>\n    </fields>\n    <fields>\n        <fullName>Tier__c</fullName>\n        <type>Picklist</type>\n    </fields>\n</CustomObject>\n";
    let id = c
        .deploy(
            &zip(&[("objects/Account.object", partial)]),
            &DeployOptions::default(),
        )
        .await
        .unwrap();
    assert!(
        c.poll_deploy(&id, &CancellationToken::new(), |_| {})
            .await
            .unwrap()
            .success
    );
    let files = sim.admin().files("dev1").await.unwrap();
    let obj = String::from_utf8(files["objects/Account.object"].clone()).unwrap();
    let region = obj.find("Region__c").expect("kept");
    let tier = obj.find("Tier__c").expect("kept");
    let status = obj.find("Status__c").expect("added");
    assert!(region < tier && tier < status, "{obj}");
    assert!(
        obj.contains("<type>Picklist</type>") && obj.contains("<label>Account</label>"),
        "{obj}"
    );
}

#[tokio::test]
async fn list_and_describe_metadata() {
    let sim = start_sim().await;
    let prod = client(&sim, "prod").await;
    assert!(prod.tests_required().await.unwrap());
    assert!(!client(&sim, "dev1").await.tests_required().await.unwrap());
    let list = prod
        .list_metadata(&[("ApexClass", None), ("CustomObject", None)])
        .await
        .unwrap();
    let names: Vec<_> = list
        .iter()
        .map(|f| format!("{}:{}", f.component_type, f.full_name))
        .collect();
    assert_eq!(names, ["ApexClass:AccountService", "CustomObject:Account"]);
}

/// The real binary: `login` checks a JWT login, `orgs --json` reports it, `logout` finds nothing
/// stored (JWT logins store nothing).
#[tokio::test]
async fn login_orgs_logout_commands_with_jwt() {
    let sim = start_sim().await;
    let admin = sim.admin();
    let mut s = admin.settings().await.unwrap();
    s.jwt_public_key_pem = Some(include_str!("../fixtures/jwt-test-only-pub.pem").into());
    admin.set_settings(&s).await.unwrap();
    let ws = tempfile::tempdir().unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jwt-test-only-key.pem"
    );
    std::fs::write(
        ws.path().join("backflow.toml"),
        format!(
            "[[env]]\nname = \"prod\"\nbranch = \"main\"\nkind = \"prod\"\norg = \"prod\"\n\n[orgs.prod]\nauth = \"jwt\"\nlogin_url = \"{}/o/prod\"\nclient_id = \"CONSUMER_KEY\"\nusername = \"admin@prod.sim\"\njwt_key_file = \"{key}\"\n\n[orgs.desk]\nauth = \"web\"\nlogin_url = \"{}/o/dev1\"\nclient_id = \"ECA_KEY\"\nclient_secret_env = \"BACKFLOW_IT_UNSET_SECRET\"\n",
            sim.url, sim.url
        ),
    )
    .unwrap();
    let run = |args: &'static [&'static str]| {
        let dir = ws.path().to_path_buf();
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_backflow"))
                .args(args)
                .current_dir(&dir)
                .env("BACKFLOW_STATE_DIR", dir.join("state"))
                .output()
                .await
                .unwrap()
        }
    };
    let out = run(&["login", "prod"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("JWT login to prod works as admin@prod.sim")
    );
    let out = run(&["orgs", "--json"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |name: &str| {
        v["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["org"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {name}: {v}"))
    };
    let prod = &row("prod");
    assert_eq!(
        (
            prod["connected"].as_bool(),
            prod["token"].as_str(),
            prod["sandbox"].as_bool()
        ),
        (Some(true), Some("key-file"), Some(false)),
        "{v}"
    );
    assert_eq!(prod["envs"][0], "prod");
    // Which store holds each credential, and whether it outlives a reboot.
    assert_eq!(
        (prod["store"].as_str(), prod["survives_reboot"].as_bool()),
        (Some("key-file"), Some(true)),
        "{v}"
    );
    let desk = &row("desk");
    assert_eq!(desk["token"], "missing", "{desk}");
    match desk["store"].as_str() {
        // Kernel memory: gone after a reboot.
        Some("keyutils") => assert_eq!(desk["survives_reboot"], false, "{desk}"),
        Some("secret-service") => assert_eq!(desk["survives_reboot"], true, "{desk}"),
        Some("none") => assert!(desk["survives_reboot"].is_null(), "{desk}"),
        other => panic!("unexpected store {other:?} on Linux: {desk}"),
    }
    let out = run(&["orgs"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("store=key-file (survives reboot)"), "{text}");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("!AQ"), "no session id in the output");
    let out = run(&["logout", "prod"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no stored login"));
    let out = run(&["login", "nope"]).await;
    assert_eq!(out.status.code(), Some(2));
}

/// The path the engine takes: a source-format branch converted by `metadata::convert` seeds a
/// hosted org and becomes a deploy zip the simulator accepts; retrieve gives it back.
#[tokio::test]
async fn converted_source_seeds_and_deploys() {
    use backflow::metadata::convert::{ConvertOptions, SourceFile, convert, to_zip};
    let src = |p: &str, t: &str| SourceFile {
        path: format!("force-app/main/default/{p}"),
        bytes: t.as_bytes().to_vec(),
    };
    let obj_meta = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <label>Invoice</label>\n    <nameField><label>Name</label><type>Text</type></nameField>\n</CustomObject>\n";
    let field = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fullName>Amount__c</fullName>\n    <type>Number</type>\n</CustomField>\n";
    let labels = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <labels>\n        <fullName>Greeting</fullName>\n        <value>Hello</value>\n    </labels>\n</CustomLabels>\n";
    let files = vec![
        src("classes/Invoicer.cls", "public class Invoicer {}\n"),
        src("classes/Invoicer.cls-meta.xml", CLASS_META),
        src("objects/Invoice__c/Invoice__c.object-meta.xml", obj_meta),
        src("objects/Invoice__c/fields/Amount__c.field-meta.xml", field),
        src("labels/CustomLabels.labels-meta.xml", labels),
    ];
    let opts = ConvertOptions {
        source_dirs: vec!["force-app".into()],
        api_version: Some("66.0".into()),
        ignore: None,
    };
    let tree = convert(&files, &opts).unwrap();
    // Seed an org with the converted tree, as the workspace simulator does for an env branch.
    let sim = SimServer::start(None, 0).await.unwrap();
    let seeded: std::collections::BTreeMap<String, String> = tree
        .files
        .iter()
        .map(|(p, b)| (p.clone(), b64(b)))
        .collect();
    sim.admin()
        .put_org(
            "qa",
            &backflow::sim::OrgSpec {
                sandbox: true,
                files: Some(seeded),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    sim.admin()
        .put_org(
            "uat",
            &backflow::sim::OrgSpec {
                sandbox: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let qa = client(&sim, "qa").await;
    let list = qa
        .list_metadata(&[
            ("ApexClass", None),
            ("CustomObject", None),
            ("CustomLabels", None),
        ])
        .await
        .unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    // Deploy the same tree to an empty org.
    let uat = client(&sim, "uat").await;
    let id = uat
        .deploy(&to_zip(&tree).unwrap(), &DeployOptions::default())
        .await
        .unwrap();
    let r = uat
        .poll_deploy(&id, &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        r.status,
        DeployStatus::Succeeded,
        "{:?}",
        r.component_failures
    );
    let pkg = tree.manifest.render();
    let back = unzip(
        &uat.retrieve(&pkg, &CancellationToken::new())
            .await
            .unwrap()
            .zip,
    );
    assert!(back["unpackaged/objects/Invoice__c.object"].contains("Amount__c"));
    assert!(back.contains_key("unpackaged/classes/Invoicer.cls"));
    assert!(back["unpackaged/labels/CustomLabels.labels"].contains("Greeting"));
}

#[tokio::test]
async fn profiles_are_retrieved_with_the_entries_of_retrieved_components() {
    let sim = start_sim().await;
    let profile = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <classAccesses><apexClass>AccountService</apexClass><enabled>true</enabled></classAccesses>\n    <classAccesses><apexClass>Other</apexClass><enabled>true</enabled></classAccesses>\n    <custom>false</custom>\n    <fieldPermissions><editable>true</editable><field>Account.Region__c</field><readable>true</readable></fieldPermissions>\n    <fieldPermissions><editable>true</editable><field>Contact.Tier__c</field><readable>true</readable></fieldPermissions>\n    <userPermissions><enabled>true</enabled><name>ApiEnabled</name></userPermissions>\n</Profile>\n";
    sim.admin()
        .edit_org(
            "dev1",
            &[("profiles/Admin.profile", profile.as_bytes())],
            &[],
        )
        .await
        .unwrap();
    let c = client(&sim, "dev1").await;
    let pkg = "<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\"><types><members>AccountService</members><name>ApexClass</name></types><types><members>Account.Region__c</members><name>CustomField</name></types><types><members>Admin</members><name>Profile</name></types><version>66.0</version></Package>";
    let files = unzip(
        &c.retrieve(pkg, &CancellationToken::new())
            .await
            .unwrap()
            .zip,
    );
    let p = &files["unpackaged/profiles/Admin.profile"];
    assert!(p.contains("AccountService") && !p.contains("Other"), "{p}");
    assert!(
        p.contains("Account.Region__c") && !p.contains("Contact.Tier__c"),
        "{p}"
    );
    assert!(
        p.contains("ApiEnabled") && p.contains("<custom>false</custom>"),
        "{p}"
    );
}

/// The engine runs client calls in spawned tasks: their futures must be `Send`.
#[allow(dead_code, clippy::let_underscore_future)]
fn client_futures_are_send(c: &SalesforceClient, t: &CancellationToken) {
    fn send<T: Send>(_: T) {}
    send(c.deploy(&[], &DeployOptions::default()));
    send(c.poll_deploy("x", t, |_| {}));
    send(c.retrieve("", t));
    send(c.quick_deploy("x"));
    send(c.cancel_deploy("x"));
    send(c.query("x"));
    send(c.org_info());
    send(c.source_members_since(0));
    send(c.find_deploy_requests("x", chrono::Utc::now()));
    send(c.refresh_sandbox("x", "y"));
    send(c.poll_sandbox_refresh("x", t, std::time::Duration::ZERO, |_| {}));
    send(SalesforceClient::connect(
        "x",
        &OrgConfig::default(),
        &fast(),
        &TokenStore::unavailable("t"),
    ));
    send(backflow::sim::workspace::ensure_running(
        std::path::Path::new("."),
        std::path::Path::new("x"),
        &[],
        |_| Ok(vec![]),
    ));
}

/// A retrieve's zip is handed out once: when the answer carrying it is lost, the client starts
/// the retrieve again instead of failing.
#[tokio::test]
async fn a_retrieve_whose_zip_was_lost_is_started_again() {
    let sim = start_sim().await;
    let c = impatient(&sim, "dev1", 400).await;
    let pkg = "<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\"><types><members>AccountService</members><name>ApexClass</name></types><version>66.0</version></Package>";
    // The first poll (in progress) and the second (done, with the zip) are handled, but their
    // answers arrive too late: the retried poll finds the zip already handed out.
    fault(
        &sim,
        "checkRetrieveStatus",
        FaultKind::SlowAnswer { ms: 700 },
        2,
    )
    .await;
    let r = c.retrieve(pkg, &CancellationToken::new()).await.unwrap();
    let files = unzip(&r.zip);
    assert!(
        files.contains_key("unpackaged/classes/AccountService.cls"),
        "{:?}",
        files.keys()
    );
}

/// Test options Salesforce rejects are refused before anything is sent.
#[tokio::test]
async fn test_options_salesforce_rejects_are_refused_before_sending() {
    let sim = start_sim().await;
    let c = client(&sim, "dev1").await;
    let z = zip(&[
        ("classes/AccountService.cls", NEW_CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
    ]);
    let specified = DeployOptions {
        test_level: TestLevel::RunSpecifiedTests,
        ..Default::default()
    };
    let e = c.deploy(&z, &specified).await.unwrap_err();
    assert!(e.to_string().contains("--tests"), "{e}");
    let tests_without_level = DeployOptions {
        test_level: TestLevel::RunLocalTests,
        run_tests: vec!["AccountServiceTest".into()],
        ..Default::default()
    };
    let e = c.deploy(&z, &tests_without_level).await.unwrap_err();
    assert!(e.to_string().contains("RunSpecifiedTests"), "{e}");
    let old = SalesforceClient::connect(
        "dev1",
        &OrgConfig {
            api_version: Some("65.0".into()),
            ..simulated(&sim, "dev1")
        },
        &fast(),
        &TokenStore::unavailable("tests"),
    )
    .await
    .unwrap();
    let relevant = DeployOptions {
        test_level: TestLevel::RunRelevantTests,
        ..Default::default()
    };
    let e = old.deploy(&z, &relevant).await.unwrap_err();
    assert!(e.to_string().contains("66.0"), "{e}");
    assert!(
        sim.admin().deploy_log().await.unwrap().is_empty(),
        "nothing was sent"
    );
    // The same options are accepted where Salesforce accepts them.
    c.deploy(&z, &relevant).await.unwrap();
    assert_eq!(sim.admin().deploy_log().await.unwrap().len(), 1);
}
