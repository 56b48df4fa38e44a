//! Delta and convert on an in-memory project: 2,000 changed classes and fields plus 20 large
//! Profiles (both revisions parsed and compared) and a CustomLabels file of 3,000 labels.
//! Run with `cargo bench --bench delta` (release build: not on the shared CI machines).

use backflow::metadata::convert::{self, ConvertOptions, SourceFile};
use backflow::metadata::delta::{self, Change, ChangeStatus, DeltaOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeSet;
use std::hint::black_box;

const D: &str = "force-app/main/default";
const NS: &str = "xmlns=\"http://soap.sforce.com/2006/04/metadata\"";

fn profile(v: usize) -> Vec<u8> {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Profile {NS}>\n");
    for i in 0..3000 {
        let on = (i + v * usize::from(i % 7 == 0)) % 2 == 1;
        s.push_str(&format!(
            "    <fieldPermissions>\n        <editable>{on}</editable>\n        <field>Account.F{i}__c</field>\n        <readable>true</readable>\n    </fieldPermissions>\n"
        ));
    }
    s.push_str("    <custom>true</custom>\n</Profile>\n");
    s.into_bytes()
}

fn labels(v: usize) -> Vec<u8> {
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomLabels {NS}>\n");
    for i in 0..3000 {
        let val = if v == 1 && i % 20 == 0 {
            "changed"
        } else {
            "same"
        };
        s.push_str(&format!(
            "    <labels>\n        <fullName>L{i}</fullName>\n        <value>{val}</value>\n    </labels>\n"
        ));
    }
    s.push_str("</CustomLabels>\n");
    s.into_bytes()
}

fn input() -> (Vec<Change>, BTreeSet<String>) {
    let mut changes = Vec::new();
    let mut tree = BTreeSet::new();
    for i in 0..1000 {
        for f in [
            format!("classes/C{i}.cls"),
            format!("classes/C{i}.cls-meta.xml"),
        ] {
            let path = format!("{D}/{f}");
            tree.insert(path.clone());
            changes.push(Change {
                path,
                status: ChangeStatus::Modified,
                old_bytes: None,
                new_bytes: None,
            });
        }
        let path = format!("{D}/objects/Account/fields/F{i}__c.field-meta.xml");
        let status = if i % 10 == 0 {
            ChangeStatus::Deleted
        } else {
            ChangeStatus::Modified
        };
        if status != ChangeStatus::Deleted {
            tree.insert(path.clone());
        }
        changes.push(Change {
            path,
            status,
            old_bytes: None,
            new_bytes: None,
        });
    }
    for p in 0..20 {
        let path = format!("{D}/profiles/P{p}.profile-meta.xml");
        tree.insert(path.clone());
        changes.push(Change {
            path,
            status: ChangeStatus::Modified,
            old_bytes: Some(profile(0)),
            new_bytes: Some(profile(1)),
        });
    }
    let path = format!("{D}/labels/CustomLabels.labels-meta.xml");
    tree.insert(path.clone());
    changes.push(Change {
        path,
        status: ChangeStatus::Modified,
        old_bytes: Some(labels(0)),
        new_bytes: Some(labels(1)),
    });
    (changes, tree)
}

fn bench(c: &mut Criterion) {
    let (changes, tree) = input();
    let opts = DeltaOptions {
        package_dirs: vec!["force-app".into()],
        api_version: Some("62.0".into()),
        ..Default::default()
    };
    c.bench_function("delta_compute", |b| {
        b.iter(|| black_box(delta::compute(black_box(&changes), &tree, &opts)))
    });
    let files: Vec<SourceFile> = (0..20)
        .map(|p| SourceFile {
            path: format!("{D}/profiles/P{p}.profile-meta.xml"),
            bytes: profile(p),
        })
        .chain((0..2000).flat_map(|i| {
            [
                SourceFile {
                    path: format!("{D}/classes/C{i}.cls"),
                    bytes: b"public class C {}".to_vec(),
                },
                SourceFile {
                    path: format!("{D}/classes/C{i}.cls-meta.xml"),
                    bytes: format!("<ApexClass {NS}><apiVersion>62.0</apiVersion></ApexClass>")
                        .into_bytes(),
                },
            ]
        }))
        .collect();
    let copts = ConvertOptions {
        source_dirs: vec!["force-app".into()],
        ..Default::default()
    };
    c.bench_function("convert_to_zip", |b| {
        b.iter(|| {
            let t = convert::convert(black_box(&files), &copts).expect("convert");
            black_box(convert::to_zip(&t).expect("zip"))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
