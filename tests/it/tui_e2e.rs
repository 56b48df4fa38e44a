//! The real console in a terminal: tmux runs the binary on a demo workspace, the test polls the
//! screen with a deadline, presses keys and checks the terminal comes back intact. Skipped (with
//! a note) where tmux is not installed.

use crate::common::backflow;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            let ok = self
                .cmd()
                .args(["send-keys", "-t", "e2e", k])
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "send-keys {k}");
            // Keep Esc apart from the next key, or it reads as Alt+key.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screen(&self) -> String {
        self.cmd()
            .args(["capture-pane", "-p", "-t", "e2e"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn wait_for(&self, what: &str, deadline: Duration) -> String {
        self.wait_for_any(&[what], deadline)
    }

    fn wait_for_any(&self, what: &[&str], deadline: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if what.iter().any(|w| s.contains(w)) {
                return s;
            }
            assert!(
                start.elapsed() < deadline,
                "{what:?} not on screen after {deadline:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// The demo workspace's temp dir; dropping it first stops the simulators that commands run in
/// it started in the background (they outlive the console by design), even when the test
/// failed half-way.
struct Demo {
    dir: Option<tempfile::TempDir>,
    sim: std::path::PathBuf,
}

impl Demo {
    fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("/"))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        stop_simulator(&self.sim);
        drop(self.dir.take());
    }
}

/// `POST /_sim/shutdown` to the simulator whose port file is in `dir`, then waits (briefly) for
/// its process to go; kills it by its pid file if it does not.
fn stop_simulator(dir: &Path) {
    use std::io::{Read, Write};
    let pid = std::fs::read_to_string(dir.join("pid")).ok();
    if let Some(port) = std::fs::read_to_string(dir.join("port"))
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        && let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port))
    {
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(
            b"POST /_sim/shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
    }
    let Some(pid) = pid.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) else {
        return;
    };
    let proc = Path::new("/proc").join(&pid);
    let start = Instant::now();
    while proc.exists() && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if proc.exists() {
        let _ = Command::new("kill").arg(&pid).status();
    }
}

/// A demo workspace and the console running on it in a detached 80×24 tmux session.
struct Console {
    state: Demo,
    ws: std::path::PathBuf,
    exit_file: std::path::PathBuf,
    tmux: Tmux,
}

fn launch(tag: &str) -> Option<Console> {
    launch_with(tag, "", "")
}

/// `backflow ARGS` (the console without arguments) started with `env` (`NAME=value …`) in the
/// tmux session; after it exits the shell records the exit code and the terminal's settings
/// (`stty -a`) beside it.
fn launch_with(tag: &str, env: &str, args: &str) -> Option<Console> {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: skipping the terminal end-to-end test");
        return None;
    }
    let (dir, ws) = crate::common::demo_workspace();
    let sim = ws.join(".backflow").join("sim");
    let state = Demo {
        dir: Some(dir),
        sim,
    };
    let exit_file = state.path().join("exit");
    let s = state.path();
    // A person at a terminal: CI's `CI=true` (which makes the CLI non-interactive) is not theirs.
    let script = format!(
        "cd {ws} && unset CI && BACKFLOW_STATE_DIR={st} XDG_DATA_HOME={st}/data XDG_STATE_HOME={st}/state \
         XDG_CONFIG_HOME={st}/config GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 NO_COLOR=1 \
         BACKFLOW_USER=e2e {env} {bin} {args}; echo $? > {exit}; stty -a > {exit}.stty; \
         echo CONSOLE-EXITED; sleep 30",
        ws = sh_quote(&ws),
        st = sh_quote(s),
        bin = sh_quote(Path::new(env!("CARGO_BIN_EXE_backflow"))),
        exit = sh_quote(&exit_file),
        env = env,
    );
    let tmux = Tmux {
        socket: format!("backflow-e2e-{tag}-{}", std::process::id()),
    };
    let ok = tmux
        .cmd()
        .args([
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            "80",
            "-y",
            "24",
            &script,
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "tmux did not start");
    Some(Console {
        state,
        ws,
        exit_file,
        tmux,
    })
}

