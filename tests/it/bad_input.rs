//! The bad-input catalogue (`docs/bad-input.md`): every row drives the real binary with one bad
//! input and checks the exit code, the message, and that nothing changed (the repository's
//! refs, HEAD and working tree, the state directory, the org's deploy log, output files).

use crate::common::{DemoWs, backflow, git};
use std::path::Path;
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Files (name and size) under `dir`, logs excluded: they record the refusal itself.
fn files(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == "logs" || n == ".git") {
            continue;
        }
        if p.is_dir() {
            files(&p, out);
        } else {
            let len = e.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(format!("{} {len}", p.display()));
        }
    }
}

/// What a refused command must leave as it was: refs, HEAD, index and working tree of the
/// repository at `repo`, and every file under `state` (the state directory or output folder).
fn fingerprint(repo: &Path, state: &Path) -> String {
    let run = |args: &[&str]| {
        let o = git(repo).args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let mut list = Vec::new();
    files(state, &mut list);
    format!(
        "{}\n{}\n{}\n{}",
        run(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        run(&["rev-parse", "HEAD"]),
        run(&["status", "--porcelain", "--untracked-files=all"]),
        list.join("\n")
    )
}

/// A git-only workspace (no orgs) whose `backflow.toml` is `config`.
fn config_ws(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("ws")).unwrap();
    let ws = d.join("ws");
    assert!(
        git(&ws)
            .args(["init", "-q", "-b", "main"])
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(ws.join("backflow.toml"), config).unwrap();
    std::fs::write(ws.join("README.md"), "x\n").unwrap();
    assert!(git(&ws).args(["add", "."]).status().unwrap().success());
    assert!(
        git(&ws)
            .args(["commit", "-q", "-m", "US-1 start"])
            .status()
            .unwrap()
            .success()
    );
    for b in ["env/dev1", "env/qa"] {
        assert!(git(&ws).args(["branch", b]).status().unwrap().success());
    }
    dir
}

const GOOD: &str = r#"[project]
story_pattern = 'US-\d+'

[[env]]
name = "dev1"
branch = "env/dev1"
kind = "dev"

[[env]]
name = "qa"
branch = "env/qa"
kind = "qa"

[[connection]]
from = "dev1"
to = "qa"
"#;

/// Runs `status` on a workspace with `config`; checks exit 2, the `file:line:` prefix, the
/// words of the message, and that nothing changed.
fn refused_config(config: &str, line: usize, words: &[&str]) {
    let dir = config_ws(config);
    let ws = dir.path().join("ws");
    let before = fingerprint(&ws, dir.path());
    let o = backflow(dir.path())
        .current_dir(&ws)
        .args(["status"])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains(&format!("backflow.toml:{line}: ")),
        "line {line}: {t}"
    );
    for w in words {
        assert!(t.contains(w), "{w:?} in {t}");
    }
    assert_eq!(fingerprint(&ws, dir.path()), before, "nothing changed");
}

#[test]
fn the_good_config_loads() {
    let dir = config_ws(GOOD);
    let ws = dir.path().join("ws");
    let o = backflow(dir.path())
        .current_dir(&ws)
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn config_story_pattern_matching_everything() {
    refused_config(
        &GOOD.replace(r"'US-\d+'", "'.*'"),
        2,
        &["story_pattern '.*' is too broad"],
    );
    refused_config(
        &GOOD.replace(r"'US-\d+'", "''"),
        2,
        &["story_pattern '' is too broad", "the empty text"],
    );
}

#[test]
fn config_zero_timing() {
    refused_config(
        &format!("{GOOD}\n[timing]\npoll_ms = 150\ndeploy_timeout_ms = 0\n"),
        20,
        &["deploy_timeout_ms = 0", "positive number of milliseconds"],
    );
}

#[test]
fn config_prod_not_at_the_top() {
    let cfg = GOOD.replace("kind = \"dev\"", "kind = \"prod\"");
    refused_config(&cfg, 15, &["env 'dev1' is of kind prod", "to 'qa'"]);
}

#[test]
fn config_more_than_64_envs() {
    let mut cfg = String::from("[project]\n");
    for i in 0..65 {
        cfg.push_str(&format!(
            "\n[[env]]\nname = \"e{i}\"\nbranch = \"env/e{i}\"\nkind = \"dev\"\n"
        ));
    }
    refused_config(&cfg, 4 + 5 * 64, &["65 environments", "at most 64"]);
}

#[test]
fn delta_source_dir_outside_the_repository() {
    let dir = config_ws(GOOD);
    let ws = dir.path().join("ws");
    let out = dir.path().join("out");
    let before = fingerprint(&ws, dir.path());
    for bad in ["../elsewhere", "/tmp"] {
        let o = backflow(dir.path())
            .current_dir(&ws)
            .args(["delta", "--from", "HEAD", "--source-dir", bad, "--output"])
            .arg(&out)
            .output()
            .unwrap();
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{t}");
        assert!(
            t.contains(&format!("--source-dir {bad} is outside the repository")),
            "{t}"
        );
        assert!(!out.exists(), "no output written");
    }
    assert_eq!(fingerprint(&ws, dir.path()), before, "nothing changed");
}

#[test]
fn convert_a_symlinked_class_is_left_out_of_package_xml() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    let classes = p.join("force-app/main/default/classes");
    std::fs::create_dir_all(&classes).unwrap();
    std::fs::write(
        p.join("sfdx-project.json"),
        r#"{"packageDirectories":[{"path":"force-app","default":true}],"sourceApiVersion":"62.0"}"#,
    )
    .unwrap();
    let meta = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\"><apiVersion>62.0</apiVersion><status>Active</status></ApexClass>\n";
    std::fs::write(dir.path().join("Linked.cls"), "public class Linked {}\n").unwrap();
    std::os::unix::fs::symlink(dir.path().join("Linked.cls"), classes.join("Linked.cls")).unwrap();
    std::fs::write(classes.join("Linked.cls-meta.xml"), meta).unwrap();
    std::fs::write(classes.join("Real.cls"), "public class Real {}\n").unwrap();
    std::fs::write(classes.join("Real.cls-meta.xml"), meta).unwrap();
    let o = backflow(dir.path())
        .current_dir(&p)
        .args(["convert", "--source-dir", "force-app", "--output", "out"])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("classes/Linked.cls: symbolic link skipped, and with it ApexClass:Linked"),
        "{t}"
    );
    let pkg = std::fs::read_to_string(p.join("out/package.xml")).unwrap();
    assert!(pkg.contains("<members>Real</members>"), "{pkg}");
    assert!(
        !pkg.contains("Linked"),
        "package.xml lists only what the tree holds: {pkg}"
    );
    assert!(!p.join("out/classes/Linked.cls-meta.xml").exists());
    assert!(p.join("out/classes/Real.cls").exists());
}

