//! Console snapshots (TestBackend + insta) and `update` scenarios, on the demo pipeline with an
//! injected clock. Jobs, conflicts and drift are driven with built `JobState`/`JobEvent` values.

use crate::common::{demo, engine};
use backflow::domain::job::{
    Answer, DecisionKind, DeployError, EventKind, JobEvent, JobKind, JobSpec, JobState, Outcome,
    PendingDecision, Step, StepStatus,
};
use backflow::domain::org::{LoginState, OrgInfo, OrgLimit};
use backflow::domain::{Board, Plan};
use backflow::engine::audit::AuditRecord;
use backflow::engine::views;
use backflow::git::Caches;
use backflow::tui::app::{App, Effect, Modal, Msg, RequestId, Screen};
use backflow::tui::keymap::Keymap;
use backflow::tui::theme::Theme;
use backflow::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Color, Modifier};

const NOW: i64 = 1_790_000_000; // fixed "now" for ages and elapsed times

struct Fixture {
    _dir: tempfile::TempDir,
    engine: backflow::engine::Engine,
    board: Board,
}

fn fixture() -> Fixture {
    let d = demo();
    let engine = engine(d.path());
    let board = engine.board_now().unwrap();
    Fixture {
        _dir: d,
        engine,
        board,
    }
}

fn app_on(fx: &Fixture, readonly: bool) -> App {
    let mut app = App::new(Keymap::default_map(), "demo".into(), readonly, NOW);
    app.user = "tester".into();
    let eff = app.update(Msg::BoardLoaded(Ok(fx.board.clone())));
    assert_eq!(eff, vec![Effect::LoadIndex, Effect::LoadAuto]);
    app
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn keys(app: &mut App, s: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for c in s.chars() {
        out.extend(app.update(key(c)));
    }
    out
}

fn render(app: &App, w: u16, h: u16, theme: &Theme) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, app, theme)).unwrap();
    t
}

fn plain() -> Theme {
    Theme::load(true)
}

/// The position of `text` on screen (first occurrence).
fn find(buf: &Buffer, text: &str) -> Option<(u16, u16)> {
    let n = text.chars().count() as u16;
    for y in 0..buf.area.height {
        for x in 0..buf.area.width.saturating_sub(n - 1) {
            let word: String = (0..n)
                .map(|i| buf[(x + i, y)].symbol().to_string())
                .collect();
            if word == text {
                return Some((x, y));
            }
        }
    }
    None
}

fn screen_text(t: &Terminal<TestBackend>) -> String {
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

fn focus_col(app: &mut App, name: &str) {
    let idx = app.board.as_ref().and_then(|b| b.env_index(name)).unwrap();
    while app.board_view.col > idx {
        app.update(key('h'));
    }
    while app.board_view.col < idx {
        app.update(key('l'));
    }
}

#[test]
fn first_frame_shows_loading_before_data() {
    let app = App::new(Keymap::default_map(), "demo".into(), false, NOW);
    let t = render(&app, 80, 24, &plain());
    insta::assert_snapshot!("loading_80x24", t.backend());
}

#[test]
fn board_snapshots_and_prod_is_unmistakable() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let theme = Theme::load(false);
    insta::assert_snapshot!("board_80x24", render(&app, 80, 24, &theme).backend());
    insta::assert_snapshot!("board_160x48", render(&app, 160, 48, &theme).backend());
    for _ in 0..4 {
        app.update(key('l'));
    }
    let t = render(&app, 80, 24, &theme);
    insta::assert_snapshot!("board_prod_80x24", t.backend());
    // Scrolled right: the left edge says there is more.
    assert!(find(t.backend().buffer(), "◀").is_some());
    // The prod header: its accent colour, bold and reversed.
    let buf = t.backend().buffer();
    let (x, y) = find(buf, "PROD").expect("no PROD header on screen");
    let c = &buf[(x, y)];
    assert_eq!(c.fg, Color::LightRed);
    assert!(c.modifier.contains(Modifier::REVERSED | Modifier::BOLD));
    // Missing-below badges are warnings.
    app.update(key('h'));
    let t = render(&app, 80, 24, &theme);
    let (x, y) = find(t.backend().buffer(), "▼").expect("badge");
    assert_eq!(t.backend().buffer()[(x, y)].fg, Color::Yellow);
    // Without colour the prod header is still reversed.
    let t = render(&app, 80, 24, &plain());
    let (x, y) = find(t.backend().buffer(), "PROD").unwrap();
    assert!(
        t.backend().buffer()[(x, y)]
            .modifier
            .contains(Modifier::REVERSED)
    );
}

#[test]
fn navigation_help_and_quit() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    assert_eq!(app.board_view.col, 0);
    keys(&mut app, "ll");
    assert_eq!(app.board_view.col, 2);
    app.update(key('j'));
    assert_eq!(app.board_view.rows[2], 1);
    keys(&mut app, "kk");
    assert_eq!(app.board_view.rows[2], 0, "stops at the top");
    app.update(key('G'));
    assert_eq!(app.board_view.rows[2], app.column_len(2) - 1);
    app.update(key('g'));
    app.update(key('?'));
    let t = render(&app, 80, 24, &plain());
    insta::assert_snapshot!("help_80x24", t.backend());
    // Help is generated from the keymap, so every action's help text appears somewhere.
    app.update(key('j'));
    assert!(app.update(key('q')).is_empty(), "q closes the modal first");
    assert_eq!(app.update(key('q')), vec![Effect::Quit]);
}

#[test]
fn selection_marks_ranges_and_everything_missing_below() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "qa");
    app.update(key(' '));
    assert_eq!(app.marked.len(), 1);
    assert_eq!(
        app.board_view.rows[app.board_view.col], 1,
        "space moves down"
    );
    // v … v marks a range.
    app.update(key('v'));
    keys(&mut app, "jj");
    let t = render(&app, 80, 24, &plain());
    assert!(screen_text(&t).contains("range"));
    app.update(key('v'));
    assert_eq!(app.marked.len(), 4);
    app.update(key('u'));
    assert!(app.marked.is_empty());
    // a: every story of the column some env below lacks.
    app.update(key('a'));
    let col = app.board_view.col;
    let expect = app
        .column(col)
        .iter()
        .filter(|s| !app.missing_below(col, s).is_empty())
        .count();
    assert!(expect > 0);
    assert_eq!(app.marked.len(), expect);
    let t = render(&app, 80, 24, &plain());
    assert!(screen_text(&t).contains("marked"));
}

#[test]
fn fuzzy_filter_matches_ids_titles_authors_and_components() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let idx = views::component_index(&fx.engine.ws, &Caches::default()).unwrap();
    app.update(Msg::IndexLoaded(idx));
    focus_col(&mut app, "uat");
    let all = app.column_len(app.board_view.col);
    app.update(key('/'));
    keys(&mut app, "hotfix");
    let n = app.column_len(app.board_view.col);
    assert!(n >= 2 && n < all, "{n} of {all}");
    let t = render(&app, 80, 24, &plain());
    insta::assert_snapshot!("filter_80x24", t.backend());
    app.update(code(KeyCode::Enter));
    assert!(
        app.modals.is_empty(),
        "enter keeps the filter and closes the input"
    );
    assert_eq!(app.board_view.filter, "hotfix");
    // Esc while typing clears the filter.
    app.update(key('/'));
    app.update(code(KeyCode::Esc));
    assert!(app.board_view.filter.is_empty());
    assert_eq!(app.column_len(app.board_view.col), all);
    // A component name only in the index.
    app.update(key('/'));
    keys(&mut app, "VAT_Number");
    assert!(
        app.column(app.board_view.col)
            .iter()
            .any(|s| s.id == "US-0105")
    );
    app.update(key('/'));
    // Nothing matches: the column says so.
    keys(&mut app, "zzzzqqq");
    assert_eq!(app.column_len(app.board_view.col), 0);
    assert!(screen_text(&render(&app, 80, 24, &plain())).contains("no match"));
}

