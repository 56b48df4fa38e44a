//! Story discovery + presence on a generated history of 20,000 commits over 5 envs, cold (fresh
//! caches: patch-ids computed) and warm (caches kept, as the console does between refreshes).
//! `scripts/bench-git.sh` runs this and times `git log --cherry-mark` / `git rev-list --count`
//! on the same repository for comparison.

use backflow::domain::StoryPattern;
use backflow::git::{Caches, History};
use criterion::{Criterion, criterion_group, criterion_main};
use git2::{Oid, Repository, Signature, Time};
use std::path::Path;

const ENVS: [&str; 5] = ["dev1", "dev2", "qa", "uat", "prod"];

fn commit(
    repo: &Repository,
    parent: Option<Oid>,
    path: &str,
    body: &str,
    msg: &str,
    t: i64,
) -> Oid {
    let sig = Signature::new("Bench", "bench@example.com", &Time::new(t, 0)).unwrap();
    let blob = repo.blob(body.as_bytes()).unwrap();
    let base = parent.map(|p| repo.find_commit(p).unwrap().tree().unwrap());
    let mut up = git2::build::TreeUpdateBuilder::new();
    up.upsert(path, blob, git2::FileMode::Blob);
    let empty;
    let base_tree = match &base {
        Some(t) => t,
        None => {
            let tb = repo.treebuilder(None).unwrap();
            empty = repo.find_tree(tb.write().unwrap()).unwrap();
            &empty
        }
    };
    let tree = repo
        .find_tree(up.create_updated(repo, base_tree).unwrap())
        .unwrap();
    let parents: Vec<git2::Commit<'_>> = parent
        .iter()
        .map(|p| repo.find_commit(*p).unwrap())
        .collect();
    let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
}

/// 15,000 shared commits, then 1,000 per env with story ids, cherry-picks (-x) and copies.
pub fn generate(dir: &Path) -> Repository {
    let repo = Repository::init(dir).unwrap();
    let mut t = 1_700_000_000;
    let mut tip = None;
    for i in 0..15_000 {
        t += 60;
        let path = format!("force-app/main/default/classes/C{}.cls", i % 2000);
        tip = Some(commit(
            &repo,
            tip,
            &path,
            &format!("// {i}\n"),
            &format!("US-{}: change {i}", i / 5),
            t,
        ));
    }
    let base = tip.unwrap();
    let mut tips = Vec::new();
    for (e, env) in ENVS.iter().enumerate() {
        let mut tip = base;
        for i in 0..1000 {
            t += 60;
            let story = 10_000 + e * 1000 + i / 4;
            let path = format!("force-app/main/default/classes/{env}_{}.cls", i % 300);
            tip = commit(
                &repo,
                Some(tip),
                &path,
                &format!("// {env} {i}\n"),
                &format!("US-{story}: {env} work {i}"),
                t,
            );
        }
        tips.push(tip);
    }
    // Back promotions: prod's last 50 commits copied into uat (-x) and qa (copies, no -x).
    let mut picks = Vec::new();
    let mut w = repo.revwalk().unwrap();
    w.push(tips[4]).unwrap();
    for oid in w.take(50) {
        picks.push(oid.unwrap());
    }
    for (target, with_x) in [(3usize, true), (2usize, false)] {
        let mut tip = tips[target];
        for p in picks.iter().rev() {
            let c = repo.find_commit(*p).unwrap();
            let tree = c.tree().unwrap();
            let parent_tree = c.parent(0).unwrap().tree().unwrap();
            let diff = repo
                .diff_tree_to_tree(Some(&parent_tree), Some(&tree), None)
                .unwrap();
            let delta = diff.deltas().next().unwrap();
            let path = delta
                .new_file()
                .path()
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let body = repo.find_blob(delta.new_file().id()).unwrap();
            let body = String::from_utf8_lossy(body.content()).into_owned();
            let msg = if with_x {
                format!(
                    "{}\n\n(cherry picked from commit {p})\n",
                    String::from_utf8_lossy(c.summary_bytes().unwrap_or(b""))
                )
            } else {
                String::from_utf8_lossy(c.summary_bytes().unwrap_or(b"")).into_owned()
            };
            t += 60;
            tip = commit(&repo, Some(tip), &path, &body, &msg, t);
        }
        tips[target] = tip;
    }
    for (e, env) in ENVS.iter().enumerate() {
        repo.reference(&format!("refs/heads/{env}"), tips[e], true, "bench")
            .unwrap();
    }
    repo
}

fn envs() -> Vec<(String, String, usize)> {
    ENVS.iter()
        .enumerate()
        .map(|(i, e)| (e.to_string(), e.to_string(), i))
        .collect()
}

fn bench(c: &mut Criterion) {
    let keep = std::env::var("BACKFLOW_BENCH_DIR").ok();
    let tmp = tempfile::tempdir().unwrap();
    let dir = keep
        .clone()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let repo = if dir.join(".git").exists() {
        Repository::open(&dir).unwrap()
    } else {
        std::fs::create_dir_all(&dir).unwrap();
        generate(&dir)
    };
    let pattern = StoryPattern::new(r"US-\d+").unwrap();
    let envs = envs();
    let mut g = c.benchmark_group("presence_20k_commits_5_envs");
    g.sample_size(10);
    g.bench_function("cold", |b| {
        b.iter(|| {
            let caches = Caches::default();
            let h = History::load(&repo, &envs, &pattern).unwrap();
            h.presence(&repo, &caches).unwrap()
        })
    });
    let caches = Caches::default();
    let h = History::load(&repo, &envs, &pattern).unwrap();
    h.presence(&repo, &caches).unwrap();
    // Caches kept (patch-ids, paths) but the history walked again: a branch moved.
    g.bench_function("warm_branch_moved", |b| {
        b.iter(|| {
            let h = History::load(&repo, &envs, &pattern).unwrap();
            h.presence(&repo, &caches).unwrap()
        })
    });
    // Nothing moved: what a console refresh costs.
    History::load_cached(&repo, &envs, &pattern, "US-\\d+", &caches).unwrap();
    g.bench_function("warm_unchanged", |b| {
        b.iter(|| History::load_cached(&repo, &envs, &pattern, "US-\\d+", &caches).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
