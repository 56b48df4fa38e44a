//! The presence snapshot persisted in the state directory: a damaged file, concurrent writers,
//! moved branches and a changed story pattern all give the answer a cold computation gives.

use crate::common::{backflow, commit_on, demo_workspace};
use backflow::git::presence_cache;
use std::path::{Path, PathBuf};

fn status(state: &Path, ws: &Path) -> (String, String) {
    let out = backflow(state)
        .current_dir(ws)
        .args(["status", "--json"])
        .output()
        .expect("backflow runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `status --json` computed from scratch, with a state directory of its own.
fn cold_status(ws: &Path) -> String {
    let fresh = tempfile::tempdir().expect("temp dir");
    status(fresh.path(), ws).0
}

fn snapshot_file(state: &Path) -> PathBuf {
    let dir = state.join("workspaces");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("state has workspaces")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(presence_cache::FILE_NAME))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(found.len(), 1, "one snapshot in {}", dir.display());
    found.remove(0)
}

#[test]
fn a_damaged_snapshot_is_rebuilt_silently_with_the_same_answer() {
    let (state, ws) = demo_workspace();
    let (first, _) = status(state.path(), &ws);
    let file = snapshot_file(state.path());
    assert!(
        presence_cache::read(&file).is_some(),
        "status stores a snapshot"
    );
    for damage in [
        &b"{\"version\":1,\"key\":{\"pattern\""[..],
        b"",
        b"\x00\xff not json",
    ] {
        std::fs::write(&file, damage).unwrap();
        let (again, stderr) = status(state.path(), &ws);
        assert_eq!(again, first);
        assert!(stderr.is_empty(), "silent rebuild, got: {stderr}");
        assert!(presence_cache::read(&file).is_some(), "rebuilt");
    }
    // A snapshot from another format version is not trusted, even with the right key.
    let mut snap = presence_cache::read(&file).unwrap();
    snap.version += 1;
    for s in &mut snap.stories {
        s.presence
            .iter_mut()
            .for_each(|p| *p = backflow::domain::Presence::Absent);
    }
    std::fs::write(&file, serde_json::to_vec(&snap).unwrap()).unwrap();
    assert_eq!(status(state.path(), &ws).0, first);
}

#[test]
fn processes_filling_the_snapshot_at_once_all_answer_right() {
    let (state, ws) = demo_workspace();
    let want = cold_status(&ws);
    let children: Vec<_> = (0..4)
        .map(|_| {
            backflow(state.path())
                .current_dir(&ws)
                .args(["status", "--json"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("backflow starts")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("backflow runs");
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
    let file = snapshot_file(state.path());
    assert!(presence_cache::read(&file).is_some(), "a whole, valid file");
    // No temporary files left behind by the writers.
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(status(state.path(), &ws).0, want);
}

/// Moves two branches: a hotfix on qa for a story qa lacks, and a new story on dev2.
fn move_branches(ws: &Path) {
    commit_on(
        ws,
        "qa",
        "US-0105: hotfix made again on qa",
        &[(
            "force-app/main/default/classes/QaHotfix.cls",
            "public class QaHotfix {}\n",
        )],
    );
    commit_on(
        ws,
        "dev2",
        "US-0901: brand new story",
        &[(
            "force-app/main/default/classes/NewStory.cls",
            "public class NewStory {}\n",
        )],
    );
}

#[test]
fn a_moved_branch_gives_the_cold_answer() {
    let (state, ws) = demo_workspace();
    let (before, _) = status(state.path(), &ws);
    move_branches(&ws);
    let (after, _) = status(state.path(), &ws);
    assert_ne!(after, before, "the moved tips show");
    assert!(after.contains("US-0901"));
    assert_eq!(after, cold_status(&ws));
    // And once more from the refreshed snapshot.
    assert_eq!(status(state.path(), &ws).0, after);
}

#[test]
fn a_changed_story_pattern_is_not_answered_from_the_old_snapshot() {
    let (state, ws) = demo_workspace();
    let (before, _) = status(state.path(), &ws);
    let cfg = ws.join("backflow.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains(r"story_pattern = 'US-\d+'"));
    std::fs::write(
        &cfg,
        text.replace(
            r"story_pattern = 'US-\d+'",
            r"story_pattern = 'US-00[0-2]\d'",
        ),
    )
    .unwrap();
    let (after, _) = status(state.path(), &ws);
    assert_ne!(after, before);
    assert!(!after.contains("US-0105"));
    assert_eq!(after, cold_status(&ws));
}

/// Stories (id, canonical commits, home) and presence, as a comparable value.
fn loaded_view(
    h: &backflow::git::History,
    presence: &std::collections::BTreeMap<String, Vec<backflow::domain::Presence>>,
) -> String {
    let mut out = String::new();
    for (id, s) in &h.stories {
        out.push_str(&format!(
            "{id} {:?} {} {:?} {:?}\n",
            s.canonical, s.home, s.naming, presence[id]
        ));
    }
    out
}

#[test]
fn stored_commit_facts_read_only_new_commits_and_survive_damage() {
    use backflow::engine::workspace::Workspace;
    use backflow::git::history::store;
    use backflow::git::{Caches, History};
    let (state, ws) = demo_workspace();
    let w = Workspace::load(&ws.join("backflow.toml")).unwrap();
    let p = &w.config.pipeline;
    let envs: Vec<(String, String, usize)> = p
        .ordered()
        .iter()
        .map(|e| (e.name.clone(), e.branch.clone(), p.level(&e.name)))
        .collect();
    let text = w.config.project.story_pattern.clone();
    let repo = w.open_repo().unwrap();
    let load = |caches: &Caches| {
        let h = History::load_with(&repo, &envs, &w.config.story_pattern, &text, caches).unwrap();
        let pr = h.presence(&repo, caches).unwrap();
        loaded_view(&h, &pr)
    };
    let file = state.path().join("facts").join(store::FILE_NAME);
    let first = Caches::default();
    let cold = load(&first);
    let all = first.commits_read();
    assert!(all > 10, "the demo has history ({all} commits read)");
    store::save(&first, &file, &w.package_dirs);

    move_branches(&ws);
    let moved = Caches::default();
    assert_eq!(store::load_into(&moved, &file, &text, &w.package_dirs), all);
    let warm = load(&moved);
    assert_eq!(moved.commits_read(), 2, "only the two new commits are read");
    assert_eq!(
        moved.commits_walked(),
        2,
        "the stored walk covers the rest: only the two new commits are walked"
    );
    // Nothing moved since: a second load in the same process walks nothing.
    load(&moved);
    assert_eq!(moved.commits_walked(), 2);
    // A branch reset backwards: what only the old tip reached leaves the pipeline.
    let repo2 = git2::Repository::open(&ws).unwrap();
    let dev2 = repo2
        .revparse_single("dev2")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    repo2
        .branch("dev2", &dev2.parent(0).unwrap(), true)
        .unwrap();
    let back = load(&moved);
    assert_eq!(
        back,
        load(&Caches::default()),
        "reset tip from the kept walk = cold"
    );
    assert!(!back.contains("US-0901"));
    assert_eq!(moved.commits_walked(), 2, "a reset walks nothing new");
    repo2.branch("dev2", &dev2, true).unwrap();
    let fresh = Caches::default();
    assert_eq!(warm, load(&fresh), "moved tips from stored facts = cold");
    assert_ne!(warm, cold);
    assert!(warm.contains("US-0901"));

    // Damaged or foreign files are ignored: everything is read again, same answer.
    for damage in [&b"{\"version\":1,\"pattern\""[..], b"", b"\x00\xff"] {
        std::fs::write(&file, damage).unwrap();
        let c = Caches::default();
        assert_eq!(store::load_into(&c, &file, &text, &w.package_dirs), 0);
        assert_eq!(load(&c), warm);
        assert_eq!(c.commits_read(), fresh.commits_read());
        store::save(&c, &file, &w.package_dirs);
    }
    // Another story pattern does not take the stored story ids.
    let c = Caches::default();
    assert_eq!(store::load_into(&c, &file, "W-[0-9]+", &w.package_dirs), 0);
}

#[test]
fn status_with_damaged_commit_facts_gives_the_cold_answer() {
    let (state, ws) = demo_workspace();
    let (first, _) = status(state.path(), &ws);
    let snap = snapshot_file(state.path());
    let facts = snap.with_file_name(backflow::git::history::store::FILE_NAME);
    assert!(facts.is_file(), "status stores commit facts");
    commit_on(
        &ws,
        "dev2",
        "US-0901: brand new story",
        &[(
            "force-app/main/default/classes/NewStory.cls",
            "public class NewStory {}\n",
        )],
    );
    std::fs::write(&facts, b"{\"version\":1,").unwrap();
    let (after, stderr) = status(state.path(), &ws);
    assert!(stderr.is_empty(), "silent rebuild, got: {stderr}");
    assert_ne!(after, first);
    assert_eq!(after, cold_status(&ws));
    assert!(std::fs::read(&facts).unwrap().len() > 100, "rebuilt");
}