#[test]
fn story_detail_tree_diff_and_component_marks() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "uat");
    let id = app.focused_story().unwrap().id.clone();
    assert_eq!(id, "US-0105");
    let eff = app.update(code(KeyCode::Enter));
    assert_eq!(eff, vec![Effect::LoadDetail(id.clone())]);
    let loading = render(&app, 80, 24, &plain());
    assert!(screen_text(&loading).contains("Reading the story"));
    let detail = views::story_detail(&fx.engine.ws, &Caches::default(), &id).unwrap();
    let eff = app.update(Msg::DetailLoaded(id.clone(), Ok(detail)));
    let Some(Effect::LoadDiff {
        request,
        story,
        path,
        against: None,
    }) = eff.first().cloned()
    else {
        panic!("no diff requested: {eff:?}");
    };
    assert!(path.ends_with("VAT_Number__c.field-meta.xml"), "{path}");
    let diff = views::file_diff(&fx.engine.ws, &Caches::default(), &story, &path, None).unwrap();
    assert!(diff.added);
    app.update(Msg::DiffLoaded(request, Ok(diff)));
    let t = render(&app, 80, 24, &Theme::load(false));
    insta::assert_snapshot!("story_80x24", t.backend());
    // Added lines are green.
    let (x, y) = find(t.backend().buffer(), "+<fullName>")
        .or_else(|| find(t.backend().buffer(), "+    <fullName>"))
        .expect("added line");
    assert_eq!(t.backend().buffer()[(x, y)].fg, Color::LightGreen);
    // Space marks the single component; j moves to the next and asks for its diff.
    app.update(key(' '));
    assert!(
        app.marked_components
            .contains("CustomField:Invoice__c.VAT_Number__c")
    );
    // d compares with the first env, then the next.
    let eff = app.update(key('d'));
    assert!(
        matches!(&eff[..], [Effect::LoadDiff { against: Some(e), .. }] if e == "dev1"),
        "{eff:?}"
    );
    let eff = app.update(key('d'));
    assert!(matches!(&eff[..], [Effect::LoadDiff { against: Some(e), .. }] if e == "dev2"));
    let eff = app.update(key('j'));
    assert!(matches!(&eff[..], [Effect::LoadDiff { path, .. }] if path.contains("profiles")));
    app.update(code(KeyCode::Esc));
    assert!(app.modals.is_empty());
}

#[test]
fn a_late_diff_for_a_file_left_behind_is_dropped() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "uat");
    let id = app.focused_story().unwrap().id.clone();
    app.update(code(KeyCode::Enter));
    let detail = views::story_detail(&fx.engine.ws, &Caches::default(), &id).unwrap();
    let eff = app.update(Msg::DetailLoaded(id.clone(), Ok(detail)));
    let [
        Effect::LoadDiff {
            request: a,
            story,
            path: path_a,
            against,
        },
    ] = &eff[..]
    else {
        panic!("no diff requested: {eff:?}");
    };
    let diff_a = views::file_diff(
        &fx.engine.ws,
        &Caches::default(),
        story,
        path_a,
        against.as_deref(),
    )
    .unwrap();
    // The cursor moves to file B before A's diff arrives.
    let eff = app.update(key('j'));
    let [
        Effect::LoadDiff {
            request: b,
            path: path_b,
            ..
        },
    ] = &eff[..]
    else {
        panic!("no diff requested for the next file: {eff:?}");
    };
    assert_ne!(a, b);
    assert_ne!(path_a, path_b);
    app.update(Msg::DiffLoaded(*a, Ok(diff_a)));
    let Some(Modal::Story(v)) = app.modals.last() else {
        panic!("story detail closed");
    };
    assert!(v.diff.is_none(), "A's diff landed under B's cursor");
    assert!(screen_text(&render(&app, 80, 24, &plain())).contains("Reading the diff"));
    // B's own answer is shown.
    let diff_b = views::file_diff(&fx.engine.ws, &Caches::default(), &id, path_b, None).unwrap();
    app.update(Msg::DiffLoaded(*b, Ok(diff_b)));
    let Some(Modal::Story(v)) = app.modals.last() else {
        panic!("story detail closed");
    };
    assert!(matches!(&v.diff, Some(Ok(d)) if &d.path == path_b));
}

#[test]
fn a_late_plan_for_a_request_replaced_is_dropped() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "uat");
    app.update(key(' '));
    app.update(key('b'));
    let (first, plan) = plan_for(&fx, &app.update(code(KeyCode::Enter)));
    // Back to the picker, one target less, plan again: the first answer is now stale.
    app.update(code(KeyCode::Esc));
    keys(&mut app, "jj ");
    let (second, _) = plan_for(&fx, &app.update(code(KeyCode::Enter)));
    assert_ne!(first, second);
    app.update(Msg::PlanLoaded(first, Ok(plan)));
    let Some(Modal::Plan(v)) = app.modals.last() else {
        panic!("no plan view");
    };
    assert!(v.plan.is_none(), "a stale plan was shown");
    assert!(screen_text(&render(&app, 80, 24, &plain())).contains("Planning"));
}

/// The plan an effect asks for, with the request id its answer carries.
fn plan_for(fx: &Fixture, eff: &[Effect]) -> (RequestId, Plan) {
    let Some(Effect::Plan(id, req)) = eff.first() else {
        panic!("no plan requested: {eff:?}");
    };
    (*id, fx.engine.plan_now(req).unwrap())
}

#[test]
fn back_promotion_picks_targets_plans_and_submits() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "uat");
    app.update(key(' ')); // US-0105
    app.update(key(' ')); // US-0104
    app.update(key('b'));
    let Some(Modal::Targets(p)) = app.modals.last() else {
        panic!("no target picker");
    };
    assert_eq!(p.from, "uat");
    let names: Vec<&str> = p.items.iter().map(|i| i.env.as_str()).collect();
    assert_eq!(
        names,
        ["qa", "dev1", "dev2"],
        "everything below, never prod"
    );
    assert!(p.items.iter().all(|i| i.checked), "all lack the hotfixes");
    insta::assert_snapshot!("targets_80x24", render(&app, 80, 24, &plain()).backend());
    // Uncheck dev2.
    keys(&mut app, "jj ");
    let eff = app.update(code(KeyCode::Enter));
    let (id, plan) = plan_for(&fx, &eff);
    assert_eq!(plan.targets.len(), 2);
    app.update(Msg::PlanLoaded(id, Ok(plan)));
    let theme = Theme::load(false);
    insta::assert_snapshot!("plan_80x24", render(&app, 80, 24, &theme).backend());
    insta::assert_snapshot!("plan_160x48", render(&app, 160, 48, &theme).backend());
    app.update(key('l'));
    insta::assert_snapshot!(
        "plan_second_target_80x24",
        render(&app, 80, 24, &plain()).backend()
    );
    let eff = app.update(code(KeyCode::Enter));
    let [Effect::Submit(specs)] = &eff[..] else {
        panic!("not submitted: {eff:?}");
    };
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[0].kind, JobKind::BackPromote);
    assert_eq!(specs[0].from, "uat");
    assert_eq!(specs[0].target, "qa");
    assert_eq!(specs[1].target, "dev1");
    assert_eq!(specs[0].stories, ["US-0104", "US-0105"]);
    assert_eq!(specs[0].user, "tester");
    assert!(app.modals.is_empty());
    app.update(Msg::Submitted(Ok((
        "b1".into(),
        vec!["j1".into(), "j2".into()],
    ))));
    assert_eq!(app.screen, Screen::Jobs);
    assert!(app.marked.is_empty());
}

/// `b`, every target checked, enter.
fn pick_all(app: &mut App) -> Vec<Effect> {
    app.update(key('b'));
    if let Some(Modal::Targets(p)) = app.modals.last()
        && !p.items.iter().all(|i| i.checked)
    {
        app.update(key('a'));
    }
    app.update(code(KeyCode::Enter))
}

#[test]
fn protected_targets_need_the_typed_name() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "prod");
    let eff = pick_all(&mut app);
    let (id, mut plan) = plan_for(&fx, &eff);
    let uat = plan.targets.iter().position(|t| t.env == "uat").unwrap();
    assert!(plan.targets[uat].protected, "uat is protected in the demo");
    plan.targets.retain(|t| t.env == "uat" || t.env == "qa");
    app.update(Msg::PlanLoaded(id, Ok(plan)));
    assert!(app.update(code(KeyCode::Enter)).is_empty());
    insta::assert_snapshot!("confirm_80x24", render(&app, 80, 24, &plain()).backend());
    assert!(keys(&mut app, "qa").is_empty());
    assert!(app.update(code(KeyCode::Enter)).is_empty(), "wrong name");
    assert!(screen_text(&render(&app, 80, 24, &plain())).contains("exactly"));
    app.update(code(KeyCode::Backspace));
    app.update(code(KeyCode::Backspace));
    keys(&mut app, "uat");
    let eff = app.update(code(KeyCode::Enter));
    let [Effect::Submit(specs)] = &eff[..] else {
        panic!("not submitted: {eff:?}");
    };
    let uat = specs.iter().find(|s| s.target == "uat").unwrap();
    assert!(uat.confirmed);
    // Esc on the confirmation submits nothing.
    let eff = pick_all(&mut app);
    let (id, plan) = plan_for(&fx, &eff);
    app.update(Msg::PlanLoaded(id, Ok(plan)));
    app.update(code(KeyCode::Enter));
    assert!(app.update(code(KeyCode::Esc)).is_empty());
    assert!(app.modals.is_empty());
}

