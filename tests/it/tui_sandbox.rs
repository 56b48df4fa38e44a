//! The console's sandbox actions: masking (dry-run counts, typed confirmation, the task on the
//! jobs pane), refresh with the re-sync prompt after it, and the re-sync on demand. Effects of
//! these actions are run with `tui::tasks::run` on the real engine, as the event loop runs them.

use crate::common::{DemoWs, demo, engine};
use backflow::domain::job::{JobKind, JobSpec};
use backflow::engine::mask::{MaskReport, RuleCount};
use backflow::engine::refresh::RefreshReport;
use backflow::engine::sync::Lacking;
use backflow::tui::app::{App, Effect, Modal, Msg, Screen};
use backflow::tui::keymap::{Action, Keymap};
use backflow::tui::tasks::{self, TaskEffect, TaskKind, TaskMsg};
use backflow::tui::theme::Theme;
use backflow::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Map, Value};

const NOW: i64 = 1_790_000_000;

fn app_for(engine: &backflow::engine::Engine, readonly: bool) -> App {
    let mut app = App::new(Keymap::default_map(), "demo".into(), readonly, NOW);
    app.user = "rm@acme.example".into();
    app.update(Msg::BoardLoaded(Ok(engine.board_now().unwrap())));
    app
}

fn key(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

fn enter(app: &mut App) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, c);
    }
}

fn focus(app: &mut App, env: &str) {
    let idx = app.board.as_ref().and_then(|b| b.env_index(env)).unwrap();
    while app.board_view.col > idx {
        key(app, 'h');
    }
    while app.board_view.col < idx {
        key(app, 'l');
    }
}

fn screen(app: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(100, 30)).unwrap();
    t.draw(|f| view::draw(f, app, &Theme::load(true))).unwrap();
    t
}

fn text(t: &Terminal<TestBackend>) -> String {
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

/// Runs a task effect on the engine as the event loop does and feeds every message it sends
/// back into the app (in order); returns the effects the app asked for meanwhile.
fn drive(app: &mut App, engine: &backflow::engine::Engine, eff: TaskEffect) -> Vec<Effect> {
    let (tx, rx) = std::sync::mpsc::channel();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(tasks::run(engine.clone(), eff, move |m| {
        let _ = tx.send(m);
    }));
    let mut out = Vec::new();
    for m in rx.try_iter() {
        out.extend(app.update(m));
    }
    out
}

fn task_effect(eff: &[Effect]) -> TaskEffect {
    match eff {
        [Effect::Task(t)] => t.clone(),
        other => panic!("expected one task effect, got {other:?}"),
    }
}

fn rows(ws: &DemoWs, org: &str, object: &str) -> Vec<Map<String, Value>> {
    let (org, object) = (org.to_string(), object.to_string());
    ws.sim(async move |a| a.records(&org, &object).await.unwrap())
}

fn field<'a>(r: &'a Map<String, Value>, f: &str) -> &'a str {
    r.get(f).and_then(Value::as_str).unwrap_or("")
}

const RULES: &str = r#"
[masking]
seed = "console"

[[masking.rule]]
object = "Contact"
field = "Email"
strategy = "email"

[[masking.rule]]
object = "Contact"
field = "LastName"
strategy = "name"
"#;

