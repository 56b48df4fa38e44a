//! Modals: each file owns one modal's state, keys and drawing behind `ModalView`. The stack in
//! `App::modals` holds them as `Modal`; adding one is a file here (with its `mod` line) and
//! its line in `modals!`.
//!
//! While a modal handles a key it is taken off the stack, so it can change `App` freely (open
//! another modal, answer a decision); it goes back to its place unless it says it is done.

pub mod ask;
pub mod confirm;
pub mod decision;
pub mod drift;
pub mod filter;
pub mod help;
pub mod notice;
pub mod palette;
pub mod plan;
pub mod sandbox;
pub mod story;
pub mod targets;
pub mod typed;

use super::app::{App, Effect};
use super::keymap::{Action, Context};
use super::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;

/// What a modal asks for after a key: stay open or close, and the effects to run.
#[derive(Debug, Default)]
pub struct Step {
    pub close: bool,
    pub effects: Vec<Effect>,
}

impl Step {
    pub fn keep() -> Step {
        Step::default()
    }

    pub fn close() -> Step {
        Step {
            close: true,
            effects: Vec::new(),
        }
    }

    pub fn keep_with(effects: Vec<Effect>) -> Step {
        Step {
            close: false,
            effects,
        }
    }

    pub fn close_with(effects: Vec<Effect>) -> Step {
        Step {
            close: true,
            effects,
        }
    }
}

pub trait ModalView {
    /// Typed text: the modal gets raw keys instead of keymap actions.
    fn takes_text(&self) -> bool {
        false
    }

    /// Where keymap lookups start while this modal is on top.
    fn context(&self) -> Context {
        Context::Global
    }

    /// Footer hints while this modal is on top.
    fn hints(&self) -> Vec<(Action, &'static str)> {
        vec![(Action::Open, "ok"), (Action::Close, "close")]
    }

    /// Closed without an answer (esc, or the close key); the modal is already off the stack.
    fn closed(&mut self, _app: &mut App) {}

    /// A keymap action (modals that do not take text).
    fn act(&mut self, _app: &mut App, _a: Action) -> Step {
        Step::keep()
    }

    /// A raw key (modals that take text; esc and ctrl-c never arrive here).
    fn text(&mut self, _app: &mut App, _k: KeyEvent) -> Step {
        Step::keep()
    }

    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect);
}

/// Boxed modals (large states) behave as the modal inside.
impl<T: ModalView> ModalView for Box<T> {
    fn takes_text(&self) -> bool {
        (**self).takes_text()
    }
    fn context(&self) -> Context {
        (**self).context()
    }
    fn hints(&self) -> Vec<(Action, &'static str)> {
        (**self).hints()
    }
    fn closed(&mut self, app: &mut App) {
        (**self).closed(app)
    }
    fn act(&mut self, app: &mut App, a: Action) -> Step {
        (**self).act(app, a)
    }
    fn text(&mut self, app: &mut App, k: KeyEvent) -> Step {
        (**self).text(app, k)
    }
    fn draw(&self, f: &mut Frame<'_>, app: &App, theme: &Theme, area: Rect) {
        (**self).draw(f, app, theme, area)
    }
}

/// The stack's element type: one variant per modal, each dispatching to its `ModalView`.
macro_rules! modals {
    ($($(#[$doc:meta])* $variant:ident($ty:ty)),* $(,)?) => {
        #[derive(Debug, Clone)]
        pub enum Modal {
            $($(#[$doc])* $variant($ty),)*
        }

        impl Modal {
            pub fn view(&self) -> &dyn ModalView {
                match self {
                    $(Modal::$variant(m) => m,)*
                }
            }

            pub fn view_mut(&mut self) -> &mut dyn ModalView {
                match self {
                    $(Modal::$variant(m) => m,)*
                }
            }
        }
    };
}

modals! {
    Help(help::Help),
    Palette(palette::Palette),
    /// Typing the board filter (the text shows in the status line).
    Filter(filter::Filter),
    Story(Box<story::StoryView>),
    Targets(targets::TargetPicker),
    Plan(Box<plan::PlanView>),
    /// Typed names of the protected targets before a submit.
    Confirm(confirm::ConfirmTyped),
    /// A yes/no question.
    Ask(ask::Ask),
    /// A job's merge conflict (or a confirmation the job asks for).
    Decision(Box<decision::DecisionView>),
    /// A job found the target org changed directly.
    Drift(Box<drift::DriftView>),
    /// A job asks for the typed name of a protected env.
    TypedAnswer(typed::TypedAnswer),
    Notice(notice::Notice),
    /// The typed name of a sandbox before it is masked or refreshed.
    SandboxConfirm(sandbox::SandboxConfirm),
    /// Back-promote the stories a sandbox lacks?
    Resync(sandbox::ResyncPrompt),
}