#[test]
fn readonly_refuses_changes_and_hides_them() {
    let fx = fixture();
    let mut app = app_on(&fx, true);
    focus_col(&mut app, "uat");
    assert!(app.update(key('b')).is_empty());
    assert!(matches!(app.modals.last(), Some(Modal::Notice(_))));
    insta::assert_snapshot!("readonly_80x24", render(&app, 80, 24, &plain()).backend());
    app.update(code(KeyCode::Esc));
    app.update(key(':'));
    assert!(
        !palette(&app).iter().any(|(a, _)| a.is_dangerous()),
        "the palette offers no changing action"
    );
}

/// The actions the open palette offers, ranked.
fn palette(app: &App) -> &[(backflow::tui::keymap::Action, String)] {
    let Some(Modal::Palette(p)) = app.modals.last() else {
        panic!("no palette open");
    };
    &p.items
}

#[test]
fn palette_reaches_every_action() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    app.update(key(':'));
    let n = palette(&app).len();
    let distinct: std::collections::BTreeSet<_> = app
        .keymap
        .bindings
        .iter()
        .map(|b| b.action)
        .filter(|a| *a != backflow::tui::keymap::Action::Palette)
        .collect();
    assert_eq!(n, distinct.len());
    keys(&mut app, "jobs");
    insta::assert_snapshot!("palette_80x24", render(&app, 80, 24, &plain()).backend());
    app.update(code(KeyCode::Enter));
    assert_eq!(app.screen, Screen::Jobs);
    assert!(app.modals.is_empty());
    app.update(key(':'));
    keys(&mut app, "history");
    assert_eq!(app.update(code(KeyCode::Enter)), vec![Effect::LoadAudit]);
    assert_eq!(app.screen, Screen::History);
}

// ---- jobs --------------------------------------------------------------------------------

fn spec(target: &str) -> JobSpec {
    JobSpec {
        kind: JobKind::BackPromote,
        from: "uat".into(),
        target: target.into(),
        stories: vec!["US-0105".into()],
        components: vec![],
        validate_only: false,
        test_level: None,
        tests: vec![],
        on_conflict: Default::default(),
        on_drift: Default::default(),
        destructive_pre: false,
        confirmed: false,
        user: "tester".into(),
        rollback_of: None,
    }
}

fn job(id: &str, target: &str) -> JobState {
    let mut j = JobState::new(id.into(), "b1".into(), spec(target), &Step::ALL, NOW - 75);
    j.seq = 1;
    j
}

fn ev(job: &str, seq: u64, kind: EventKind) -> Msg {
    Msg::Job(JobEvent {
        job: job.into(),
        batch: "b1".into(),
        target: "qa".into(),
        seq,
        kind,
    })
}

fn jobs_app(fx: &Fixture) -> App {
    let mut app = app_on(fx, false);
    app.update(key('2'));
    assert_eq!(app.screen, Screen::Jobs);
    app
}

#[test]
fn jobs_pane_streams_steps_counters_and_logs() {
    let fx = fixture();
    let mut app = jobs_app(&fx);
    insta::assert_snapshot!("jobs_empty_80x24", render(&app, 80, 24, &plain()).backend());
    // An event for an unknown job asks for its state.
    assert_eq!(
        app.update(ev(
            "j1",
            1,
            EventKind::Log {
                message: "x".into()
            }
        )),
        vec![Effect::Resync("j1".into())]
    );
    app.update(Msg::JobSynced(Box::new(job("j1", "qa"))));
    assert!(app.busy(), "a running job keeps the clock ticking");
    let mut seq = 1;
    let mut next = |app: &mut App, k: EventKind| {
        seq += 1;
        app.update(ev("j1", seq, k))
    };
    for s in [
        Step::Plan,
        Step::DriftCheck,
        Step::Apply,
        Step::Merge,
        Step::Decide,
        Step::Delta,
        Step::Convert,
    ] {
        assert!(next(&mut app, EventKind::StepStarted { step: s }).is_empty());
        next(
            &mut app,
            EventKind::StepFinished {
                step: s,
                status: StepStatus::Done,
            },
        );
    }
    next(&mut app, EventKind::StepStarted { step: Step::Deploy });
    next(
        &mut app,
        EventKind::Progress {
            done: 12,
            total: 40,
            label: "components".into(),
        },
    );
    next(
        &mut app,
        EventKind::Deploy {
            deploy_id: "0Af000000000001".into(),
            status: "InProgress".into(),
            components_deployed: 12,
            components_total: 40,
            tests_completed: 3,
            tests_total: 10,
        },
    );
    for i in 0..20 {
        next(
            &mut app,
            EventKind::Log {
                message: format!("poll {i}: InProgress"),
            },
        );
    }
    app.update(Msg::Tick(NOW));
    let j = &app.jobs[0];
    assert_eq!(j.components_deployed, 12);
    assert_eq!(
        j.steps
            .iter()
            .find(|s| s.step == Step::Deploy)
            .unwrap()
            .done,
        12
    );
    insta::assert_snapshot!(
        "jobs_running_80x24",
        render(&app, 80, 24, &plain()).backend()
    );
    // A gap in seq resyncs from the engine.
    assert_eq!(
        app.update(ev(
            "j1",
            seq + 5,
            EventKind::Log {
                message: "late".into()
            }
        )),
        vec![Effect::Resync("j1".into())]
    );
    // Duplicates are ignored.
    assert!(
        app.update(ev(
            "j1",
            2,
            EventKind::Log {
                message: "dup".into()
            }
        ))
        .is_empty()
    );
    // c cancels after a confirmation.
    app.update(key('c'));
    assert!(matches!(app.modals.last(), Some(Modal::Ask(_))));
    insta::assert_snapshot!("cancel_80x24", render(&app, 80, 24, &plain()).backend());
    assert_eq!(app.update(key('y')), vec![Effect::Cancel("j1".into())]);
    app.update(key('c'));
    assert!(app.update(key('n')).is_empty());
    assert!(app.modals.is_empty());
}

#[test]
fn finished_and_failed_jobs_show_outcomes_errors_and_rollback() {
    let fx = fixture();
    let mut app = jobs_app(&fx);
    let mut failed = job("j1", "qa");
    failed.seq = 3;
    app.update(Msg::JobSynced(Box::new(failed)));
    let mut done = job("j2", "dev1");
    done.has_restore_package = true;
    done.seq = 3;
    app.update(Msg::JobSynced(Box::new(done)));
    // A job that panicked arrives as Failed.
    app.update(ev("j1", 4, EventKind::StepStarted { step: Step::Apply }));
    app.update(ev(
        "j1",
        5,
        EventKind::Failed {
            error: "job panicked: index out of bounds".into(),
            exit_code: 3,
        },
    ));
    app.update(ev(
        "j2",
        4,
        EventKind::Finished(Outcome::ValidationFailed {
            deploy_id: "0Af000000000002".into(),
            errors: vec![DeployError {
                component: "ApexClass:InvoiceService".into(),
                file: Some("force-app/main/default/classes/InvoiceService.cls".into()),
                line: Some(42),
                column: Some(7),
                problem: "Variable does not exist: vatNumber".into(),
            }],
        }),
    ));
    assert!(!app.busy());
    let theme = Theme::load(false);
    let t = render(&app, 80, 24, &theme);
    insta::assert_snapshot!("jobs_failed_80x24", t.backend());
    let (x, y) = find(t.backend().buffer(), "✗").unwrap();
    assert_eq!(t.backend().buffer()[(x, y)].fg, Color::LightRed);
    app.update(key('j'));
    insta::assert_snapshot!(
        "jobs_finished_80x24",
        render(&app, 80, 24, &plain()).backend()
    );
    // Rollback: the validation deployed nothing, so nothing is offered (the console's rollback
    // of a deployed job runs in `console_rollback_restores_the_org_and_reverts_the_branch`).
    assert!(app.update(key('R')).is_empty());
    assert!(matches!(app.modals.last(), Some(Modal::Notice(_))));
    app.update(code(KeyCode::Esc));
    // The failed one kept nothing.
    app.update(key('k'));
    app.update(key('R'));
    assert!(matches!(app.modals.last(), Some(Modal::Notice(_))));
    app.update(code(KeyCode::Esc));
    // Cancel on a finished job says so.
    app.update(key('c'));
    assert!(matches!(app.modals.last(), Some(Modal::Notice(_))));
}

