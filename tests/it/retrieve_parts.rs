//! Retrieves as Salesforce serves them: files written the org's way (schema order, escaping,
//! layout) are not drift, and retrieves over the org's per-retrieve caps are split in parts
//! by `validate` and by a job's drift check alike, with the same results as one retrieve.

use crate::common::{backflow, commit_on, events, text};
use backflow::metadata::xml::Element;
use backflow::sim::serialise::retrieved_form;
use std::collections::BTreeMap;
use std::process::Output;

type Ws = crate::common::DemoWs;

/// A command with extra environment (the client's retrieve caps).
fn run_with(ws: &Ws, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = backflow(ws.state.path());
    c.current_dir(&ws.dir)
        .env("BACKFLOW_USER", "rm@acme.example")
        .env("BACKFLOW_BIN", env!("CARGO_BIN_EXE_backflow"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

/// How many retrieves `org` has answered.
fn retrieves(ws: &Ws, org: &str) -> u64 {
    ws.sim(async |a| {
        a.orgs()
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.name == org)
            .expect("the org exists")
            .retrieves
    })
}

fn set_sim_cap(ws: &Ws, files: usize) {
    ws.sim(async |a| {
        let mut s = a.settings().await.unwrap();
        s.max_retrieve_files = files;
        a.set_settings(&s).await.unwrap();
    });
}

/// The `n` of the "retrieving part k of n" lines a command printed, checking every part was
/// announced in turn.
fn parts_announced(o: &Output) -> usize {
    let t = text(o);
    let Some(at) = t.find("retrieving part 1 of ") else {
        return 1;
    };
    let rest = &t[at + "retrieving part 1 of ".len()..];
    let n: usize = rest[..rest.find(' ').unwrap()].parse().unwrap();
    for k in 1..=n {
        assert!(
            t.contains(&format!("retrieving part {k} of {n} ")),
            "part {k} of {n} not announced: {t}"
        );
    }
    n
}

fn validate_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// The restore package a job kept, unzipped.
fn restore_package(ws: &Ws, job: &str) -> BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut stack = vec![ws.state.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.ends_with(format!("{job}/restore.zip")) {
                let bytes = std::fs::read(&p).unwrap();
                let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
                let mut out = BTreeMap::new();
                for i in 0..z.len() {
                    let mut f = z.by_index(i).unwrap();
                    let mut b = Vec::new();
                    f.read_to_end(&mut b).unwrap();
                    out.insert(f.name().to_string(), b);
                }
                return out;
            }
        }
    }
    panic!("job {job} kept no restore package");
}

/// An org's files as a retrieve returns them (so two orgs holding the same metadata compare
/// equal whatever layout each file was deployed in).
fn org_forms(ws: &Ws, org: &str) -> BTreeMap<String, Vec<u8>> {
    ws.sim(async |a| a.files(org).await.unwrap())
        .into_iter()
        .map(|(p, b)| {
            let form = retrieved_form(&p, &b);
            (p, form)
        })
        .collect()
}

fn job_of(o: &Output) -> String {
    events(o)[0]["job"].as_str().unwrap().to_string()
}

