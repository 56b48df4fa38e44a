use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// What an environment is for; decides colour accents and default safety rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvKind {
    Dev,
    Qa,
    Uat,
    Prod,
}

impl EnvKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvKind::Dev => "dev",
            EnvKind::Qa => "qa",
            EnvKind::Uat => "uat",
            EnvKind::Prod => "prod",
        }
    }
}

impl fmt::Display for EnvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Salesforce org plus the git branch that mirrors what is deployed there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env {
    pub name: String,
    pub branch: String,
    pub kind: EnvKind,
    pub org: Option<String>,
    pub protected: bool,
    pub test_level: Option<String>,
    /// Per-env value replacements applied to deployed files (`from` text → `to` text).
    pub replacements: Vec<Replacement>,
}

impl Env {
    /// Production is always protected, whatever the config says.
    pub fn is_protected(&self) -> bool {
        self.protected || self.kind == EnvKind::Prod
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// Only text files whose path, or a trailing part of it, matches this glob are touched
    /// (empty: all text files).
    #[serde(default)]
    pub files: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub from: String,
    pub to: String,
}

/// Environments and the arrows between them, validated (known names, no cycles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pipeline {
    envs: Vec<Env>,
    connections: Vec<Connection>,
    /// Column of each env (0 = leftmost), the longest path from a source.
    levels: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineError {
    UnknownEnv { name: String, side: &'static str },
    Cycle(Vec<String>),
    DuplicateEnv(String),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::UnknownEnv { name, side } => write!(
                f,
                "connection {side} '{name}' is not an [[env]]: add an [[env]] named '{name}' or fix the name"
            ),
            PipelineError::Cycle(path) => write!(
                f,
                "connections form a cycle ({}): a pipeline must flow one way, remove one of these connections",
                path.join(" → ")
            ),
            PipelineError::DuplicateEnv(n) => {
                write!(
                    f,
                    "two [[env]] entries are named '{n}': env names must be unique"
                )
            }
        }
    }
}

impl Pipeline {
    pub fn new(envs: Vec<Env>, connections: Vec<Connection>) -> Result<Self, PipelineError> {
        let mut seen = BTreeSet::new();
        for e in &envs {
            if !seen.insert(e.name.clone()) {
                return Err(PipelineError::DuplicateEnv(e.name.clone()));
            }
        }
        for c in &connections {
            for (name, side) in [(&c.from, "from"), (&c.to, "to")] {
                if !seen.contains(name) {
                    return Err(PipelineError::UnknownEnv {
                        name: name.clone(),
                        side,
                    });
                }
            }
        }
        if let Some(cycle) = find_cycle(&envs, &connections) {
            return Err(PipelineError::Cycle(cycle));
        }
        let levels = compute_levels(&envs, &connections);
        Ok(Self {
            envs,
            connections,
            levels,
        })
    }

    pub fn envs(&self) -> &[Env] {
        &self.envs
    }

    pub fn connections(&self) -> &[Connection] {
        &self.connections
    }

    pub fn env(&self, name: &str) -> Option<&Env> {
        self.envs.iter().find(|e| e.name == name)
    }

    pub fn level(&self, name: &str) -> usize {
        self.levels.get(name).copied().unwrap_or(0)
    }

    /// Envs in pipeline order: by column, then in config order (stable).
    pub fn ordered(&self) -> Vec<&Env> {
        let mut v: Vec<(usize, usize, &Env)> = self
            .envs
            .iter()
            .enumerate()
            .map(|(i, e)| (self.level(&e.name), i, e))
            .collect();
        v.sort_by_key(|(l, i, _)| (*l, *i));
        v.into_iter().map(|(_, _, e)| e).collect()
    }

    /// Every env from which `name` is reachable along the arrows: the back-promotion
    /// candidates of `name`, nearest first.
    pub fn below(&self, name: &str) -> Vec<&Env> {
        self.walk(name, |c| &c.to, |c| &c.from)
    }

    /// Every env reachable from `name` along the arrows, nearest first.
    pub fn above(&self, name: &str) -> Vec<&Env> {
        self.walk(name, |c| &c.from, |c| &c.to)
    }