/// `merge-file` with `ours` as given; base and theirs are a small valid profile.
fn merge_file(ours: &[u8], theirs: &[u8]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = b"<?xml version=\"1.0\"?>\n<Profile>\n<a>x</a>\n</Profile>\n";
    std::fs::write(d.join("base.profile-meta.xml"), base).unwrap();
    std::fs::write(d.join("ours.profile-meta.xml"), ours).unwrap();
    std::fs::write(d.join("theirs.profile-meta.xml"), theirs).unwrap();
    let o = backflow(d)
        .current_dir(d)
        .args([
            "merge-file",
            "base.profile-meta.xml",
            "ours.profile-meta.xml",
            "theirs.profile-meta.xml",
            "-o",
            "merged.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read(d.join("ours.profile-meta.xml")).unwrap(),
        ours,
        "inputs untouched"
    );
    assert!(!d.join("merged.xml").exists(), "nothing half-written");
    (o, dir)
}

#[test]
fn merge_file_invalid_utf8_names_file_line_and_byte() {
    let (o, _d) = merge_file(
        b"<?xml version=\"1.0\"?>\n<Profile>\n<a>\xff\xfe</a>\n</Profile>\n",
        b"<?xml version=\"1.0\"?>\n<Profile>\n<a>z</a>\n</Profile>\n",
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("ours.profile-meta.xml"), "{t}");
    assert!(t.contains("line 3"), "{t}");
    assert!(t.contains("not valid UTF-8 (byte offset 35)"), "{t}");
    assert!(!t.contains("binary"), "{t}");
}

#[test]
fn merge_file_50k_levels_deep_is_refused_not_aborted() {
    let deep = |leaf: &str| {
        let n = 50_000;
        format!(
            "<?xml version=\"1.0\"?>\n<Profile>\n{}{leaf}{}</Profile>\n",
            "<a>".repeat(n),
            "</a>".repeat(n)
        )
        .into_bytes()
    };
    let (o, _d) = merge_file(&deep("y"), &deep("z"));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "no abort: {t}");
    assert!(t.contains("ours.profile-meta.xml"), "{t}");
    assert!(t.contains("line 3"), "{t}");
    assert!(t.contains("nested more than 128 levels"), "{t}");
}

