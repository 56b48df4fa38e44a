//! `[[notify]]` webhooks delivered from real jobs to a local HTTP receiver: each format's
//! payload shape, retries after server errors, the URL from an env var, no secret in a body.

use crate::common::{DemoWs, backflow};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Received {
    /// (endpoint, body) in arrival order, failed attempts included.
    calls: Vec<(String, serde_json::Value)>,
}

async fn hook(
    State(r): State<Arc<Mutex<Received>>>,
    Path(name): Path<String>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> StatusCode {
    let mut r = r.lock().unwrap();
    let before = r.calls.iter().filter(|(n, _)| *n == name).count();
    r.calls.push((name.clone(), body));
    // The flaky endpoint fails the first two attempts.
    if name == "flaky" && before < 2 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

#[test]
fn job_events_reach_each_webhook_in_its_format_with_retries() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let received = Arc::new(Mutex::new(Received::default()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route("/{name}", post(hook))
        .with_state(received.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    let ws = DemoWs::new();
    let cfg = ws.dir.join("backflow.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[[notify]]\nurl_env = \"BACKFLOW_TEST_SLACK_HOOK\"\nformat = \"slack\"\nevents = [\"finished\", \"failed\"]\n\n\
         [[notify]]\nurl = \"http://127.0.0.1:{port}/teams\"\nformat = \"teams\"\nevents = [\"failed\"]\n\n\
         [[notify]]\nurl = \"http://127.0.0.1:{port}/flaky\"\nformat = \"json\"\nretries = 3\nbackoff_ms = 20\n"
    ));
    std::fs::write(&cfg, text).unwrap();
    let secret_url = format!("http://127.0.0.1:{port}/slack");
    let o = backflow(ws.state.path())
        .current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_TEST_SLACK_HOOK", &secret_url)
        .args([
            "back-promote",
            "--from",
            "prod",
            "--to",
            "qa",
            "--story",
            "US-0101",
            "--yes",
            "--on-conflict",
            "source",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let job = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["job"].as_str().map(str::to_string))
        .unwrap();
    let calls = received.lock().unwrap().calls.clone();
    let at = |n: &str| -> Vec<serde_json::Value> {
        calls
            .iter()
            .filter(|(e, _)| e == n)
            .map(|(_, b)| b.clone())
            .collect()
    };
    // Slack: one `finished` message with text and blocks, naming the env and the job.
    let slack = at("slack");
    assert_eq!(slack.len(), 1, "{calls:?}");
    assert!(slack[0]["text"].as_str().unwrap().contains("qa"));
    assert_eq!(slack[0]["blocks"][0]["type"], "header");
    assert!(slack[0].to_string().contains(&job));
    // Teams subscribed to failures only: nothing failed.
    assert!(at("teams").is_empty(), "{calls:?}");
    // The generic JSON hook failed twice with 500 and got the notice on the third attempt.
    let flaky = at("flaky");
    assert_eq!(flaky.len(), 3, "{flaky:?}");
    assert!(
        flaky.iter().all(|b| b == &flaky[0]),
        "the same notice each time"
    );
    assert_eq!(flaky[0]["event"], "finished");
    assert_eq!(flaky[0]["target"], "qa");
    assert_eq!(flaky[0]["job"], job.as_str());
    // No payload carries the webhook URL or a session token.
    for (_, b) in &calls {
        let s = b.to_string();
        assert!(!s.contains(&secret_url), "{s}");
        assert!(!s.contains("access_token") && !s.contains("Bearer"), "{s}");
    }
}

#[test]
fn a_webhook_without_its_url_is_a_config_error() {
    let ws = DemoWs::new();
    let cfg = ws.dir.join("backflow.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[[notify]]\nformat = \"slack\"\n");
    std::fs::write(&cfg, text).unwrap();
    let o = ws.run(&["status"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("[[notify]]") && err.contains("url_env"),
        "{err}"
    );
}
