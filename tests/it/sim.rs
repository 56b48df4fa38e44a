//! The simulator on its own: OAuth rules, state persistence, drift, retrieve shapes, and the
//! workspace-hosted simulator shared by several processes.

use backflow::sim::{OrgSpec, SimAdmin, SimServer, workspace};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub const CLASS: &str = "public class AccountService {\n    public static Integer answer() {\n        return 42;\n    }\n}\n";
pub const CLASS_META: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <apiVersion>66.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n";
pub const OBJECT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fields>\n        <fullName>Region__c</fullName>\n        <type>Text</type>\n    </fields>\n    <fields>\n        <fullName>Tier__c</fullName>\n        <type>Text</type>\n    </fields>\n    <label>Account</label>\n</CustomObject>\n";

pub fn b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A simulator with `prod` (production) and `dev1` (Developer sandbox of prod), both holding
/// one Apex class and the Account object.
pub async fn start_sim() -> SimServer {
    let sim = SimServer::start(None, 0).await.expect("simulator starts");
    let files: BTreeMap<String, String> = [
        ("classes/AccountService.cls", CLASS),
        ("classes/AccountService.cls-meta.xml", CLASS_META),
        ("objects/Account.object", OBJECT),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), b64(c.as_bytes())))
    .collect();
    let admin = sim.admin();
    admin
        .put_org(
            "prod",
            &OrgSpec {
                files: Some(files.clone()),
                ..Default::default()
            },
        )
        .await
        .expect("seed prod");
    admin
        .put_org(
            "dev1",
            &OrgSpec {
                sandbox: true,
                license: Some("DEVELOPER".into()),
                sandbox_of: Some("prod".into()),
                files: Some(files),
                ..Default::default()
            },
        )
        .await
        .expect("seed dev1");
    sim
}

fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn token(sim: &SimServer, org: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let r = no_redirect()
        .post(format!("{}/o/{org}/services/oauth2/token", sim.url))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn oauth_codes_are_single_use_and_checked_against_pkce() {
    let sim = start_sim().await;
    let http = no_redirect();
    let (verifier, challenge) = backflow::salesforce::auth::pkce_pair();
    let redirect = "http://localhost:1717/OauthRedirect";
    let auth = |ch: &str| {
        format!(
            "{}/o/dev1/services/oauth2/authorize?response_type=code&client_id=abc&redirect_uri={}&state=s1&code_challenge={ch}",
            sim.url, "http%3A%2F%2Flocalhost%3A1717%2FOauthRedirect"
        )
    };
    let r = http.get(auth(&challenge)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with(redirect) && loc.contains("state=s1"),
        "{loc}"
    );
    let code = loc
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let code = percent_decode(code);
    // Wrong verifier.
    let (s, v) = token(
        &sim,
        "dev1",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier",
            ),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
    // The code was consumed by the failed attempt: single use.
    let (s, v) = token(
        &sim,
        "dev1",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.expose()),
        ],
    )
    .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    // A fresh code with the right verifier works and grants a refresh token.
    let r = http.get(auth(&challenge)).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let code = percent_decode(
        loc.split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap(),
    );
    let (s, v) = token(
        &sim,
        "dev1",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier.expose()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["access_token"].as_str().unwrap().starts_with("00D"));
    assert!(v["refresh_token"].is_string());
    assert!(v["instance_url"].as_str().unwrap().ends_with("/o/dev1"));
    // Non-loopback redirects are refused.
    let r = http
        .get(format!("{}/o/dev1/services/oauth2/authorize?response_type=code&client_id=abc&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn state_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let sim = SimServer::start(Some(dir.path()), 0).await.unwrap();
        let admin = sim.admin();
        let mut files = BTreeMap::new();
        files.insert("classes/A.cls".to_string(), b64(b"public class A {}"));
        admin
            .put_org(
                "prod",
                &OrgSpec {
                    files: Some(files),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        admin
            .edit_org("prod", &[("classes/B.cls", b"public class B {}")], &[])
            .await
            .unwrap();
    }
    let sim = SimServer::start(Some(dir.path()), 0).await.unwrap();
    let files = sim.admin().files("prod").await.unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files["classes/B.cls"], b"public class B {}");
    assert!(dir.path().join("orgs/prod/classes/A.cls").exists());
}

fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("backflow.toml"),
        r#"
[[env]]
name = "dev1"
branch = "env/dev1"
kind = "dev"
org = "dev1"

[[env]]
name = "prod"
branch = "main"
kind = "prod"
org = "prod"

[[connection]]
from = "dev1"
to = "prod"

[orgs.prod]
auth = "simulated"

[orgs.dev1]
auth = "simulated"
sandbox_of = "prod"
license = "DEVELOPER"
"#,
    )
    .unwrap();
}