#[test]
fn console_back_promotes_a_hotfix_to_two_sandboxes_and_restores_the_terminal() {
    let Some(Console {
        state,
        ws,
        exit_file,
        tmux,
    }) = launch("hotfix")
    else {
        return;
    };
    let deadline = Duration::from_secs(30);
    tmux.wait_for("US-0", deadline);
    tmux.keys(&["?"]);
    tmux.wait_for("keys (j/k scroll", deadline);
    tmux.keys(&["Escape"]);
    // The hotfix in uat, back to every env below that lacks it.
    tmux.keys(&["l", "l", "l", "b"]);
    let s = tmux.wait_for("targets", deadline);
    assert!(
        s.contains("[x] qa") && s.contains("[x] dev1") && s.contains("[x] dev2"),
        "{s}"
    );
    // Two sandboxes: leave qa out.
    tmux.keys(&["Space", "Enter"]);
    tmux.wait_for("enter run on 2 targets", deadline);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Jobs(2)", deadline);
    // Both jobs run to the end on the simulated orgs (answering nothing: no conflict here).
    let start = Instant::now();
    loop {
        let s = tmux.screen();
        if s.matches("deployed · ").count() == 2 {
            break;
        }
        assert!(start.elapsed() < deadline, "the jobs did not deploy:\n{s}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Whatever the jobs ask, esc leaves it for later.
    tmux.keys(&["Escape", "Escape"]);
    // Log in from Orgs: the console steps aside for `backflow login`, then repaints in full.
    tmux.keys(&["4"]);
    tmux.wait_for("dev2", deadline);
    tmux.keys(&["l"]);
    // Simulated orgs log in at once; a failing login waits for enter first.
    let s = tmux.wait_for_any(&["press enter to return", "Logged in to dev1"], deadline);
    if s.contains("press enter to return") {
        tmux.keys(&["Enter"]);
    }
    let s = tmux.wait_for_any(&["Logged in to dev1", "login dev1"], deadline);
    assert!(
        s.contains("1 Board") && s.contains("orgs"),
        "not repainted:\n{s}"
    );
    tmux.keys(&["Escape", "1", "q"]);
    let s = tmux.wait_for("CONSOLE-EXITED", deadline);
    let code = std::fs::read_to_string(&exit_file).unwrap_or_default();
    assert_eq!(code.trim(), "0", "exit code; screen:\n{s}");
    // Back on the normal screen: the board is gone, the alternate screen is off.
    assert!(!s.contains("1 Board"), "the console is still drawn:\n{s}");
    let alt = tmux
        .cmd()
        .args(["display-message", "-p", "-t", "e2e", "#{alternate_on}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&alt.stdout).trim(), "0");
    // The deploys the simulated orgs accepted, as the audit log recorded them.
    let out = backflow(state.path())
        .current_dir(&ws)
        .args(["audit", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let recs = v["records"].as_array().expect("records");
    let mut to: Vec<&str> = recs.iter().filter_map(|r| r["to"].as_str()).collect();
    to.sort();
    assert_eq!(to, ["dev1", "dev2"], "{v}");
    for r in recs {
        assert_eq!(r["outcome"], "deployed");
        assert_eq!(r["stories"][0], "US-0105");
        assert!(!r["deploy_ids"].as_array().unwrap().is_empty());
    }
}

#[test]
fn console_resolves_conflicts_of_a_back_promotion() {
    let Some(Console {
        state,
        ws,
        exit_file,
        tmux,
    }) = launch("conflict")
    else {
        return;
    };
    let deadline = Duration::from_secs(60);
    tmux.wait_for("US-0", deadline);
    // Everything qa has that dev1 lacks: the Apex class, the layout and the LWC conflict.
    tmux.keys(&["l", "l", "a", "b"]);
    tmux.wait_for("targets", deadline);
    tmux.keys(&["j", "Space", "Enter"]);
    tmux.wait_for("enter run on 1 target", deadline);
    tmux.keys(&["Enter"]);
    // Keep the target's version of each conflict as it comes.
    let start = Instant::now();
    let mut answered = 0;
    loop {
        let s = tmux.screen();
        if s.contains("deployed · ") {
            break;
        }
        if s.contains("conflict · ") && s.contains(" s source") {
            tmux.keys(&["t"]);
            answered += 1;
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(
            start.elapsed() < deadline,
            "the job did not deploy ({answered} answers):\n{s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(answered >= 1, "no conflict was asked");
    tmux.keys(&["q"]);
    tmux.wait_for("CONSOLE-EXITED", deadline);
    let code = std::fs::read_to_string(&exit_file).unwrap_or_default();
    assert_eq!(code.trim(), "0");
    let out = backflow(state.path())
        .current_dir(&ws)
        .args(["audit", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let recs = v["records"].as_array().expect("records");
    assert_eq!(recs.len(), 1, "{v}");
    assert_eq!(recs[0]["to"], "dev1");
    assert_eq!(recs[0]["outcome"], "deployed");
}

#[test]
fn console_follows_a_cli_job_started_in_another_process() {
    let Some(Console {
        state,
        ws,
        exit_file,
        tmux,
    }) = launch("other")
    else {
        return;
    };
    let deadline = Duration::from_secs(30);
    tmux.wait_for("US-0", deadline);
    let s = tmux.screen();
    assert!(!s.contains("deployed · "), "no job yet:\n{s}");
    // Another terminal back-promotes the uat hotfix to dev1 while the console stays open.
    let out = backflow(state.path())
        .current_dir(&ws)
        .env("BACKFLOW_USER", "night-shift")
        .args([
            "back-promote",
            "--from",
            "uat",
            "--to",
            "dev1",
            "--story",
            "US-0105",
            "--yes",
            "--json",
        ])
        .output()
        .expect("backflow runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = String::from_utf8_lossy(&out.stdout).into_owned();
    // The console's Jobs tab learns of it from the journal, without a restart or a key.
    let s = tmux.wait_for("Jobs(1)", deadline);
    assert!(s.contains("1 Board"), "{s}");
    tmux.keys(&["2"]);
    let s = tmux.wait_for("deployed · ", deadline);
    assert!(s.contains("dev1"), "the job's target is listed:\n{s}");
    assert!(job.contains("dev1"), "{job}");
    tmux.keys(&["1", "q"]);
    tmux.wait_for("CONSOLE-EXITED", deadline);
    let code = std::fs::read_to_string(&exit_file).unwrap_or_default();
    assert_eq!(code.trim(), "0");
}

/// A panic in the console's own loop (`BACKFLOW_PANIC_AT=console:drawn`, after the first
/// frame) hands the terminal back as it was: normal screen, no mouse reporting, line editing
/// and echo on; the report names the bug and carries no escape codes of the board.
#[test]
fn a_console_panic_restores_the_terminal_and_reports_the_bug() {
    let Some(Console {
        state: _state,
        ws: _ws,
        exit_file,
        tmux,
    }) = launch_with(
        "panic",
        "BACKFLOW_PANIC_AT=console:drawn RUST_BACKTRACE=0",
        "",
    )
    else {
        return;
    };
    let deadline = Duration::from_secs(30);
    let s = tmux.wait_for("CONSOLE-EXITED", deadline);
    let code = std::fs::read_to_string(&exit_file).unwrap_or_default();
    assert_eq!(code.trim(), "101", "a panic exits 101; screen:\n{s}");
    assert!(
        s.contains("internal error in thread main") && s.contains("BACKFLOW_PANIC_AT"),
        "the panic is reported:\n{s}"
    );
    assert!(!s.contains("1 Board"), "the console is still drawn:\n{s}");
    let flag = |f: &str| {
        let o = tmux
            .cmd()
            .args(["display-message", "-p", "-t", "e2e", f])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(flag("#{alternate_on}"), "0", "back on the normal screen");
    assert_eq!(flag("#{mouse_any_flag}"), "0", "mouse reporting off");
    let stty = std::fs::read_to_string(exit_file.with_extension("stty")).unwrap_or_default();
    let words: Vec<&str> = stty.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig"] {
        assert!(words.contains(&mode), "{mode} restored: {stty}");
    }
}

#[test]
fn a_terminal_prompt_gives_way_to_an_answer_from_another_process() {
    let Some(Console {
        state,
        ws,
        exit_file,
        tmux,
    }) = launch_with(
        "prompt",
        "",
        "back-promote --from prod --to dev1 --story US-0101 --yes",
    )
    else {
        return;
    };
    let deadline = Duration::from_secs(60);
    let start = Instant::now();
    let mut answered = 0;
    // Each question waits at the prompt; `backflow answer` from another process answers it.
    loop {
        let s = tmux.wait_for_any(&["take (s)ource", "CONSOLE-EXITED"], deadline);
        if s.contains("CONSOLE-EXITED") {
            break;
        }
        // A question still open: asked after the last one answered elsewhere.
        let open = s.rfind("answer from anywhere") > s.rfind("answered elsewhere");
        if open {
            // The job's id, from its journal (the prompt's line wraps at 80 columns).
            let job = std::fs::read_dir(state.path().join("workspaces"))
                .unwrap()
                .flatten()
                .flat_map(|w| {
                    std::fs::read_dir(w.path().join("jobs"))
                        .into_iter()
                        .flatten()
                })
                .flatten()
                .map(|j| j.file_name().to_string_lossy().into_owned())
                .next()
                .expect("a job journal");
            let o = backflow(state.path())
                .current_dir(&ws)
                .env("BACKFLOW_USER", "ops@acme.example")
                .args(["answer", &job, "source"])
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", crate::common::text(&o));
            answered += 1;
            let t0 = Instant::now();
            while tmux.screen().rfind("answer from anywhere")
                > tmux.screen().rfind("answered elsewhere")
            {
                assert!(
                    t0.elapsed() < deadline,
                    "the prompt stayed:\n{}",
                    tmux.screen()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        assert!(start.elapsed() < deadline * 2, "still asking:\n{s}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let s = tmux.screen();
    assert!(answered > 0, "no question asked:\n{s}");
    assert!(s.contains("branch now at"), "deployed:\n{s}");
    let code = std::fs::read_to_string(&exit_file).unwrap_or_default();
    assert_eq!(code.trim(), "0", "{s}");
}
