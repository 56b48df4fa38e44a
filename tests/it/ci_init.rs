//! `backflow ci init`: each template renders for the demo config, parses as YAML, names only
//! command lines our CLI accepts, reads JWT keys from secrets, and never overwrites silently.

use crate::common::{backflow, demo};
use backflow::cli::Cli;
use clap::Parser;
use yaml_rust2::{Yaml, YamlLoader};

/// The shell scripts of a workflow: `run:` (GitHub) and `script:`/`before_script:` (GitLab).
fn scripts(y: &Yaml, in_script: bool, out: &mut Vec<String>) {
    match y {
        Yaml::String(s) if in_script => out.push(s.clone()),
        Yaml::Array(a) => a.iter().for_each(|v| scripts(v, in_script, out)),
        Yaml::Hash(h) => h.iter().for_each(|(k, v)| {
            let key = k.as_str().unwrap_or("");
            scripts(v, matches!(key, "run" | "script" | "before_script"), out);
        }),
        _ => {}
    }
}

/// Every `backflow …` command line in the scripts, as argument vectors (up to a redirection).
fn commands(doc: &Yaml) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    scripts(doc, false, &mut all);
    let mut out = Vec::new();
    for s in all {
        for line in s.lines() {
            // `'qa') backflow review qa …` in a case statement.
            let Some(at) = line.find("backflow ") else {
                continue;
            };
            let before = line[..at].trim();
            if !(before.is_empty() || before.ends_with(')')) {
                continue;
            }
            let words: Vec<String> = line[at..]
                .split_whitespace()
                .take_while(|w| !matches!(*w, ">" | ";;" | "|" | "&&" | "2>&1"))
                .map(str::to_string)
                .collect();
            out.push(words);
        }
    }
    out
}

fn init(ws: &std::path::Path, state: &std::path::Path, args: &[&str]) -> std::process::Output {
    backflow(state)
        .current_dir(ws)
        .arg("ci")
        .arg("init")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn both_templates_parse_and_name_only_real_commands() {
    let ws = demo();
    let state = tempfile::tempdir().unwrap();
    // One org logs in with JWT, as CI needs.
    let cfg = ws.path().join("backflow.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "[orgs.uat]\nauth = \"simulated\"\n",
        "[orgs.uat]\nauth = \"jwt\"\nclient_id = \"3MVG9\"\nusername = \"ci@acme.example\"\njwt_key_file = \".ci/keys/uat.key\"\n",
        1,
    );
    assert!(text.contains("jwt_key_file"), "{text}");
    std::fs::write(&cfg, text).unwrap();
    for (system, path, summary) in [
        (
            "github",
            ".github/workflows/backflow.yml",
            "$GITHUB_STEP_SUMMARY",
        ),
        ("gitlab", ".gitlab-ci.yml", "backflow-summary.md"),
    ] {
        let out = init(ws.path(), state.path(), &[system]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("BACKFLOW_JWT_KEY_UAT"));
        let text = std::fs::read_to_string(ws.path().join(path)).unwrap();
        let docs =
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{system}: {e}\n{text}"));
        let cmds = commands(&docs[0]);
        let names: Vec<String> = cmds.iter().map(|c| c[..2.min(c.len())].join(" ")).collect();
        for want in ["backflow auto", "backflow review", "backflow validate"] {
            assert!(
                names.iter().any(|n| n == want),
                "{system}: no {want} in {names:?}"
            );
        }
        for c in &cmds {
            Cli::try_parse_from(c)
                .unwrap_or_else(|e| panic!("{system}: `{}` does not parse: {e}", c.join(" ")));
        }
        // Every env branch is reviewed as its env; the top env is validated.
        for env in ["dev1", "dev2", "qa", "uat", "prod"] {
            assert!(
                cmds.iter().any(|c| c[..3] == ["backflow", "review", env]),
                "{system}: {env}"
            );
        }
        assert!(
            cmds.iter()
                .any(|c| c[..3] == ["backflow", "validate", "prod"])
        );
        assert!(
            cmds.iter()
                .any(|c| c.contains(&"--once".to_string()) && c.contains(&"--json".to_string()))
        );
        // The key is written from its secret to the configured path; no key text in the file.
        assert!(
            text.contains("BACKFLOW_JWT_KEY_UAT") && text.contains(".ci/keys/uat.key"),
            "{text}"
        );
        assert!(!text.contains("PRIVATE KEY"));
        assert!(text.contains(summary), "{system}: no job summary");
        // A second run refuses to overwrite; --force replaces.
        std::fs::write(ws.path().join(path), "# mine\n").unwrap();
        let out = init(ws.path(), state.path(), &[system]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
        assert_eq!(
            std::fs::read_to_string(ws.path().join(path)).unwrap(),
            "# mine\n"
        );
        let out = init(ws.path(), state.path(), &[system, "--force"]);
        assert!(out.status.success());
        assert_eq!(std::fs::read_to_string(ws.path().join(path)).unwrap(), text);
    }
    // The GitHub workflow triggers on pushes and pull requests into the env branches.
    let gh = YamlLoader::load_from_str(
        &std::fs::read_to_string(ws.path().join(".github/workflows/backflow.yml")).unwrap(),
    )
    .unwrap();
    let on = &gh[0]["on"];
    let pushed: Vec<&str> = on["push"]["branches"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|b| b.as_str())
        .collect();
    assert_eq!(pushed, ["dev1", "dev2", "qa", "uat", "main"]);
    assert!(on["schedule"][0]["cron"].as_str().is_some());
    assert!(on["pull_request"]["branches"].as_vec().is_some());
}

#[test]
fn browser_logins_are_flagged_for_ci() {
    let ws = demo();
    let state = tempfile::tempdir().unwrap();
    let cfg = ws.path().join("backflow.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replacen(
        "[orgs.qa]\nauth = \"simulated\"\n",
        "[orgs.qa]\nauth = \"web\"\nclient_id = \"x\"\n",
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let out = init(ws.path(), state.path(), &["gitlab"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[orgs.qa]") && err.contains("jwt"), "{err}");
}
