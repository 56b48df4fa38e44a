//! Builds the demo workspace from `assets/demo/recipe.toml`: a Salesforce DX project and a
//! pipeline of env branches with a realistic history (features merged up, partial promotions,
//! hotfixes on uat and prod, earlier back promotions by `cherry-pick -x`, copy and squash).
//!
//! Each branch carries a small model of the org's metadata; a commit's tree is that model
//! rendered to files, so merges and picks never conflict while building and every run writes the
//! same objects (fixed signatures and dates → the same SHAs on every machine).

use git2::{Oid, Repository, Signature, Time};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod model;
use model::{PKG, State, slug};

pub const RECIPE: &str = include_str!("../../assets/demo/recipe.toml");

#[derive(Debug, Deserialize)]
pub struct Recipe {
    pub version: u32,
    start: String,
    step_minutes: i64,
    #[serde(rename = "env")]
    pub envs: Vec<RecipeEnv>,
    #[serde(rename = "story")]
    pub stories: Vec<RecipeStory>,
}

#[derive(Debug, Deserialize)]
pub struct RecipeEnv {
    pub name: String,
    pub branch: String,
    pub kind: String,
    #[serde(default)]
    pub protected: bool,
}

#[derive(Debug, Deserialize)]
pub struct RecipeStory {
    pub id: String,
    pub title: String,
    author: String,
    dev: String,
    commits: Vec<Vec<String>>,
    promote: Option<String>,
    partial: Option<String>,
    #[serde(default)]
    style: Option<String>,
    #[serde(default)]
    backport: Vec<String>,
}

pub fn recipe() -> Result<Recipe, String> {
    toml::from_str(RECIPE).map_err(|e| format!("assets/demo/recipe.toml: {e}"))
}

/// The backflow.toml of the demo workspace.
pub fn demo_config(r: &Recipe) -> String {
    let mut s = String::from(
        "# backflow demo workspace: every org is simulated on loopback, nothing leaves this machine.\n\n[project]\nstory_pattern = 'US-\\d+'\n\n",
    );
    for e in &r.envs {
        let tl = match e.kind.as_str() {
            "uat" | "prod" => "\ntest_level = \"RunLocalTests\"",
            _ => "",
        };
        s.push_str(&format!(
            "[[env]]\nname = \"{}\"\nbranch = \"{}\"\nkind = \"{}\"\norg = \"{}\"\nprotected = {}{tl}\n\n",
            e.name, e.branch, e.kind, e.name, e.protected
        ));
    }
    for (a, b) in [
        ("dev1", "qa"),
        ("dev2", "qa"),
        ("qa", "uat"),
        ("uat", "prod"),
    ] {
        s.push_str(&format!("[[connection]]\nfrom = \"{a}\"\nto = \"{b}\"\n\n"));
    }
    for e in &r.envs {
        let extra = if e.kind == "prod" {
            String::new()
        } else {
            "sandbox_of = \"prod\"\n".to_string()
        };
        s.push_str(&format!(
            "[orgs.{}]\nauth = \"simulated\"\n{extra}\n",
            e.name
        ));
    }
    s.push_str("[timing]\npoll_ms = 150\npoll_max_ms = 600\n\n[roles]\ndefault = \"release-manager\"\n\n[roles.people]\n\"maya.chen@acme.example\" = \"developer\"\n\"sara.l@acme.example\" = \"on-call\"\n\n[[rule]]\nname = \"hotfixes flow down\"\nwhen_reaches = [\"prod\"]\nback_promote_to = [\"below\"]\nvalidate_only_protected = true\n");
    s
}

fn project_files(r: &Recipe) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    m.insert(
        "sfdx-project.json".to_string(),
        b"{\n  \"packageDirectories\": [\n    {\n      \"path\": \"force-app\",\n      \"default\": true\n    }\n  ],\n  \"name\": \"acme-billing\",\n  \"namespace\": \"\",\n  \"sfdcLoginUrl\": \"https://login.salesforce.com\",\n  \"sourceApiVersion\": \"66.0\"\n}\n".to_vec(),
    );
    m.insert(
        ".forceignore".into(),
        b"**/jsconfig.json\n**/.eslintrc.json\n**/__tests__/**\n".to_vec(),
    );
    m.insert(
        ".gitignore".into(),
        b".backflow/\n.sf/\n.sfdx/\nnode_modules/\n".to_vec(),
    );
    m.insert("backflow.toml".into(), demo_config(r).into_bytes());
    m.insert(
        "README.md".into(),
        b"# Acme Billing (backflow demo)\n\nA Salesforce DX project whose env branches (dev1, dev2, qa, uat, main = prod) are kept in\nsync with backflow. Try `backflow status`, `backflow plan --from main --to qa,dev1,dev2`.\n".to_vec(),
    );
    m.insert(
        format!("{PKG}/lwc/jsconfig.json"),
        b"{\n  \"compilerOptions\": { \"experimentalDecorators\": true }\n}\n".to_vec(),
    );
    m
}

struct Builder<'r> {
    repo: &'r Repository,
    clock: i64,
    step: i64,
    project: BTreeMap<String, Vec<u8>>,
    blobs: BTreeMap<Vec<u8>, Oid>,
}