    fn walk<'a>(
        &'a self,
        start: &str,
        key: impl Fn(&Connection) -> &String,
        next: impl Fn(&Connection) -> &String,
    ) -> Vec<&'a Env> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([start.to_string()]);
        let mut out = Vec::new();
        while let Some(cur) = queue.pop_front() {
            for c in &self.connections {
                if key(c) == &cur && seen.insert(next(c).clone()) {
                    queue.push_back(next(c).clone());
                    if let Some(e) = self.env(next(c)) {
                        out.push(e);
                    }
                }
            }
        }
        out
    }
}

fn find_cycle(envs: &[Env], conns: &[Connection]) -> Option<Vec<String>> {
    // Iterative DFS with colours; returns the first cycle found as a path.
    fn visit(
        n: &str,
        conns: &[Connection],
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for c in conns.iter().filter(|c| c.from == n) {
            match state.get(c.to.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| *s == c.to).unwrap_or(0);
                    let mut cyc = stack[start..].to_vec();
                    cyc.push(c.to.clone());
                    return Some(cyc);
                }
                0 => {
                    if let Some(c) = visit(&c.to, conns, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for e in envs {
        if state.get(&e.name).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(&e.name, conns, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn compute_levels(envs: &[Env], conns: &[Connection]) -> BTreeMap<String, usize> {
    let mut levels: BTreeMap<String, usize> = envs.iter().map(|e| (e.name.clone(), 0)).collect();
    // The graph is acyclic, so relaxing |envs| times reaches the longest paths.
    for _ in 0..envs.len() {
        let mut changed = false;
        for c in conns {
            let from = levels.get(&c.from).copied().unwrap_or(0);
            let to = levels.entry(c.to.clone()).or_insert(0);
            if *to < from + 1 {
                *to = from + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    levels
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn env(name: &str, kind: EnvKind) -> Env {
        Env {
            name: name.into(),
            branch: format!("env/{name}"),
            kind,
            org: None,
            protected: false,
            test_level: None,
            replacements: vec![],
        }
    }

    fn conn(a: &str, b: &str) -> Connection {
        Connection {
            from: a.into(),
            to: b.into(),
        }
    }

    pub fn sample() -> Pipeline {
        Pipeline::new(
            vec![
                env("prod", EnvKind::Prod),
                env("dev1", EnvKind::Dev),
                env("dev2", EnvKind::Dev),
                env("qa", EnvKind::Qa),
                env("uat", EnvKind::Uat),
            ],
            vec![
                conn("dev1", "qa"),
                conn("dev2", "qa"),
                conn("qa", "uat"),
                conn("uat", "prod"),
            ],
        )
        .unwrap()
    }

    #[test]
    fn orders_by_column_then_config_order() {
        let p = sample();
        let names: Vec<_> = p.ordered().iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev1", "dev2", "qa", "uat", "prod"]);
    }

    #[test]
    fn below_walks_against_the_arrows() {
        let p = sample();
        let below: Vec<_> = p.below("uat").iter().map(|e| e.name.as_str()).collect();
        assert_eq!(below, ["qa", "dev1", "dev2"]);
        assert!(p.below("dev1").is_empty());
        let above: Vec<_> = p.above("dev2").iter().map(|e| e.name.as_str()).collect();
        assert_eq!(above, ["qa", "uat", "prod"]);
    }

    #[test]
    fn rejects_cycles_and_unknown_envs() {
        let err = Pipeline::new(
            vec![env("a", EnvKind::Dev), env("b", EnvKind::Qa)],
            vec![conn("a", "b"), conn("b", "a")],
        )
        .unwrap_err();
        assert!(
            matches!(err, PipelineError::Cycle(ref p) if p.len() == 3),
            "{err}"
        );
        let err = Pipeline::new(vec![env("a", EnvKind::Dev)], vec![conn("a", "zz")]).unwrap_err();
        assert!(err.to_string().contains("'zz'"));
    }

    #[test]
    fn prod_is_always_protected() {
        assert!(env("p", EnvKind::Prod).is_protected());
        assert!(!env("d", EnvKind::Dev).is_protected());
    }
}
