//! Console state and the one `update` that every message goes through. No I/O here: `update`
//! returns the effects the event loop must run (load data, submit jobs, answer decisions, quit).

use super::keymap::{Action, Context, Keymap};
use crate::domain::detail::{FileDiff, StoryDetail};
use crate::domain::job::{
    Answer, BatchId, ConflictPolicy, DecisionKind, DriftPolicy, EventKind, JobEvent, JobId,
    JobKind, JobSpec, JobState, Outcome, PendingDecision, StepStatus,
};
use crate::domain::org::OrgInfo;
use crate::domain::{Board, BoardStory, EnvKind, Plan, PlanRequest, Presence};
use crate::engine::audit::AuditRecord;
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32String};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    BoardLoaded(Result<Board, String>),
    /// Component names per story, for the filter.
    IndexLoaded(BTreeMap<String, Vec<String>>),
    /// What the `[[rule]]` automations would back-promote now (`from → target: stories`).
    AutoPending(Vec<String>),
    DetailLoaded(String, Result<Option<StoryDetail>, String>),
    DiffLoaded(Result<FileDiff, String>),
    PlanLoaded(Result<Plan, String>),
    Submitted(Result<(BatchId, Vec<JobId>), String>),
    Job(JobEvent),
    /// A job's full state (after a gap in `seq`, a decision, or at start).
    JobSynced(Box<JobState>),
    Edited {
        decision: String,
        result: Result<String, String>,
    },
    AuditLoaded(Result<Vec<AuditRecord>, String>),
    OrgsLoaded(Result<Vec<OrgInfo>, String>),
    /// An external command (login) finished.
    External(Result<String, String>),
    /// Who runs jobs started here, as the engine knows it.
    User(String),
    Resize(u16, u16),
    /// Clock tick: seconds since the epoch.
    Tick(i64),
}

/// Work the event loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadBoard,
    LoadIndex,
    LoadAuto,
    LoadDetail(String),
    LoadDiff {
        story: String,
        path: String,
        against: Option<String>,
    },
    Plan(PlanRequest),
    Submit(Vec<JobSpec>),
    Answer {
        decision: String,
        answer: Answer,
    },
    Cancel(JobId),
    Resync(JobId),
    /// Suspend the screen, edit `text` in $EDITOR, answer `decision` with the result.
    Edit {
        decision: String,
        text: String,
    },
    LoadAudit,
    LoadOrgs,
    Login(String),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Board,
    Jobs,
    History,
    Orgs,
}

impl Screen {
    pub const ALL: [Screen; 4] = [Screen::Board, Screen::Jobs, Screen::History, Screen::Orgs];
    pub fn title(self) -> &'static str {
        match self {
            Screen::Board => "Board",
            Screen::Jobs => "Jobs",
            Screen::History => "History",
            Screen::Orgs => "Orgs",
        }
    }
}

/// A row of the story detail's component tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeRow {
    Type(String),
    /// Index into `StoryDetail::files`.
    Component(usize),
}

#[derive(Debug, Clone)]
pub struct StoryView {
    pub id: String,
    pub detail: Option<Result<StoryDetail, String>>,
    pub rows: Vec<TreeRow>,
    pub cursor: usize,
    pub diff: Option<Result<FileDiff, String>>,
    pub diff_scroll: u16,
    /// Which file of the focused component the preview shows.
    pub file: usize,
    /// Compare the story's version with this env's file instead of showing its own change.
    pub against: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TargetItem {
    pub env: String,
    pub checked: bool,
    pub protected: bool,
    /// Why it is (not) checked by default.
    pub note: String,
}

#[derive(Debug, Clone)]
pub struct TargetPicker {
    pub from: String,
    pub stories: Vec<String>,
    pub components: Vec<String>,
    pub items: Vec<TargetItem>,
    pub cursor: usize,
}

#[derive(Debug, Clone)]
pub struct PlanView {
    pub req: PlanRequest,
    pub plan: Option<Result<Plan, String>>,
    pub tab: usize,
    pub scroll: u16,
}

#[derive(Debug, Clone)]
pub struct ConfirmTyped {
    /// Protected targets still to confirm, in order; the first is being typed.
    pub envs: Vec<String>,
    pub input: String,
    pub specs: Vec<JobSpec>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DecisionView {
    pub job: JobId,
    pub target: String,
    pub decision: PendingDecision,
    pub all_targets: bool,
    pub scroll: u16,
}

#[derive(Debug, Clone)]
pub enum Modal {
    Help {
        scroll: u16,
    },
    Palette {
        input: String,
        cursor: usize,
    },
    Filter,
    Story(Box<StoryView>),
    Targets(TargetPicker),
    Plan(Box<PlanView>),
    Confirm(ConfirmTyped),
    /// A yes/no question; `yes` runs on `y` or enter.
    Ask {
        text: String,
        yes: Vec<Effect>,
    },
    Decision(Box<DecisionView>),
    /// A job asks for the typed name of a protected env.
    TypedAnswer {
        decision: String,
        env: String,
        input: String,
    },
    Notice(String),
}

impl Modal {
    fn takes_text(&self) -> bool {
        matches!(
            self,
            Modal::Palette { .. }
                | Modal::Filter
                | Modal::Confirm(_)
                | Modal::Ask { .. }
                | Modal::TypedAnswer { .. }
        )
    }
}

pub struct App {
    /// Automatic back promotions the rules would run now (shown in the status line).
    pub auto_pending: Vec<String>,
    pub keymap: Keymap,
    pub board: Option<Board>,
    pub loading: bool,
    pub error: Option<String>,
    pub workspace: String,
    pub readonly: bool,
    pub user: String,
    pub screen: Screen,
    /// Focused env column (index into board.envs).
    pub col: usize,
    /// Focused row per column.
    pub rows: Vec<usize>,
    /// Leftmost column shown (horizontal scroll), kept by `update` so draw stays pure.
    pub col_offset: usize,
    /// Stories per column (indices into board.stories), filtered and newest first.
    pub cols: Vec<Vec<usize>>,
    pub marked: BTreeSet<String>,
    /// Single components marked in story detail (`Type:Member`).
    pub marked_components: BTreeSet<String>,
    /// `v`: the row where a range started, in the focused column.
    pub range_anchor: Option<usize>,
    pub filter: String,
    pub components: BTreeMap<String, Vec<String>>,
    haystacks: Vec<Utf32String>,
    matcher: Box<Matcher>,
    /// Story indices newest first, computed when the board arrives (filtering reuses it).
    order: Vec<usize>,
    /// `below` per env, computed when the board arrives (the board draws it per row).
    below_cache: Vec<Vec<usize>>,
    /// The palette's ranked actions for the current input.
    pub palette_cache: Vec<(Action, String)>,
    pub modals: Vec<Modal>,
    pub jobs: Vec<JobState>,
    pub job_cursor: usize,
    /// Decisions the user closed without answering: not reopened automatically.
    pub dismissed: BTreeSet<String>,
    pub audit: Option<Result<Vec<AuditRecord>, String>>,
    pub audit_cursor: usize,
    pub orgs: Option<Result<Vec<OrgInfo>, String>>,
    pub org_cursor: usize,
    /// Seconds since the epoch, injected so ages and elapsed times are deterministic in tests.
    pub now: i64,
    pub size: (u16, u16),
    pub dirty: bool,
}

impl App {
    pub fn new(keymap: Keymap, workspace: String, readonly: bool, now: i64) -> App {
        App {
            auto_pending: Vec::new(),
            keymap,
            board: None,
            loading: true,
            error: None,
            workspace,
            readonly,
            user: String::new(),
            screen: Screen::Board,
            col: 0,
            rows: Vec::new(),
            col_offset: 0,
            cols: Vec::new(),
            marked: BTreeSet::new(),
            marked_components: BTreeSet::new(),
            range_anchor: None,
            filter: String::new(),
            components: BTreeMap::new(),
            haystacks: Vec::new(),
            matcher: Box::new(Matcher::new(Config::DEFAULT)),
            palette_cache: Vec::new(),
            below_cache: Vec::new(),
            order: Vec::new(),
            modals: Vec::new(),
            jobs: Vec::new(),
            job_cursor: 0,
            dismissed: BTreeSet::new(),
            audit: None,
            audit_cursor: 0,
            orgs: None,
            org_cursor: 0,
            now,
            size: (80, 24),
            dirty: true,
        }
    }

