//! Merge benchmarks: a 2 MB Profile merged semantically (target: well under 50 ms), and 50 story
//! commits applied in memory onto a branch of a 20,000-file repository (target: under 1 s).
//! Each bench also prints the process CPU time per run, which on a shared machine is a steadier
//! figure than wall time. libgit2 is configured as the binary configures it
//! (`git::configure_process`); `BENCH_STRICT_GIT=1` keeps libgit2's hash verification on read to
//! show what it costs.

use backflow::git::apply::{ApplyRequest, Identity, apply, finish};
use backflow::metadata::merge::{MergeOptions, merge};
use criterion::{Criterion, criterion_group, criterion_main};
use git2::{FileMode, Oid, Repository, Signature, Time};
use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;
use std::time::Duration;

fn profile(n: usize, edit: impl Fn(usize) -> Option<(bool, bool)>) -> Vec<u8> {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n",
    );
    for i in 0..n / 4 {
        s.push_str(&format!("    <classAccesses>\n        <apexClass>Class{i:05}</apexClass>\n        <enabled>true</enabled>\n    </classAccesses>\n"));
    }
    s.push_str("    <custom>false</custom>\n");
    for i in 0..n {
        if let Some((e, r)) = edit(i) {
            s.push_str(&format!("    <fieldPermissions>\n        <editable>{e}</editable>\n        <field>Object{:03}__c.Field{i:05}__c</field>\n        <readable>{r}</readable>\n    </fieldPermissions>\n", i % 300));
        }
    }
    s.push_str("    <userLicense>Salesforce</userLicense>\n</Profile>\n");
    s.into_bytes()
}

fn bench_profile(c: &mut Criterion) {
    let n = 12_000;
    let base = profile(n, |i| (i % 50 != 7).then_some((false, true)));
    // ours: edits and deletions on even entries; theirs: on odd ones, plus additions
    let ours = profile(n, |i| match i % 50 {
        7 => None,
        10 => Some((true, true)),
        20 => None,
        _ => Some((false, true)),
    });
    let theirs = profile(n, |i| match i % 50 {
        7 if i % 100 == 57 => Some((true, true)),
        7 => None,
        11 => Some((false, false)),
        _ => Some((false, true)),
    });
    eprintln!(
        "profile sizes: base {} KB, ours {} KB, theirs {} KB",
        base.len() / 1024,
        ours.len() / 1024,
        theirs.len() / 1024
    );
    let opts = MergeOptions {
        path: Some("force-app/main/default/profiles/Admin.profile-meta.xml".into()),
        ..Default::default()
    };
    let m = merge(Some(&base), &ours, &theirs, &opts).expect("merge");
    assert!(m.is_clean(), "{:?}", m.conflicts.first());
    // Criterion measures wall time, which on a shared machine includes waiting for a core; this
    // figure is the process CPU time per merge.
    let cpu0 = cpu_ms();
    for _ in 0..20 {
        black_box(merge(Some(&base), &ours, &theirs, &opts).expect("merge"));
    }
    eprintln!(
        "merge 2 MB Profile: {:.1} ms CPU per merge",
        (cpu_ms() - cpu0) / 20.0
    );
    c.bench_function("merge 2 MB Profile (disjoint edits)", |b| {
        b.iter(|| black_box(merge(Some(&base), &ours, &theirs, &opts).expect("merge")))
    });
}

/// User + system CPU time of this process in milliseconds (Linux `/proc`; 0 elsewhere).
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the command name: state is field 3; utime and stime are fields 14 and 15
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) * 10.0
}

fn sig() -> Signature<'static> {
    Signature::new("Bench", "bench@example.com", &Time::new(1_767_225_600, 0)).expect("sig")
}

fn commit(repo: &Repository, parent: Oid, files: &[(String, Vec<u8>)], msg: &str) -> Oid {
    let p = repo.find_commit(parent).expect("parent");
    let mut b = git2::build::TreeUpdateBuilder::new();
    for (path, content) in files {
        b.upsert(
            path.as_str(),
            repo.blob(content).expect("blob"),
            FileMode::Blob,
        );
    }
    let tree = repo
        .find_tree(
            b.create_updated(repo, &p.tree().expect("tree"))
                .expect("update"),
        )
        .expect("tree");
    repo.commit(None, &sig(), &sig(), msg, &tree, &[&p])
        .expect("commit")
}

struct ApplyFixture {
    _dir: tempfile::TempDir,
    repo: Repository,
    req: ApplyRequest,
    who: Identity,
}

fn bench_apply(c: &mut Criterion) {
    // built on first use (criterion calls the closure several times; a filter may skip it)
    let mut fixture: Option<ApplyFixture> = None;
    c.bench_function(
        "apply 50 stories onto a 20,000-file branch + commit",
        |bch| {
            let fx = fixture.get_or_insert_with(apply_fixture);
            let (repo, req, who) = (&fx.repo, &fx.req, &fx.who);
            bch.iter(|| {
                let out = apply(repo, req, None).expect("apply");
                black_box(
                    finish(
                        repo,
                        &out,
                        &BTreeMap::new(),
                        "backflow/promote/qa/bench",
                        "bench",
                        who,
                    )
                    .expect("finish"),
                )
            })
        },
    );
}

