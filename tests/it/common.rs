//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// A `git` command isolated from the machine's configuration.
pub fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    c
}

/// The real binary, with state and logs kept inside `state`.
pub fn backflow(state: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_backflow"));
    c.env("BACKFLOW_STATE_DIR", state)
        .env("XDG_DATA_HOME", state.join("data"))
        .env("XDG_STATE_HOME", state.join("state"))
        .env("XDG_CONFIG_HOME", state.join("config"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("NO_COLOR", "1");
    c
}

/// A demo workspace built in a fresh temp dir (the same SHAs on every machine).
pub fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    backflow::engine::demo::ensure(dir.path()).expect("demo builds");
    dir
}

/// An engine on the workspace at `dir`, with simulated orgs hosted as the binary hosts them.
pub fn engine(dir: &Path) -> backflow::engine::Engine {
    backflow::engine::connect::install_org_host(backflow::sim::WorkspaceHost::shared());
    let ws =
        backflow::engine::Workspace::load(&dir.join("backflow.toml")).expect("workspace loads");
    backflow::engine::Engine::new(ws)
}

/// A demo workspace built by the real binary (`demo --headless`): the state dir and the
/// workspace inside it.
pub fn demo_workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    let state = tempfile::tempdir().expect("temp dir");
    let ws = state.path().join("ws");
    let out = backflow(state.path())
        .args(["demo", "--headless", "--dir"])
        .arg(&ws)
        .output()
        .expect("backflow runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (state, ws)
}

/// Commits `files` onto `branch` of the repository at `dir` (as a hotfix made there).
pub fn commit_on(dir: &Path, branch: &str, subject: &str, files: &[(&str, &str)]) {
    let repo = git2::Repository::open(dir).unwrap();
    let parent = repo
        .revparse_single(branch)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let mut up = git2::build::TreeUpdateBuilder::new();
    for (p, t) in files {
        up.upsert(*p, repo.blob(t.as_bytes()).unwrap(), git2::FileMode::Blob);
    }
    let tree = repo
        .find_tree(up.create_updated(&repo, &parent.tree().unwrap()).unwrap())
        .unwrap();
    let sig = git2::Signature::new(
        "Dev",
        "dev@acme.example",
        &git2::Time::new(1_790_000_000, 0),
    )
    .unwrap();
    let oid = repo
        .commit(None, &sig, &sig, subject, &tree, &[&parent])
        .unwrap();
    repo.reference(&format!("refs/heads/{branch}"), oid, true, "test")
        .unwrap();
}

/// A demo workspace driven through the real binary, with the simulator its first command
/// starts (shared by the engine tests and the fault matrix).
pub struct DemoWs {
    pub state: tempfile::TempDir,
    pub dir: std::path::PathBuf,
}

impl DemoWs {
    pub fn new() -> DemoWs {
        let (state, dir) = demo_workspace();
        DemoWs { state, dir }
    }

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        backflow(self.state.path())
            .current_dir(&self.dir)
            .env("BACKFLOW_USER", "rm@acme.example")
            .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
            .args(args)
            .output()
            .unwrap()
    }

    pub fn sim<T>(&self, f: impl AsyncFnOnce(backflow::sim::SimAdmin) -> T) -> T {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let h = backflow::sim::workspace::connect_existing(&self.dir)
                .await
                .expect("simulator running");
            f(h.admin).await
        })
    }

    /// Runs `back-promote --from <from> --to <to> --story <story> --yes` followed by `extra`
    /// (e.g. `--on-conflict source`, `--json`) and returns the command's output.
    pub fn back_promote(
        &self,
        from: &str,
        to: &str,
        story: &str,
        extra: &[&str],
    ) -> std::process::Output {
        self.run(&back_promote_args(from, to, story, extra))
    }

    /// Back-promotes US-0101 from prod to dev1 taking the source side of every conflict (the
    /// set-up of the rollback tests); asserts it succeeded and returns the command's output.
    pub fn back_promote_us0101_to_dev1(&self) -> std::process::Output {
        let o = self.back_promote(
            "prod",
            "dev1",
            "US-0101",
            &["--on-conflict", "source", "--json"],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        o
    }

    pub fn deploys(&self) -> Vec<backflow::sim::DeployLogEntry> {
        self.sim(async |a| a.deploy_log().await.unwrap())
    }
}

/// Every test stops the simulator it started.
impl Drop for DemoWs {
    fn drop(&mut self) {
        let dir = self.dir.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            if let Some(h) = backflow::sim::workspace::connect_existing(&dir).await {
                let _ = h.admin.shutdown().await;
            }
        });
    }
}

/// A command's stdout and stderr, for assertion messages and text checks.
/// `back-promote --from <from> --to <to> --story <story> --yes` followed by `extra`: the
/// arguments of one back promotion, for tests that run the binary their own way.
pub fn back_promote_args<'a>(
    from: &'a str,
    to: &'a str,
    story: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "back-promote",
        "--from",
        from,
        "--to",
        to,
        "--story",
        story,
        "--yes",
    ];
    args.extend_from_slice(extra);
    args
}

pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The JSON Lines a `--json` command printed, one value a line.
pub fn events(o: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}