fn conflict(id: &str) -> PendingDecision {
    PendingDecision {
        id: id.into(),
        summary: "fieldPermissions for Invoice__c.VAT_Number__c changed in both".into(),
        kind: DecisionKind::Conflict {
            component: "Profile:Admin".into(),
            path: "force-app/main/default/profiles/Admin.profile-meta.xml".into(),
            elements: vec!["fieldPermissions[field=Invoice__c.VAT_Number__c]".into()],
            base: Some("<fieldPermissions>\n    <editable>false</editable>\n    <field>Invoice__c.VAT_Number__c</field>\n</fieldPermissions>".into()),
            source: Some("<fieldPermissions>\n    <editable>true</editable>\n    <field>Invoice__c.VAT_Number__c</field>\n</fieldPermissions>".into()),
            target: Some("<fieldPermissions>\n    <editable>false</editable>\n    <field>Invoice__c.VAT_Number__c</field>\n    <readable>false</readable>\n</fieldPermissions>".into()),
            both_allowed: false,
        },
    }
}

#[test]
fn conflict_modal_answers_next_and_same_for_all_targets() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let mut a = job("j1", "qa");
    a.pending = vec![conflict("d1"), {
        let mut c = conflict("d3");
        if let DecisionKind::Conflict { component, .. } = &mut c.kind {
            *component = "CustomLabel:Greeting".into();
        }
        c
    }];
    let mut b = job("j2", "dev1");
    b.pending = vec![conflict("d2")];
    app.update(Msg::JobSynced(Box::new(a)));
    app.update(Msg::JobSynced(Box::new(b)));
    let Some(Modal::Decision(d)) = app.modals.last() else {
        panic!("no conflict modal");
    };
    assert_eq!(d.decision.id, "d1");
    assert_eq!(app.same_elsewhere("d1"), ["d2"]);
    let theme = Theme::load(false);
    let t = render(&app, 80, 24, &theme);
    insta::assert_snapshot!("conflict_80x24", t.backend());
    let (x, y) = find(t.backend().buffer(), "conflict").unwrap();
    assert_eq!(t.backend().buffer()[(x, y)].fg, Color::LightRed);
    insta::assert_snapshot!("conflict_160x48", render(&app, 160, 48, &theme).backend());
    // "both" is refused where the type does not allow it.
    assert!(app.update(key('b')).is_empty());
    // Same answer for all targets: one key answers d1 and d2.
    app.update(key('A'));
    let eff = app.update(key('s'));
    assert_eq!(
        eff,
        vec![
            Effect::Answer {
                decision: "d1".into(),
                answer: Answer::TakeSource
            },
            Effect::Answer {
                decision: "d2".into(),
                answer: Answer::TakeSource
            },
        ]
    );
    // The next conflict opens by itself.
    let Some(Modal::Decision(d)) = app.modals.last() else {
        panic!("next conflict not shown");
    };
    assert_eq!(d.decision.id, "d3");
    // Edit in $EDITOR: the loop suspends, then the edited text is the answer.
    let eff = app.update(key('e'));
    let [Effect::Edit { decision, text }] = &eff[..] else {
        panic!("no edit: {eff:?}");
    };
    assert_eq!(decision, "d3");
    assert!(text.contains("<<<<<<< target") && text.contains(">>>>>>> source"));
    let eff = app.update(Msg::Edited {
        decision: "d3".into(),
        result: Ok("merged".into()),
    });
    assert_eq!(
        eff,
        vec![Effect::Answer {
            decision: "d3".into(),
            answer: Answer::Edit {
                text: "merged".into()
            }
        }]
    );
    assert!(app.modals.is_empty());
    assert!(app.jobs.iter().all(|j| j.pending.is_empty()));
}

#[test]
fn closing_a_decision_keeps_it_waiting_in_the_jobs_pane() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let mut a = job("j1", "qa");
    a.pending = vec![conflict("d1")];
    app.update(Msg::JobSynced(Box::new(a)));
    app.update(code(KeyCode::Esc));
    assert!(app.modals.is_empty());
    assert!(screen_text(&render(&app, 80, 24, &plain())).contains("waiting for you"));
    app.update(key('2'));
    app.update(code(KeyCode::Enter));
    assert!(matches!(app.modals.last(), Some(Modal::Decision(_))));
    // Answered elsewhere (the CLI, a policy): the modal goes away.
    app.update(ev(
        "j1",
        2,
        EventKind::DecisionAnswered {
            id: "d1".into(),
            answer: Answer::Skip,
        },
    ));
    assert!(app.modals.is_empty());
    // A job that ends closes its questions.
    let mut b = job("j2", "qa");
    b.pending = vec![conflict("d9")];
    app.update(Msg::JobSynced(Box::new(b)));
    assert!(matches!(app.modals.last(), Some(Modal::Decision(_))));
    let msg = Msg::Job(JobEvent {
        job: "j2".into(),
        batch: "b1".into(),
        target: "qa".into(),
        seq: 2,
        kind: EventKind::Finished(Outcome::Canceled),
    });
    app.update(msg);
    assert!(app.modals.is_empty());
}

#[test]
fn drift_modal_adopts_overwrites_or_aborts() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let mut a = job("j1", "dev1");
    a.pending = vec![PendingDecision {
        id: "d1".into(),
        summary: "2 components were changed directly in dev1".into(),
        kind: DecisionKind::Drift {
            components: vec!["Profile:Admin".into(), "CustomLabel:Greeting".into()],
            details: vec![
                "Profile:Admin  fieldPermissions[Account.Region__c].editable false → true".into(),
                "CustomLabel:Greeting  value 'Hi' → 'Hello'".into(),
            ],
        },
    }];
    app.update(Msg::JobSynced(Box::new(a)));
    insta::assert_snapshot!("drift_80x24", render(&app, 80, 24, &plain()).backend());
    // Conflict keys mean nothing here.
    assert!(app.update(key('s')).is_empty());
    assert_eq!(
        app.update(key('a')),
        vec![Effect::Answer {
            decision: "d1".into(),
            answer: Answer::Adopt
        }]
    );
}

#[test]
fn history_lists_the_audit_log() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    assert_eq!(app.update(key('3')), vec![Effect::LoadAudit]);
    insta::assert_snapshot!(
        "history_loading_80x24",
        render(&app, 80, 24, &plain()).backend()
    );
    let rec = |seq: u64, to: &str, outcome: &str| AuditRecord {
        seq,
        at: chrono::DateTime::from_timestamp(NOW - 3600 * seq as i64, 0)
            .unwrap()
            .to_rfc3339(),
        who: "maya@example.com".into(),
        action: "back-promote".into(),
        from: Some("uat".into()),
        to: Some(to.into()),
        stories: vec!["US-0105".into()],
        components: vec![
            "CustomField:Invoice__c.VAT_Number__c".into(),
            "Profile:Admin".into(),
        ],
        deploy_ids: vec![format!("0Af00000000000{seq}")],
        tests: Some("RunLocalTests 41/41".into()),
        outcome: outcome.into(),
        job: Some(format!("j{seq}").into()),
        hash: format!("{seq}f3a9c2e1b7d4a6f0c8e2"),
        prev: format!("{}e1b7d4a6f0c8e2f3a9c2", seq - 1),
    };

    app.update(Msg::AuditLoaded(Ok(vec![
        rec(1, "qa", "deployed"),
        rec(2, "dev1", "deployed"),
        rec(3, "dev2", "validation_failed"),
    ])));
    insta::assert_snapshot!("history_80x24", render(&app, 80, 24, &plain()).backend());
    app.update(key('j'));
    assert_eq!(app.history.cursor, 1);
    app.update(Msg::AuditLoaded(Ok(vec![])));
    assert!(screen_text(&render(&app, 80, 24, &plain())).contains("No promotions recorded"));
}

#[test]
fn orgs_screen_shows_logins_and_logs_in() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    assert_eq!(app.update(key('4')), vec![Effect::LoadOrgs]);
    // What the board knows, before (or without) the engine's answer.
    app.update(Msg::OrgsLoaded(Err("login state is not reported".into())));
    insta::assert_snapshot!("orgs_board_80x24", render(&app, 80, 24, &plain()).backend());
    let org = |env: &str, login| OrgInfo {
        env: env.into(),
        org: Some(format!("{env}-org")),
        login,
        username: Some(format!("admin@{env}.example.com")),
        instance_url: None,
        release: Some("Spring '26".into()),
        api_version: Some("66.0".into()),
        limits: vec![OrgLimit {
            name: "API requests".into(),
            used: 1200,
            max: 15000,
        }],
        preview: false,
    };
    app.update(Msg::OrgsLoaded(Ok(vec![
        org("dev1", LoginState::LoggedIn),
        org("qa", LoginState::Expired),
        org("prod", LoginState::LoggedOut),
    ])));
    insta::assert_snapshot!("orgs_80x24", render(&app, 80, 24, &plain()).backend());
    app.update(key('j'));
    // `l` logs in on this screen (it moves between envs on the board).
    assert_eq!(app.update(key('l')), vec![Effect::Login("qa".into())]);
    app.update(Msg::External(Ok("Logged in to qa.".into())));
    assert!(matches!(app.modals.last(), Some(Modal::Notice(_))));
}

