//! No token the simulator issues ends up anywhere backflow writes: a back promotion with trace
//! logging, crashed after its deploy and resumed, then every log, journal, state file, git
//! object reachable from any ref (the audit branch included), JSON output and crash output is
//! scanned for the simulator's access tokens (`<org id>!AQ…`) and refresh tokens. The same
//! scan covers panic output: a job panicked (`BACKFLOW_PANIC_AT`) with a backtrace asked for.

use crate::common::{DemoWs, back_promote_args, backflow, git};
use std::path::Path;
use std::process::Output;

/// The simulator's access-token shape (see `mint` in the simulator's OAuth routes).
fn access_token_re() -> regex::Regex {
    regex::Regex::new(r"[0-9A-Za-z]{15}!AQ[0-9A-Za-z]{20,}").unwrap()
}

fn run(ws: &DemoWs, args: &[&str], crash_at: Option<&str>) -> Output {
    run_env(ws, args, crash_at.map(|p| ("BACKFLOW_CRASH_AT", p)))
}

/// `run` with one more variable set (a crash or panic point).
fn run_env(ws: &DemoWs, args: &[&str], var: Option<(&str, &str)>) -> Output {
    let mut c = backflow(ws.state.path());
    c.current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .env("BACKFLOW_LOG", "trace")
        .env("RUST_LOG", "trace")
        .args(args);
    if let Some((k, v)) = var {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Every file under `dir` except the simulator's own store (which holds the tokens by design)
/// and git's object database (scanned through git below, decompressed).
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.ends_with(".backflow/sim") || p.ends_with(".git") {
            continue;
        }
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Where `needle`-like secrets were found in `hay` (labelled `what`).
fn hits(what: &str, hay: &str, refresh: &[String], out: &mut Vec<String>) {
    if let Some(m) = access_token_re().find(hay) {
        out.push(format!("{what}: access token {}…", &m.as_str()[..20]));
    }
    for r in refresh {
        if hay.contains(r.as_str()) {
            out.push(format!("{what}: refresh token {}…", &r[..10]));
        }
    }
}

#[test]
fn no_issued_token_reaches_logs_journals_git_or_output() {
    let ws = DemoWs::new();
    let args = back_promote_args(
        "prod",
        "qa",
        "US-0101",
        &["--on-conflict", "source", "--json"],
    );
    let crashed = run(&ws, &args, Some("deploy:after"));
    assert_ne!(
        crashed.status.code(),
        Some(0),
        "the crash point was reached"
    );
    let job = {
        let o = run(&ws, &["jobs", "--json"], None);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["jobs"][0]["job"].as_str().unwrap().to_string()
    };
    let resumed = run(&ws, &["resume", &job, "--json"], None);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let audit = run(&ws, &["audit", "verify"], None);

    let refresh = issued_refresh_tokens(&ws);

    let mut found = Vec::new();
    for (what, o) in [
        ("crashed run", &crashed),
        ("resume", &resumed),
        ("audit", &audit),
    ] {
        hits(
            &format!("{what} stdout"),
            &String::from_utf8_lossy(&o.stdout),
            &refresh,
            &mut found,
        );
        hits(
            &format!("{what} stderr"),
            &String::from_utf8_lossy(&o.stderr),
            &refresh,
            &mut found,
        );
    }
    let mut list = Vec::new();
    files(ws.state.path(), &mut list);
    let mut log_bytes = 0;
    for p in &list {
        let bytes = std::fs::read(p).unwrap();
        if p.to_string_lossy().contains("/logs/") {
            log_bytes += bytes.len();
        }
        hits(
            &p.display().to_string(),
            &String::from_utf8_lossy(&bytes),
            &refresh,
            &mut found,
        );
    }
    // Every commit and file reachable from any ref: env branches, promote branches, the audit
    // branch with its records.
    let all = git(&ws.dir)
        .args(["log", "--all", "-p", "--format=%H %B"])
        .output()
        .unwrap();
    assert!(all.status.success());
    let history = String::from_utf8_lossy(&all.stdout);
    hits("git history", &history, &refresh, &mut found);
    let audit_log = git(&ws.dir)
        .args(["log", "-p", "backflow/audit"])
        .output()
        .unwrap();
    assert!(audit_log.status.success(), "the audit branch exists");
    hits(
        "audit branch",
        &String::from_utf8_lossy(&audit_log.stdout),
        &refresh,
        &mut found,
    );

    assert!(found.is_empty(), "secrets written out: {found:#?}");
    // The scan looked at something real: trace logs were written, and the scanner finds the
    // tokens where they do live (the simulator's store).
    assert!(log_bytes > 10_000, "trace logs written ({log_bytes} bytes)");
    let mut control = Vec::new();
    hits(
        "simulator store",
        &String::from_utf8_lossy(&std::fs::read(ws.dir.join(".backflow/sim/state.json")).unwrap()),
        &refresh,
        &mut control,
    );
    hits(
        "sample",
        "00D000000000001!AQabcdefghijklmnopqrstuvwxyz0123456789",
        &[],
        &mut control,
    );
    assert!(!control.is_empty(), "the scanner finds tokens");
    assert!(
        control
            .iter()
            .any(|c| c.starts_with("sample: access token"))
    );
}

/// A refresh token the credential store refuses is revoked at once: the token grant with it
/// then fails.
#[tokio::test]
async fn a_refresh_token_that_cannot_be_stored_is_revoked() {
    use backflow::salesforce::{Secret, StoredLogin, TokenStore};
    let sim = crate::sim::start_sim().await;
    let http = reqwest::Client::new();
    let token_url = format!("{}/o/prod/services/oauth2/token", sim.url);
    let post = |form: Vec<(&'static str, String)>| {
        let (http, url) = (http.clone(), token_url.clone());
        async move {
            let r = http.post(url).form(&form).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    // A refresh token issued through the device flow (answers "pending" a few times first).
    let (_, v) = post(vec![
        ("response_type", "device_code".into()),
        ("client_id", "abc".into()),
    ])
    .await;
    let code = v["device_code"].as_str().unwrap().to_string();
    let mut refresh = None;
    for _ in 0..10 {
        let (s, v) = post(vec![
            ("grant_type", "device".into()),
            ("client_id", "abc".into()),
            ("code", code.clone()),
        ])
        .await;
        if s == 200 {
            refresh = v["refresh_token"].as_str().map(str::to_string);
            break;
        }
    }
    let refresh = refresh.expect("a refresh token");
    let grant = || {
        post(vec![
            ("grant_type", "refresh_token".into()),
            ("client_id", "abc".into()),
            ("refresh_token", refresh.clone()),
        ])
    };
    let (s, v) = grant().await;
    assert_eq!(s, 200, "the token works before: {v}");
    assert!(
        v["refresh_token"].is_null(),
        "no rotation: only a revoke can end this token"
    );

    let login = StoredLogin {
        username: "admin@prod.example".into(),
        login_url: format!("{}/o/prod", sim.url),
        instance_url: format!("{}/o/prod", sim.url),
        client_id: "abc".into(),
        refresh_token: Secret::new(&refresh),
        client_secret: None,
    };
    let store = TokenStore::unavailable("test: the keyring is locked");
    let e = backflow::engine::orgs::store_or_revoke(&store, "prod", &login)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("the keyring is locked"), "{e}");
    assert!(e.contains("was revoked"), "{e}");
    assert!(
        !e.contains(&refresh),
        "the message does not carry the token"
    );
    let (s, v) = grant().await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
}

/// The refresh tokens the simulator issued, from its own store.
fn issued_refresh_tokens(ws: &DemoWs) -> Vec<String> {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.dir.join(".backflow/sim/state.json")).unwrap())
            .unwrap();
    state["refresh_tokens"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// A job panics mid-run (after its deploy was sent, while the session is in use, and after
/// the org accepted) with trace logging and `RUST_BACKTRACE=1`: the report on stderr, the
/// backtrace and the log hold no issued token, the job fails with a documented code and a
/// `resume` finishes it with the one deploy.
#[test]
fn a_panicking_job_reports_no_token_and_resumes() {
    for point in ["deploy:sent", "deploy:after"] {
        let ws = DemoWs::new();
        let args = back_promote_args(
            "prod",
            "qa",
            "US-0101",
            &["--on-conflict", "source", "--json"],
        );
        let mut c = backflow(ws.state.path());
        let panicked = c
            .current_dir(&ws.dir)
            .env("BACKFLOW_USER", "rm@acme.example")
            .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
            .env("BACKFLOW_LOG", "trace")
            .env("RUST_LOG", "trace")
            .env("RUST_BACKTRACE", "1")
            .env("BACKFLOW_PANIC_AT", point)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&panicked.stderr).into_owned();
        assert_eq!(panicked.status.code(), Some(3), "{point}: {err}");
        assert!(
            err.contains(&format!("panic point {point} reached"))
                && err.contains("internal error")
                && err.contains("backflow resume"),
            "{point}: the report says what happened and what to do: {err}"
        );
        assert!(
            err.contains("crash::named"),
            "{point}: the backtrace was printed: {err}"
        );
        let job = {
            let o = run(&ws, &["jobs", "--json"], None);
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            v["jobs"][0]["job"].as_str().unwrap().to_string()
        };
        let resumed = run(&ws, &["resume", &job, "--json"], None);
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            String::from_utf8_lossy(&resumed.stderr)
        );
        let real = ws
            .deploys()
            .into_iter()
            .filter(|d| d.org == "qa" && !d.check_only)
            .count();
        assert_eq!(real, 1, "{point}: one deploy reached the org");
        let audit = run(&ws, &["audit", "verify"], None);
        assert!(audit.status.success(), "{point}: audit verify");

        let refresh = issued_refresh_tokens(&ws);
        let mut found = Vec::new();
        for (what, o) in [("panicked run", &panicked), ("resume", &resumed)] {
            for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
                let hay = String::from_utf8_lossy(bytes);
                hits(&format!("{what} {stream}"), &hay, &refresh, &mut found);
            }
        }
        let mut list = Vec::new();
        files(ws.state.path(), &mut list);
        let mut logged = false;
        for p in &list {
            let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
            logged |= p.to_string_lossy().contains("/logs/")
                && text.contains("internal error (panic)")
                && text.contains(point);
            hits(&p.display().to_string(), &text, &refresh, &mut found);
        }
        assert!(found.is_empty(), "{point}: secrets written out: {found:#?}");
        assert!(logged, "{point}: the panic is in the log file");
    }
}
