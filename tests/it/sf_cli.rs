//! The Salesforce CLI as a conformance client: an unmodified `sf` logs in to a simulated org at
//! its own origin, reads it, deploys to it and retrieves from it, and backflow reuses that login
//! (`auth = "sf-cli"`). The tests run when the CLI is found — `BACKFLOW_SF_BIN`, the cache
//! `scripts/install-sf.sh` fills, `/tmp/oracles/sf`, or `sf` on PATH — and print a notice and
//! pass otherwise. Every `sf` runs with a temporary HOME, so nothing touches the user's logins.

use super::sim::{CLASS, CLASS_META, start_sim};
use backflow::sim::SimServer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A real Salesforce CLI: `sf --version` names `@salesforce/cli` (a stand-in script another
/// test installs in `BACKFLOW_SF_BIN` does not).
fn sf_bin() -> Option<&'static PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(p) = std::env::var_os("BACKFLOW_SF_BIN") {
            candidates.push(p.into());
        }
        if let Some(home) = std::env::var_os("HOME") {
            candidates.push(Path::new(&home).join(".cache/backflow-sf/sf"));
        }
        candidates.push("/tmp/oracles/sf".into());
        candidates.push("sf".into());
        candidates.into_iter().find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .env("SF_DISABLE_TELEMETRY", "true")
                .env("SF_AUTOUPDATE_DISABLE", "true")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("@salesforce/cli/"))
        })
    })
    .as_ref()
}

/// The CLI, or `None` after printing why the test is skipped.
fn sf_or_skip(test: &str) -> Option<&'static PathBuf> {
    let bin = sf_bin();
    if bin.is_none() {
        println!(
            "note: {test} skipped: no Salesforce CLI found (set BACKFLOW_SF_BIN or run scripts/install-sf.sh)"
        );
    }
    bin
}

/// A private `sf` state: HOME and the XDG dirs live in a temp dir.
struct Sf {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Sf {
    fn new(bin: &Path) -> Sf {
        Sf {
            bin: bin.to_path_buf(),
            home: tempfile::tempdir().expect("temp HOME"),
        }
    }