    /// Anything moving on screen (loading, running jobs): the event loop ticks only then.
    pub fn busy(&self) -> bool {
        self.loading || self.jobs.iter().any(|j| !j.is_done())
    }

    /// Stories shown in env column `col`: present or partial there, filtered, newest first.
    pub fn column(&self, col: usize) -> Vec<&BoardStory> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        self.cols
            .get(col)
            .map(|v| v.iter().map(|i| &b.stories[*i]).collect())
            .unwrap_or_default()
    }

    pub fn column_len(&self, col: usize) -> usize {
        self.cols.get(col).map(Vec::len).unwrap_or(0)
    }

    pub fn story_at(&self, col: usize, row: usize) -> Option<&BoardStory> {
        let b = self.board.as_ref()?;
        self.cols.get(col)?.get(row).and_then(|i| b.stories.get(*i))
    }

    pub fn focused_story(&self) -> Option<&BoardStory> {
        let row = self.rows.get(self.col).copied().unwrap_or(0);
        self.story_at(self.col, row)
    }

    /// Env indices below `env` (those with a path of connections up to it), nearest first.
    pub fn below(&self, env: usize) -> Vec<usize> {
        match self.below_cache.get(env) {
            Some(v) => v.clone(),
            None => self.compute_below(env),
        }
    }

    fn compute_below(&self, env: usize) -> Vec<usize> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let mut out: Vec<usize> = Vec::new();
        let mut queue = VecDeque::from([b.envs[env].name.clone()]);
        while let Some(cur) = queue.pop_front() {
            for c in b.connections.iter().filter(|c| c.to == cur) {
                if let Some(i) = b.env_index(&c.from)
                    && i != env
                    && !out.contains(&i)
                {
                    out.push(i);
                    queue.push_back(c.from.clone());
                }
            }
        }
        // Without connections fall back to the pipeline levels.
        if b.connections.is_empty() {
            let level = b.envs[env].level;
            out = (0..b.envs.len())
                .filter(|i| b.envs[*i].level < level)
                .collect();
        }
        out
    }

