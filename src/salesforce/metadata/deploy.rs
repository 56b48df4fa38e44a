//! Deploy options and results: test levels, statuses, component messages, test failures.

use super::*;

/// Which Apex tests a deploy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TestLevel {
    /// Salesforce's default: none in sandboxes, local tests in production when Apex changes.
    #[default]
    Default,
    NoTestRun,
    RunSpecifiedTests,
    RunRelevantTests,
    RunLocalTests,
    RunAllTestsInOrg,
}

impl TestLevel {
    pub fn parse(s: &str) -> Option<TestLevel> {
        Some(match s {
            "NoTestRun" => TestLevel::NoTestRun,
            "RunSpecifiedTests" => TestLevel::RunSpecifiedTests,
            "RunRelevantTests" => TestLevel::RunRelevantTests,
            "RunLocalTests" => TestLevel::RunLocalTests,
            "RunAllTestsInOrg" => TestLevel::RunAllTestsInOrg,
            "" | "Default" => TestLevel::Default,
            _ => return None,
        })
    }
    pub(super) fn wire(self) -> Option<&'static str> {
        Some(match self {
            TestLevel::Default => return None,
            TestLevel::NoTestRun => "NoTestRun",
            TestLevel::RunSpecifiedTests => "RunSpecifiedTests",
            TestLevel::RunRelevantTests => "RunRelevantTests",
            TestLevel::RunLocalTests => "RunLocalTests",
            TestLevel::RunAllTestsInOrg => "RunAllTestsInOrg",
        })
    }
}

/// Refuses test options Salesforce would reject: `RunSpecifiedTests` needs test classes, test
/// classes need `RunSpecifiedTests`, and `RunRelevantTests` needs API 66.0 or later (`org_api`,
/// when known).
pub fn check_test_options(
    level: TestLevel,
    run_tests: &[String],
    org_api: Option<&str>,
) -> Result<(), String> {
    match level {
        TestLevel::RunSpecifiedTests if run_tests.is_empty() => Err(
            "test level RunSpecifiedTests needs the test classes to run: name them with --tests A,B".into(),
        ),
        TestLevel::RunSpecifiedTests => Ok(()),
        _ if !run_tests.is_empty() => Err(format!(
            "--tests ({}) is only accepted with test level RunSpecifiedTests (this deploy uses {level:?}): add --test-level RunSpecifiedTests or drop --tests",
            run_tests.join(",")
        )),
        TestLevel::RunRelevantTests => match org_api.and_then(|v| v.parse::<f64>().ok()) {
            Some(v) if v < 66.0 => Err(format!(
                "test level RunRelevantTests needs API 66.0 or later; this org speaks API {v:.1}: use RunLocalTests or RunSpecifiedTests"
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Options of a deploy. `rollbackOnError` is always sent as true.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployOptions {
    /// Validate only (commits nothing; a passed validation that ran tests can be quick-deployed).
    pub check_only: bool,
    pub test_level: TestLevel,
    /// Test classes for `RunSpecifiedTests`.
    pub run_tests: Vec<String>,
    /// Treat warnings (e.g. deleting a missing component) as successes.
    pub ignore_warnings: bool,
}

/// Deploy status as Salesforce reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum DeployStatus {
    #[default]
    Pending,
    InProgress,
    Succeeded,
    SucceededPartial,
    Failed,
    Canceling,
    Canceled,
}

impl DeployStatus {
    fn parse(s: &str) -> Option<DeployStatus> {
        Some(match s {
            "Pending" | "Queued" => DeployStatus::Pending,
            "InProgress" => DeployStatus::InProgress,
            "Succeeded" => DeployStatus::Succeeded,
            "SucceededPartial" => DeployStatus::SucceededPartial,
            "Failed" | "Error" => DeployStatus::Failed,
            "Canceling" => DeployStatus::Canceling,
            "Canceled" => DeployStatus::Canceled,
            _ => return None,
        })
    }
    /// Terminal: nothing will change any more.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            DeployStatus::Succeeded
                | DeployStatus::SucceededPartial
                | DeployStatus::Failed
                | DeployStatus::Canceled
        )
    }
}

/// A component success or failure (`DeployMessage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentMessage {
    pub component_type: String,
    pub full_name: String,
    /// As in the zip, e.g. `unpackaged/classes/Foo.cls`.
    pub file_name: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub problem: Option<String>,
    /// `Error`, `Warning` or `Info`.
    pub problem_type: Option<String>,
    pub created: bool,
    pub changed: bool,
    pub deleted: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    pub class: String,
    pub method: String,
    pub message: String,
    pub stack_trace: String,
}

/// `DeployResult` as the engine needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployResult {
    pub id: String,
    pub status: DeployStatus,
    pub done: bool,
    pub success: bool,
    pub check_only: bool,
    pub state_detail: Option<String>,
    pub components_deployed: u32,
    pub components_total: u32,
    pub component_errors: u32,
    pub tests_completed: u32,
    pub tests_total: u32,
    pub test_errors: u32,
    pub run_tests_enabled: bool,
    pub error_message: Option<String>,
    pub error_status_code: Option<String>,
    pub created_by: String,
    pub created_date: String,
    pub completed_date: Option<String>,
    /// Filled when polled with details.
    pub component_failures: Vec<ComponentMessage>,
    pub component_successes: Vec<ComponentMessage>,
    pub test_failures: Vec<TestFailure>,
    pub coverage_warnings: Vec<String>,
}