fn apply_fixture() -> ApplyFixture {
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init_bare(dir.path()).expect("init");
        let d = "force-app/main/default";
        // 20,000 files: classes with meta files, objects' fields, a big Profile, labels
        let meta = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ApexClass xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <apiVersion>62.0</apiVersion>\n    <status>Active</status>\n</ApexClass>\n".to_vec();
        let mut b = git2::build::TreeUpdateBuilder::new();
        let meta_oid = repo.blob(&meta).expect("blob");
        for i in 0..6_000 {
            let body = format!(
                "public class C{i:05} {{\n    public static Integer v() {{ return {i}; }}\n}}\n"
            );
            b.upsert(
                format!("{d}/classes/C{i:05}.cls"),
                repo.blob(body.as_bytes()).expect("blob"),
                FileMode::Blob,
            );
            b.upsert(
                format!("{d}/classes/C{i:05}.cls-meta.xml"),
                meta_oid,
                FileMode::Blob,
            );
        }
        for o in 0..200 {
            for f in 0..40 {
                let x = format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fullName>F{f:02}__c</fullName>\n    <label>F{f:02}</label>\n    <type>Text</type>\n    <length>{}</length>\n</CustomField>\n",
                    10 + f
                );
                b.upsert(
                    format!("{d}/objects/O{o:03}__c/fields/F{f:02}__c.field-meta.xml"),
                    repo.blob(x.as_bytes()).expect("blob"),
                    FileMode::Blob,
                );
            }
        }
        let prof_path = format!("{d}/profiles/Admin.profile-meta.xml");
        let prof = profile(4_000, |_| Some((false, true)));
        b.upsert(
            prof_path.as_str(),
            repo.blob(&prof).expect("blob"),
            FileMode::Blob,
        );
        let empty = repo
            .find_tree(repo.treebuilder(None).expect("tb").write().expect("write"))
            .expect("tree");
        let tree = repo
            .find_tree(b.create_updated(&repo, &empty).expect("tree"))
            .expect("tree");
        let mut count = 0;
        tree.walk(git2::TreeWalkMode::PreOrder, |_, e| {
            if e.kind() == Some(git2::ObjectType::Blob) {
                count += 1;
            }
            git2::TreeWalkResult::Ok
        })
        .expect("walk");
        let root = repo
            .commit(None, &sig(), &sig(), "base", &tree, &[])
            .expect("commit");
        // the target has its own work on the Profile and some classes
        let target = commit(
            &repo,
            root,
            &[
                (
                    prof_path.clone(),
                    profile(4_000, |i| Some((i % 97 == 0, true))),
                ),
                (
                    format!("{d}/classes/C00001.cls"),
                    b"public class C00001 { /* qa */ }\n".to_vec(),
                ),
            ],
            "qa work",
        );
        repo.reference("refs/heads/qa", target, true, "bench")
            .expect("ref");
        // 50 stories, one commit each: two classes, a field, and every fifth one the Profile
        let mut commits = Vec::new();
        let mut head = root;
        let mut cur_prof = prof.clone();
        for s in 0..50usize {
            let mut files = vec![
            (format!("{d}/classes/C{:05}.cls", 100 + s * 2), format!("public class C{:05} {{ /* US-{s} */ }}\n", 100 + s * 2).into_bytes()),
            (format!("{d}/classes/N{s:03}.cls"), b"public class N {}\n".to_vec()),
            (format!("{d}/classes/N{s:03}.cls-meta.xml"), meta.clone()),
            (format!("{d}/objects/O{:03}__c/fields/F01__c.field-meta.xml", s), format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomField xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <fullName>F01__c</fullName>\n    <label>F01 US-{s}</label>\n    <type>Text</type>\n    <length>11</length>\n</CustomField>\n").into_bytes()),
        ];
            if s % 5 == 0 {
                cur_prof = String::from_utf8(cur_prof)
                    .expect("utf8")
                    .replacen(
                        "<readable>true</readable>",
                        "<readable>false</readable>",
                        1 + s,
                    )
                    .into_bytes();
                files.push((prof_path.clone(), cur_prof.clone()));
            }
            head = commit(&repo, head, &files, &format!("US-{s}"));
            commits.push(head);
        }
        let req = ApplyRequest {
            target: "qa".into(),
            commits,
            already_present: HashSet::new(),
            picks: Vec::new(),
            pick_source: None,
            package_dirs: vec!["force-app".into()],
        };
        let who = Identity {
            name: "backflow".into(),
            email: "backflow@example.com".into(),
            time: 1_767_225_600,
            offset_minutes: 0,
        };
        let out = apply(&repo, &req, None).expect("apply");
        eprintln!(
            "repository: {count} files; 50 stories: {} paths clean, {} conflicts",
            out.clean.len(),
            out.conflicts.len()
        );
        assert!(out.conflicts.is_empty());
        drop(tree);
        drop(empty);
        if std::env::var_os("BENCH_STRICT_GIT").is_none() {
            backflow::git::configure_process();
        }
        let cpu0 = cpu_ms();
        for _ in 0..5 {
            let out = apply(&repo, &req, None).expect("apply");
            black_box(
                finish(
                    &repo,
                    &out,
                    &BTreeMap::new(),
                    "backflow/promote/qa/bench",
                    "bench",
                    &who,
                )
                .expect("finish"),
            );
        }
        eprintln!(
            "apply 50 stories + commit: {:.0} ms CPU per run",
            (cpu_ms() - cpu0) / 5.0
        );
        ApplyFixture {
            _dir: dir,
            repo,
            req,
            who,
        }
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = bench_profile, bench_apply }
criterion_main!(benches);
