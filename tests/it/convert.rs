//! `backflow convert` against trees generated once by `sf project convert source`
//! (tests/fixtures/metadata/convert/<case>/expected).

use crate::common::backflow;
use backflow::metadata::Manifest;
use quick_xml::events::Event;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/metadata")
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Formatting-free form of an XML document (element names, attributes, trimmed text).
fn canon_xml(bytes: &[u8]) -> Option<String> {
    let mut r = quick_xml::Reader::from_reader(bytes);
    let mut out = String::new();
    loop {
        match r.read_event().ok()? {
            Event::Start(s) => out.push_str(&format!("<{}>", String::from_utf8_lossy(&s))),
            Event::Empty(s) => out.push_str(&format!("<{}/>", String::from_utf8_lossy(&s))),
            Event::End(e) => out.push_str(&format!("</{}>", String::from_utf8_lossy(e.as_ref()))),
            Event::Text(t) => out.push_str(String::from_utf8_lossy(&t).trim()),
            Event::GeneralRef(g) => out.push_str(&format!("&{};", String::from_utf8_lossy(&g))),
            Event::CData(c) => out.push_str(&String::from_utf8_lossy(&c)),
            Event::Eof => return Some(out),
            _ => {}
        }
    }
}

fn zip_entries(bytes: &[u8]) -> Option<BTreeMap<String, Vec<u8>>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).ok()?;
        if f.is_dir() {
            continue;
        }
        let mut buf = Vec::new();
        std::io::copy(&mut f, &mut buf).ok()?;
        out.insert(f.name().to_string(), buf);
    }
    Some(out)
}

fn same(rel: &str, a: &[u8], b: &[u8]) -> bool {
    if rel == "package.xml" {
        return Manifest::parse(a).ok() == Manifest::parse(b).ok();
    }
    if a.starts_with(b"PK") {
        return zip_entries(a) == zip_entries(b);
    }
    if a.starts_with(b"<?xml") {
        return canon_xml(a) == canon_xml(b);
    }
    a == b
}

fn check(case: &str, dirs: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut cmd = backflow(tmp.path());
    cmd.current_dir(root().join("delta").join(case).join("to"))
        .arg("convert")
        .arg("--output")
        .arg(&out);
    for d in dirs {
        cmd.args(["--source-dir", d]);
    }
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected_dir = root().join("convert").join(case);
    let skip: Vec<String> =
        std::fs::read_to_string(expected_dir.join("deliberate-differences.txt"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_string)
            .collect();
    let (want, got) = (files(&expected_dir.join("expected")), files(&out));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{case}: file set"
    );
    for (rel, bytes) in &want {
        if skip.contains(rel) {
            continue;
        }
        assert!(
            same(rel, bytes, &got[rel]),
            "{case}: {rel} differs:\n{}",
            String::from_utf8_lossy(&got[rel])
        );
    }
}

#[test]
fn core_matches_sf_convert() {
    check("core", &["force-app"]);
}

#[test]
fn extras_match_sf_convert() {
    check("extras", &["force-app"]);
}

#[test]
fn experience_bundles_and_bots_match_sf_convert() {
    check("experience", &["force-app"]);
}

#[test]
fn presets_two_dirs_match_sf_convert() {
    check("presets", &["force-app", "extra"]);
}

#[test]
fn zip_is_deterministic_and_holds_package_xml() {
    let tmp = tempfile::tempdir().unwrap();
    let src = root().join("delta/core/to");
    let run = |name: &str| {
        let z = tmp.path().join(name);
        let o = backflow(tmp.path())
            .current_dir(&src)
            .args(["convert", "--source-dir", "force-app", "--zip"])
            .arg(&z)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read(z).unwrap()
    };
    let (a, b) = (run("a.zip"), run("b.zip"));
    assert_eq!(a, b);
    let entries = zip_entries(&a).unwrap();
    assert!(entries.contains_key("package.xml"));
    assert!(entries.contains_key("objects/Account.object"));
    let names: Vec<&String> = entries.keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn content_without_meta_is_exit_2_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("p/force-app/main/default/classes");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        tmp.path().join("p/sfdx-project.json"),
        r#"{"packageDirectories":[{"path":"force-app"}]}"#,
    )
    .unwrap();
    std::fs::write(d.join("Lonely.cls"), "public class Lonely {}").unwrap();
    let o = backflow(tmp.path())
        .current_dir(tmp.path().join("p"))
        .args(["convert", "--source-dir", "force-app", "--output", "out"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("ApexClass:Lonely"));
}