fn num(el: &Element, name: &str) -> u32 {
    el.u64_of(name).min(u32::MAX as u64) as u32
}

fn message(el: &Element) -> ComponentMessage {
    let opt_num = |n: &str| el.text_of(n).and_then(|t| t.parse().ok());
    ComponentMessage {
        component_type: el.text_of("componentType").unwrap_or("").into(),
        full_name: el.text_of("fullName").unwrap_or("").into(),
        file_name: el.text_of("fileName").unwrap_or("").into(),
        line: opt_num("lineNumber"),
        column: opt_num("columnNumber"),
        problem: el.text_of("problem").map(str::to_string),
        problem_type: el.text_of("problemType").map(str::to_string),
        created: el.bool_of("created"),
        changed: el.bool_of("changed"),
        deleted: el.bool_of("deleted"),
    }
}

impl DeployResult {
    /// Parses a `DeployResult` element (any child order, unknown children ignored).
    pub fn from_xml(r: &Element) -> Option<DeployResult> {
        let status = DeployStatus::parse(r.text_of("status")?)?;
        let details = r.child("details");
        let run = details.and_then(|d| d.child("runTestResult"));
        Some(DeployResult {
            id: r.text_of("id").unwrap_or("").into(),
            status,
            done: r.bool_of("done"),
            success: r.bool_of("success"),
            check_only: r.bool_of("checkOnly"),
            state_detail: r.text_of("stateDetail").map(str::to_string),
            components_deployed: num(r, "numberComponentsDeployed"),
            components_total: num(r, "numberComponentsTotal"),
            component_errors: num(r, "numberComponentErrors"),
            tests_completed: num(r, "numberTestsCompleted"),
            tests_total: num(r, "numberTestsTotal"),
            test_errors: num(r, "numberTestErrors"),
            run_tests_enabled: r.bool_of("runTestsEnabled"),
            error_message: r.text_of("errorMessage").map(str::to_string),
            error_status_code: r.text_of("errorStatusCode").map(str::to_string),
            created_by: r.text_of("createdBy").unwrap_or("").into(),
            created_date: r.text_of("createdDate").unwrap_or("").into(),
            completed_date: r.text_of("completedDate").map(str::to_string),
            component_failures: details
                .map(|d| d.all("componentFailures").map(message).collect())
                .unwrap_or_default(),
            component_successes: details
                .map(|d| d.all("componentSuccesses").map(message).collect())
                .unwrap_or_default(),
            test_failures: run
                .map(|t| {
                    t.all("failures")
                        .map(|f| TestFailure {
                            class: f.text_of("name").unwrap_or("").into(),
                            method: f.text_of("methodName").unwrap_or("").into(),
                            message: f.text_of("message").unwrap_or("").into(),
                            stack_trace: f.text_of("stackTrace").unwrap_or("").into(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            coverage_warnings: run
                .map(|t| {
                    t.all("codeCoverageWarnings")
                        .filter_map(|w| w.text_of("message").map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    pub(super) fn progress_key(&self) -> (DeployStatus, u32, u32, Option<String>) {
        (
            self.status,
            self.components_deployed,
            self.tests_completed,
            self.state_detail.clone(),
        )
    }
}

pub(super) fn result_of<'a>(
    client: &SalesforceClient,
    resp: &'a Element,
    op: &str,
) -> Result<&'a Element, SfError> {
    resp.child("result")
        .ok_or_else(|| client.err_protocol(op, "no <result> in the response"))
}