impl Builder<'_> {
    fn tick(&mut self) -> Time {
        self.clock += self.step;
        Time::new(self.clock, 0)
    }

    fn tree(&mut self, state: &State) -> Result<Oid, git2::Error> {
        let files = state.render(&self.project);
        let mut index = git2::Index::new()?;
        for (path, data) in files {
            let oid = match self.blobs.get(&data) {
                Some(o) => *o,
                None => {
                    let o = self.repo.blob(&data)?;
                    self.blobs.insert(data, o);
                    o
                }
            };
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100644,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: oid,
                flags: 0,
                flags_extended: 0,
                path: path.into_bytes(),
            };
            index.add(&entry)?;
        }
        index.write_tree_to(self.repo)
    }

    fn commit(
        &mut self,
        author: &str,
        message: &str,
        parents: &[Oid],
        state: &State,
    ) -> Result<Oid, git2::Error> {
        let (name, email) = parse_author(author);
        let time = self.tick();
        let sig = Signature::new(name, email, &time)?;
        let tree_id = self.tree(state)?;
        let tree = self.repo.find_tree(tree_id)?;
        let parents: Vec<git2::Commit<'_>> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        self.repo.commit(None, &sig, &sig, message, &tree, &refs)
    }
}

fn parse_author(a: &str) -> (&str, &str) {
    match a.split_once('<') {
        Some((n, e)) => (n.trim(), e.trim_end_matches('>').trim()),
        None => (a.trim(), "dev@acme.example"),
    }
}

const ORDER: [&str; 4] = ["qa", "uat", "prod", "prod"];