#[test]
fn validate_and_the_drift_check_retrieve_in_parts_with_the_same_results() {
    let ws = Ws::new();
    assert_eq!(ws.run(&["orgs"]).status.code(), Some(0));
    // An edit in the org to the profile's access to a class: a part holding the profile but not
    // the class would not see it, so the profile is in every part.
    ws.sim(async |a| {
        let files = a.files("dev1").await.unwrap();
        let mut p = Element::parse(&files["profiles/Admin.profile"]).unwrap();
        let access = p
            .children
            .iter_mut()
            .find(|c| c.name == "classAccesses" && c.text_of("apexClass") == Some("InvoiceService"))
            .expect("the profile grants InvoiceService");
        for c in &mut access.children {
            if c.name == "enabled" {
                c.text = "false".into();
            }
        }
        let p = p.to_xml();
        a.edit_org("dev1", &[("profiles/Admin.profile", p.as_bytes())], &[])
            .await
            .unwrap();
    });
    // One retrieve under Salesforce's caps.
    let n0 = retrieves(&ws, "dev1");
    let o = ws.run(&["validate", "dev1", "--json"]);
    let whole = validate_json(&o);
    assert_eq!(whole["retrieves"], 1, "{}", text(&o));
    assert_eq!(retrieves(&ws, "dev1") - n0, 1);
    assert!(
        whole["drifted"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("Profile:Admin")),
        "{whole}"
    );
    // An org capped at 6 files refuses the one big retrieve as Salesforce does.
    set_sim_cap(&ws, 6);
    let o = ws.run(&["validate", "dev1"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("LIMIT_EXCEEDED"), "{}", text(&o));
    // Split at 6 files (the profile and the permission set in each part): as many retrieves as
    // parts announced, the same report.
    let n0 = retrieves(&ws, "dev1");
    let o = run_with(
        &ws,
        &[("BACKFLOW_MAX_RETRIEVE_FILES", "6")],
        &["validate", "dev1", "--json"],
    );
    let split = validate_json(&o);
    let parts = parts_announced(&o);
    assert!(parts >= 3, "{}", text(&o));
    assert_eq!(split["retrieves"], parts as u64);
    assert_eq!(retrieves(&ws, "dev1") - n0, parts as u64);
    for k in ["checked", "drifted", "missing_in_org"] {
        assert_eq!(split[k], whole[k], "{k}");
    }
    // The drift check of a job, unsplit (validate-only: the org is left as it is).
    set_sim_cap(&ws, 10_000);
    let promote = [
        "back-promote",
        "--from",
        "prod",
        "--to",
        "dev1",
        "--story",
        "US-0101",
    ];
    let mut args = promote.to_vec();
    args.extend([
        "--yes",
        "--on-conflict",
        "source",
        "--validate-only",
        "--json",
    ]);
    let n0 = retrieves(&ws, "dev1");
    let o = ws.run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(parts_announced(&o), 1);
    assert_eq!(retrieves(&ws, "dev1") - n0, 1);
    let unsplit = restore_package(&ws, &job_of(&o));
    // The same job split at 2 files (the class and its meta file, then the labels), in an org
    // that refuses more than 2 files per retrieve.
    set_sim_cap(&ws, 2);
    let before = org_forms(&ws, "dev1");
    let mut args = promote.to_vec();
    args.extend(["--yes", "--on-conflict", "source", "--json"]);
    let n0 = retrieves(&ws, "dev1");
    let o = run_with(&ws, &[("BACKFLOW_MAX_RETRIEVE_FILES", "2")], &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(parts_announced(&o), 2, "{}", text(&o));
    assert_eq!(retrieves(&ws, "dev1") - n0, 2);
    let job = job_of(&o);
    let restore = restore_package(&ws, &job);
    assert_eq!(
        restore.keys().collect::<Vec<_>>(),
        unsplit.keys().collect::<Vec<_>>()
    );
    assert_eq!(restore, unsplit, "the parts merge into the same package");
    assert!(
        restore.contains_key("classes/AccountService.cls"),
        "{restore:?}"
    );
    assert_ne!(org_forms(&ws, "dev1"), before, "the job changed the org");
    // Rolling back deploys the merged package: the org is as it was, file by file.
    let o = ws.run(&["rollback", &job, "--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = org_forms(&ws, "dev1");
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (p, b) in &before {
        assert_eq!(
            String::from_utf8_lossy(&after[p]),
            String::from_utf8_lossy(b),
            "{p} restored"
        );
    }
}

/// Reverses the order of every element's children, indents by two spaces and leaves quotes
/// unescaped: a file in an order and layout no org writes.
fn scrambled(xml: &[u8], edit: impl Fn(&mut Element)) -> String {
    fn reverse(e: &mut Element) {
        e.children.reverse();
        e.children.iter_mut().for_each(reverse);
    }
    let mut root = Element::parse(xml).unwrap();
    edit(&mut root);
    reverse(&mut root);
    root.to_xml()
        .replace("    ", "  ")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
}

const LABELS: &str = "force-app/main/default/labels/CustomLabels.labels-meta.xml";
const CLASS_META: &str = "force-app/main/default/classes/AccountService.cls-meta.xml";

fn on_branch(ws: &Ws, branch: &str, path: &str) -> String {
    let repo = git2::Repository::open(&ws.dir).unwrap();
    let blob = repo
        .revparse_single(&format!("{branch}:{path}"))
        .unwrap()
        .peel_to_blob()
        .unwrap();
    String::from_utf8_lossy(blob.content()).into_owned()
}

#[test]
fn the_orgs_serialisation_is_not_drift_and_a_real_change_is_on_its_member() {
    let ws = Ws::new();
    // dev1's branch (and so its org, seeded from it by the first command) holds the labels and
    // the class's meta file in reverse schema order, two-space indented, quotes unescaped.
    let labels = scrambled(on_branch(&ws, "dev1", LABELS).as_bytes(), |root| {
        for l in &mut root.children {
            if l.text_of("fullName") == Some("App_Name") {
                for c in &mut l.children {
                    if c.name == "value" {
                        c.text = "Acme's \"Billing\"".into();
                    }
                }
            }
        }
    });
    let meta = scrambled(on_branch(&ws, "dev1", CLASS_META).as_bytes(), |_| {});
    assert!(meta.find("<status>").unwrap() < meta.find("<apiVersion>").unwrap());
    commit_on(
        &ws.dir,
        "dev1",
        "Files as an editor wrote them",
        &[(LABELS, &labels), (CLASS_META, &meta)],
    );
    let o = ws.run(&["validate", "dev1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("the org matches the branch"),
        "{}",
        text(&o)
    );
    let promote = |extra: &[&str]| {
        let mut rest = vec!["--on-conflict", "source", "--json"];
        rest.extend_from_slice(extra);
        ws.back_promote("prod", "dev1", "US-0101", &rest)
    };
    let o = promote(&["--on-drift", "abort", "--validate-only"]);
    assert_eq!(o.status.code(), Some(0), "no drift: {}", text(&o));
    // The org answered in its own form, not the branch's bytes.
    let restore = restore_package(&ws, &job_of(&o));
    let org_meta = String::from_utf8_lossy(&restore["classes/AccountService.cls-meta.xml"]);
    assert!(
        org_meta.find("<apiVersion>").unwrap() < org_meta.find("<status>").unwrap()
            && org_meta.contains("\n    <apiVersion>"),
        "{org_meta}"
    );
    let org_labels =
        ws.sim(async |a| a.files("dev1").await.unwrap())["labels/CustomLabels.labels"].clone();
    let org_labels =
        String::from_utf8_lossy(&retrieved_form("labels/CustomLabels.labels", &org_labels))
            .into_owned();
    assert!(
        org_labels.contains("Acme&apos;s &quot;Billing&quot;"),
        "{org_labels}"
    );
    // Real changes in the org: the class's API version (the job deploys the class) and a label
    // the job does not deploy.
    ws.sim(async |a| {
        let files = a.files("dev1").await.unwrap();
        let meta = String::from_utf8_lossy(&files["classes/AccountService.cls-meta.xml"])
            .replace("66.0", "65.0");
        let labels = String::from_utf8_lossy(&files["labels/CustomLabels.labels"])
            .replace("Acme's \"Billing\"", "Acme Billing (edited in the org)");
        assert!(labels.contains("edited in the org"), "{labels}");
        a.edit_org(
            "dev1",
            &[
                ("classes/AccountService.cls-meta.xml", meta.as_bytes()),
                ("labels/CustomLabels.labels", labels.as_bytes()),
            ],
            &[],
        )
        .await
        .unwrap();
    });
    // The job's drift is the class alone; `validate` names both members, nothing else.
    let o = promote(&["--on-drift", "abort"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    let line = t
        .lines()
        .find(|l| l.contains("changes made directly in the org: "))
        .unwrap_or_else(|| panic!("no drift named: {t}"));
    let named = line
        .split("changes made directly in the org: ")
        .nth(1)
        .unwrap();
    assert!(
        named.starts_with("ApexClass:AccountService") && !named.contains("CustomLabel"),
        "{line}"
    );
    let v = validate_json(&ws.run(&["validate", "dev1", "--json"]));
    assert_eq!(
        v["drifted"],
        serde_json::json!(["ApexClass:AccountService", "CustomLabel:App_Name"]),
        "{v}"
    );
    // Adopting takes the org's class meta onto the branch and leaves the labels file, equal in
    // meaning, in the branch's own layout.
    let o = promote(&["--on-drift", "adopt"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let meta = on_branch(&ws, "dev1", CLASS_META);
    assert!(meta.contains("<apiVersion>65.0</apiVersion>"), "{meta}");
    let labels = on_branch(&ws, "dev1", LABELS);
    assert!(labels.contains("Acme's \"Billing\""), "{labels}");
    assert!(!labels.contains("&apos;"), "{labels}");
}

#[test]
fn backflow_sim_takes_its_retrieve_caps_from_the_environment() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("sim");
    let mut child = backflow(state.path())
        .args(["sim", "--port", "0", "--state"])
        .arg(&dir)
        .env("BACKFLOW_SIM_MAX_RETRIEVE_FILES", "5")
        .env("BACKFLOW_SIM_MAX_RETRIEVE_BYTES", "1000")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let port = (0..200)
        .find_map(|_| {
            let p = std::fs::read_to_string(dir.join("port")).ok();
            if p.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            p
        })
        .expect("the simulator wrote its port");
    let admin = backflow::sim::SimAdmin::new(&format!("http://127.0.0.1:{}", port.trim()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let settings = rt.block_on(async {
        let s = admin.settings().await;
        let _ = admin.shutdown().await;
        s
    });
    if settings.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let s = settings.unwrap();
    assert_eq!((s.max_retrieve_files, s.max_retrieve_bytes), (5, 1000));
    assert!(status.success(), "{status}");
}