#[test]
fn orgs_screen_shows_each_orgs_release_and_flags_preview_sandboxes() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    app.update(key('4'));
    let org = |env: &str, release: &str, api: &str, preview| OrgInfo {
        env: env.into(),
        org: Some(env.into()),
        login: LoginState::Simulated,
        username: Some(format!("admin@{env}.sim")),
        instance_url: None,
        release: Some(release.into()),
        api_version: Some(api.into()),
        limits: vec![],
        preview,
    };
    app.update(Msg::OrgsLoaded(Ok(vec![
        org("qa", "Summer '26", "67.0", false),
        org("uat", "Winter '27", "68.0", true),
        org("prod", "Summer '26", "67.0", false),
    ])));
    let screen = render(&app, 80, 24, &plain());
    let text = screen_text(&screen);
    assert!(text.contains("Winter '27 v68.0 preview"), "{text}");
    assert_eq!(text.matches("preview").count(), 1, "{text}");
    insta::assert_snapshot!("orgs_release_preview_80x24", screen.backend());
}

#[test]
fn engine_views_answer_for_the_demo() {
    let fx = fixture();
    let caches = Caches::default();
    let d = views::story_detail(&fx.engine.ws, &caches, "US-0105")
        .unwrap()
        .unwrap();
    assert_eq!(d.story.commits.len(), 1);
    assert!(d.files.iter().any(|f| f.component.type_name == "Profile"));
    assert!(
        views::story_detail(&fx.engine.ws, &caches, "US-9999")
            .unwrap()
            .is_none()
    );
    assert!(views::file_diff(&fx.engine.ws, &caches, "US-0105", "nope.txt", None).is_err());
    // Against an env: dev1 lacks the new field, uat has it as the story left it.
    let path = d.files[0].paths[0].clone();
    let vs = views::file_diff(&fx.engine.ws, &caches, "US-0105", &path, Some("dev1")).unwrap();
    assert!(vs.added);
    let same = views::file_diff(&fx.engine.ws, &caches, "US-0105", &path, Some("uat")).unwrap();
    assert!(same.lines.is_empty(), "{same:?}");
    assert!(fx.engine.audit().unwrap().is_empty());
    let idx = views::component_index(&fx.engine.ws, &caches).unwrap();
    assert!(idx["US-0105"].iter().any(|c| c == "Profile:Admin"));
}

#[test]
fn resize_keeps_the_focused_column_visible() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    app.update(Msg::Resize(80, 24));
    focus_col(&mut app, "prod");
    assert_eq!(app.board_view.col_offset, 3);
    app.update(Msg::Resize(200, 50));
    assert_eq!(app.board_view.col_offset, 0, "everything fits");
    app.update(Msg::Resize(40, 20));
    assert_eq!(app.board_view.col_offset, app.board_view.col);
    let t = render(&app, 40, 20, &plain());
    assert!(screen_text(&t).contains("prod"));
}

#[test]
fn a_job_asking_for_a_typed_env_name_gets_it() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let mut a = job("j1", "uat");
    a.pending = vec![PendingDecision {
        id: "d1".into(),
        summary: "confirm uat".into(),
        kind: DecisionKind::Confirm { env: "uat".into() },
    }];
    app.update(Msg::JobSynced(Box::new(a)));
    assert!(matches!(app.modals.last(), Some(Modal::TypedAnswer(_))));
    insta::assert_snapshot!(
        "typed_answer_80x24",
        render(&app, 80, 24, &plain()).backend()
    );
    keys(&mut app, "uat");
    assert_eq!(
        app.update(code(KeyCode::Enter)),
        vec![Effect::Answer {
            decision: "d1".into(),
            answer: Answer::Confirm {
                typed: "uat".into()
            }
        }]
    );
    assert!(app.modals.is_empty());
}

#[test]
fn submitted_jobs_get_the_focus_in_the_jobs_pane() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    app.update(Msg::JobSynced(Box::new(job("j1", "qa"))));
    app.update(Msg::JobSynced(Box::new(job("j2", "dev1"))));
    app.update(Msg::Submitted(Ok(("b2".into(), vec!["j2".into()]))));
    assert_eq!(app.screen, Screen::Jobs);
    assert_eq!(app.jobs_view.cursor, 1);
    // Failing to start says why.
    app.update(Msg::Submitted(Err("no target".into())));
    assert!(matches!(app.modals.last(), Some(Modal::Notice(t)) if t.0.contains("no target")));
}

#[test]
fn a_board_that_cannot_load_says_why_and_retries() {
    let mut app = App::new(Keymap::default_map(), "demo".into(), false, NOW);
    app.update(Msg::BoardLoaded(Err(
        "env 'qa' uses branch 'qa', which does not exist".into(),
    )));
    insta::assert_snapshot!(
        "board_error_80x24",
        render(&app, 80, 24, &plain()).backend()
    );
    assert_eq!(app.update(key('r')), vec![Effect::LoadBoard]);
    assert!(app.busy(), "loading again");
    app.update(Msg::Tick(NOW + 1));
    assert_eq!(app.now, NOW + 1);
}

#[test]
fn plan_offers_the_stories_that_bring_missing_dependencies() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let idx = views::component_index(&fx.engine.ws, &Caches::default()).unwrap();
    app.update(Msg::IndexLoaded(idx));
    focus_col(&mut app, "uat");
    app.update(key('j')); // US-0104
    assert_eq!(app.focused_story().unwrap().id, "US-0104");
    app.update(key('b'));
    let eff = app.update(code(KeyCode::Enter));
    let (id, mut plan) = plan_for(&fx, &eff);
    // As if US-0104 referenced the field US-0105 adds.
    for t in &mut plan.targets {
        t.missing_dependencies = vec!["CustomField:Invoice__c.VAT_Number__c".into()];
    }
    app.update(Msg::PlanLoaded(id, Ok(plan)));
    let t = render(&app, 80, 24, &plain());
    insta::assert_snapshot!("plan_missing_dependency_80x24", t.backend());
    assert!(screen_text(&t).contains("brought by US-0105"));
    let eff = app.update(key('i'));
    let [Effect::Plan(_, req)] = &eff[..] else {
        panic!("no replan: {eff:?}");
    };
    assert_eq!(req.stories, ["US-0104", "US-0105"]);
}

#[test]
fn the_same_drift_in_several_targets_takes_one_answer() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let drift = |id: &str| PendingDecision {
        id: id.into(),
        summary: "drift".into(),
        kind: DecisionKind::Drift {
            components: vec!["Profile:Admin".into()],
            details: vec![],
        },
    };
    let mut b = job("j2", "dev1");
    b.pending = vec![drift("d2")];
    let mut c = job("j3", "dev2");
    c.pending = vec![drift("d3")];
    app.update(Msg::JobSynced(Box::new(b)));
    app.update(Msg::JobSynced(Box::new(c)));
    assert!(screen_text(&render(&app, 80, 24, &plain())).contains("same answer for all 2"));
    app.update(key('A'));
    assert_eq!(
        app.update(key('o')),
        vec![
            Effect::Answer {
                decision: "d2".into(),
                answer: Answer::Overwrite
            },
            Effect::Answer {
                decision: "d3".into(),
                answer: Answer::Overwrite
            },
        ]
    );
    assert!(app.modals.is_empty());
}

#[test]
fn a_deploy_refreshes_the_board_and_the_history() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let mut j = job("j1", "qa");
    j.seq = 1;
    app.update(Msg::JobSynced(Box::new(j)));
    app.history.audit = Some(Ok(vec![]));
    let eff = app.update(ev(
        "j1",
        2,
        EventKind::Finished(Outcome::Deployed {
            deploy_id: "0Af1".into(),
            commit: "abc".into(),
        }),
    ));
    assert_eq!(eff, vec![Effect::LoadBoard]);
    assert!(
        app.history.audit.is_none(),
        "history reads the log again when shown"
    );
    assert_eq!(app.update(key('3')), vec![Effect::LoadAudit]);
    // Nothing deployed: nothing to refresh.
    let mut j = job("j2", "dev1");
    j.seq = 1;
    app.update(Msg::JobSynced(Box::new(j)));
    app.update(Msg::BoardLoaded(Ok(fx.board.clone())));
    let eff = app.update(ev("j2", 2, EventKind::Finished(Outcome::NothingToDo)));
    assert!(eff.is_empty());
}