    /// Runs `sf ARGS --json` in `dir` and returns its JSON; panics with the output on a
    /// non-zero status.
    async fn run(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
        let home = self.home.path();
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.args(args)
            .arg("--json")
            .current_dir(dir)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("SF_DISABLE_TELEMETRY", "true")
            .env("SF_AUTOUPDATE_DISABLE", "true")
            .env("SF_SKIP_NEW_VERSION_CHECK", "true")
            .env_remove("SF_ACCESS_TOKEN")
            .env_remove("SF_TARGET_ORG")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(std::time::Duration::from_secs(180), cmd.output())
            .await
            .expect("sf finishes within 3 minutes")
            .expect("sf runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
            panic!(
                "sf {args:?} printed no JSON:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(
            out.status.success() && v["status"] == 0,
            "sf {args:?} failed: {v:#}"
        );
        v
    }

    /// `sf org login access-token` to `org` of `sim`, as alias `org`.
    async fn login(&self, sim: &SimServer, org: &str) -> String {
        let url = sim.org_url(org).expect("org is served at its own origin");
        let token = access_token(&url).await;
        let v = self
            .run(
                self.home.path(),
                &[
                    "org",
                    "login",
                    "access-token",
                    "--instance-url",
                    &url,
                    "--no-prompt",
                    "--alias",
                    org,
                ],
                &[("SF_ACCESS_TOKEN", &token)],
            )
            .await;
        assert_eq!(v["result"]["username"], format!("admin@{org}.sim"), "{v:#}");
        url
    }
}

/// A session of the org, minted as the simulated orgs' client-credentials grant.
async fn access_token(org_url: &str) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{org_url}/services/oauth2/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    v["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

/// Logs in with an access token, reads the org as `sf` does, then backflow reuses the login.
#[tokio::test(flavor = "multi_thread")]
async fn sf_logs_in_reads_the_org_and_backflow_reuses_the_login() {
    let Some(bin) = sf_or_skip("sf_logs_in_reads_the_org_and_backflow_reuses_the_login") else {
        return;
    };
    let sim = start_sim().await;
    let sf = Sf::new(bin);
    let url = sf.login(&sim, "prod").await;
    let here = sf.home.path();

    let shown = sf
        .run(here, &["org", "display", "--target-org", "prod"], &[])
        .await;
    let r = &shown["result"];
    assert_eq!(r["username"], "admin@prod.sim", "{shown:#}");
    assert_eq!(
        r["instanceUrl"].as_str().map(|u| u.trim_end_matches('/')),
        Some(url.as_str())
    );
    assert_eq!(r["connectedStatus"], "Connected", "{shown:#}");

    let q = sf
        .run(
            here,
            &[
                "data",
                "query",
                "--target-org",
                "prod",
                "--query",
                "SELECT Id, Username FROM User",
            ],
            &[],
        )
        .await;
    assert_eq!(
        q["result"]["records"][0]["Username"], "admin@prod.sim",
        "{q:#}"
    );

    let t = sf
        .run(
            here,
            &["org", "auth", "show-access-token", "--target-org", "prod"],
            &[],
        )
        .await;
    let token = t["result"]["accessToken"].as_str().expect("a token");
    assert!(token.starts_with("00D"), "{t:#}");

    // backflow with `auth = "sf-cli"`, run as its own process so the CLI it calls is this one.
    let ws = tempfile::tempdir().unwrap();
    git2::Repository::init(ws.path()).unwrap();
    let config = ws.path().join("backflow.toml");
    std::fs::write(
        &config,
        "[project]\n\n[[env]]\nname = \"prod\"\nbranch = \"main\"\nkind = \"prod\"\norg = \"prod\"\n\n\
         [orgs.prod]\nauth = \"sf-cli\"\nsf_alias = \"prod\"\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_backflow"))
        .arg("--config")
        .arg(&config)
        .args(["releases", "--json"])
        .env("BACKFLOW_SF_BIN", bin)
        .env("HOME", here)
        .env("XDG_CONFIG_HOME", here.join(".config"))
        .env("XDG_DATA_HOME", here.join(".local/share"))
        .env("XDG_CACHE_HOME", here.join(".cache"))
        .env("SF_DISABLE_TELEMETRY", "true")
        .env("SF_AUTOUPDATE_DISABLE", "true")
        .output()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "backflow printed no JSON: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let row = &v["envs"][0];
    assert!(row["error"].is_null(), "{v:#}");
    assert_eq!(row["api_version"], "67.0", "{v:#}");
}

/// An sfdx project holding one class and its test.
fn project(dir: &Path) {
    let classes = dir.join("force-app/main/default/classes");
    std::fs::create_dir_all(&classes).unwrap();
    std::fs::write(
        dir.join("sfdx-project.json"),
        r#"{"packageDirectories":[{"path":"force-app","default":true}],"sourceApiVersion":"66.0"}"#,
    )
    .unwrap();
    let test = "@isTest\nprivate class HelloTest {\n    @isTest static void answers() {\n        System.assertEquals(42, Hello.answer());\n    }\n}\n";
    let class = "public class Hello {\n    public static Integer answer() {\n        return 42;\n    }\n}\n";
    for (name, body) in [("Hello", class), ("HelloTest", test)] {
        std::fs::write(classes.join(format!("{name}.cls")), body).unwrap();
        std::fs::write(classes.join(format!("{name}.cls-meta.xml")), CLASS_META).unwrap();
    }
}

/// Deploys over SOAP and REST, validates then quick-deploys, and retrieves, all with `sf`.
#[tokio::test(flavor = "multi_thread")]
async fn sf_deploys_validates_quick_deploys_and_retrieves() {
    let Some(bin) = sf_or_skip("sf_deploys_validates_quick_deploys_and_retrieves") else {
        return;
    };
    let sim = start_sim().await;
    let sf = Sf::new(bin);
    sf.login(&sim, "prod").await;
    let proj = tempfile::tempdir().unwrap();
    project(proj.path());
    let here = proj.path();
    let deploy = [
        "project",
        "deploy",
        "start",
        "--source-dir",
        "force-app",
        "--target-org",
        "prod",
        "--wait",
        "5",
    ];

    // SOAP (the CLI's default), then the REST deployRequest resource.
    let soap = sf.run(here, &deploy, &[]).await;
    assert_eq!(soap["result"]["status"], "Succeeded", "{soap:#}");
    // The CLI deploys a single package: messages name files without an `unpackaged/` folder.
    let successes = &soap["result"]["details"]["componentSuccesses"];
    assert!(
        successes
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m["fileName"] == "classes/Hello.cls")),
        "{soap:#}"
    );
    let rest = sf
        .run(here, &deploy, &[("SF_ORG_METADATA_REST_DEPLOY", "true")])
        .await;
    assert_eq!(rest["result"]["status"], "Succeeded", "{rest:#}");
    let files = sim.admin().files("prod").await.unwrap();
    assert!(files.contains_key("classes/Hello.cls") && files.contains_key("classes/HelloTest.cls"));