#[test]
fn the_mask_action_counts_confirms_and_masks_the_sandbox_in_the_background() {
    let ws = DemoWs::new();
    let cfg = ws.dir.join("backflow.toml");
    let t = std::fs::read_to_string(&cfg).unwrap();
    // A Partial Copy sandbox holds production data (a Developer one would be skipped).
    let org = "[orgs.dev2]\nauth = \"simulated\"\n";
    assert!(t.contains(org));
    let t = t.replace(org, &format!("{org}license = \"PARTIAL\"\n"));
    std::fs::write(&cfg, format!("{t}\n{RULES}")).unwrap();
    // The CLI's dry run starts the workspace simulator the console then shares.
    let o = ws.run(&["mask", "dev2", "--dry-run", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", crate::common::text(&o));
    let engine = engine(&ws.dir);
    let before = rows(&ws, "dev2", "Contact");
    let mut app = app_for(&engine, false);

    // Production is refused with the reason, before anything runs.
    focus(&mut app, "prod");
    assert!(key(&mut app, 'M').is_empty());
    assert!(matches!(app.modals.last(), Some(Modal::Notice(n)) if n.0.contains("production")));
    app.modals.clear();

    focus(&mut app, "dev2");
    let eff = key(&mut app, 'M');
    assert_eq!(
        task_effect(&eff),
        TaskEffect::MaskDryRun { env: "dev2".into() }
    );
    // The count runs in the background; a notice says so until it arrives.
    assert!(matches!(app.modals.last(), Some(Modal::Notice(n)) if n.0.contains("Counting")));
    assert!(drive(&mut app, &engine, task_effect(&eff)).is_empty());
    let Some(Modal::SandboxConfirm(c)) = app.modals.last() else {
        panic!("{:?}", app.modals);
    };
    assert_eq!(c.kind, TaskKind::Mask);
    assert!(
        c.lines.iter().any(|l| l.contains("Contact.Email")),
        "{:?}",
        c.lines
    );
    insta::assert_snapshot!("sandbox_mask_confirm_100x30", screen(&app).backend());
    assert_eq!(
        rows(&ws, "dev2", "Contact"),
        before,
        "the count changes nothing"
    );

    // The env's name, exactly.
    typed(&mut app, "dev");
    assert!(enter(&mut app).is_empty());
    assert!(text(&screen(&app)).contains("type 'dev2' exactly"));
    typed(&mut app, "2");
    let eff = enter(&mut app);
    assert_eq!(
        task_effect(&eff),
        TaskEffect::Mask {
            task: 1,
            env: "dev2".into()
        }
    );
    assert_eq!(app.screen, Screen::Jobs);
    assert!(app.tasks[0].running() && app.busy());
    insta::assert_snapshot!("sandbox_mask_running_100x30", screen(&app).backend());

    let after = drive(&mut app, &engine, task_effect(&eff));
    assert_eq!(after, vec![Effect::LoadBoard], "the board is read again");
    let t = &app.tasks[0];
    assert!(!t.failed, "{t:?}");
    let summary = t.summary.clone().unwrap();
    assert!(summary.starts_with("masked 60 records"), "{summary}");
    assert!(!t.lines.is_empty(), "progress lines arrived");
    let s = text(&screen(&app));
    assert!(s.contains("✓ mask dev2 · masked 60 records"), "{s}");

    // The org's records are masked; production's are not.
    let masked = rows(&ws, "dev2", "Contact");
    assert_eq!(masked.len(), before.len());
    for (b, a) in before.iter().zip(&masked) {
        assert_eq!(b["Id"], a["Id"]);
        assert_ne!(field(a, "Email"), field(b, "Email"));
        assert_ne!(field(a, "LastName"), field(b, "LastName"));
        assert_eq!(field(a, "FirstName"), field(b, "FirstName"));
    }
    let prod = rows(&ws, "prod", "Contact");
    assert!(
        prod.iter()
            .zip(&before)
            .all(|(p, b)| p["Email"] == b["Email"])
    );
}

fn fixture() -> (tempfile::TempDir, backflow::engine::Engine) {
    let d = demo();
    let e = engine(d.path());
    (d, e)
}

#[test]
fn developer_sandboxes_get_a_notice_and_readonly_refuses() {
    let (_d, engine) = fixture();
    let mut app = app_for(&engine, false);
    let report = MaskReport {
        env: "qa".into(),
        skipped: Some("qa is a DEVELOPER sandbox: it holds no production data".into()),
        counts: vec![RuleCount {
            rule: "Contact.Email".into(),
            records: 3,
        }],
        ..Default::default()
    };
    app.update(Msg::Task(TaskMsg::Counted {
        env: "qa".into(),
        result: Ok(report),
    }));
    assert!(matches!(app.modals.last(), Some(Modal::Notice(n)) if n.0.contains("DEVELOPER")));
    assert!(app.tasks.is_empty());

    let mut ro = app_for(&engine, true);
    focus(&mut ro, "qa");
    for c in ['M', 'F', 'S'] {
        assert!(key(&mut ro, c).is_empty());
        assert!(matches!(ro.modals.pop(), Some(Modal::Notice(n)) if n.0.contains("Read-only")));
    }
}

#[test]
fn a_completed_refresh_offers_the_lacking_stories_as_back_promotions() {
    let (_d, engine) = fixture();
    let mut app = app_for(&engine, false);
    // qa protected here: the re-sync's jobs then need its typed name too.
    if let Some(b) = app.board.as_mut() {
        b.envs
            .iter_mut()
            .filter(|e| e.name == "qa")
            .for_each(|e| e.protected = true);
    }
    focus(&mut app, "qa");
    assert!(key(&mut app, 'F').is_empty());
    assert!(
        matches!(app.modals.last(), Some(Modal::SandboxConfirm(c)) if c.kind == TaskKind::Refresh)
    );
    insta::assert_snapshot!("sandbox_refresh_confirm_100x30", screen(&app).backend());
    // Esc leaves everything as it was.
    app.update(Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    assert!(app.modals.is_empty() && app.tasks.is_empty());
    key(&mut app, 'F');
    typed(&mut app, "qa");
    let eff = enter(&mut app);
    assert_eq!(
        task_effect(&eff),
        TaskEffect::Refresh {
            task: 1,
            env: "qa".into()
        }
    );
    app.update(Msg::Task(TaskMsg::Line {
        task: 1,
        line: "qa: Processing (40%)".into(),
    }));
    assert!(text(&screen(&app)).contains("qa: Processing (40%)"));
    let lacking = vec![
        Lacking {
            story: "US-0104".into(),
            from: "uat".into(),
        },
        Lacking {
            story: "US-0105".into(),
            from: "uat".into(),
        },
    ];
    let report = RefreshReport {
        env: "qa".into(),
        sandbox: "qa".into(),
        started: true,
        process: "0GR1".into(),
        status: "Completed".into(),
        completed: true,
        previous_tip: None,
        new_tip: None,
        lacking,
        problems: vec![],
    };
    let eff = app.update(Msg::Task(TaskMsg::Refreshed {
        task: 1,
        result: Ok(report),
    }));
    assert_eq!(eff, vec![Effect::LoadBoard]);
    assert_eq!(
        app.tasks[0].summary.as_deref(),
        Some("refreshed; 2 stories lacking")
    );
    assert!(matches!(app.modals.last(), Some(Modal::Resync(_))));
    insta::assert_snapshot!("sandbox_resync_prompt_100x30", screen(&app).backend());
    // A protected env: its name is typed before the jobs go.
    assert!(key(&mut app, 'y').is_empty());
    assert!(matches!(app.modals.last(), Some(Modal::Confirm(_))));
    typed(&mut app, "qa");
    let [Effect::Submit(specs)] = &enter(&mut app)[..] else {
        panic!("{:?}", app.modals);
    };
    let got: Vec<(&str, &str, Vec<String>)> = specs
        .iter()
        .map(|s: &JobSpec| (s.from.as_str(), s.target.as_str(), s.stories.clone()))
        .collect();
    assert_eq!(
        got,
        vec![(
            "uat",
            "qa",
            vec!["US-0104".to_string(), "US-0105".to_string()]
        )]
    );
    assert!(
        specs
            .iter()
            .all(|s| s.kind == JobKind::BackPromote && s.confirmed)
    );

    // A failed refresh says why and offers nothing.
    let mut app = app_for(&engine, false);
    focus(&mut app, "qa");
    key(&mut app, 'F');
    typed(&mut app, "qa");
    enter(&mut app);
    app.update(Msg::Task(TaskMsg::Refreshed {
        task: 1,
        result: Err("qa cannot be refreshed before tomorrow".into()),
    }));
    assert!(app.tasks[0].failed && app.modals.is_empty());
    assert!(text(&screen(&app)).contains("✗ refresh qa · failed: qa cannot be refreshed"));
}

#[test]
fn resync_on_demand_reads_what_the_sandbox_lacks_from_the_branches() {
    let (_d, engine) = fixture();
    let mut app = app_for(&engine, false);
    focus(&mut app, "dev1");
    let eff = key(&mut app, 'S');
    assert_eq!(
        task_effect(&eff),
        TaskEffect::Lacking { env: "dev1".into() }
    );
    drive(&mut app, &engine, task_effect(&eff));
    assert_eq!(app.modals.len(), 1, "the reading notice is gone");
    let status = engine.status_now().unwrap();
    let want = backflow::engine::sync::lacking(&engine.ws, &status, "dev1");
    assert!(!want.is_empty(), "the demo's dev1 lacks stories from above");
    let Some(Modal::Resync(p)) = app.modals.last() else {
        panic!("{:?}", app.modals);
    };
    assert_eq!(p.lacking, want);
    let [Effect::Submit(specs)] = &key(&mut app, 'y')[..] else {
        panic!("dev1 is not protected: the jobs go at once");
    };
    let n: usize = specs.iter().map(|s| s.stories.len()).sum();
    assert_eq!(n, want.len());
    assert!(specs.iter().all(|s| s.target == "dev1" && !s.confirmed));

    // The keys are in the help and the palette.
    let help: Vec<Action> = app.keymap.bindings.iter().map(|b| b.action).collect();
    for a in [Action::Mask, Action::RefreshSandbox, Action::Resync] {
        assert!(help.contains(&a), "{a:?}");
        assert!(!app.keymap.help_for(a).is_empty());
    }
    key(&mut app, ':');
    typed(&mut app, "mask the");
    let s = text(&screen(&app));
    assert!(s.contains("mask the sandbox"), "{s}");
}