#[test]
fn pending_automatic_back_promotions_show_in_the_status_line() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    // The demo's rule: when a story reaches prod, back-promote it to every env below.
    let pending = fx.engine.auto_plan().unwrap();
    assert!(
        pending
            .iter()
            .any(|s| s.stories.contains(&"US-0101".to_string()))
    );
    let lines: Vec<String> = pending
        .iter()
        .map(|s| format!("{} → {}: {}", s.from, s.target, s.stories.join(" ")))
        .collect();
    app.update(Msg::AutoPending(lines));
    let t = render(&app, 120, 30, &plain());
    let screen = format!("{:?}", t.backend());
    assert!(
        screen.contains(&format!(
            "{} automatic back promotions pending",
            pending.len()
        )),
        "{screen}"
    );
}

#[test]
fn wide_titles_are_clipped_by_display_width_on_the_board() {
    use backflow::domain::{BoardEnv, BoardStory, ConnectionStatus, EnvKind, Presence};
    let env = |name: &str, kind, level| BoardEnv {
        name: name.into(),
        branch: name.into(),
        kind,
        protected: false,
        org: None,
        release: None,
        api_version: None,
        level,
        sandbox: None,
    };
    let story = |id: &str, title: &str| BoardStory {
        id: id.into(),
        title: title.into(),
        author: "Aiko Sato".into(),
        time: NOW - 3600,
        components: 1,
        commits: 1,
        presence: vec![Presence::Absent, Presence::Present],
    };
    let board = Board {
        envs: vec![env("dev", EnvKind::Dev, 0), env("qa", EnvKind::Qa, 1)],
        stories: vec![
            // CJK: two columns per char, so far wider than its char count.
            story("US-0001", "請求書の検証ルールを追加して重複した請求を防ぐ"),
            story(
                "US-0002",
                "🔒🔒 Lock the invoice record after approval for good",
            ),
        ],
        connections: vec![ConnectionStatus {
            from: "dev".into(),
            to: "qa".into(),
            ahead: vec![],
            behind: vec![],
        }],
    };
    let mut app = App::new(Keymap::default_map(), "demo".into(), false, NOW);
    app.update(Msg::BoardLoaded(Ok(board)));
    app.update(key('l'));
    let t = render(&app, 80, 24, &plain());
    let buf = t.backend().buffer();
    // Both rows keep their missing-below badge right against the column's border.
    for id in ["US-0001", "US-0002"] {
        let (_, y) = find(buf, id).unwrap_or_else(|| panic!("{id} not on screen"));
        assert_eq!(buf[(77, y)].symbol(), "▼", "{id}:\n{}", screen_text(&t));
        assert_eq!(buf[(78, y)].symbol(), "1");
        assert_eq!(buf[(79, y)].symbol(), "│");
    }
    assert!(find(buf, "請").is_some(), "the CJK title is shown");
}

// ---- jobs of other processes, mouse, targets, lacking ---------------------------------------

use backflow::engine::journal::{Journal, Record};
use backflow::engine::watch::Watcher;
use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

/// A job journal as another process writes it (created at `NOW - 75`).
fn journal_of_other_process(root: &std::path::Path, id: &str, target: &str) -> Journal {
    let j = Journal::create(root, id).unwrap();
    let mut s = spec(target);
    s.user = "cron@example.com".into();
    j.append(&Record::Created {
        job: id.into(),
        batch: "b9".into(),
        spec: s,
        at: NOW - 75,
    })
    .unwrap();
    j.append(&Record::StepDone {
        step: Step::Plan,
        at: NOW - 70,
    })
    .unwrap();
    j
}

/// Marks the job as held by a live process (this one stands in for it).
fn hold_lock(root: &std::path::Path, env: &str, job: &str) {
    let locks = root.join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let h = backflow::engine::lock::Holder {
        user: "cron@example.com".into(),
        job: job.into(),
        pid: std::process::id(),
        since: "2026-01-01T00:00:00Z".into(),
    };
    std::fs::write(
        locks.join(format!("{env}.holder.json")),
        serde_json::to_string(&h).unwrap(),
    )
    .unwrap();
}

fn scan(app: &mut App, w: &mut Watcher, first: bool) -> Vec<Effect> {
    app.update(Msg::Journaled {
        jobs: w.scan(),
        first,
    })
}

#[test]
fn a_job_started_by_another_process_appears_and_follows_its_journal() {
    let fx = fixture();
    let mut app = jobs_app(&fx);
    let state = tempfile::tempdir().unwrap();
    let root = state.path();
    let j = journal_of_other_process(root, "j-cron", "qa");
    hold_lock(root, "qa", "j-cron");
    let mut w = Watcher::new(root);
    assert_eq!(scan(&mut app, &mut w, true), vec![]);
    // Running elsewhere: listed, not offered for resume, and ticking.
    assert!(app.modals.is_empty());
    assert_eq!(app.jobs.len(), 1);
    assert!(app.busy());
    let s = screen_text(&render(&app, 80, 24, &plain()));
    assert!(s.contains("uat → qa"), "{s}");
    assert!(s.contains("running"), "{s}");
    assert!(s.contains("by cron@example.com elsewhere"), "{s}");
    assert!(s.contains("✓ plan"), "{s}");
    // Its journal grows: the next scan brings the new step; an unchanged one brings nothing.
    j.append(&Record::StepDone {
        step: Step::DriftCheck,
        at: NOW - 60,
    })
    .unwrap();
    scan(&mut app, &mut w, false);
    assert_eq!(app.jobs[0].steps[1].status, StepStatus::Done);
    assert_eq!(app.jobs[0].steps[2].status, StepStatus::Running);
    assert!(w.scan().is_empty());
    // It asks nothing now: Enter says so.
    app.update(code(KeyCode::Enter));
    let Some(Modal::Notice(n)) = app.modals.last() else {
        panic!("no notice");
    };
    assert!(n.0.contains("waits for no decision now"), "{}", n.0);
    app.update(code(KeyCode::Esc));
    // Cancel goes to the process that runs it (through the engine's cancel request).
    app.update(key('c'));
    assert_eq!(app.update(key('y')), vec![Effect::Cancel("j-cron".into())]);
    // It finishes there.
    j.append(&Record::DeployId {
        id: "0Af000000000009".into(),
        check_only: false,
    })
    .unwrap();
    j.append(&Record::Finished {
        outcome: Outcome::Deployed {
            deploy_id: "0Af000000000009".into(),
            commit: "abc".into(),
        },
        at: NOW - 5,
    })
    .unwrap();
    std::fs::remove_file(root.join("locks/qa.holder.json")).unwrap();
    scan(&mut app, &mut w, false);
    assert!(app.jobs[0].is_done());
    assert!(!app.busy());
    let s = screen_text(&render(&app, 80, 24, &plain()));
    assert!(s.contains("deployed"), "{s}");
    assert!(s.contains("deploy id 0Af000000000009"), "{s}");
    // A job this process runs is followed through its events, never through its journal.
    let mut own = job("j-own", "dev1");
    own.seq = 5;
    app.update(Msg::JobSynced(Box::new(own)));
    journal_of_other_process(root, "j-own", "dev1");
    scan(&mut app, &mut w, false);
    let mine = app.jobs.iter().find(|j| j.job == "j-own").unwrap();
    assert_eq!(mine.seq, 5);
}

#[test]
fn an_interrupted_job_is_offered_for_resume_at_start() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let state = tempfile::tempdir().unwrap();
    let root = state.path();
    let j = journal_of_other_process(root, "j-crashed", "dev1");
    // Its process is gone: no lock holder, and the journal is not fresh.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    std::fs::File::options()
        .append(true)
        .open(j.path())
        .unwrap()
        .set_modified(old)
        .unwrap();
    let mut w = Watcher::new(root);
    scan(&mut app, &mut w, true);
    let Some(Modal::Ask(ask)) = app.modals.last() else {
        panic!("no resume offer");
    };
    assert!(ask.text.contains("j-crashed"), "{}", ask.text);
    assert!(ask.text.contains("after plan"), "{}", ask.text);
    assert!(!app.busy(), "an interrupted job does not tick");
    // Later: on the Jobs pane it says so, and `s` offers the resume again.
    app.update(key('n'));
    app.update(key('2'));
    let s = screen_text(&render(&app, 80, 24, &plain()));
    assert!(s.contains("interrupted"), "{s}");
    app.update(key('c'));
    assert!(matches!(app.modals.last(), Some(Modal::Notice(_))));
    app.update(code(KeyCode::Esc));
    app.update(key('s'));
    assert_eq!(
        app.update(key('y')),
        vec![Effect::Resume("j-crashed".into())]
    );
    // Resumed here: from now on the engine's events follow it.
    let mut resumed = job("j-crashed", "dev1");
    resumed.seq = 1;
    app.update(Msg::JobSynced(Box::new(resumed)));
    assert!(!app.external.contains_key("j-crashed"));
    assert!(app.busy());
    // A read-only console offers nothing.
    let mut ro = app_on(&fx, true);
    let mut w = Watcher::new(root);
    scan(&mut ro, &mut w, true);
    assert!(ro.modals.is_empty());
}