/// Deploys the simulator logged, or `None` when no simulator was started (then no org was
/// contacted either).
fn deploy_count(ws: &DemoWs) -> Option<usize> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let h = backflow::sim::workspace::connect_existing(&ws.dir).await?;
        Some(h.admin.deploy_log().await.ok()?.len())
    })
}

#[test]
fn back_promote_refusals_in_the_plan_touch_no_org() {
    let ws = DemoWs::new();
    let story = format!("US-{}", "1".repeat(100_000));
    let busy = [
        ("rebase", "rebase-merge"),
        ("merge", "MERGE_HEAD"),
        ("cherry-pick", "CHERRY_PICK_HEAD"),
    ];
    let deploys = deploy_count(&ws);
    // A 100 KB story id: refused with its start quoted, not echoed.
    let before = fingerprint(&ws.dir, ws.state.path());
    let o = ws.run(&[
        "back-promote",
        "--from",
        "prod",
        "--to",
        "qa",
        "--story",
        &story,
        "--yes",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{}", &t[..t.len().min(500)]);
    assert!(
        t.contains("a story id of 100003 bytes is too long"),
        "{}",
        &t[..t.len().min(500)]
    );
    assert!(t.len() < 400, "the id is not echoed: {} bytes", t.len());
    assert_eq!(
        fingerprint(&ws.dir, ws.state.path()),
        before,
        "nothing changed"
    );

    // The repository in the middle of a rebase, merge or cherry-pick: refused in the plan.
    let head = String::from_utf8(
        git(&ws.dir)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (what, marker) in busy {
        let path = ws.dir.join(".git").join(marker);
        if marker == "rebase-merge" {
            std::fs::create_dir_all(&path).unwrap();
        } else {
            std::fs::write(&path, &head).unwrap();
        }
        let before = fingerprint(&ws.dir, ws.state.path());
        let o = ws.back_promote("prod", "qa", "US-0101", &[]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {t}");
        assert!(t.contains(&format!("in the middle of a {what}")), "{t}");
        assert!(t.contains("--abort"), "{t}");
        assert_eq!(
            fingerprint(&ws.dir, ws.state.path()),
            before,
            "{what}: nothing changed"
        );
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    assert_eq!(
        deploy_count(&ws).unwrap_or(0),
        deploys.unwrap_or(0),
        "no deploy reached an org"
    );
}

#[test]
fn merge_file_a_mis_encoded_class_says_which_file_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("base.cls"), "public class A {}\n").unwrap();
    std::fs::write(d.join("ours.cls"), b"public class A { // caf\xe9\n}\n").unwrap();
    std::fs::write(d.join("theirs.cls"), "public class A { }\n").unwrap();
    let o = backflow(d)
        .current_dir(d)
        .args([
            "merge-file",
            "base.cls",
            "ours.cls",
            "theirs.cls",
            "-o",
            "out.cls",
        ])
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "a conflict: {t}");
    assert!(
        t.contains("ours.cls is not valid UTF-8 at byte offset 23; save it as UTF-8"),
        "{t}"
    );
}
