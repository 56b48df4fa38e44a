//! Per-env value replacements (`[[env.replacement]]`): endpoints, usernames with sandbox
//! suffixes, emails. Applied to what is deployed and, the same way, to branch content before it
//! is compared with the org (drift check, `validate`), so a replaced value is never drift.

use super::EngineError;
use crate::domain::Env;
use std::borrow::Cow;

/// `bytes` of the file at `path` as the org should hold them in `env`. A replacement's `files`
/// is a glob matched against the path or any trailing part of it (`*.cls`, `classes/*.cls` and
/// `force-app/**/*.cls` all match `force-app/main/default/classes/A.cls`; empty: every file).
/// Only text (valid UTF-8) is touched: binary files such as zipped static resources pass as
/// they are.
pub fn for_org<'a>(env: &Env, path: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, EngineError> {
    if env.replacements.is_empty() {
        return Ok(Cow::Borrowed(bytes));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(Cow::Borrowed(bytes));
    };
    let mut out: Option<String> = None;
    for r in &env.replacements {
        if !r.files.is_empty()
            && !matches(&r.files, path).map_err(|e| bad_glob(env, &r.files, e))?
        {
            continue;
        }
        let cur = out.as_deref().unwrap_or(text);
        if cur.contains(&r.from) {
            out = Some(cur.replace(&r.from, &r.to));
        }
    }
    Ok(match out {
        Some(s) => Cow::Owned(s.into_bytes()),
        None => Cow::Borrowed(bytes),
    })
}

/// The branch at `rev` in Metadata API form as `env`'s org should hold it: the replacements
/// run on the project's source files (paths like `force-app/main/default/classes/A.cls`, as
/// at deploy time) before the conversion, so a glob written against source paths matches on
/// every side where branch content is compared with the org.
pub fn mdapi_for_org(
    ws: &crate::engine::Workspace,
    repo: &git2::Repository,
    rev: &str,
    env: &Env,
) -> Result<crate::metadata::convert::MdapiTree, EngineError> {
    if env.replacements.is_empty() {
        return super::connect::mdapi_of(ws, repo, rev);
    }
    let mut files = super::connect::source_files(repo, rev, &ws.package_dirs)?;
    for f in &mut files {
        if let Cow::Owned(b) = for_org(env, &f.path, &f.bytes)? {
            f.bytes = b;
        }
    }
    crate::metadata::convert::convert(
        &files,
        &crate::metadata::convert::ConvertOptions {
            source_dirs: ws.package_dirs.clone(),
            api_version: ws.api_version.clone(),
            ignore: None,
        },
    )
    .map_err(|e| EngineError::Input(format!("cannot convert {rev}: {e}")))
}

fn matches(glob: &str, path: &str) -> Result<bool, globset::Error> {
    let pattern = if glob.starts_with("**/") || glob.starts_with('/') {
        glob.trim_start_matches('/').to_string()
    } else {
        format!("**/{glob}")
    };
    let g = globset::GlobBuilder::new(&pattern)
        .literal_separator(true)
        .build()?
        .compile_matcher();
    Ok(g.is_match(path) || g.is_match(format!("/{path}")))
}

fn bad_glob(env: &Env, glob: &str, e: globset::Error) -> EngineError {
    EngineError::Input(format!(
        "env '{}': replacement files = \"{glob}\" is not a valid glob ({e}); fix it in backflow.toml",
        env.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pipeline::Replacement;

    fn env(files: &str) -> Env {
        let mut e: Env = serde_json::from_value(serde_json::json!({
            "name": "qa", "branch": "qa", "kind": "qa", "org": null, "protected": false,
            "test_level": null, "replacements": []
        }))
        .unwrap();
        e.replacements.push(Replacement {
            files: files.into(),
            from: "https://prod.example".into(),
            to: "https://qa.example".into(),
        });
        e
    }

    #[test]
    fn globs_match_paths_and_their_tails() {
        let p = "force-app/main/default/classes/Api.cls";
        for g in [
            "*.cls",
            "classes/*.cls",
            "force-app/**/*.cls",
            "**/Api.cls",
            "",
        ] {
            let out = for_org(&env(g), p, b"x = 'https://prod.example';").unwrap();
            assert_eq!(&out[..], b"x = 'https://qa.example';", "{g}");
        }
        // `contains` would have matched these.
        for g in ["*.cl", "lasses/*.cls", "Api", "*.trigger"] {
            let out = for_org(&env(g), p, b"https://prod.example").unwrap();
            assert_eq!(&out[..], b"https://prod.example", "{g}");
        }
        let mdapi = for_org(
            &env("classes/*.cls"),
            "classes/Api.cls",
            b"https://prod.example",
        );
        assert_eq!(&mdapi.unwrap()[..], b"https://qa.example");
    }

    #[test]
    fn binary_files_are_untouched_and_bad_globs_say_where() {
        let mut zip = b"PK\x03\x04\xff\xfe".to_vec();
        zip.extend_from_slice(b"https://prod.example");
        let out = for_org(&env(""), "staticresources/logo.resource", &zip).unwrap();
        assert_eq!(&out[..], &zip[..], "not valid UTF-8: left as it is");
        let err = for_org(
            &env("classes/[.cls"),
            "classes/A.cls",
            b"https://prod.example",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("env 'qa'") && err.contains("classes/[.cls"),
            "{err}"
        );
    }
}