fn mouse(kind: MouseEventKind, x: u16, y: u16) -> Msg {
    Msg::Mouse(MouseEvent {
        kind,
        column: x,
        row: y,
        modifiers: KeyModifiers::NONE,
    })
}

fn click(app: &mut App, x: u16, y: u16) -> Vec<Effect> {
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), x, y))
}

#[test]
fn mouse_focuses_columns_stories_tabs_and_presses_modal_buttons() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    let t = render(&app, 80, 24, &plain());
    // A click on the second column focuses it; on a story, focuses the story.
    let second = app.board_view.col_offset + 1;
    let name = app.board.as_ref().unwrap().envs[second].name.clone();
    let (x, y) = find(t.backend().buffer(), &format!(" {name} ")).unwrap();
    click(&mut app, x + 2, y + 2);
    assert_eq!(app.board_view.col, second);
    let t = render(&app, 80, 24, &plain());
    let id = app.story_at(second, 1).unwrap().id.clone();
    let (sx, sy) = find(t.backend().buffer(), &id).unwrap();
    assert_eq!(click(&mut app, sx, sy), vec![]);
    assert_eq!(app.board_view.rows[second], 1);
    // The wheel moves down the list under the pointer.
    app.update(mouse(MouseEventKind::ScrollDown, sx, sy));
    assert_eq!(app.board_view.rows[second], 2);
    app.update(mouse(MouseEventKind::ScrollUp, sx, sy));
    // A second click on the focused story opens it.
    render(&app, 80, 24, &plain());
    assert_eq!(click(&mut app, sx, sy), vec![Effect::LoadDetail(id)]);
    assert!(matches!(app.modals.last(), Some(Modal::Story(_))));
    app.update(code(KeyCode::Esc));
    // Back-promote: a click on a target row toggles it; on "enter plan", plans.
    focus_col(&mut app, "uat");
    app.update(key(' '));
    app.update(key('b'));
    let t = render(&app, 80, 24, &plain());
    let (dx, dy) = find(t.backend().buffer(), "dev2").unwrap();
    click(&mut app, dx, dy);
    let Some(Modal::Targets(p)) = app.modals.last() else {
        panic!("no picker");
    };
    assert!(!p.items[2].checked && p.items[0].checked);
    let t = render(&app, 80, 24, &plain());
    let (px, py) = find(t.backend().buffer(), "enter plan").unwrap();
    let eff = click(&mut app, px + 1, py);
    let (_, plan) = plan_for(&fx, &eff);
    assert_eq!(plan.targets.len(), 2);
    // Clicks outside the top modal do nothing.
    let before = app.modals.len();
    render(&app, 80, 24, &plain());
    click(&mut app, 0, 0);
    assert_eq!(app.modals.len(), before);
    app.modals.clear();
    // Tabs.
    let t = render(&app, 80, 24, &plain());
    let (jx, jy) = find(t.backend().buffer(), "2 Jobs").unwrap();
    click(&mut app, jx, jy);
    assert_eq!(app.screen, Screen::Jobs);
    // Jobs: click selects, the ask modal's "yes" half answers.
    app.update(Msg::JobSynced(Box::new(job("j1", "qa"))));
    app.update(Msg::JobSynced(Box::new(job("j2", "dev1"))));
    let t = render(&app, 80, 24, &plain());
    let (qx, qy) = find(t.backend().buffer(), "uat → dev1").unwrap();
    click(&mut app, qx, qy);
    assert_eq!(app.jobs_view.cursor, 1);
    app.update(key('c'));
    let t = render(&app, 80, 24, &plain());
    let (yx, yy) = find(t.backend().buffer(), "y / enter: yes").unwrap();
    assert_eq!(click(&mut app, yx, yy), vec![Effect::Cancel("j2".into())]);
    assert!(app.modals.is_empty());
    // A notice closes on a click.
    app.notice("hello");
    let t = render(&app, 80, 24, &plain());
    let (nx, ny) = find(t.backend().buffer(), "hello").unwrap();
    click(&mut app, nx, ny);
    assert!(app.modals.is_empty());
}

#[test]
fn a_in_the_target_picker_toggles_all_and_none() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "uat");
    app.update(key(' '));
    app.update(key('b'));
    let checked = |app: &App| match app.modals.last() {
        Some(Modal::Targets(p)) => p.items.iter().filter(|i| i.checked).count(),
        _ => panic!("no picker"),
    };
    assert_eq!(checked(&app), 3, "all lack the hotfix");
    app.update(key('a'));
    assert_eq!(checked(&app), 0, "all → none");
    app.update(key('a'));
    assert_eq!(checked(&app), 3, "none → all");
    app.update(key(' '));
    app.update(key('a'));
    assert_eq!(checked(&app), 3, "some → all");
}

#[test]
fn the_lacking_view_lists_what_each_env_misses_from_above_and_back_promotes_it() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "dev1");
    let col = app.board_view.col;
    let had: Vec<String> = app.column(col).iter().map(|s| s.id.clone()).collect();
    app.update(key('m'));
    assert!(app.board_view.lacking);
    let lacks: Vec<String> = app.column(col).iter().map(|s| s.id.clone()).collect();
    assert!(!lacks.is_empty());
    let b = app.board.as_ref().unwrap();
    for id in &lacks {
        let s = b.stories.iter().find(|s| &s.id == id).unwrap();
        assert_ne!(s.presence[col], backflow::domain::Presence::Present, "{id}");
        assert!(app.source_above(col, s).is_some(), "{id} is above");
    }
    // Partly present stories show in both views.
    assert!(lacks.iter().any(|id| !had.contains(id)));
    let t = render(&app, 160, 48, &plain());
    let s = screen_text(&t);
    assert!(s.contains("dev1 lacks"), "{s}");
    assert!(s.contains("◀"), "{s}");
    // Mark the first and back-promote it: from the env above that has it, to dev1 only.
    let first = lacks[0].clone();
    app.update(key(' '));
    app.update(key('b'));
    let Some(Modal::Targets(p)) = app.modals.last() else {
        panic!("no picker");
    };
    assert_eq!(p.stories, vec![first.clone()]);
    let src = {
        let b = app.board.as_ref().unwrap();
        let s = b.stories.iter().find(|s| s.id == first).unwrap();
        b.envs[app.source_above(col, s).unwrap()].name.clone()
    };
    assert_eq!(p.from, src);
    let on: Vec<&str> = p
        .items
        .iter()
        .filter(|i| i.checked)
        .map(|i| i.env.as_str())
        .collect();
    assert_eq!(on, ["dev1"]);
    app.update(code(KeyCode::Esc));
    // And back to what each env has.
    app.update(key('m'));
    let again: Vec<String> = app.column(col).iter().map(|s| s.id.clone()).collect();
    assert_eq!(again, had);
}

// ---- rollback from the console, with a real engine -----------------------------------------

