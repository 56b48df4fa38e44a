//! Console state and the one `update` that every message goes through. No I/O here: `update`
//! returns the effects the event loop must run (load data, submit jobs, answer decisions, quit).
//!
//! `App` holds what several places share (the board, the selection, the jobs) plus one state per
//! screen and a stack of modals. Keys go to the top modal if there is one, else to the screen.

use super::keymap::{Action, Context, Keymap};
use super::modals::{self, Step};
use super::screens::{board, history, jobs, orgs};
use crate::domain::detail::{FileDiff, StoryDetail};
use crate::domain::job::{Answer, BatchId, JobEvent, JobId, JobSpec, JobState};
use crate::domain::org::OrgInfo;
use crate::domain::{Board, Plan, PlanRequest};
use crate::engine::audit::AuditRecord;
use crate::engine::watch::JournaledJob;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent};
use std::collections::{BTreeMap, BTreeSet};

pub use super::modals::Modal;
pub use super::screens::Screen;

/// Tags an asynchronous request so that an answer arriving after the user moved on (another
/// file, another plan) is recognised as stale and dropped.
pub type RequestId = u64;

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    BoardLoaded(Result<Board, String>),
    /// Component names per story, for the filter.
    IndexLoaded(BTreeMap<String, Vec<String>>),
    /// What the `[[rule]]` automations would back-promote now (`from → target: stories`).
    AutoPending(Vec<String>),
    DetailLoaded(String, Result<Option<StoryDetail>, String>),
    DiffLoaded(RequestId, Result<FileDiff, String>),
    PlanLoaded(RequestId, Result<Plan, String>),
    Submitted(Result<(BatchId, Vec<JobId>), String>),
    Job(JobEvent),
    /// A job's full state (after a gap in `seq`, a decision, or at start).
    JobSynced(Box<JobState>),
    /// Jobs read from the journals of every process (only those that changed; `first` on the
    /// first read, when interrupted jobs are offered for resume).
    Journaled {
        jobs: Vec<JournaledJob>,
        first: bool,
    },
    Edited {
        decision: String,
        result: Result<String, String>,
    },
    AuditLoaded(Result<Vec<AuditRecord>, String>),
    OrgsLoaded(Result<Vec<OrgInfo>, String>),
    /// An external command (login) finished.
    External(Result<String, String>),
    /// An effect failed; the user reads why.
    Failed(String),
    /// Who runs jobs started here, as the engine knows it.
    User(String),
    Resize(u16, u16),
    /// Clock tick: seconds since the epoch.
    Tick(i64),
    /// Env locks, teammates' jobs and deploy queues, read through the remote and the orgs.
    Team(Box<crate::engine::team::TeamView>),
    /// Sandbox masking and refresh tasks (docs/console.md).
    Task(super::tasks::TaskMsg),
}

/// Work the event loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    LoadBoard,
    LoadIndex,
    LoadAuto,
    LoadDetail(String),
    LoadDiff {
        request: RequestId,
        story: String,
        path: String,
        against: Option<String>,
    },
    Plan(RequestId, PlanRequest),
    Submit(Vec<JobSpec>),
    Answer {
        decision: String,
        answer: Answer,
    },
    /// Answers a decision of a job another process runs (its answer file).
    AnswerElsewhere {
        job: JobId,
        decision: String,
        answer: Answer,
    },
    /// Cancels a job of this process or asks the process that runs it.
    Cancel(JobId),
    /// Continues an interrupted job (of any process) here, from its journal.
    Resume(JobId),
    Resync(JobId),
    /// Suspend the screen, edit `text` in $EDITOR, answer `decision` with the result.
    Edit {
        decision: String,
        text: String,
    },
    LoadAudit,
    LoadOrgs,
    Login(String),
    /// Sandbox masking, refresh and re-sync work, run by `tasks::run`.
    Task(super::tasks::TaskEffect),
    Quit,
}

