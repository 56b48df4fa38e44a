//! The Metadata SOAP API of a simulated org: deploy, checkDeployStatus, cancelDeploy,
//! deployRecentValidation, retrieve, checkRetrieveStatus, describeMetadata and listMetadata.

use super::{OrgPath, SoapCall};
use crate::salesforce::xml::Element;
use crate::sim::deploy::{self, DeployOpts};
use crate::sim::model::*;
use crate::sim::retrieve;
use crate::sim::server::{App, soap_fault, soap_ok};
use crate::sim::soap;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use std::sync::Arc;

/// One SOAP call; the envelope was parsed before faults were matched.
pub(super) async fn call(
    State(app): State<Arc<App>>,
    Path(OrgPath { org }): Path<OrgPath>,
    Extension(call): Extension<SoapCall>,
) -> Response {
    let Some(env) = call.envelope else {
        return soap_fault("INVALID_XML", "the request body is not XML");
    };
    soap_op(&mut app.lock(), &org, &env, &call.op)
}

fn soap_op(st: &mut SimState, org: &str, env: &Element, op: &str) -> Response {
    let Some(req) = env.child("Body").and_then(|b| b.children.first()) else {
        return soap_fault("INVALID_XML", "empty SOAP body");
    };
    let refusal = |(c, m): (String, String)| soap_fault(&c, &m);
    match op {
        "deploy" => {
            let zip = match unb64(req.text_of("ZipFile").unwrap_or("")) {
                Ok(z) => z,
                Err(e) => return soap_fault("INVALID_ZIP", &e),
            };
            if zip.len() > deploy::MAX_SOAP_ZIP {
                return soap_fault(
                    "EXCEEDED_MAX_SIZE_REQUEST",
                    "Maximum size of request reached. Maximum size of request is 52428800 bytes.",
                );
            }
            let o = req.child("DeployOptions");
            let b = |n: &str| o.is_some_and(|o| o.bool_of(n));
            let opts = DeployOpts {
                check_only: b("checkOnly"),
                ignore_warnings: b("ignoreWarnings"),
                rollback_on_error: b("rollbackOnError"),
                test_level: o.and_then(|o| o.text_of("testLevel")).map(str::to_string),
                run_tests: o
                    .map(|o| {
                        o.all("runTests")
                            .map(|t| t.text.trim().to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            match deploy::submit(st, org, &zip, opts) {
                Ok(id) => soap_ok(soap::async_result("deploy", &id)),
                Err(r) => refusal(r),
            }
        }
        "checkDeployStatus" => {
            let id = req.text_of("asyncProcessId").unwrap_or("").to_string();
            if st.deploys.get(&id).is_none_or(|d| d.org != org) {
                return soap_fault("INVALID_ID_FIELD", &format!("invalid id: {id}"));
            }
            deploy::advance(st, &id);
            soap_ok(soap::deploy_result(
                &st.deploys[&id],
                req.bool_of("includeDetails"),
            ))
        }
        "cancelDeploy" => {
            let id = req
                .text_of("String")
                .or_else(|| req.text_of("id"))
                .unwrap_or("")
                .to_string();
            match deploy::cancel(st, org, &id) {
                Ok(done) => soap_ok(soap::envelope(&format!(
                    "<cancelDeployResponse><result><done>{done}</done><id>{id}</id></result></cancelDeployResponse>"
                ))),
                Err(r) => refusal(r),
            }
        }
        "deployRecentValidation" => {
            let v = req.text_of("validationId").unwrap_or("").to_string();
            match deploy::quick_deploy(st, org, &v) {
                Ok(id) => soap_ok(soap::envelope(&format!(
                    "<deployRecentValidationResponse><result>{id}</result></deployRecentValidationResponse>"
                ))),
                Err(r) => refusal(r),
            }
        }
        "retrieve" => {
            // The WSDL names it `retrieveRequest`; jsforce (the Salesforce CLI) sends `request`,
            // which Salesforce takes as well: the operation has one parameter.
            let Some(r) = req
                .child("retrieveRequest")
                .or_else(|| req.children.first())
            else {
                return soap_fault("INVALID_XML", "missing retrieveRequest");
            };
            let Some(unpackaged) = r.child("unpackaged") else {
                return soap_fault(
                    "INVALID_XML",
                    "retrieveRequest needs unpackaged (packageNames are not simulated)",
                );
            };
            match retrieve::retrieve(st, org, unpackaged, r.bool_of("singlePackage")) {
                Ok(id) => soap_ok(soap::async_result("retrieve", &id)),
                Err(r) => refusal(r),
            }
        }
        "checkRetrieveStatus" => {
            let id = req.text_of("asyncProcessId").unwrap_or("").to_string();
            let include = req.text_of("includeZip").is_none_or(|v| v == "true");
            match st.retrieves.get_mut(&id).filter(|r| r.org == org) {
                Some(r) => soap_ok(soap::retrieve_result(r, include)),
                None => soap_fault("INVALID_ID_FIELD", &format!("invalid id: {id}")),
            }
        }
        "describeMetadata" => describe_metadata(&st.orgs[org]),
        "listMetadata" => list_metadata(&st.orgs[org], req),
        other => soap_fault(
            "INVALID_TYPE",
            &format!("operation {other} is not simulated"),
        ),
    }
}

fn describe_metadata(o: &OrgState) -> Response {
    use crate::salesforce::xml::push_el;
    let mut body = String::from("<describeMetadataResponse><result>");
    for t in crate::metadata::registry::registry()
        .types()
        .iter()
        .filter(|t| !t.directory.is_empty())
    {
        body.push_str("<metadataObjects>");
        for (c, _, _) in &t.children {
            push_el(&mut body, "childXmlNames", c);
        }
        push_el(&mut body, "directoryName", &t.directory);
        push_el(&mut body, "inFolder", &t.in_folder.to_string());
        push_el(&mut body, "metaFile", "false");
        if !t.suffix.is_empty() {
            push_el(&mut body, "suffix", &t.suffix);
        }
        push_el(&mut body, "xmlName", &t.name);
        body.push_str("</metadataObjects>");
    }
    body.push_str(&format!(
        "<organizationNamespace></organizationNamespace><partialSaveAllowed>true</partialSaveAllowed><testRequired>{}</testRequired></result></describeMetadataResponse>",
        !o.sandbox
    ));
    soap_ok(soap::envelope(&body))
}

fn list_metadata(o: &OrgState, req: &Element) -> Response {
    use crate::salesforce::xml::push_el;
    let queries: Vec<(String, Option<String>)> = req
        .all("queries")
        .map(|q| {
            (
                q.text_of("type").unwrap_or("").to_string(),
                q.text_of("folder").map(str::to_string),
            )
        })
        .collect();
    if queries.len() > 3 {
        return soap_fault("INVALID_OPERATION", "listMetadata takes at most 3 queries");
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut body = String::from("<listMetadataResponse>");
    for p in o.files.keys() {
        let Some((ty, name)) = deploy::component_of(p) else {
            continue;
        };
        let hit = queries.iter().any(|(t, folder)| {
            *t == ty
                && folder
                    .as_ref()
                    .is_none_or(|f| name.starts_with(&format!("{f}/")))
        });
        if !hit || !seen.insert((ty.clone(), name.clone())) {
            continue;
        }
        body.push_str("<result>");
        for (k, v) in [
            ("createdById", o.user_id.as_str()),
            ("createdByName", "Sim User"),
            ("createdDate", "2026-01-01T00:00:00.000Z"),
            ("fileName", p.as_str()),
            ("fullName", name.as_str()),
            ("id", ""),
            ("lastModifiedById", o.user_id.as_str()),
            ("lastModifiedByName", "Sim User"),
            ("lastModifiedDate", "2026-01-01T00:00:00.000Z"),
            ("manageableState", "unmanaged"),
            ("type", ty.as_str()),
        ] {
            push_el(&mut body, k, v);
        }
        body.push_str("</result>");
    }
    body.push_str("</listMetadataResponse>");
    soap_ok(soap::envelope(&body))
}