/// The engine's deploy path: delta (with the files it needs) → convert → zip. Every member of
/// the delta's package.xml must be present in the converted files.
#[test]
fn delta_files_convert_into_a_deploy_holding_every_listed_component() {
    use backflow::git::diff;
    use backflow::metadata::convert::{self, ConvertOptions};
    use backflow::metadata::delta::{self, DeltaOptions};
    use backflow::metadata::{SfdxProject, forceignore::ForceIgnore};
    for case in ["core", "extras", "experience", "presets"] {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("repo");
        std::fs::create_dir_all(&repo_dir).unwrap();
        crate::delta::fixture_repo(&root().join("delta").join(case), &repo_dir);
        let repo = git2::Repository::open(&repo_dir).unwrap();
        let project = SfdxProject::parse(
            &std::fs::read_to_string(repo_dir.join("sfdx-project.json")).unwrap(),
        )
        .unwrap();
        let ignore = std::fs::read_to_string(repo_dir.join(".forceignore"))
            .ok()
            .map(|t| ForceIgnore::parse(&t).unwrap());
        let mut opts = DeltaOptions::from_project(&project, None, ignore.clone());
        opts.generate_delta = true;
        let input = diff::changes_between(
            &repo,
            "HEAD~1",
            "HEAD",
            &project.package_directories,
            &|p| delta::needs_content(p, &opts),
        )
        .unwrap();
        let d = delta::compute(&input.changes, &input.to_tree, &opts);
        let to = diff::tree_of(&repo, "HEAD").unwrap();
        let sources = diff::delta_sources(&repo, &to, &d.copies).unwrap();
        let copts = ConvertOptions {
            source_dirs: project.package_directories.clone(),
            api_version: project.api_version.clone(),
            ignore,
        };
        let mut tree = convert::convert(&sources, &copts).unwrap();
        for c in d.package.components() {
            assert!(
                tree.manifest.contains(&c.type_name, &c.member)
                    || (c.type_name.ends_with("Folder")
                        && tree.manifest.contains(
                            c.type_name.trim_end_matches("Folder"),
                            &format!("{}/", c.member)
                        )),
                "{case}: {c} listed but its files are not in the deploy"
            );
        }
        tree.manifest = d.package.clone();
        tree.files.insert(
            "destructiveChangesPost.xml".into(),
            d.destructive.render().into_bytes(),
        );
        let zip = convert::to_zip(&tree).unwrap();
        let entries = zip_entries(&zip).unwrap();
        assert!(entries.contains_key("destructiveChangesPost.xml"));
        assert_eq!(Manifest::parse(&entries["package.xml"]).unwrap(), d.package);
    }
}

/// Odd input: a symbolic link (skipped, warned), a binary static resource (copied byte for
/// byte), names with spaces and accents, an unknown file (warned) — never a crash.
#[cfg(unix)]
#[test]
fn odd_input_is_warned_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("p");
    let d = p.join("force-app/main/default");
    std::fs::create_dir_all(d.join("staticresources")).unwrap();
    std::fs::create_dir_all(d.join("layouts")).unwrap();
    std::fs::write(
        p.join("sfdx-project.json"),
        r#"{"packageDirectories":[{"path":"force-app"}],"sourceApiVersion":"61.0"}"#,
    )
    .unwrap();
    let blob: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(d.join("staticresources/big.bin"), &blob).unwrap();
    std::fs::write(
        d.join("staticresources/big.resource-meta.xml"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<StaticResource xmlns=\"http://soap.sforce.com/2006/04/metadata\"><contentType>application/octet-stream</contentType></StaticResource>\n",
    )
    .unwrap();
    std::fs::write(
        d.join("layouts/Case-Café Layout (Support).layout-meta.xml"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Layout xmlns=\"http://soap.sforce.com/2006/04/metadata\"/>\n",
    )
    .unwrap();
    std::fs::write(d.join("notes.txt"), "x").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", d.join("layouts/link.layout-meta.xml")).unwrap();
    let o = backflow(tmp.path())
        .current_dir(&p)
        .args([
            "convert",
            "--source-dir",
            "force-app",
            "--json",
            "--output",
            "out",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = json["warnings"].to_string();
    assert!(warnings.contains("link.layout-meta.xml"), "{warnings}");
    assert!(warnings.contains("notes.txt"), "{warnings}");
    assert_eq!(
        std::fs::read(p.join("out/staticresources/big.resource")).unwrap(),
        blob
    );
    assert!(
        p.join("out/layouts/Case-Café Layout (Support).layout")
            .is_file()
    );
    assert_eq!(json["package"]["Layout"][0], "Case-Café Layout (Support)");
}