    let validated = sf
        .run(
            here,
            &[
                "project",
                "deploy",
                "validate",
                "--source-dir",
                "force-app",
                "--target-org",
                "prod",
                "--test-level",
                "RunLocalTests",
                "--wait",
                "5",
            ],
            &[],
        )
        .await;
    assert_eq!(validated["result"]["status"], "Succeeded", "{validated:#}");
    let job = validated["result"]["id"].as_str().expect("validation id");
    let quick = sf
        .run(
            here,
            &[
                "project",
                "deploy",
                "quick",
                "--job-id",
                job,
                "--target-org",
                "prod",
                "--wait",
                "5",
            ],
            &[],
        )
        .await;
    assert_eq!(quick["result"]["status"], "Succeeded", "{quick:#}");
    assert_ne!(quick["result"]["id"], job, "a quick deploy is a new deploy");

    // The org's copy comes back into the project.
    let class = here.join("force-app/main/default/classes/AccountService.cls");
    let got = sf
        .run(
            here,
            &[
                "project",
                "retrieve",
                "start",
                "--metadata",
                "ApexClass:AccountService",
                "--target-org",
                "prod",
                "--wait",
                "5",
            ],
            &[],
        )
        .await;
    assert_eq!(got["result"]["status"], "Succeeded", "{got:#}");
    assert_eq!(std::fs::read_to_string(class).unwrap(), CLASS);
}

/// `sf data query` (REST, paged) and `sf data export bulk` (Bulk API 2.0) read the simulated
/// org's records.
#[tokio::test(flavor = "multi_thread")]
async fn sf_reads_records_with_rest_and_bulk_queries() {
    let Some(bin) = sf_or_skip("sf_reads_records_with_rest_and_bulk_queries") else {
        return;
    };
    let sim = start_sim().await;
    let sf = Sf::new(bin);
    sf.login(&sim, "prod").await;
    let here = sf.home.path();
    let q = sf
        .run(
            here,
            &[
                "data",
                "query",
                "--target-org",
                "prod",
                "--query",
                "SELECT Id, Email FROM Contact WHERE LastName != 'x'",
            ],
            &[],
        )
        .await;
    assert_eq!(q["result"]["totalSize"], 60, "{q:#}");
    assert!(
        q["result"]["records"][0]["Email"]
            .as_str()
            .unwrap()
            .contains('@')
    );
    let out = here.join("contacts.csv");
    let b = sf
        .run(
            here,
            &[
                "data",
                "export",
                "bulk",
                "--target-org",
                "prod",
                "--query",
                "SELECT Id, Email FROM Contact",
                "--output-file",
                out.to_str().unwrap(),
                "--wait",
                "2",
            ],
            &[],
        )
        .await;
    let csv = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}: {b:#}"));
    assert_eq!(csv.lines().count(), 61, "{csv}");
    assert!(csv.lines().next().unwrap().contains("Email"));
}