/// Waits (bounded) until the engine's job `id` has finished.
fn finished(e: &backflow::engine::Engine, id: &str) -> JobState {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(s) = e.job_state(id).filter(|s| s.is_done()) {
            return s;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "job {id} did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn tree_of(dir: &std::path::Path, branch: &str) -> git2::Oid {
    let repo = git2::Repository::open(dir).unwrap();
    let c = repo
        .revparse_single(branch)
        .unwrap()
        .peel_to_commit()
        .unwrap();
    c.tree_id()
}

#[test]
fn console_rollback_restores_the_org_and_reverts_the_branch() {
    let (state, dir) = crate::common::demo_workspace();
    // The simulator, started by the binary the way a first command starts it.
    let o = crate::common::backflow(state.path())
        .current_dir(&dir)
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"))
        .args(["validate", "dev1"])
        .output()
        .unwrap();
    assert!(o.status.code().is_some(), "{o:?}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let admin = rt.block_on(async {
        backflow::sim::workspace::connect_existing(&dir)
            .await
            .expect("simulator running")
            .admin
    });
    struct Stop<'a>(&'a tokio::runtime::Runtime, backflow::sim::SimAdmin);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.block_on(self.1.shutdown());
        }
    }
    let stop = Stop(&rt, admin.clone());
    let e = engine(&dir);
    let org = e.env_named("dev1").unwrap().org.unwrap();
    let before_org = rt.block_on(admin.files(&org)).unwrap();
    let before_tree = tree_of(&dir, "dev1");
    let mut promote = spec("dev1");
    promote.from = "prod".into();
    promote.stories = vec!["US-0101".into()];
    promote.on_conflict = backflow::domain::job::ConflictPolicy::Source;
    promote.user = "rm@acme.example".into();
    let mut validate_only = promote.clone();
    validate_only.validate_only = true;
    validate_only.target = "dev2".into();
    let (_, ids) = rt
        .block_on(async { e.submit(vec![promote, validate_only]) })
        .unwrap();
    let deployed = finished(&e, &ids[0]);
    let validated = finished(&e, &ids[1]);
    assert!(
        matches!(deployed.outcome, Some(Outcome::Deployed { .. })),
        "{deployed:?}"
    );
    assert!(matches!(validated.outcome, Some(Outcome::Validated { .. })));
    assert!(deployed.has_restore_package && validated.has_restore_package);
    let deployed_org = rt.block_on(admin.files(&org)).unwrap();
    assert_ne!(
        deployed_org.get("classes/AccountService.cls"),
        before_org.get("classes/AccountService.cls")
    );
    assert_ne!(tree_of(&dir, "dev1"), before_tree);

    let mut app = app_on(&fixture(), false);
    app.user = "rm@acme.example".into();
    app.update(Msg::JobSynced(Box::new(validated.clone())));
    app.update(Msg::JobSynced(Box::new(deployed.clone())));
    app.update(key('2'));
    // A job that deployed nothing is not offered a rollback, and the engine refuses one too.
    let sel = |app: &App| app.jobs[app.jobs_view.cursor].job.clone();
    if sel(&app) != validated.job {
        app.update(key('j'));
    }
    assert_eq!(sel(&app), validated.job);
    assert!(app.update(key('R')).is_empty());
    assert!(matches!(app.modals.last(), Some(Modal::Notice(_))));
    app.update(code(KeyCode::Esc));
    let mut refused = spec("dev2");
    refused.kind = JobKind::Rollback;
    refused.rollback_of = Some(validated.job.clone());
    let err = rt.block_on(async { e.submit(vec![refused]) }).unwrap_err();
    assert!(err.to_string().contains("did not deploy"), "{err}");
    // The deployed one: R, yes → the engine runs the rollback, not a new back promotion.
    app.update(key(if app.jobs_view.cursor == 0 { 'j' } else { 'k' }));
    assert_eq!(sel(&app), deployed.job);
    app.update(key('R'));
    let eff = app.update(key('y'));
    let [Effect::Submit(specs)] = &eff[..] else {
        panic!("no rollback: {eff:?}");
    };
    let (_, ids) = rt.block_on(async { e.submit(specs.clone()) }).unwrap();
    let rolled = finished(&e, &ids[0]);
    assert!(
        matches!(rolled.outcome, Some(Outcome::Deployed { .. })),
        "{rolled:?}"
    );
    let after_org = rt.block_on(admin.files(&org)).unwrap();
    // The simulator keeps labels in one file and does not delete single labels, so the label
    // the job added is checked through the class it changed with it.
    let differing: Vec<&String> = before_org
        .keys()
        .chain(after_org.keys())
        .filter(|k| !k.starts_with("labels/") && before_org.get(*k) != after_org.get(*k))
        .collect();
    assert_ne!(
        after_org.get("classes/AccountService.cls"),
        deployed_org.get("classes/AccountService.cls"),
        "the class the job changed is restored"
    );
    assert!(
        differing.is_empty(),
        "the org holds what it held before the job, but differs in {differing:?}"
    );
    assert_eq!(tree_of(&dir, "dev1"), before_tree, "the branch is reverted");
    let audit = e.audit().unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.action, "rollback");
    assert_eq!(last.outcome, "rolled-back");
    drop(stop);
}

#[test]
fn plan_shows_the_selected_tests_and_the_story_the_engine_found() {
    let fx = fixture();
    let mut app = app_on(&fx, false);
    focus_col(&mut app, "uat");
    app.update(key('j')); // US-0104
    app.update(key('b'));
    let eff = app.update(code(KeyCode::Enter));
    let (id, mut plan) = plan_for(&fx, &eff);
    for t in &mut plan.targets {
        t.test_level = Some("RunSpecifiedTests".into());
        t.selected_tests = vec!["PriceBookTest".into()];
        t.missing_dependencies = vec!["CustomLabel:Totals_Heading".into()];
        t.dependency_details = vec![backflow::domain::plan::MissingDependency {
            component: "CustomLabel:Totals_Heading".into(),
            referenced_by: vec!["ApexClass:InvoiceTotals".into()],
            brought_by: vec!["US-0105".into()],
        }];
    }
    app.update(Msg::PlanLoaded(id, Ok(plan)));
    let t = render(&app, 100, 30, &plain());
    let text = screen_text(&t);
    assert!(
        text.contains("tests (RunSpecifiedTests): PriceBookTest"),
        "{text}"
    );
    assert!(
        text.contains("CustomLabel:Totals_Heading — brought by US-0105"),
        "{text}"
    );
    let eff = app.update(key('i'));
    let [Effect::Plan(_, req)] = &eff[..] else {
        panic!("no replan: {eff:?}");
    };
    assert_eq!(req.stories, ["US-0104", "US-0105"]);
}

#[test]
fn a_decision_of_another_process_shows_in_the_jobs_pane_and_the_same_key_answers_it() {
    let fx = fixture();
    let mut app = jobs_app(&fx);
    let state = tempfile::tempdir().unwrap();
    let root = state.path();
    let j = journal_of_other_process(root, "j-cli", "qa");
    hold_lock(root, "qa", "j-cli");
    j.append(&Record::DecisionAsked {
        decision: conflict("d-cli"),
        at: NOW - 50,
    })
    .unwrap();
    let mut w = Watcher::new(root);
    scan(&mut app, &mut w, true);
    // Listed as waiting, with its question; no modal pops up over another terminal's prompt.
    assert_eq!(app.jobs[0].pending.len(), 1);
    assert!(app.modals.is_empty());
    let t = render(&app, 80, 24, &plain());
    insta::assert_snapshot!("jobs_foreign_decision_80x24", t.backend());
    let s = screen_text(&t);
    assert!(s.contains("waiting"), "{s}");
    assert!(
        s.contains("1 decision waiting: press enter to answer"),
        "{s}"
    );
    // The same key as for this console's jobs opens the same modal; its answer goes to the
    // process that runs the job.
    app.update(code(KeyCode::Enter));
    let Some(Modal::Decision(d)) = app.modals.last() else {
        panic!("no decision modal: {:?}", app.modals.len());
    };
    assert_eq!(d.decision.id, "d-cli");
    assert_eq!(
        app.update(key('s')),
        vec![Effect::AnswerElsewhere {
            job: "j-cli".into(),
            decision: "d-cli".into(),
            answer: Answer::TakeSource,
        }]
    );
    assert!(app.modals.is_empty());
    // The job takes it: its journal moves on and the pane follows.
    j.append(&Record::DecisionAnswered {
        id: "d-cli".into(),
        answer: Answer::TakeSource,
        by: "rm in the console".into(),
        at: NOW - 40,
    })
    .unwrap();
    j.append(&Record::StepDone {
        step: Step::DriftCheck,
        at: NOW - 30,
    })
    .unwrap();
    scan(&mut app, &mut w, false);
    assert!(app.jobs[0].pending.is_empty());
    let s = screen_text(&render(&app, 80, 24, &plain()));
    assert!(s.contains("running"), "{s}");
    assert!(
        s.contains("decision answered by rm in the console: take source"),
        "{s}"
    );
    // A question answered in the other terminal closes the modal opened here.
    j.append(&Record::DecisionAsked {
        decision: conflict("d-two"),
        at: NOW - 20,
    })
    .unwrap();
    scan(&mut app, &mut w, false);
    app.update(code(KeyCode::Enter));
    assert!(matches!(app.modals.last(), Some(Modal::Decision(_))));
    j.append(&Record::DecisionAnswered {
        id: "d-two".into(),
        answer: Answer::KeepTarget,
        by: "ops at the terminal".into(),
        at: NOW - 10,
    })
    .unwrap();
    scan(&mut app, &mut w, false);
    assert!(app.modals.is_empty(), "closed when answered elsewhere");
}
