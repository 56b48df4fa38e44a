use super::*;

#[test]
fn append_read_verify_and_detect_tampering() {
    let d = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(d.path()).unwrap();
    for i in 0..3 {
        append(
            &repo,
            NewRecord {
                who: "a@x".into(),
                action: "back-promote".into(),
                to: Some(format!("dev{i}")),
                outcome: "deployed".into(),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let mut recs = read(&repo).unwrap();
    assert_eq!(verify(&recs), Ok(3));
    recs[1].to = Some("prod".into());
    assert!(verify(&recs).unwrap_err().contains("record 2 was edited"));
    let mut recs = read(&repo).unwrap();
    recs.remove(1);
    assert!(verify(&recs).unwrap_err().contains("deleted"));
}

fn rec(who: &str) -> NewRecord {
    NewRecord {
        who: who.into(),
        action: "back-promote".into(),
        outcome: "deployed".into(),
        ..Default::default()
    }
}

#[test]
fn two_forks_merge_into_one_chain_the_same_way_from_either_side() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = git2::Repository::init(da.path()).unwrap();
    let b = git2::Repository::init(db.path()).unwrap();
    append(&a, rec("shared")).unwrap();
    let shared = read(&a).unwrap();
    // b starts from the same record, then both append while apart.
    let oid = write_commit(&b, &shared, &[], "seed").unwrap();
    b.reference(BRANCH, oid, true, "t").unwrap();
    append(&a, rec("a1")).unwrap();
    append(&a, rec("a2")).unwrap();
    append(&b, rec("b1")).unwrap();
    let (ra, rb) = (read(&a).unwrap(), read(&b).unwrap());
    let ab = merge_records(&ra, &rb);
    assert_eq!(ab, merge_records(&rb, &ra), "deterministic");
    assert_eq!(verify(&ab), Ok(5), "4 records once each + 1 merge record");
    let m = ab.last().unwrap();
    assert_eq!(m.action, "merge");
    assert_eq!(m.prev.split(' ').count(), 2);
    // Merging what is already merged adds nothing.
    assert_eq!(merge_records(&ab, &ra), ab);
    // A fork left unmerged is not a valid log.
    let mut forked = ab.clone();
    forked.pop();
    assert!(verify(&forked).unwrap_err().contains("unmerged"));
}