/// Two processes share the workspace simulator: this test process starts it (a detached
/// `backflow sim` child), a later `ensure_running` connects instead, and a separate
/// `backflow orgs --json` process reaches the same orgs.
#[tokio::test]
async fn workspace_simulator_is_shared_between_processes() {
    let ws = tempfile::tempdir().unwrap();
    write_config(ws.path());
    let exe = Path::new(env!("CARGO_BIN_EXE_backflow"));
    let text = std::fs::read_to_string(ws.path().join("backflow.toml")).unwrap();
    let cfg = backflow::domain::config::Config::parse(&text, "backflow.toml").unwrap();
    let orgs = workspace::simulated_orgs(&cfg.orgs);
    assert_eq!(orgs.len(), 2);
    assert!(
        orgs.iter()
            .any(|(n, s)| n == "dev1" && s.sandbox && s.sandbox_of.as_deref() == Some("prod"))
    );
    let seeded = std::sync::atomic::AtomicUsize::new(0);
    let seed = |org: &str| {
        seeded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(vec![(
            format!("classes/{org}Only.cls"),
            format!("public class {org}Only {{}}").into_bytes(),
        )])
    };
    let first = workspace::ensure_running(ws.path(), exe, &orgs, seed)
        .await
        .expect("starts");
    assert!(first.started);
    let second = workspace::ensure_running(ws.path(), exe, &orgs, |_| {
        Err("must not seed again".to_string())
    })
    .await
    .expect("connects");
    assert!(!second.started);
    assert_eq!(first.url, second.url);
    assert_eq!(seeded.load(std::sync::atomic::Ordering::SeqCst), 2);
    let files = second.admin.files("dev1").await.unwrap();
    assert!(files.contains_key("classes/dev1Only.cls"));

    let out = tokio::process::Command::new(exe)
        .arg("orgs")
        .arg("--json")
        .current_dir(ws.path())
        .env("BACKFLOW_STATE_DIR", ws.path().join("state"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let orgs_json = v["orgs"].as_array().unwrap();
    let dev1 = orgs_json.iter().find(|o| o["org"] == "dev1").unwrap();
    assert_eq!(dev1["connected"], true, "{v}");
    assert_eq!(dev1["sandbox"], true);
    assert_eq!(dev1["token"], "per-process");

    first.admin.shutdown().await.unwrap();
    // Once stopped, the port file is gone and a new call starts a fresh simulator on the same state.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = workspace::ensure_running(ws.path(), exe, &orgs, |_| {
        Err("state persisted: no reseed".to_string())
    })
    .await
    .expect("restarts");
    assert!(third.started);
    assert!(
        third
            .admin
            .files("dev1")
            .await
            .unwrap()
            .contains_key("classes/dev1Only.cls")
    );
    third.admin.shutdown().await.unwrap();
}