pub struct App {
    pub keymap: Keymap,
    pub workspace: String,
    pub readonly: bool,
    pub user: String,
    /// Seconds since the epoch, injected so ages and elapsed times are deterministic in tests.
    pub now: i64,
    pub size: (u16, u16),
    pub dirty: bool,
    pub screen: Screen,
    pub board: Option<Board>,
    pub loading: bool,
    pub error: Option<String>,
    /// Component names per story (the filter searches them; the plan finds dependencies).
    pub components: BTreeMap<String, Vec<String>>,
    /// Automatic back promotions the rules would run now (shown in the status line).
    pub auto_pending: Vec<String>,
    /// Marked stories: the selection `b` back-promotes.
    pub marked: BTreeSet<String>,
    /// Single components marked in story detail (`Type:Member`).
    pub marked_components: BTreeSet<String>,
    pub jobs: Vec<JobState>,
    /// Jobs of other processes (or interrupted ones), as their journals tell them; a job
    /// resumed here leaves this map.
    pub external: BTreeMap<JobId, JournaledJob>,
    /// Jobs this process runs (their events arrive from the engine).
    pub local: BTreeSet<JobId>,
    /// Decisions the user closed without answering: not reopened automatically.
    pub dismissed: BTreeSet<String>,
    pub modals: Vec<Modal>,
    pub board_view: board::BoardView,
    pub jobs_view: jobs::JobsView,
    pub history: history::HistoryView,
    pub orgs: orgs::OrgsView,
    /// What the team does (docs/team.md), refreshed in the background; none until first read.
    pub team: Option<crate::engine::team::TeamView>,
    /// Sandbox masking and refresh tasks started here, newest last (shown on the jobs pane).
    pub tasks: Vec<super::tasks::Task>,
    /// Where the last frame drew what the mouse can hit (written while drawing).
    pub hits: std::cell::RefCell<super::mouse::Hits>,
    last_request: RequestId,
}

impl App {
    pub fn new(keymap: Keymap, workspace: String, readonly: bool, now: i64) -> App {
        App {
            keymap,
            workspace,
            readonly,
            user: String::new(),
            now,
            size: (80, 24),
            dirty: true,
            screen: Screen::Board,
            board: None,
            loading: true,
            error: None,
            components: BTreeMap::new(),
            auto_pending: Vec::new(),
            marked: BTreeSet::new(),
            marked_components: BTreeSet::new(),
            jobs: Vec::new(),
            external: BTreeMap::new(),
            local: BTreeSet::new(),
            dismissed: BTreeSet::new(),
            modals: Vec::new(),
            board_view: board::BoardView::default(),
            jobs_view: jobs::JobsView::default(),
            history: history::HistoryView::default(),
            orgs: orgs::OrgsView::default(),
            team: None,
            tasks: Vec::new(),
            hits: Default::default(),
            last_request: 0,
        }
    }

    /// Anything moving on screen (loading, running jobs): the event loop ticks only then.
    pub fn busy(&self) -> bool {
        self.loading
            || self.jobs.iter().any(|j| self.job_moving(j))
            || self.tasks.iter().any(|t| t.running())
    }

    /// A job still running somewhere (an interrupted one does not move until resumed).
    pub fn job_moving(&self, j: &JobState) -> bool {
        !j.is_done() && self.external.get(&j.job).is_none_or(|x| x.live)
    }

    /// A fresh id for an asynchronous request.
    pub fn request(&mut self) -> RequestId {
        self.last_request += 1;
        self.last_request
    }

    /// Rows a page key moves.
    pub fn page(&self) -> usize {
        (self.size.1 as usize).saturating_sub(8).max(1)
    }