    /// Envs below `col` that lack the story fully (never prod).
    pub fn missing_below(&self, col: usize, story: &BoardStory) -> Vec<String> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let Some(below) = self.below_cache.get(col) else {
            return Vec::new();
        };
        below
            .iter()
            .copied()
            .filter(|i| {
                b.envs[*i].kind != EnvKind::Prod
                    && story.presence.get(*i) != Some(&Presence::Present)
            })
            .map(|i| b.envs[i].name.clone())
            .collect()
    }

    fn context(&self) -> Context {
        match self.modals.last() {
            Some(Modal::Decision(d)) => match d.decision.kind {
                DecisionKind::Drift { .. } => Context::Drift,
                _ => Context::Conflict,
            },
            Some(_) => Context::Global,
            None => match self.screen {
                Screen::Board => Context::Board,
                Screen::Jobs => Context::Jobs,
                Screen::Orgs => Context::Orgs,
                Screen::History => Context::Global,
            },
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        self.dirty = true;
        match msg {
            Msg::BoardLoaded(Ok(b)) => {
                self.rows.resize(b.envs.len(), 0);
                self.col = self.col.min(b.envs.len().saturating_sub(1));
                let stale: Vec<String> = self
                    .marked
                    .iter()
                    .filter(|id| !b.stories.iter().any(|s| &s.id == *id))
                    .cloned()
                    .collect();
                for id in stale {
                    self.marked.remove(&id);
                }
                self.board = Some(b);
                self.below_cache = (0..self.rows.len())
                    .map(|i| self.compute_below(i))
                    .collect();
                if let Some(b) = &self.board {
                    let mut order: Vec<usize> = (0..b.stories.len()).collect();
                    order.sort_by(|x, y| {
                        let (a, c) = (&b.stories[*x], &b.stories[*y]);
                        c.time.cmp(&a.time).then(a.id.cmp(&c.id))
                    });
                    self.order = order;
                }
                self.loading = false;
                self.error = None;
                self.rebuild_haystacks();
                self.rebuild();
                vec![Effect::LoadIndex, Effect::LoadAuto]
            }
            Msg::AutoPending(v) => {
                self.auto_pending = v;
                vec![]
            }
            Msg::BoardLoaded(Err(e)) => {
                self.loading = false;
                self.error = Some(e);
                vec![]
            }
            Msg::IndexLoaded(idx) => {
                self.components = idx;
                self.rebuild_haystacks();
                if !self.filter.is_empty() {
                    self.rebuild();
                }
                vec![]
            }
            Msg::DetailLoaded(id, r) => self.detail_loaded(id, r),
            Msg::DiffLoaded(r) => {
                if let Some(Modal::Story(v)) = self.top_of(|m| matches!(m, Modal::Story(_))) {
                    v.diff = Some(r);
                    v.diff_scroll = 0;
                }
                vec![]
            }
            Msg::PlanLoaded(r) => {
                if let Some(Modal::Plan(v)) = self.top_of(|m| matches!(m, Modal::Plan(_))) {
                    v.plan = Some(r);
                }
                vec![]
            }
            Msg::Submitted(Ok((_, ids))) => {
                self.screen = Screen::Jobs;
                if let Some(i) = ids
                    .first()
                    .and_then(|id| self.jobs.iter().position(|j| &j.job == id))
                {
                    self.job_cursor = i;
                }
                self.marked.clear();
                self.marked_components.clear();
                vec![]
            }
            Msg::Submitted(Err(e)) => {
                self.modals
                    .push(Modal::Notice(format!("The jobs could not start: {e}")));
                vec![]
            }
            Msg::Job(ev) => self.job_event(ev),
            Msg::JobSynced(st) => {
                let st = *st;
                match self.jobs.iter_mut().find(|j| j.job == st.job) {
                    Some(j) => *j = st,
                    None => self.jobs.push(st),
                }
                self.open_next_decision();
                vec![]
            }
            Msg::Edited { decision, result } => match result {
                Ok(text) => self.answer_one(&decision, Answer::Edit { text }),
                Err(e) => {
                    self.dismissed.remove(&decision);
                    self.modals
                        .push(Modal::Notice(format!("The editor failed: {e}")));
                    self.open_next_decision();
                    vec![]
                }
            },
            Msg::AuditLoaded(r) => {
                self.audit = Some(r);
                self.clamp_lists();
                vec![]
            }
            Msg::OrgsLoaded(r) => {
                self.orgs = Some(r);
                self.clamp_lists();
                vec![]
            }
            Msg::External(r) => {
                let text = match r {
                    Ok(t) => t,
                    Err(e) => format!("failed: {e}"),
                };
                self.modals.push(Modal::Notice(text));
                vec![Effect::LoadOrgs]
            }
            Msg::User(u) => {
                self.dirty = false;
                self.user = u;
                vec![]
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.scroll_columns();
                vec![]
            }
            Msg::Tick(now) => {
                self.dirty = self.busy() && now != self.now;
                self.now = now;
                vec![]
            }
            Msg::Key(k) => self.key(k),
        }
    }

    /// The topmost modal matching `f` (loads land in their modal even if another is on top).
    fn top_of(&mut self, f: impl Fn(&Modal) -> bool) -> Option<&mut Modal> {
        self.modals.iter_mut().rev().find(|m| f(m))
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if self.modals.last().is_some_and(Modal::takes_text) {
            return self.text_key(k);
        }
        match self.keymap.action_in(&k, self.context()) {
            Some(a) => self.act(a),
            None => {
                self.dirty = false;
                vec![]
            }
        }
    }

    // ---- text input modals -------------------------------------------------------------

    fn text_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
        let Some(top) = self.modals.last_mut() else {
            return vec![];
        };
        if k.code == KeyCode::Esc || ctrl_c {
            let was_filter = matches!(top, Modal::Filter);
            if let Modal::TypedAnswer { decision, .. } = top {
                self.dismissed.insert(decision.clone());
            }
            self.modals.pop();
            if was_filter {
                // Esc in the filter clears it; enter keeps it.
                self.filter.clear();
                self.rebuild();
            }
            return vec![];
        }
        match top {
            Modal::Ask { yes, .. } => match k.code {
                KeyCode::Char('y') | KeyCode::Enter => {
                    let effects = std::mem::take(yes);
                    self.modals.pop();
                    effects
                }
                KeyCode::Char('n') => {
                    self.modals.pop();
                    vec![]
                }
                _ => vec![],
            },
            Modal::Filter => {
                match k.code {
                    KeyCode::Enter => {
                        self.modals.pop();
                        return vec![];
                    }
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c) => self.filter.push(c),
                    _ => return vec![],
                }
                self.rebuild();
                vec![]
            }
            Modal::Palette { input, cursor } => match k.code {
                KeyCode::Enter => {
                    let pick = self.palette_cache.get(*cursor).map(|(a, _)| *a);
                    self.modals.pop();
                    match pick {
                        Some(a) => self.act(a),
                        None => vec![],
                    }
                }
                KeyCode::Up => {
                    *cursor = cursor.saturating_sub(1);
                    vec![]
                }
                KeyCode::Down => {
                    *cursor = (*cursor + 1).min(self.palette_cache.len().saturating_sub(1));
                    vec![]
                }
                KeyCode::Backspace => {
                    input.pop();
                    *cursor = 0;
                    self.palette_cache = self.palette_items();
                    vec![]
                }
                KeyCode::Char(c) => {
                    input.push(c);
                    *cursor = 0;
                    self.palette_cache = self.palette_items();
                    vec![]
                }
                _ => vec![],
            },
            Modal::TypedAnswer {
                decision, input, ..
            } => match k.code {
                KeyCode::Enter => {
                    let (id, typed) = (decision.clone(), input.clone());
                    self.modals.pop();
                    self.answer_one(&id, Answer::Confirm { typed })
                }
                KeyCode::Backspace => {
                    input.pop();
                    vec![]
                }
                KeyCode::Char(ch) => {
                    input.push(ch);
                    vec![]
                }
                _ => vec![],
            },
            Modal::Confirm(c) => match k.code {
                KeyCode::Enter => {
                    let want = c.envs.first().cloned().unwrap_or_default();
                    if c.input.trim() != want {
                        c.error = Some(format!("type '{want}' exactly to confirm"));
                        return vec![];
                    }
                    c.envs.remove(0);
                    c.input.clear();
                    c.error = None;
                    if c.envs.is_empty() {
                        let specs = std::mem::take(&mut c.specs);
                        self.modals.pop();
                        return vec![Effect::Submit(specs)];
                    }
                    vec![]
                }
                KeyCode::Backspace => {
                    c.input.pop();
                    vec![]
                }
                KeyCode::Char(ch) => {
                    c.input.push(ch);
                    vec![]
                }
                _ => vec![],
            },
            _ => vec![],
        }
    }

    /// Actions the palette offers (every action but the palette itself; readonly hides the
    /// changing ones), fuzzy-filtered by the typed text.
    fn palette_items(&mut self) -> Vec<(Action, String)> {
        let input = match self.modals.last() {
            Some(Modal::Palette { input, .. }) => input.clone(),
            _ => String::new(),
        };
        let mut seen = BTreeSet::new();
        let mut items: Vec<(Action, String)> = Vec::new();
        for b in &self.keymap.bindings {
            if b.action == Action::Palette
                || (self.readonly && b.action.is_dangerous())
                || !seen.insert(b.action)
            {
                continue;
            }
            let label = format!("{} ({}: {})", b.help, b.context.label(), b.keys.join(" "));
            items.push((b.action, label));
        }
        if input.is_empty() {
            return items;
        }
        let pat = Pattern::parse(&input, CaseMatching::Ignore, Normalization::Smart);
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, usize)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, (_, l))| {
                pat.score(
                    nucleo_matcher::Utf32Str::new(l, &mut buf),
                    &mut self.matcher,
                )
                .map(|s| (s, i))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, i)| items[i].clone()).collect()
    }

    // ---- actions -----------------------------------------------------------------------

    fn refuse_readonly(&mut self, a: Action) -> bool {
        if self.readonly && a.is_dangerous() {
            self.modals.push(Modal::Notice(
                "Read-only session: actions that change orgs or branches are disabled.".into(),
            ));
            return true;
        }
        false
    }

    pub fn act(&mut self, a: Action) -> Vec<Effect> {
        if self.refuse_readonly(a) {
            return vec![];
        }
        // Keys that work on top of anything.
        match a {
            Action::Palette => {
                self.modals.push(Modal::Palette {
                    input: String::new(),
                    cursor: 0,
                });
                self.palette_cache = self.palette_items();
                return vec![];
            }
            Action::Help if !matches!(self.modals.last(), Some(Modal::Help { .. })) => {
                self.modals.push(Modal::Help { scroll: 0 });
                return vec![];
            }
            _ => {}
        }
        if !self.modals.is_empty() {
            return self.modal_act(a);
        }
        match a {
            Action::Quit => return vec![Effect::Quit],
            Action::NextScreen => {
                let i = Screen::ALL
                    .iter()
                    .position(|s| *s == self.screen)
                    .unwrap_or(0);
                return self.show(Screen::ALL[(i + 1) % Screen::ALL.len()]);
            }
            Action::ScreenBoard => return self.show(Screen::Board),
            Action::ScreenJobs => return self.show(Screen::Jobs),
            Action::ScreenHistory => return self.show(Screen::History),
            Action::ScreenOrgs => return self.show(Screen::Orgs),
            Action::Refresh => {
                self.loading = true;
                return match self.screen {
                    Screen::History => vec![Effect::LoadBoard, Effect::LoadAudit],
                    Screen::Orgs => vec![Effect::LoadBoard, Effect::LoadOrgs],
                    _ => vec![Effect::LoadBoard],
                };
            }
            _ => {}
        }
        match self.screen {
            Screen::Board => self.board_act(a),
            Screen::Jobs => self.jobs_act(a),
            Screen::History => {
                let n = self
                    .audit
                    .as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .map(Vec::len)
                    .unwrap_or(0);
                self.audit_cursor = list_move(self.audit_cursor, n, a, self.page());
                vec![]
            }
            Screen::Orgs => {
                let n = self.org_rows().len();
                if a == Action::Login {
                    return match self.org_rows().get(self.org_cursor) {
                        Some(o) => vec![Effect::Login(o.env.clone())],
                        None => vec![],
                    };
                }
                self.org_cursor = list_move(self.org_cursor, n, a, self.page());
                vec![]
            }
        }
    }

    fn page(&self) -> usize {
        (self.size.1 as usize).saturating_sub(8).max(1)
    }

    fn show(&mut self, s: Screen) -> Vec<Effect> {
        self.screen = s;
        match s {
            Screen::History if self.audit.is_none() => vec![Effect::LoadAudit],
            Screen::Orgs if self.orgs.is_none() => vec![Effect::LoadOrgs],
            _ => vec![],
        }
    }

    /// What the Orgs screen lists: the engine's answer, or what the board knows.
    pub fn org_rows(&self) -> Vec<OrgInfo> {
        if let Some(Ok(v)) = &self.orgs {
            return v.clone();
        }
        self.board
            .as_ref()
            .map(|b| {
                b.envs
                    .iter()
                    .map(|e| OrgInfo {
                        env: e.name.clone(),
                        org: e.org.clone(),
                        login: crate::domain::org::LoginState::Unknown,
                        username: None,
                        instance_url: None,
                        release: e.release.clone(),
                        api_version: e.api_version.clone(),
                        limits: Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn board_act(&mut self, a: Action) -> Vec<Effect> {
        let ncols = self.board.as_ref().map(|b| b.envs.len()).unwrap_or(0);
        let nrows = self.column_len(self.col);
        let row = self.rows.get(self.col).copied().unwrap_or(0);
        match a {
            Action::Left => {
                self.col = self.col.saturating_sub(1);
                self.range_anchor = None;
                self.scroll_columns();
            }
            Action::Right => {
                if self.col + 1 < ncols {
                    self.col += 1;
                }
                self.range_anchor = None;
                self.scroll_columns();
            }
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => {
                let page = self.page() / 2;
                self.set_row(list_move(row, nrows, a, page.max(1)));
            }
            Action::Select => {
                if let Some(id) = self.focused_story().map(|s| s.id.clone())
                    && !self.marked.remove(&id)
                {
                    self.marked.insert(id);
                }
                self.set_row((row + 1).min(nrows.saturating_sub(1)));
            }
            Action::Range => match self.range_anchor.take() {
                None => self.range_anchor = Some(row),
                Some(anchor) => {
                    let (lo, hi) = (anchor.min(row), anchor.max(row));
                    let ids: Vec<String> = (lo..=hi)
                        .filter_map(|r| self.story_at(self.col, r).map(|s| s.id.clone()))
                        .collect();
                    self.marked.extend(ids);
                }
            },
            Action::MarkMissing => {
                let ids: Vec<String> = self
                    .column(self.col)
                    .into_iter()
                    .filter(|s| !self.missing_below(self.col, s).is_empty())
                    .map(|s| s.id.clone())
                    .collect();
                if ids.is_empty() {
                    self.modals.push(Modal::Notice(
                        "Every env below already has the stories of this column.".into(),
                    ));
                }
                self.marked.extend(ids);
            }
            Action::ClearMarks => {
                self.marked.clear();
                self.marked_components.clear();
                self.range_anchor = None;
            }
            Action::Filter => self.modals.push(Modal::Filter),
            Action::Open => {
                if let Some(id) = self.focused_story().map(|s| s.id.clone()) {
                    self.modals.push(Modal::Story(Box::new(StoryView {
                        id: id.clone(),
                        detail: None,
                        rows: Vec::new(),
                        cursor: 0,
                        diff: None,
                        diff_scroll: 0,
                        file: 0,
                        against: None,
                    })));
                    return vec![Effect::LoadDetail(id)];
                }
            }
            Action::Plan => return self.start_back_promotion(),
            Action::Close => {
                self.range_anchor = None;
            }
            _ => {}
        }
        vec![]
    }

    /// `b`: the target picker for the selection (marked stories and components of the focused
    /// env, or the focused story), defaulting to every env below that lacks it.
    fn start_back_promotion(&mut self) -> Vec<Effect> {
        let Some(b) = &self.board else {
            return vec![];
        };
        let col = self.col;
        let from = b.envs[col].name.clone();
        let mut stories: Vec<String> = b
            .stories
            .iter()
            .filter(|s| {
                self.marked.contains(&s.id)
                    && s.presence.get(col).is_some_and(|p| *p != Presence::Absent)
            })
            .map(|s| s.id.clone())
            .collect();
        let components: Vec<String> = self.marked_components.iter().cloned().collect();
        if stories.is_empty()
            && components.is_empty()
            && let Some(s) = self.focused_story()
        {
            stories.push(s.id.clone());
        }
        if stories.is_empty() && components.is_empty() {
            self.modals.push(Modal::Notice(format!(
                "Nothing to back-promote: mark stories in {from} with space, or open one with enter and mark components."
            )));
            return vec![];
        }
        let below = self.below(col);
        let items: Vec<TargetItem> = below
            .iter()
            .filter(|i| b.envs[**i].kind != EnvKind::Prod)
            .map(|i| {
                let e = &b.envs[*i];
                let lacking: Vec<&String> = stories
                    .iter()
                    .filter(|id| {
                        b.stories
                            .iter()
                            .find(|s| &s.id == *id)
                            .is_some_and(|s| s.presence.get(*i) != Some(&Presence::Present))
                    })
                    .collect();
                let checked = !lacking.is_empty() || (stories.is_empty() && !components.is_empty());
                let note = if stories.is_empty() {
                    "component pick".to_string()
                } else if lacking.is_empty() {
                    "has everything".to_string()
                } else {
                    format!("lacks {}/{}", lacking.len(), stories.len())
                };
                TargetItem {
                    env: e.name.clone(),
                    checked,
                    protected: e.protected,
                    note,
                }
            })
            .collect();
        if items.is_empty() {
            self.modals.push(Modal::Notice(format!(
                "No env below {from} to back-promote to (production is never a target)."
            )));
            return vec![];
        }
        self.modals.push(Modal::Targets(TargetPicker {
            from,
            stories,
            components,
            items,
            cursor: 0,
        }));
        vec![]
    }

    fn jobs_act(&mut self, a: Action) -> Vec<Effect> {
        let n = self.jobs.len();
        match a {
            Action::Cancel => {
                if let Some(j) = self.jobs.get(self.job_cursor) {
                    if j.is_done() {
                        self.modals.push(Modal::Notice(format!(
                            "Job {} has already finished.",
                            j.job
                        )));
                    } else {
                        self.modals.push(Modal::Ask {
                            text: format!(
                                "Cancel job {} ({} → {})? A deploy in flight is asked to stop; the outcome is re-read from the org.",
                                j.job, j.spec.from, j.target
                            ),
                            yes: vec![Effect::Cancel(j.job.clone())],
                        });
                    }
                }
            }
            Action::Rollback => {
                if let Some(j) = self.jobs.get(self.job_cursor) {
                    if !(j.is_done() && j.has_restore_package) {
                        self.modals.push(Modal::Notice(format!(
                            "Job {} kept no restore package: nothing to roll back.",
                            j.job
                        )));
                    } else {
                        let spec = JobSpec {
                            kind: JobKind::Rollback,
                            from: j.spec.from.clone(),
                            target: j.target.clone(),
                            stories: j.spec.stories.clone(),
                            components: j.spec.components.clone(),
                            validate_only: false,
                            test_level: j.spec.test_level.clone(),
                            tests: Vec::new(),
                            on_conflict: ConflictPolicy::Abort,
                            on_drift: DriftPolicy::Prompt,
                            destructive_pre: false,
                            confirmed: j.spec.confirmed,
                            user: self.user.clone(),
                            rollback_of: Some(j.job.clone()),
                        };
                        self.modals.push(Modal::Ask {
                            text: format!(
                                "Roll back job {} on {}: redeploy the org's copies retrieved before it ran?",
                                j.job, j.target
                            ),
                            yes: vec![Effect::Submit(vec![spec])],
                        });
                    }
                }
            }
            Action::Open => {
                if let Some(j) = self.jobs.get(self.job_cursor)
                    && let Some(d) = j.pending.first().cloned()
                {
                    let (job, target) = (j.job.clone(), j.target.clone());
                    self.dismissed.remove(&d.id);
                    self.modals.push(Modal::Decision(Box::new(DecisionView {
                        job,
                        target,
                        decision: d,
                        all_targets: false,
                        scroll: 0,
                    })));
                }
            }
            _ => self.job_cursor = list_move(self.job_cursor, n, a, self.page()),
        }
        vec![]
    }

    fn modal_act(&mut self, a: Action) -> Vec<Effect> {
        let page = self.page() as u16;
        let Some(top) = self.modals.last_mut() else {
            return vec![];
        };
        if matches!(a, Action::Close | Action::Quit) {
            if let Modal::Decision(d) = top {
                self.dismissed.insert(d.decision.id.clone());
            }
            self.modals.pop();
            return vec![];
        }
        match top {
            Modal::Help { scroll } => match a {
                Action::Help | Action::Open => {
                    self.modals.pop();
                }
                _ => *scroll = scroll_move(*scroll, a, page),
            },
            Modal::Notice(_) => {
                if a == Action::Open {
                    self.modals.pop();
                }
            }
            Modal::Story(v) => {
                let envs: Vec<String> = self
                    .board
                    .as_ref()
                    .map(|b| b.envs.iter().map(|e| e.name.clone()).collect())
                    .unwrap_or_default();
                return story_act(v, a, &mut self.marked_components, &envs);
            }
            Modal::Targets(p) => match a {
                Action::Up => p.cursor = p.cursor.saturating_sub(1),
                Action::Down => p.cursor = (p.cursor + 1).min(p.items.len().saturating_sub(1)),
                Action::Select => {
                    if let Some(i) = p.items.get_mut(p.cursor) {
                        i.checked = !i.checked;
                    }
                }
                Action::MarkMissing => {
                    let all = p.items.iter().all(|i| i.checked);
                    for i in &mut p.items {
                        i.checked = !all;
                    }
                }
                Action::Open => {
                    let to: Vec<String> = p
                        .items
                        .iter()
                        .filter(|i| i.checked)
                        .map(|i| i.env.clone())
                        .collect();
                    if to.is_empty() {
                        return vec![];
                    }
                    let req = PlanRequest {
                        from: p.from.clone(),
                        to,
                        stories: p.stories.clone(),
                        components: p.components.clone(),
                    };
                    self.modals.push(Modal::Plan(Box::new(PlanView {
                        req: req.clone(),
                        plan: None,
                        tab: 0,
                        scroll: 0,
                    })));
                    return vec![Effect::Plan(req)];
                }
                _ => {}
            },
            Modal::Plan(v) => {
                let n = v.req.to.len();
                match a {
                    Action::Left => {
                        v.tab = v.tab.saturating_sub(1);
                        v.scroll = 0;
                    }
                    Action::Right | Action::NextScreen => {
                        v.tab = (v.tab + 1).min(n.saturating_sub(1));
                        v.scroll = 0;
                    }
                    Action::Open => return self.confirm_plan(),
                    Action::IncludeDeps => return self.include_dependencies(),
                    _ => v.scroll = scroll_move(v.scroll, a, page),
                }
            }
            Modal::Decision(d) => {
                let answer = match a {
                    Action::TakeSource => Some(Answer::TakeSource),
                    Action::KeepTarget => Some(Answer::KeepTarget),
                    Action::Both => match &d.decision.kind {
                        DecisionKind::Conflict {
                            both_allowed: true, ..
                        } => Some(Answer::Both),
                        _ => None,
                    },
                    Action::SkipComponent => Some(Answer::Skip),
                    Action::Abort => Some(Answer::Abort),
                    Action::Adopt => Some(Answer::Adopt),
                    Action::Overwrite => Some(Answer::Overwrite),
                    Action::AllTargets => {
                        d.all_targets = !d.all_targets;
                        None
                    }
                    Action::Edit => {
                        if let DecisionKind::Conflict { source, target, .. } = &d.decision.kind {
                            let text = conflict_text(source.as_deref(), target.as_deref());
                            let id = d.decision.id.clone();
                            self.dismissed.insert(id.clone());
                            self.modals.pop();
                            return vec![Effect::Edit { decision: id, text }];
                        }
                        None
                    }
                    _ => {
                        d.scroll = scroll_move(d.scroll, a, page);
                        None
                    }
                };
                if let Some(ans) = answer {
                    let valid = matches!(
                        (&d.decision.kind, &ans),
                        (
                            DecisionKind::Drift { .. },
                            Answer::Adopt | Answer::Overwrite | Answer::Abort
                        ) | (
                            DecisionKind::Conflict { .. },
                            Answer::TakeSource
                                | Answer::KeepTarget
                                | Answer::Both
                                | Answer::Skip
                                | Answer::Abort
                        )
                    );
                    if valid {
                        let (id, all) = (d.decision.id.clone(), d.all_targets);
                        self.modals.pop();
                        return self.answer(&id, ans, all);
                    }
                }
            }
            Modal::Palette { .. }
            | Modal::Filter
            | Modal::Confirm(_)
            | Modal::Ask { .. }
            | Modal::TypedAnswer { .. } => {}
        }
        vec![]
    }

    /// Stories of env `from` (present or partial there) that bring component `dep`, from the
    /// component index.
    pub fn stories_bringing(&self, from: &str, dep: &str) -> Vec<String> {
        let Some(b) = &self.board else {
            return Vec::new();
        };
        let Some(col) = b.env_index(from) else {
            return Vec::new();
        };
        b.stories
            .iter()
            .filter(|s| {
                s.presence.get(col).is_some_and(|p| *p != Presence::Absent)
                    && self
                        .components
                        .get(&s.id)
                        .is_some_and(|c| c.iter().any(|x| x == dep))
            })
            .map(|s| s.id.clone())
            .collect()
    }

    /// `i` on the plan: add the stories that bring the missing dependencies, plan again.
    fn include_dependencies(&mut self) -> Vec<Effect> {
        let Some(Modal::Plan(v)) = self.modals.last() else {
            return vec![];
        };
        let Some(Ok(plan)) = &v.plan else {
            return vec![];
        };
        let mut add: Vec<String> = Vec::new();
        for t in &plan.targets {
            for dep in &t.missing_dependencies {
                for id in self.stories_bringing(&plan.from, dep) {
                    if !v.req.stories.contains(&id) && !add.contains(&id) {
                        add.push(id);
                    }
                }
            }
        }
        if add.is_empty() {
            self.modals.push(Modal::Notice(
                "No story in the source env brings the missing components: add them to the source first, or leave them out.".into(),
            ));
            return vec![];
        }
        let Some(Modal::Plan(v)) = self.modals.last_mut() else {
            return vec![];
        };
        v.req.stories.extend(add);
        v.req.stories.sort();
        v.plan = None;
        v.scroll = 0;
        vec![Effect::Plan(v.req.clone())]
    }

    /// Enter on the plan: typed confirmation for protected targets, then submit.
    fn confirm_plan(&mut self) -> Vec<Effect> {
        let Some(Modal::Plan(v)) = self.modals.last() else {
            return vec![];
        };
        let Some(Ok(plan)) = &v.plan else {
            return vec![];
        };
        let mut specs = Vec::new();
        let mut protected = Vec::new();
        for t in &plan.targets {
            if t.protected {
                protected.push(t.env.clone());
            }
            specs.push(JobSpec {
                kind: JobKind::BackPromote,
                from: plan.from.clone(),
                target: t.env.clone(),
                stories: v.req.stories.clone(),
                components: v.req.components.clone(),
                validate_only: false,
                test_level: None,
                tests: Vec::new(),
                on_conflict: ConflictPolicy::Prompt,
                on_drift: DriftPolicy::Prompt,
                destructive_pre: false,
                confirmed: t.protected,
                user: self.user.clone(),
                rollback_of: None,
            });
        }
        if specs.is_empty() {
            return vec![];
        }
        // The picker and the plan are done with.
        self.modals
            .retain(|m| !matches!(m, Modal::Plan(_) | Modal::Targets(_)));
        if protected.is_empty() {
            vec![Effect::Submit(specs)]
        } else {
            self.modals.push(Modal::Confirm(ConfirmTyped {
                envs: protected,
                input: String::new(),
                specs,
                error: None,
            }));
            vec![]
        }
    }

    // ---- jobs ------------------------------------------------------------------------------

    fn job_event(&mut self, ev: JobEvent) -> Vec<Effect> {
        let Some(j) = self.jobs.iter_mut().find(|j| j.job == ev.job) else {
            return vec![Effect::Resync(ev.job)];
        };
        if ev.seq <= j.seq {
            self.dirty = false;
            return vec![];
        }
        if ev.seq > j.seq + 1 {
            return vec![Effect::Resync(ev.job)];
        }
        j.seq = ev.seq;
        match &ev.kind {
            EventKind::DecisionNeeded { .. } => return vec![Effect::Resync(ev.job)],
            EventKind::DecisionAnswered { id, .. } => {
                j.pending.retain(|d| &d.id != id);
                let id = id.clone();
                self.close_decision(&id);
                return vec![];
            }
            EventKind::Finished(_) | EventKind::Failed { .. } => {
                crate::engine::jobs::apply(j, &ev.kind);
                // The injected clock, not the engine's, so elapsed times are deterministic.
                j.finished = Some(self.now);
                let asked: Vec<String> = j.pending.drain(..).map(|d| d.id).collect();
                let id = j.job.clone();
                self.modals.retain(|m| match m {
                    Modal::Decision(d) => d.job != id,
                    Modal::TypedAnswer { decision, .. } => !asked.contains(decision),
                    _ => true,
                });
                self.open_next_decision();
                // A deploy moved an env branch and wrote the audit log: read both again.
                let moved = matches!(
                    &ev.kind,
                    EventKind::Finished(
                        Outcome::Deployed { .. }
                            | Outcome::OrgAheadOfBranch { .. }
                            | Outcome::NeedsReconciliation { .. }
                    )
                );
                if moved {
                    let mut out = Vec::new();
                    if self.screen == Screen::History {
                        out.push(Effect::LoadAudit);
                    } else {
                        self.audit = None;
                    }
                    if !self.loading {
                        self.loading = true;
                        out.push(Effect::LoadBoard);
                    }
                    return out;
                }
            }
            k => crate::engine::jobs::apply(j, k),
        }
        vec![]
    }

    fn close_decision(&mut self, id: &str) {
        self.modals.retain(|m| match m {
            Modal::Decision(d) => d.decision.id != id,
            Modal::TypedAnswer { decision, .. } => decision != id,
            _ => true,
        });
        self.open_next_decision();
    }

    /// Shows the first unanswered decision, unless one is shown or the user closed it.
    fn open_next_decision(&mut self) {
        if self.modals.iter().any(|m| {
            matches!(
                m,
                Modal::Decision(_) | Modal::Confirm(_) | Modal::TypedAnswer { .. }
            )
        }) {
            return;
        }
        let next = self.jobs.iter().find_map(|j| {
            j.pending
                .iter()
                .find(|d| !self.dismissed.contains(&d.id))
                .map(|d| (j.job.clone(), j.target.clone(), d.clone()))
        });
        if let Some((job, target, decision)) = next {
            if let DecisionKind::Confirm { env } = &decision.kind {
                self.modals.push(Modal::TypedAnswer {
                    decision: decision.id.clone(),
                    env: env.clone(),
                    input: String::new(),
                });
                return;
            }
            self.modals.push(Modal::Decision(Box::new(DecisionView {
                job,
                target,
                decision,
                all_targets: false,
                scroll: 0,
            })));
        }
    }

    /// Decisions of the same batch that ask the same question (same component and path, or
    /// drift on the same components) in other targets.
    pub fn same_elsewhere(&self, id: &str) -> Vec<String> {
        let Some((batch, kind)) = self.jobs.iter().find_map(|j| {
            j.pending
                .iter()
                .find(|d| d.id == id)
                .map(|d| (j.batch.clone(), d.kind.clone()))
        }) else {
            return Vec::new();
        };
        let same = |k: &DecisionKind| match (k, &kind) {
            (
                DecisionKind::Conflict {
                    component: a,
                    path: p,
                    ..
                },
                DecisionKind::Conflict {
                    component: b,
                    path: q,
                    ..
                },
            ) => a == b && p == q,
            (
                DecisionKind::Drift { components: a, .. },
                DecisionKind::Drift { components: b, .. },
            ) => a == b,
            _ => false,
        };
        self.jobs
            .iter()
            .filter(|j| j.batch == batch)
            .flat_map(|j| j.pending.iter())
            .filter(|d| d.id != id && same(&d.kind))
            .map(|d| d.id.clone())
            .collect()
    }

    fn answer(&mut self, id: &str, answer: Answer, all: bool) -> Vec<Effect> {
        let mut ids = vec![id.to_string()];
        if all {
            ids.extend(self.same_elsewhere(id));
        }
        let mut out = Vec::new();
        for d in ids {
            out.extend(self.answer_one(&d, answer.clone()));
        }
        out
    }

    fn answer_one(&mut self, id: &str, answer: Answer) -> Vec<Effect> {
        for j in &mut self.jobs {
            j.pending.retain(|d| d.id != id);
        }
        self.close_decision(id);
        vec![Effect::Answer {
            decision: id.to_string(),
            answer,
        }]
    }

    // ---- story detail --------------------------------------------------------------------

    fn detail_loaded(&mut self, id: String, r: Result<Option<StoryDetail>, String>) -> Vec<Effect> {
        let Some(Modal::Story(v)) = self.top_of(|m| matches!(m, Modal::Story(v) if v.id == id))
        else {
            return vec![];
        };
        let r = r.and_then(|d| d.ok_or_else(|| format!("story {id} is no longer in the pipeline")));
        if let Ok(d) = &r {
            let mut rows = Vec::new();
            let mut last = "";
            for (i, f) in d.files.iter().enumerate() {
                if f.component.type_name != last {
                    rows.push(TreeRow::Type(f.component.type_name.clone()));
                    last = &f.component.type_name;
                }
                rows.push(TreeRow::Component(i));
            }
            v.rows = rows;
            v.cursor = v
                .rows
                .iter()
                .position(|r| matches!(r, TreeRow::Component(_)))
                .unwrap_or(0);
        }
        v.detail = Some(r);
        let eff = diff_effect(v);
        eff.into_iter().collect()
    }

    // ---- board bookkeeping --------------------------------------------------------------

    fn rebuild_haystacks(&mut self) {
        let Some(b) = &self.board else { return };
        self.haystacks = b
            .stories
            .iter()
            .map(|s| {
                let comps = self
                    .components
                    .get(&s.id)
                    .map(|v| v.join(" "))
                    .unwrap_or_default();
                Utf32String::from(format!("{} {} {} {comps}", s.id, s.title, s.author))
            })
            .collect();
    }

    /// Recomputes the columns (filter, order) and keeps focus in range.
    fn rebuild(&mut self) {
        let Some(b) = &self.board else { return };
        let keep: Vec<bool> = if self.filter.trim().is_empty() {
            vec![true; b.stories.len()]
        } else {
            let pat = Pattern::parse(&self.filter, CaseMatching::Ignore, Normalization::Smart);
            self.haystacks
                .iter()
                .map(|h| pat.score(h.slice(..), &mut self.matcher).is_some())
                .collect()
        };
        let order = &self.order;
        self.cols = (0..b.envs.len())
            .map(|col| {
                order
                    .iter()
                    .copied()
                    .filter(|i| {
                        keep.get(*i).copied().unwrap_or(true)
                            && b.stories[*i]
                                .presence
                                .get(col)
                                .is_some_and(|p| *p != Presence::Absent)
                    })
                    .collect()
            })
            .collect();
        for c in 0..self.rows.len() {
            let n = self.column_len(c);
            self.rows[c] = self.rows[c].min(n.saturating_sub(1));
        }
        self.scroll_columns();
    }

    /// Keeps the focused column on screen (columns are at least `MIN_COL` wide).
    fn scroll_columns(&mut self) {
        let n = self.board.as_ref().map(|b| b.envs.len()).unwrap_or(0);
        let fit = ((self.size.0 / super::view::MIN_COL).max(1) as usize).min(n.max(1));
        if self.col < self.col_offset {
            self.col_offset = self.col;
        } else if self.col >= self.col_offset + fit {
            self.col_offset = self.col + 1 - fit;
        }
        self.col_offset = self.col_offset.min(n.saturating_sub(fit));
    }

    fn set_row(&mut self, r: usize) {
        if let Some(x) = self.rows.get_mut(self.col) {
            *x = r;
        }
    }

    fn clamp_lists(&mut self) {
        let n = self
            .audit
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(Vec::len)
            .unwrap_or(0);
        self.audit_cursor = self.audit_cursor.min(n.saturating_sub(1));
        let n = self.org_rows().len();
        self.org_cursor = self.org_cursor.min(n.saturating_sub(1));
    }
}

fn story_act(
    v: &mut StoryView,
    a: Action,
    marks: &mut BTreeSet<String>,
    envs: &[String],
) -> Vec<Effect> {
    let comp_rows: Vec<usize> = v
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, TreeRow::Component(_)))
        .map(|(i, _)| i)
        .collect();
    let pos = comp_rows.iter().position(|r| *r == v.cursor).unwrap_or(0);
    let before = (v.cursor, v.file, v.against.clone());
    match a {
        Action::NextScreen => v.file += 1,
        Action::CompareEnv => {
            // None → each env in pipeline order → None.
            v.against = match &v.against {
                None => envs.first().cloned(),
                Some(cur) => envs
                    .iter()
                    .position(|e| e == cur)
                    .and_then(|i| envs.get(i + 1))
                    .cloned(),
            };
        }
        Action::Up => v.cursor = comp_rows.get(pos.saturating_sub(1)).copied().unwrap_or(0),
        Action::Down => {
            v.cursor = comp_rows
                .get((pos + 1).min(comp_rows.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        }
        Action::Top => v.cursor = comp_rows.first().copied().unwrap_or(0),
        Action::Bottom => v.cursor = comp_rows.last().copied().unwrap_or(0),
        Action::PageDown | Action::Right => v.diff_scroll = v.diff_scroll.saturating_add(10),
        Action::PageUp | Action::Left => v.diff_scroll = v.diff_scroll.saturating_sub(10),
        Action::Select => {
            if let (Some(TreeRow::Component(i)), Some(Ok(d))) = (v.rows.get(v.cursor), &v.detail)
                && let Some(f) = d.files.get(*i)
            {
                let name = f.component.to_string();
                if !marks.remove(&name) {
                    marks.insert(name);
                }
            }
        }
        _ => {}
    }
    if v.cursor != before.0 {
        v.file = 0;
    }
    if (v.cursor, v.file, v.against.clone()) != before {
        return diff_effect(v).into_iter().collect();
    }
    vec![]
}

/// Loads the diff of the focused file (wrapping around the component's files).
fn diff_effect(v: &mut StoryView) -> Option<Effect> {
    let Some(Ok(d)) = &v.detail else { return None };
    let Some(TreeRow::Component(i)) = v.rows.get(v.cursor) else {
        return None;
    };
    let paths = &d.files.get(*i)?.paths;
    if paths.is_empty() {
        return None;
    }
    v.file %= paths.len();
    let path = paths[v.file].clone();
    v.diff = None;
    v.diff_scroll = 0;
    Some(Effect::LoadDiff {
        story: v.id.clone(),
        path,
        against: v.against.clone(),
    })
}

/// What $EDITOR starts from: both versions with conflict markers.
fn conflict_text(source: Option<&str>, target: Option<&str>) -> String {
    format!(
        "<<<<<<< target\n{}\n=======\n{}\n>>>>>>> source\n",
        target.unwrap_or("").trim_end(),
        source.unwrap_or("").trim_end()
    )
}

fn list_move(cur: usize, n: usize, a: Action, page: usize) -> usize {
    let last = n.saturating_sub(1);
    match a {
        Action::Up => cur.saturating_sub(1),
        Action::Down => (cur + 1).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        Action::PageUp => cur.saturating_sub(page),
        Action::PageDown => (cur + page).min(last),
        _ => cur.min(last),
    }
}

fn scroll_move(cur: u16, a: Action, page: u16) -> u16 {
    match a {
        Action::Up => cur.saturating_sub(1),
        Action::Down => cur.saturating_add(1),
        Action::Top => 0,
        Action::PageUp => cur.saturating_sub(page),
        Action::PageDown => cur.saturating_add(page),
        _ => cur,
    }
}

/// A running job's status line: the running step, or how it ended.
pub fn job_status(j: &JobState) -> (&'static str, String) {
    if let Some(e) = &j.error {
        return ("failed", e.lines().next().unwrap_or("").to_string());
    }
    if let Some(o) = &j.outcome {
        let t = match o {
            Outcome::Deployed { deploy_id, .. } => ("deployed", deploy_id.clone()),
            Outcome::Validated { deploy_id } => ("validated", deploy_id.clone()),
            Outcome::NothingToDo => ("nothing to do", String::new()),
            Outcome::Aborted { reason } => ("aborted", reason.clone()),
            Outcome::Canceled => ("canceled", String::new()),
            Outcome::OrgAheadOfBranch { .. } => ("org ahead of branch", "run resume".into()),
            Outcome::NeedsReconciliation { deploy_id } => {
                ("needs reconciliation", deploy_id.clone())
            }
            Outcome::ValidationFailed { errors, .. } => {
                ("validation failed", format!("{} errors", errors.len()))
            }
            Outcome::DeployFailed { errors, .. } => (
                "deploy failed",
                format!("{} errors, rolled back", errors.len()),
            ),
        };
        return t;
    }
    if !j.pending.is_empty() {
        return ("waiting", "a decision is needed".into());
    }
    match j.steps.iter().find(|s| s.status == StepStatus::Running) {
        Some(s) => ("running", s.step.label().to_string()),
        None => ("queued", String::new()),
    }
}