#[tokio::test]
async fn sim_command_writes_port_file_and_stops_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_backflow"))
        .args(["sim", "--port", "0", "--state"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port_file = dir.path().join("port");
    let mut port = None;
    for _ in 0..200 {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            port = p.trim().parse::<u16>().ok();
            if port.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let admin = SimAdmin::new(&format!("http://127.0.0.1:{}", port.expect("port file")));
    assert_eq!(admin.ping().await.unwrap()["ok"], true);
    admin.shutdown().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert!(!port_file.exists());
}

/// A workspace deleted under a running simulator (a test's temp dir, a removed checkout) does
/// not leave the simulator behind.
#[tokio::test]
async fn sim_command_stops_when_its_state_dir_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sim");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_backflow"))
        .args(["sim", "--port", "0", "--state"])
        .arg(&state)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if state.join("port").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(state.join("port").exists(), "the simulator never listened");
    std::fs::remove_dir_all(&state).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the simulator stops within 10 s of losing its state dir")
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn rest_deploy_requests_share_the_deploy_engine() {
    let sim = start_sim().await;
    let http = reqwest::Client::new();
    let t = backflow::salesforce::auth::token_request(
        &http,
        "prod",
        &format!("{}/o/prod/services/oauth2/token", sim.url),
        &[("grant_type", "client_credentials")],
    )
    .await
    .unwrap();
    let base = format!(
        "{}/services/data/v66.0/metadata/deployRequest",
        t.session.instance_url
    );
    let bearer = t.session.access_token.expose().to_string();
    let test_class = "@isTest\nprivate class T {\n    @isTest\n    static void ok() {\n        AccountService.answer();\n    }\n}\n";
    let pkg = "<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\"><version>66.0</version></Package>";
    let zip = backflow::sim::deploy::write_zip(
        [
            ("package.xml".to_string(), pkg.as_bytes()),
            ("classes/T.cls".to_string(), test_class.as_bytes()),
        ]
        .into_iter(),
    )
    .unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"json\"\r\nContent-Type: application/json\r\n\r\n");
    body.extend_from_slice(br#"{"deployOptions":{"checkOnly":true,"rollbackOnError":true,"singlePackage":true,"testLevel":"RunSpecifiedTests","runTests":["T"]}}"#);
    body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"deploy.zip\"\r\nContent-Type: application/zip\r\n\r\n");
    body.extend_from_slice(&zip);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let r = http
        .post(&base)
        .bearer_auth(&bearer)
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["deployResult"]["status"], "Pending");
    let mut last = serde_json::Value::Null;
    for _ in 0..20 {
        last = http
            .get(format!("{base}/{id}?includeDetails=true"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["deployResult"]["done"] == true {
            break;
        }
    }
    assert_eq!(last["deployResult"]["status"], "Succeeded", "{last}");
    assert_eq!(last["deployResult"]["numberTestsTotal"], 1);
    // Quick deploy by the documented path, then cancel refused on a finished deploy.
    let r = http
        .post(format!("{base}/{id}"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let q: serde_json::Value = r.json().await.unwrap();
    assert_eq!(q["validatedDeployRequestId"], id.as_str());
    let r = http
        .patch(format!("{base}/{}", q["id"].as_str().unwrap()))
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"deployResult": {"status": "Canceling"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        202,
        "a queued quick deploy is cancelled at once"
    );
    let r = http
        .post(&base)
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"validatedDeployRequestId": "0Af000000000404AAA"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn device_flow_answers_pending_then_tokens() {
    let sim = start_sim().await;
    let (s, v) = token(
        &sim,
        "prod",
        &[
            ("response_type", "device_code"),
            ("client_id", "abc"),
            ("scope", "api refresh_token"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let code = v["device_code"].as_str().unwrap().to_string();
    assert_eq!(v["interval"], 5);
    for _ in 0..2 {
        let (s, v) = token(
            &sim,
            "prod",
            &[
                ("grant_type", "device"),
                ("client_id", "abc"),
                ("code", &code),
            ],
        )
        .await;
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("authorization_pending"))
        );
    }
    let (s, v) = token(
        &sim,
        "prod",
        &[
            ("grant_type", "device"),
            ("client_id", "abc"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["refresh_token"].is_string());
    let (s, _) = token(
        &sim,
        "prod",
        &[
            ("grant_type", "device"),
            ("client_id", "abc"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(s, 400, "a device code is used once");
}

#[tokio::test]
async fn faults_can_be_configured_in_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("faults.json"),
        r#"[{"matches": "/limits", "kind": {"type": "unavailable"}, "times": 0}]"#,
    )
    .unwrap();
    let sim = SimServer::start(Some(dir.path()), 0).await.unwrap();
    sim.admin()
        .put_org("prod", &OrgSpec::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let t = backflow::salesforce::auth::token_request(
        &http,
        "prod",
        &format!("{}/o/prod/services/oauth2/token", sim.url),
        &[("grant_type", "client_credentials")],
    )
    .await
    .unwrap();
    let r = http
        .get(format!(
            "{}/services/data/v66.0/limits",
            t.session.instance_url
        ))
        .bearer_auth(t.session.access_token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    std::fs::write(dir.path().join("faults.json"), "not json").unwrap();
    drop(sim);
    assert!(SimServer::start(Some(dir.path()), 0).await.is_err());
}

#[tokio::test]
async fn concurrent_starts_host_one_simulator_and_seed_once() {
    let ws = tempfile::tempdir().unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_backflow"));
    let orgs = vec![("prod".to_string(), OrgSpec::default())];
    let seeds = std::sync::atomic::AtomicUsize::new(0);
    let seed = |_: &str| {
        seeds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(vec![(
            "classes/A.cls".to_string(),
            b"public class A {}".to_vec(),
        )])
    };
    let (a, b) = tokio::join!(
        workspace::ensure_running(ws.path(), exe, &orgs, seed),
        workspace::ensure_running(ws.path(), exe, &orgs, seed)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.url, b.url);
    assert_eq!(u8::from(a.started) + u8::from(b.started), 1);
    assert_eq!(seeds.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(!workspace::sim_dir(ws.path()).join("lock").exists());
    a.admin.shutdown().await.unwrap();
}

/// The answers at the edges of the route table: what needs a session, what is metered, which
/// shape an error takes, and what faults hit.
#[tokio::test]
async fn routes_answer_like_salesforce_at_their_edges() {
    let sim = start_sim().await;
    let http = no_redirect();
    let (status, v) = token(&sim, "prod", &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_string();
    let url = |p: &str| format!("{}{p}", sim.url);
    let send = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let limit = r
            .headers()
            .get("Sforce-Limit-Info")
            .map(|h| h.to_str().unwrap().to_string());
        (status, limit, r.text().await.unwrap())
    };

    // Outside any org, and an org that does not exist.
    let (s, _, body) = send(http.get(url("/elsewhere"))).await;
    assert_eq!((s, body.contains("NOT_FOUND")), (404, true), "{body}");
    let (s, _, body) = send(http.get(url("/o/prod"))).await;
    assert_eq!((s, body.contains("NOT_FOUND")), (404, true), "{body}");
    let (s, _, body) = send(http.get(url("/o/nosuch/services/data"))).await;
    assert_eq!(s, 404);
    assert!(body.contains("no simulated org named nosuch"), "{body}");

    // The version list is open; an unknown resource needs a session, then is metered.
    let (s, limit, _) = send(http.get(url("/o/prod/services/data/"))).await;
    assert_eq!((s, limit), (200, None));
    let (s, _, body) = send(http.get(url("/o/prod/services/data/v66.0/nothing"))).await;
    assert_eq!(s, 401);
    assert!(body.contains("INVALID_SESSION_ID"), "{body}");
    let (s, limit, body) = send(
        http.get(url("/o/prod/services/data/v66.0/nothing"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(limit.as_deref(), Some("api-usage=1/15000"));
    // An open endpoint called with another method is such an unknown resource too.
    let (s, _, _) = send(http.get(url("/o/prod/services/oauth2/token"))).await;
    assert_eq!(s, 401);
    let (s, limit, _) = send(
        http.get(url("/o/prod/services/oauth2/token"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!((s, limit.as_deref()), (404, Some("api-usage=2/15000")));
    // So is a known resource with a method it does not take, and a version without its `v`.
    let (s, _, _) = send(
        http.delete(url("/o/prod/services/data/v66.0/limits"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = send(
        http.get(url("/o/prod/services/data/66.0/limits"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(s, 404);

    // Tooling queries page under the Tooling prefix.
    let mut settings = sim.admin().settings().await.unwrap();
    settings.query_batch = 1;
    sim.admin().set_settings(&settings).await.unwrap();
    let (s, _, body) = send(
        http.get(url("/o/dev1/services/data/v66.0/tooling/query"))
            .query(&[("q", "SELECT Id FROM Organization")])
            .bearer_auth(&access),
    )
    .await;
    // A session of prod is no session of dev1.
    assert_eq!(s, 401, "{body}");
    let prod = access.clone();
    sim.admin()
        .put_org(
            "dev2",
            &OrgSpec {
                sandbox: true,
                sandbox_of: Some("prod".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (s, _, body) = send(
        http.get(url("/o/prod/services/data/v66.0/tooling/query"))
            .query(&[("q", "SELECT Id FROM SandboxInfo")])
            .bearer_auth(&prod),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let next = v["nextRecordsUrl"].as_str().unwrap();
    assert!(
        next.starts_with("/services/data/v66.0/tooling/query/"),
        "{next}"
    );
    let (s, _, body) = send(http.get(url(&format!("/o/prod{next}"))).bearer_auth(&prod)).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"done\":true"), "{body}");

    // SOAP: a session failure is a SOAP fault; a fault injected for one operation hits only it
    // and answers in SOAP's shape.
    let soap = |op: &str, session: &str| {
        format!(
            "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"http://soap.sforce.com/2006/04/metadata\"><soapenv:Header><SessionHeader><sessionId>{session}</sessionId></SessionHeader></soapenv:Header><soapenv:Body><{op}><asyncProcessId>0Af000000000000AAA</asyncProcessId></{op}></soapenv:Body></soapenv:Envelope>"
        )
    };
    let soap_url = url("/o/prod/services/Soap/m/66.0");
    let (s, _, body) = send(http.post(&soap_url).body(soap("checkDeployStatus", "nope"))).await;
    assert_eq!(s, 500);
    assert!(body.contains("sf:INVALID_SESSION_ID"), "{body}");
    sim.admin()
        .add_fault(&backflow::sim::Fault {
            matches: "checkRetrieveStatus".into(),
            kind: backflow::sim::FaultKind::Unavailable,
            times: 1,
        })
        .await
        .unwrap();
    let (s, _, body) = send(http.post(&soap_url).body(soap("checkDeployStatus", &prod))).await;
    assert_eq!(s, 500);
    assert!(body.contains("sf:INVALID_ID_FIELD"), "{body}");
    let (s, _, body) = send(
        http.post(&soap_url)
            .body(soap("checkRetrieveStatus", &prod)),
    )
    .await;
    assert_eq!(s, 500);
    assert!(body.contains("sf:SERVER_UNAVAILABLE"), "{body}");
    let (s, _, body) = send(
        http.post(&soap_url)
            .body(soap("checkRetrieveStatus", &prod)),
    )
    .await;
    assert!(
        body.contains("sf:INVALID_ID_FIELD"),
        "used up after one hit: {s} {body}"
    );

    // The control API names an unknown path.
    let (s, _, body) = send(http.get(url("/_sim/nothing"))).await;
    assert_eq!(s, 404);
    assert!(
        body.contains("unknown control path /_sim/nothing"),
        "{body}"
    );
    let (s, _, body) = send(http.get(url("/_sim/faults"))).await;
    assert_eq!(s, 404, "{body}");
}

/// The simulator as the engine's host of simulated orgs: nothing runs for a fresh workspace,
/// and it never starts one just to answer.
#[tokio::test]
async fn the_org_host_reports_no_simulator_for_a_fresh_workspace() {
    use backflow::engine::connect::OrgHost;
    let dir = tempfile::tempdir().unwrap();
    let mut orgs = BTreeMap::new();
    orgs.insert(
        "qa".to_string(),
        backflow::domain::config::OrgConfig {
            auth: backflow::domain::config::Auth::Simulated,
            ..Default::default()
        },
    );
    let host = backflow::sim::WorkspaceHost;
    assert!(host.running(dir.path(), &orgs).await.is_none());
    assert!(!workspace::sim_dir(dir.path()).join("port").exists());
}

/// Changes made directly in an org that no branch holds (an extra field, a label, a profile
/// entry) are seeded through the control API, and a retrieve at the org's own origin returns
/// them next to what the branch deployed.
#[tokio::test]
async fn changes_made_directly_in_an_org_come_back_in_a_retrieve() {
    use backflow::domain::config::{OrgConfig, TimingConfig};
    use backflow::salesforce::{SalesforceClient, TokenStore};
    let sim = start_sim().await;
    let url = sim.org_url("dev1").expect("dev1 has its own origin");
    assert!(!url.contains("/o/"), "{url}");
    let drifted_object = OBJECT.replace(
        "    <label>Account</label>",
        "    <fields>\n        <fullName>Hotfix__c</fullName>\n        <type>Checkbox</type>\n    </fields>\n    <label>Account</label>",
    );
    let labels = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <labels>\n        <fullName>Greeting</fullName>\n        <language>en_US</language>\n        <protected>false</protected>\n        <shortDescription>Greeting</shortDescription>\n        <value>Hello from the org</value>\n    </labels>\n</CustomLabels>\n";
    let profile = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <classAccesses>\n        <apexClass>AccountService</apexClass>\n        <enabled>true</enabled>\n    </classAccesses>\n    <fieldPermissions>\n        <editable>true</editable>\n        <field>Account.Hotfix__c</field>\n        <readable>true</readable>\n    </fieldPermissions>\n    <custom>false</custom>\n</Profile>\n";
    sim.admin()
        .edit_org(
            "dev1",
            &[
                ("objects/Account.object", drifted_object.as_bytes()),
                ("labels/CustomLabels.labels", labels.as_bytes()),
                ("profiles/Admin.profile", profile.as_bytes()),
            ],
            &[],
        )
        .await
        .expect("seed the org's own changes");

    let cfg = OrgConfig {
        auth: backflow::domain::config::Auth::Simulated,
        url: Some(url),
        ..Default::default()
    };
    let timing = TimingConfig {
        poll_ms: 2,
        poll_max_ms: 10,
        ..Default::default()
    };
    let c = SalesforceClient::connect("dev1", &cfg, &timing, &TokenStore::unavailable("tests"))
        .await
        .expect("connects at the org's own origin");
    let pkg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n<types><members>Account</members><name>CustomObject</name></types>\n<types><members>CustomLabels</members><name>CustomLabels</name></types>\n<types><members>Admin</members><name>Profile</name></types>\n<version>66.0</version>\n</Package>";
    let got = c
        .retrieve(pkg, &tokio_util::sync::CancellationToken::new())
        .await
        .expect("retrieve");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(got.zip)).unwrap();
    let mut read = |name: &str| {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).expect(name), &mut s).unwrap();
        s
    };
    let object = read("unpackaged/objects/Account.object");
    assert!(
        object.contains("Hotfix__c") && object.contains("Region__c") && object.contains("Tier__c"),
        "the whole object, the org's own field included:\n{object}"
    );
    assert!(read("unpackaged/labels/CustomLabels.labels").contains("Hello from the org"));
    let profile = read("unpackaged/profiles/Admin.profile");
    // Profiles carry only entries about components in the same retrieve.
    assert!(profile.contains("Account.Hotfix__c"), "{profile}");
    assert!(!profile.contains("AccountService"), "{profile}");
}

/// A retrieve of more than 10,000 files fails as Salesforce's does; the zip of a retrieve is
/// handed out once.
#[tokio::test]
async fn retrieves_are_capped_at_ten_thousand_files_and_hand_out_their_zip_once() {
    use backflow::domain::config::{OrgConfig, TimingConfig};
    use backflow::salesforce::{SalesforceClient, TokenStore};
    let sim = SimServer::start(None, 0).await.unwrap();
    let files: BTreeMap<String, String> = (0..10_001)
        .map(|i| (format!("classes/C{i}.cls"), b64(b"public class C {}")))
        .collect();
    sim.admin()
        .put_org(
            "big",
            &OrgSpec {
                files: Some(files),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cfg = OrgConfig {
        auth: backflow::domain::config::Auth::Simulated,
        url: sim.org_url("big"),
        ..Default::default()
    };
    let timing = TimingConfig {
        poll_ms: 2,
        poll_max_ms: 10,
        ..Default::default()
    };
    let c = SalesforceClient::connect("big", &cfg, &timing, &TokenStore::unavailable("tests"))
        .await
        .unwrap();
    let all = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n<types><members>*</members><name>ApexClass</name></types>\n<version>66.0</version>\n</Package>";
    let e = c
        .retrieve(all, &tokio_util::sync::CancellationToken::new())
        .await
        .expect_err("over the file limit");
    assert_eq!(e.code(), Some("LIMIT_EXCEEDED"), "{e}");

    // One class: the first finished status carries the zip, a second one does not.
    let http = reqwest::Client::new();
    let token = c.session().access_token.expose().to_string();
    let soap_url = format!("{}/services/Soap/m/66.0", sim.org_url("big").unwrap());
    let call = |body: String| {
        let http = http.clone();
        let soap_url = soap_url.clone();
        let token = token.clone();
        async move {
            let env = format!(
                "<?xml version=\"1.0\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"http://soap.sforce.com/2006/04/metadata\"><soapenv:Header><SessionHeader><sessionId>{token}</sessionId></SessionHeader></soapenv:Header><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
            );
            http.post(&soap_url)
                .header("Content-Type", "text/xml")
                .header("SOAPAction", "\"\"")
                .body(env)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let started = call("<retrieve><retrieveRequest><apiVersion>66.0</apiVersion><unpackaged><types><members>C1</members><name>ApexClass</name></types><version>66.0</version></unpackaged></retrieveRequest></retrieve>".into()).await;
    let id = started
        .split("<id>")
        .nth(1)
        .and_then(|s| s.split("</id>").next())
        .expect("an async id")
        .to_string();
    let status = |id: String| {
        call(format!(
            "<checkRetrieveStatus><asyncProcessId>{id}</asyncProcessId><includeZip>true</includeZip></checkRetrieveStatus>"
        ))
    };
    let first = status(id.clone()).await;
    assert!(first.contains("<done>false</done>"), "{first}");
    let done = status(id.clone()).await;
    assert!(done.contains("<zipFile>"), "{done}");
    let again = status(id).await;
    assert!(
        again.contains("<done>true</done>") && !again.contains("<zipFile>"),
        "{again}"
    );
}