    fn context(&self) -> Context {
        match self.modals.last() {
            Some(m) => m.view().context(),
            None => self.screen.context(),
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        self.dirty = true;
        match msg {
            Msg::BoardLoaded(Ok(b)) => board::loaded(self, b),
            Msg::BoardLoaded(Err(e)) => {
                self.loading = false;
                self.error = Some(e);
                vec![]
            }
            Msg::AutoPending(v) => {
                self.auto_pending = v;
                vec![]
            }
            Msg::IndexLoaded(idx) => {
                self.components = idx;
                board::index_loaded(self);
                vec![]
            }
            Msg::DetailLoaded(id, r) => modals::story::detail_loaded(self, id, r),
            Msg::DiffLoaded(req, r) => {
                modals::story::diff_loaded(self, req, r);
                vec![]
            }
            Msg::PlanLoaded(req, r) => {
                modals::plan::loaded(self, req, r);
                vec![]
            }
            Msg::Submitted(Ok((_, ids))) => {
                self.screen = Screen::Jobs;
                if let Some(i) = ids
                    .first()
                    .and_then(|id| self.jobs.iter().position(|j| &j.job == id))
                {
                    self.jobs_view.cursor = i;
                }
                self.marked.clear();
                self.marked_components.clear();
                vec![]
            }
            Msg::Submitted(Err(e)) => {
                self.notice(format!("The jobs could not start: {e}"));
                vec![]
            }
            Msg::Job(ev) => super::decisions::job_event(self, ev),
            Msg::JobSynced(st) => {
                let st = *st;
                self.external.remove(&st.job);
                self.local.insert(st.job.clone());
                match self.jobs.iter_mut().find(|j| j.job == st.job) {
                    Some(j) => *j = st,
                    None => self.jobs.push(st),
                }
                super::decisions::open_next(self);
                vec![]
            }
            Msg::Journaled { jobs, first } => jobs::journaled(self, jobs, first),
            Msg::Team(v) => {
                self.team = Some(*v);
                self.dirty = true;
                vec![]
            }
            Msg::Edited { decision, result } => match result {
                Ok(text) => super::decisions::answer_one(self, &decision, Answer::Edit { text }),
                Err(e) => {
                    self.dismissed.remove(&decision);
                    self.notice(format!("The editor failed: {e}"));
                    super::decisions::open_next(self);
                    vec![]
                }
            },
            Msg::AuditLoaded(r) => {
                self.history.audit = Some(r);
                self.clamp_lists();
                vec![]
            }
            Msg::OrgsLoaded(r) => {
                self.orgs.orgs = Some(r);
                self.clamp_lists();
                vec![]
            }
            Msg::External(r) => {
                self.notice(match r {
                    Ok(t) => t,
                    Err(e) => format!("failed: {e}"),
                });
                vec![Effect::LoadOrgs]
            }
            Msg::Failed(text) => {
                self.notice(text);
                vec![]
            }
            Msg::User(u) => {
                self.dirty = false;
                self.user = u;
                vec![]
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                board::scroll_columns(self);
                vec![]
            }
            Msg::Tick(now) => {
                self.dirty = self.busy() && now != self.now;
                self.now = now;
                vec![]
            }
            Msg::Task(m) => super::tasks::update(self, m),
            Msg::Key(k) => self.key(k),
            Msg::Mouse(m) => super::mouse::mouse(self, m),
        }
    }

    /// Shows a message on top of everything.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.modals
            .push(Modal::Notice(modals::notice::Notice(text.into())));
    }

    fn clamp_lists(&mut self) {
        self.history.clamp();
        orgs::clamp(self);
    }

    fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        if self.modals.last().is_some_and(|m| m.view().takes_text()) {
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

    /// Raw keys for a modal that takes typed text; esc and ctrl-c close it unanswered.
    fn text_key(&mut self, k: KeyEvent) -> Vec<Effect> {
        let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
        let Some(mut top) = self.modals.pop() else {
            return vec![];
        };
        if k.code == KeyCode::Esc || ctrl_c {
            top.view_mut().closed(self);
            return vec![];
        }
        let at = self.modals.len();
        let step = top.view_mut().text(self, k);
        self.settle(at, top, step)
    }

    /// Puts a modal that stays open back where it was (modals it opened stay above it).
    fn settle(&mut self, at: usize, modal: Modal, step: Step) -> Vec<Effect> {
        if !step.close {
            self.modals.insert(at.min(self.modals.len()), modal);
        }
        step.effects
    }

    fn refuse_readonly(&mut self, a: Action) -> bool {
        if self.readonly && a.is_dangerous() {
            self.notice("Read-only session: actions that change orgs or branches are disabled.");
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
                let p = modals::palette::Palette::open(self);
                self.modals.push(Modal::Palette(p));
                return vec![];
            }
            Action::Help if !matches!(self.modals.last(), Some(Modal::Help(_))) => {
                self.modals.push(Modal::Help(modals::help::Help::default()));
                return vec![];
            }
            _ => {}
        }
        if let Some(mut top) = self.modals.pop() {
            if matches!(a, Action::Close | Action::Quit) {
                top.view_mut().closed(self);
                return vec![];
            }
            let at = self.modals.len();
            let step = top.view_mut().act(self, a);
            return self.settle(at, top, step);
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
            Screen::Board => board::act(self, a),
            Screen::Jobs => jobs::act(self, a),
            Screen::History => history::act(self, a),
            Screen::Orgs => orgs::act(self, a),
        }
    }

    fn show(&mut self, s: Screen) -> Vec<Effect> {
        self.screen = s;
        match s {
            Screen::History if self.history.audit.is_none() => vec![Effect::LoadAudit],
            Screen::Orgs if self.orgs.orgs.is_none() => vec![Effect::LoadOrgs],
            _ => vec![],
        }
    }
}
