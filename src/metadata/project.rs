//! sfdx-project.json: package directories, API version, namespace and replacements. It is
//! authoritative; backflow.toml may override a value but never contradicts it silently.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SfdxProject {
    pub package_directories: Vec<String>,
    pub default_package: Option<String>,
    pub api_version: Option<String>,
    pub namespace: Option<String>,
    pub replacements: Vec<serde_json::Value>,
    pub registry_presets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    package_directories: Vec<RawDir>,
    source_api_version: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    replacements: Vec<serde_json::Value>,
    #[serde(default)]
    registry_presets: Vec<String>,
    #[serde(default)]
    source_behavior_options: Vec<String>,
}

#[derive(Deserialize)]
struct RawDir {
    path: String,
    #[serde(default)]
    default: bool,
}

impl SfdxProject {
    /// Parses the text of sfdx-project.json; errors name the line and column.
    pub fn parse(text: &str) -> Result<SfdxProject, String> {
        let raw: Raw = serde_json::from_str(text)
            .map_err(|e| format!("sfdx-project.json:{}:{}: {e}", e.line(), e.column()))?;
        if raw.package_directories.is_empty() {
            return Err(
                "sfdx-project.json: packageDirectories is empty: list at least one {\"path\": …}"
                    .into(),
            );
        }
        let norm = |p: &str| p.trim_start_matches("./").trim_end_matches('/').to_string();
        let mut presets = raw.registry_presets;
        presets.extend(raw.source_behavior_options);
        Ok(SfdxProject {
            default_package: raw
                .package_directories
                .iter()
                .find(|d| d.default)
                .map(|d| norm(&d.path)),
            package_directories: raw
                .package_directories
                .iter()
                .map(|d| norm(&d.path))
                .collect(),
            api_version: raw.source_api_version,
            namespace: raw.namespace.filter(|n| !n.is_empty()),
            replacements: raw.replacements,
            registry_presets: presets,
        })
    }
}

/// `path` relative to the first of `dirs` that holds it (any path when no dirs are given);
/// `None` for a path outside them.
pub(crate) fn rel_in<'p>(path: &'p str, dirs: &[String]) -> Option<&'p str> {
    if dirs.is_empty() {
        return Some(path);
    }
    dirs.iter().find_map(|d| {
        let d = d.trim_start_matches("./").trim_end_matches('/');
        if d.is_empty() || d == "." {
            return Some(path);
        }
        path.strip_prefix(d).and_then(|r| r.strip_prefix('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dirs_and_version() {
        let p = SfdxProject::parse(
            r#"{"packageDirectories":[{"path":"force-app","default":true},{"path":"./extra/"}],
               "sourceApiVersion":"66.0","namespace":""}"#,
        )
        .unwrap();
        assert_eq!(p.package_directories, ["force-app", "extra"]);
        assert_eq!(p.default_package.as_deref(), Some("force-app"));
        assert_eq!(p.api_version.as_deref(), Some("66.0"));
        assert_eq!(p.namespace, None);
        let e = SfdxProject::parse("{\n\"packageDirectories\": [\n}").unwrap_err();
        assert!(e.contains("sfdx-project.json:3"), "{e}");
    }
}