/// Builds the demo repository at `dir` (which must be empty or absent). Returns the recipe
/// version written.
pub fn build(dir: &Path) -> Result<u32, String> {
    let r = recipe()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let repo = Repository::init_opts(dir, git2::RepositoryInitOptions::new().initial_head("main"))
        .map_err(|e| format!("cannot create a git repository in {}: {e}", dir.display()))?;
    let start = chrono::DateTime::parse_from_rfc3339(&r.start)
        .map_err(|e| format!("recipe start date: {e}"))?
        .timestamp();
    let mut b = Builder {
        repo: &repo,
        clock: start,
        step: r.step_minutes * 60,
        project: project_files(&r),
        blobs: BTreeMap::new(),
    };
    let g = |e: git2::Error| format!("demo build: {e}");
    let base = State::base();
    let root = b
        .commit(
            "Release Bot <release@acme.example>",
            "Initial project: Acme Billing",
            &[],
            &base,
        )
        .map_err(g)?;
    let env_names: Vec<String> = r.envs.iter().map(|e| e.name.clone()).collect();
    let mut tips: BTreeMap<String, Oid> = env_names.iter().map(|n| (n.clone(), root)).collect();
    let mut states: BTreeMap<String, State> = env_names
        .iter()
        .map(|n| (n.clone(), base.clone()))
        .collect();
    // Feature branches start from the last release (what prod got from features), not from
    // prod's tip: hotfixes made on prod after it must be back-promoted, not inherited.
    let mut release = (root, base.clone());
    // Story commits in the release lineage: a merge of a feature branch brings them along.
    let mut release_log: Vec<(String, usize, Vec<String>)> = Vec::new();
    let branch_of = |name: &str| -> String {
        r.envs
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.branch.clone())
            .unwrap_or_else(|| name.to_string())
    };

    for s in &r.stories {
        let style = s.style.as_deref().unwrap_or("subject");
        let message = |i: usize| -> String {
            let part = if i == 0 {
                String::new()
            } else {
                format!(" (part {})", i + 1)
            };
            match style {
                "trailer" => format!("{}{part}\n\nStory: {}\n", s.title, s.id),
                "branch" => format!("{}{part}\n", s.title),
                _ => format!("{}: {}{part}\n", s.id, s.title),
            }
        };
        let mut story_commits = Vec::new();
        if s.dev == "uat" || s.dev == "prod" {
            // Hotfix: committed directly on the env branch.
            for (i, ops) in s.commits.iter().enumerate() {
                let st = states.get_mut(&s.dev).ok_or("recipe: unknown hotfix env")?;
                for op in ops {
                    st.apply(op, &s.id)?;
                }
                let st = st.clone();
                let oid = b
                    .commit(&s.author, &message(i), &[tips[&s.dev]], &st)
                    .map_err(g)?;
                tips.insert(s.dev.clone(), oid);
                story_commits.push((oid, ops.clone(), message(i)));
            }
            if let Some(up) = &s.promote {
                pick(
                    &mut b,
                    &mut tips,
                    &mut states,
                    up,
                    &story_commits,
                    &s.author,
                    true,
                    &s.id,
                )?;
            }
        } else {
            let branch = format!("feature/{}-{}", s.id, slug(&s.title));
            let mut fstate = release.1.clone();
            let mut ftip = release.0;
            let base_log = release_log.len();
            for (i, ops) in s.commits.iter().enumerate() {
                for op in ops {
                    fstate.apply(op, &s.id)?;
                }
                fstate.applied.insert((s.id.clone(), i));
                ftip = b
                    .commit(&s.author, &message(i), &[ftip], &fstate)
                    .map_err(g)?;
                story_commits.push((ftip, ops.clone(), message(i)));
            }
            let mut merge_into =
                |env: &str, upto: usize, b: &mut Builder<'_>| -> Result<(), String> {
                    let st = states
                        .get_mut(env)
                        .ok_or_else(|| format!("recipe: unknown env {env}"))?;
                    for (sid, i, ops) in &release_log[..base_log] {
                        if st.applied.insert((sid.clone(), *i)) {
                            for op in ops {
                                st.apply(op, sid)?;
                            }
                        }
                    }
                    for (i, (_, ops, _)) in story_commits[..upto].iter().enumerate() {
                        if st.applied.insert((s.id.clone(), i)) {
                            for op in ops {
                                st.apply(op, &s.id)?;
                            }
                        }
                    }
                    let st = st.clone();
                    let msg = format!("Merge branch '{branch}' into {}", branch_of(env));
                    let oid = b
                        .commit(
                            &s.author,
                            &msg,
                            &[tips[env], story_commits[upto - 1].0],
                            &st,
                        )
                        .map_err(g)?;
                    tips.insert(env.to_string(), oid);
                    Ok(())
                };
            merge_into(&s.dev, story_commits.len(), &mut b)?;
            let mut reached_prod = false;
            if let Some(p) = &s.partial {
                merge_into(p, 1, &mut b)?;
            }
            if let Some(top) = &s.promote
                && top != &s.dev
            {
                for env in ORDER.iter().take(3) {
                    merge_into(env, story_commits.len(), &mut b)?;
                    reached_prod |= *env == "prod";
                    if env == top {
                        break;
                    }
                }
            }
            if reached_prod {
                for (i, (_, ops, _)) in story_commits.iter().enumerate() {
                    release_log.push((s.id.clone(), i, ops.clone()));
                }
                release = (ftip, fstate);
            }
        }
        for bp in &s.backport {
            let (env, how) = bp.split_once(':').ok_or("recipe backport: ENV:how")?;
            match how {
                "pick" => pick(
                    &mut b,
                    &mut tips,
                    &mut states,
                    env,
                    &story_commits,
                    &s.author,
                    true,
                    &s.id,
                )?,
                "copy" => pick(
                    &mut b,
                    &mut tips,
                    &mut states,
                    env,
                    &story_commits,
                    &s.author,
                    false,
                    &s.id,
                )?,
                "squash" => {
                    let st = states.get_mut(env).ok_or("recipe: unknown backport env")?;
                    for (_, ops, _) in &story_commits {
                        for op in ops {
                            st.apply(op, &s.id)?;
                        }
                    }
                    let st = st.clone();
                    let msg = format!("{}: {} (back-promoted)\n", s.id, s.title);
                    let oid = b.commit(&s.author, &msg, &[tips[env]], &st).map_err(g)?;
                    tips.insert(env.to_string(), oid);
                }
                other => return Err(format!("recipe backport: unknown method '{other}'")),
            }
        }
    }
    for e in &r.envs {
        repo.reference(
            &format!("refs/heads/{}", e.branch),
            tips[&e.name],
            true,
            "backflow demo",
        )
        .map_err(g)?;
    }
    repo.set_head("refs/heads/main").map_err(g)?;
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .map_err(g)?;
    Ok(r.version)
}

#[allow(clippy::too_many_arguments)]
fn pick(
    b: &mut Builder<'_>,
    tips: &mut BTreeMap<String, Oid>,
    states: &mut BTreeMap<String, State>,
    env: &str,
    commits: &[(Oid, Vec<String>, String)],
    author: &str,
    with_x: bool,
    story: &str,
) -> Result<(), String> {
    for (oid, ops, msg) in commits {
        let st = states
            .get_mut(env)
            .ok_or_else(|| format!("recipe: unknown env {env}"))?;
        for op in ops {
            st.apply(op, story)?;
        }
        let st = st.clone();
        let msg = if with_x {
            format!("{}\n\n(cherry picked from commit {oid})\n", msg.trim_end())
        } else {
            msg.clone()
        };
        let new = b
            .commit(author, &msg, &[tips[env]], &st)
            .map_err(|e| format!("demo build: {e}"))?;
        tips.insert(env.to_string(), new);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_parses_and_builds_deterministically() {
        let a = tempfile::tempdir().unwrap();
        let b2 = tempfile::tempdir().unwrap();
        build(a.path()).unwrap();
        build(b2.path()).unwrap();
        let ra = Repository::open(a.path()).unwrap();
        let rb = Repository::open(b2.path()).unwrap();
        for br in ["main", "uat", "qa", "dev1", "dev2"] {
            let x = ra.revparse_single(br).unwrap().id();
            let y = rb.revparse_single(br).unwrap().id();
            assert_eq!(x, y, "branch {br} differs between two builds");
        }
        assert!(a.path().join("backflow.toml").is_file());
    }
}
