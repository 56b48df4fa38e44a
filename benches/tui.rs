//! Console frame cost on a large board: 10,000 stories over 8 envs. Measures the first frame
//! (board arrives → first draw), update + draw per engine event while a job streams, a cursor
//! move, and a filter keystroke. Draws on TestBackend at 160×48.

use backflow::domain::job::{EventKind, JobEvent, JobKind, JobSpec, JobState, Step, StepStatus};
use backflow::domain::{Board, BoardEnv, BoardStory, ConnectionStatus, EnvKind, Presence};
use backflow::tui::app::{App, Msg};
use backflow::tui::keymap::Keymap;
use backflow::tui::theme::Theme;
use backflow::tui::view;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::hint::black_box;

const NOW: i64 = 1_790_000_000;
const ENVS: [(&str, EnvKind, usize); 8] = [
    ("dev1", EnvKind::Dev, 0),
    ("dev2", EnvKind::Dev, 0),
    ("dev3", EnvKind::Dev, 0),
    ("dev4", EnvKind::Dev, 0),
    ("qa", EnvKind::Qa, 1),
    ("int", EnvKind::Qa, 2),
    ("uat", EnvKind::Uat, 3),
    ("prod", EnvKind::Prod, 4),
];

fn board(n: usize) -> Board {
    let envs = ENVS
        .iter()
        .map(|(name, kind, level)| BoardEnv {
            name: name.to_string(),
            branch: name.to_string(),
            kind: *kind,
            protected: *kind == EnvKind::Prod || *kind == EnvKind::Uat,
            org: Some(format!("{name}-org")),
            release: Some("Spring '26".into()),
            api_version: Some("66.0".into()),
            level: *level,
            sandbox: None,
        })
        .collect();
    let stories = (0..n)
        .map(|i| BoardStory {
            id: format!("US-{i:05}"),
            title: format!("Story number {i} touching the invoice and account services"),
            author: ["Maya Chen", "Tom Okafor", "Sara Lind", "Diego Ruiz"][i % 4].into(),
            time: NOW - (i as i64) * 600,
            components: 1 + i % 7,
            commits: 1 + i % 3,
            presence: (0..8)
                .map(|e| match (i + e) % 5 {
                    0 => Presence::Absent,
                    1 => Presence::Partial,
                    _ => Presence::Present,
                })
                .collect(),
        })
        .collect();
    let conn = |f: &str, t: &str| ConnectionStatus {
        from: f.into(),
        to: t.into(),
        ahead: (0..50).map(|i| format!("US-{i:05}")).collect(),
        behind: (0..20).map(|i| format!("US-{i:05}")).collect(),
    };
    Board {
        envs,
        stories,
        connections: vec![
            conn("dev1", "qa"),
            conn("dev2", "qa"),
            conn("dev3", "qa"),
            conn("dev4", "qa"),
            conn("qa", "int"),
            conn("int", "uat"),
            conn("uat", "prod"),
        ],
    }
}

fn job() -> JobState {
    let spec = JobSpec {
        kind: JobKind::BackPromote,
        from: "uat".into(),
        target: "qa".into(),
        stories: vec!["US-00001".into()],
        components: vec![],
        validate_only: false,
        test_level: None,
        tests: vec![],
        on_conflict: Default::default(),
        on_drift: Default::default(),
        destructive_pre: false,
        confirmed: false,
        user: "bench".into(),
        rollback_of: None,
    };
    let mut j = JobState::new("j1".into(), "b1".into(), spec, &Step::ALL, NOW - 10);
    // Mid-deploy: the deploy step runs.
    if let Some(s) = j.steps.iter_mut().find(|s| s.step == Step::Deploy) {
        s.status = StepStatus::Running;
    }
    j.seq = 1;
    j
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn bench(c: &mut Criterion) {
    let theme = Theme::load(false);
    let b = board(10_000);
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();

    c.bench_function("first_frame_10k", |bn| {
        bn.iter(|| {
            let mut app = App::new(Keymap::default_map(), "bench".into(), false, NOW);
            app.size = (160, 48);
            app.update(Msg::BoardLoaded(Ok(b.clone())));
            term.draw(|f| view::draw(f, &app, &theme)).unwrap();
        })
    });

    let mut app = App::new(Keymap::default_map(), "bench".into(), false, NOW);
    app.size = (160, 48);
    app.update(Msg::BoardLoaded(Ok(b.clone())));
    app.update(Msg::JobSynced(Box::new(job())));
    let mut seq = 1u64;
    c.bench_function("event_update_draw_10k", |bn| {
        bn.iter(|| {
            seq += 1;
            let kind = if seq.is_multiple_of(2) {
                EventKind::Progress {
                    done: seq % 100,
                    total: 100,
                    label: "components".into(),
                }
            } else {
                EventKind::Log {
                    message: format!("poll {seq}"),
                }
            };
            black_box(app.update(Msg::Job(JobEvent {
                job: "j1".into(),
                batch: "b1".into(),
                target: "qa".into(),
                seq,
                kind,
            })));
            term.draw(|f| view::draw(f, &app, &theme)).unwrap();
        })
    });

    let mut down = true;
    c.bench_function("key_update_draw_10k", |bn| {
        bn.iter(|| {
            down = !down;
            app.update(key(if down { KeyCode::Down } else { KeyCode::Right }));
            term.draw(|f| view::draw(f, &app, &theme)).unwrap();
        })
    });

    app.update(key(KeyCode::Char('/')));
    let mut flip = false;
    c.bench_function("filter_keystroke_10k", |bn| {
        bn.iter(|| {
            flip = !flip;
            app.update(if flip {
                key(KeyCode::Char('9'))
            } else {
                key(KeyCode::Backspace)
            });
            term.draw(|f| view::draw(f, &app, &theme)).unwrap();
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
