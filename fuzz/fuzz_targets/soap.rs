//! SOAP answers: the XML tree, the deploy result and the fault read from it never panic.
#![no_main]
use backflow::metadata::xml::Element;
use backflow::salesforce::metadata::DeployResult;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = Element::parse(data) {
        let result = root
            .path(&["Body", "checkDeployStatusResponse", "result"])
            .unwrap_or(&root);
        let _ = DeployResult::from_xml(result);
        let _ = root.to_xml();
    }
    let _ = backflow::salesforce::parse_error(data);
});
