use super::*;

fn r(path: &str) -> Option<String> {
    registry()
        .resolve(path, &["force-app".to_string()])
        .map(|r| r.component.to_string())
}

#[test]
fn loads_every_type() {
    assert!(registry().types().len() >= 500);
    assert!(registry().get("CustomField").is_none()); // a child type, reached via its parent
    assert!(registry().get("CustomObject").unwrap().is_decomposed());
}

#[test]
fn resolves_common_paths() {
    let d = "force-app/main/default";
    assert_eq!(
        r(&format!("{d}/classes/AccountService.cls")).unwrap(),
        "ApexClass:AccountService"
    );
    assert_eq!(
        r(&format!("{d}/classes/AccountService.cls-meta.xml")).unwrap(),
        "ApexClass:AccountService"
    );
    assert_eq!(
        r(&format!("{d}/triggers/AccTrg.trigger")).unwrap(),
        "ApexTrigger:AccTrg"
    );
    assert_eq!(
        r(&format!(
            "{d}/objects/Account/fields/Region__c.field-meta.xml"
        ))
        .unwrap(),
        "CustomField:Account.Region__c"
    );
    assert_eq!(
        r(&format!("{d}/objects/Account/Account.object-meta.xml")).unwrap(),
        "CustomObject:Account"
    );
    assert_eq!(
        r(&format!(
            "{d}/objects/Account/recordTypes/Biz.recordType-meta.xml"
        ))
        .unwrap(),
        "RecordType:Account.Biz"
    );
    assert_eq!(
        r(&format!(
            "{d}/objects/Account/listViews/All.listView-meta.xml"
        ))
        .unwrap(),
        "ListView:Account.All"
    );
    assert_eq!(
        r(&format!("{d}/lwc/accountCard/accountCard.js")).unwrap(),
        "LightningComponentBundle:accountCard"
    );
    assert_eq!(r(&format!("{d}/lwc/jsconfig.json")), None);
    assert_eq!(
        r(&format!("{d}/aura/Hello/HelloController.js")).unwrap(),
        "AuraDefinitionBundle:Hello"
    );
    assert_eq!(
        r(&format!("{d}/staticresources/logo.resource-meta.xml")).unwrap(),
        "StaticResource:logo"
    );
    assert_eq!(
        r(&format!("{d}/staticresources/lib/js/a.js")).unwrap(),
        "StaticResource:lib"
    );
    assert_eq!(
        r(&format!("{d}/profiles/Admin.profile-meta.xml")).unwrap(),
        "Profile:Admin"
    );
    assert_eq!(
        r(&format!("{d}/permissionsets/Sales.permissionset-meta.xml")).unwrap(),
        "PermissionSet:Sales"
    );
    assert_eq!(
        r(&format!("{d}/labels/CustomLabels.labels-meta.xml")).unwrap(),
        "CustomLabels:CustomLabels"
    );
    assert_eq!(
        r(&format!(
            "{d}/layouts/Account-Account Layout.layout-meta.xml"
        ))
        .unwrap(),
        "Layout:Account-Account Layout"
    );
    assert_eq!(
        r(&format!("{d}/flows/Onboard.flow-meta.xml")).unwrap(),
        "Flow:Onboard"
    );
    assert_eq!(
        r(&format!("{d}/customMetadata/Cfg.Default.md-meta.xml")).unwrap(),
        "CustomMetadata:Cfg.Default"
    );
    assert_eq!(
        r(&format!("{d}/reports/Sales/Pipeline.report-meta.xml")).unwrap(),
        "Report:Sales/Pipeline"
    );
    assert_eq!(
        r(&format!("{d}/reports/Sales.reportFolder-meta.xml")).unwrap(),
        "ReportFolder:Sales"
    );
    assert_eq!(
        r(&format!("{d}/email/Support/Welcome.email")).unwrap(),
        "EmailTemplate:Support/Welcome"
    );
    assert_eq!(r("README.md"), None);
    assert_eq!(
        r(&format!(
            "{d}/digitalExperiences/site/My_Site1/sfdc_cms__view/home/content.json"
        ))
        .unwrap(),
        "DigitalExperienceBundle:site/My_Site1"
    );
    assert_eq!(
        r(&format!(
            "{d}/digitalExperiences/site/My_Site1/My_Site1.digitalExperience-meta.xml"
        ))
        .unwrap(),
        "DigitalExperienceBundle:site/My_Site1"
    );
    assert_eq!(
        r(&format!("{d}/documents/Shared/guide.pdf")).unwrap(),
        "Document:Shared/guide"
    );
    assert_eq!(
        r(&format!("{d}/documents/Shared/guide.document-meta.xml")).unwrap(),
        "Document:Shared/guide"
    );
    assert_eq!(
        r(&format!("{d}/documents/Shared.documentFolder-meta.xml")).unwrap(),
        "DocumentFolder:Shared"
    );
    assert_eq!(
        r(&format!("{d}/labels/Hello.label-meta.xml")).unwrap(),
        "CustomLabel:Hello"
    );
    assert_eq!(
        r(&format!(
            "{d}/workflows/Account/workflowRules/R1.workflowRule-meta.xml"
        ))
        .unwrap(),
        "WorkflowRule:Account.R1"
    );
    assert_eq!(
        r(&format!(
            "{d}/sharingRules/Account/sharingCriteriaRules/S.sharingCriteriaRule-meta.xml"
        ))
        .unwrap(),
        "SharingCriteriaRule:Account.S"
    );
    assert_eq!(
        r(&format!(
            "{d}/permissionsets/Sales/fieldPermissions/Account.F__c.fieldPermission-meta.xml"
        ))
        .unwrap(),
        "PermissionSet:Sales"
    );
    assert_eq!(
        r(&format!("{d}/workflows/Account.workflow-meta.xml")).unwrap(),
        "Workflow:Account"
    );
    assert_eq!(r("force-app/main/default/README.md"), None);
}
