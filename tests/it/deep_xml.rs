//! XML nested far past any metadata (20,000 levels) reaching the simulator: the deploy fails
//! with the file and line, and a simulator whose org already holds such a file starts and
//! serves deploys over it.

use crate::sim::{CLASS_META, b64};
use backflow::sim::{OrgSpec, SimServer};
use std::collections::BTreeMap;

fn deep(depth: usize) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n{}x{}</CustomObject>\n",
        "<fields>".repeat(depth),
        "</fields>".repeat(depth)
    )
    .into_bytes()
}

const OBJECT: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CustomObject xmlns=\"http://soap.sforce.com/2006/04/metadata\">\n    <label>Deep</label>\n</CustomObject>\n";

async fn start(dir: &std::path::Path) -> SimServer {
    SimServer::start(Some(dir), 0)
        .await
        .expect("simulator starts")
}

/// Deploys `files` (plus a package.xml naming `CustomObject:Deep__c`) to `prod` through the
/// REST deploy API and returns the finished deployResult.
async fn deploy(sim: &SimServer, files: &[(&str, &[u8])]) -> serde_json::Value {
    let http = reqwest::Client::new();
    let t = backflow::salesforce::auth::token_request(
        &http,
        "prod",
        &format!("{}/o/prod/services/oauth2/token", sim.url),
        &[("grant_type", "client_credentials")],
    )
    .await
    .unwrap();
    let base = format!(
        "{}/services/data/v66.0/metadata/deployRequest",
        t.session.instance_url
    );
    let bearer = t.session.access_token.expose().to_string();
    let pkg = "<Package xmlns=\"http://soap.sforce.com/2006/04/metadata\"><types><members>Deep__c</members><name>CustomObject</name></types><version>66.0</version></Package>";
    let mut entries = vec![("package.xml".to_string(), pkg.as_bytes())];
    entries.extend(files.iter().map(|(p, b)| (p.to_string(), *b)));
    let zip = backflow::sim::deploy::write_zip(entries.into_iter()).unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"json\"\r\nContent-Type: application/json\r\n\r\n");
    body.extend_from_slice(br#"{"deployOptions":{"rollbackOnError":true,"singlePackage":true,"testLevel":"NoTestRun"}}"#);
    body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"deploy.zip\"\r\nContent-Type: application/zip\r\n\r\n");
    body.extend_from_slice(&zip);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let r = http
        .post(&base)
        .bearer_auth(&bearer)
        .header("Content-Type", "multipart/form-data; boundary=XyZ")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    for _ in 0..200 {
        let last: serde_json::Value = http
            .get(format!("{base}/{id}?includeDetails=true"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["deployResult"]["done"] == true {
            return last["deployResult"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("deploy {id} never finished");
}

#[tokio::test]
async fn a_20k_deep_file_fails_its_deploy_and_never_crashes_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let path = "objects/Deep__c.object";
    let deep = deep(20_000);
    {
        let sim = start(dir.path()).await;
        let mut files = BTreeMap::new();
        files.insert(
            "classes/A.cls-meta.xml".to_string(),
            b64(CLASS_META.as_bytes()),
        );
        sim.admin()
            .put_org(
                "prod",
                &OrgSpec {
                    files: Some(files),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let r = deploy(&sim, &[(path, &deep)]).await;
        assert_eq!(r["status"], "Failed", "{r}");
        let failures = r["details"]["componentFailures"].to_string();
        assert!(
            failures.contains("nested more than 128 levels"),
            "{failures}"
        );
        assert!(failures.contains("Deep__c"), "{failures}");
        assert!(
            !sim.admin().files("prod").await.unwrap().contains_key(path),
            "nothing deployed"
        );
        // A file that got into the org another way (an edit made in the org itself).
        sim.admin()
            .edit_org("prod", &[(path, &deep)], &[])
            .await
            .unwrap();
        let r = deploy(&sim, &[(path, OBJECT.as_bytes())]).await;
        assert_eq!(
            r["status"], "Succeeded",
            "a deploy over it still works: {r}"
        );
        sim.admin()
            .edit_org("prod", &[(path, &deep)], &[])
            .await
            .unwrap();
    }
    // The restart reads the deep file back and still serves.
    let sim = start(dir.path()).await;
    let files = sim.admin().files("prod").await.unwrap();
    assert_eq!(files[path], deep);
    let r = deploy(&sim, &[(path, OBJECT.as_bytes())]).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    assert_eq!(
        sim.admin().files("prod").await.unwrap()[path],
        OBJECT.as_bytes()
    );
}
