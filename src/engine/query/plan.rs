//! Planning a back promotion: what each story brings to each target, conflicts, missing
//! dependencies.

use super::*;

/// What a back promotion (or promotion) of the request would do, per target.
pub fn plan(ws: &Workspace, caches: &Caches, req: &PlanRequest) -> Result<Plan, EngineError> {
    let p = &ws.config.pipeline;
    let from = p.env(&req.from).ok_or_else(|| unknown_env(ws, &req.from))?;
    if req.to.is_empty() {
        return Err(EngineError::Input(
            "name at least one target with --to ENV[,ENV…]".into(),
        ));
    }
    let below: BTreeSet<&str> = p
        .below(&from.name)
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    let above: BTreeSet<&str> = p
        .above(&from.name)
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for t in &req.to {
        let env = p.env(t).ok_or_else(|| unknown_env(ws, t))?;
        if *t == from.name {
            return Err(EngineError::Input(format!(
                "--from and --to both name '{t}'"
            )));
        }
        if !below.contains(t.as_str()) && !above.contains(t.as_str()) {
            return Err(EngineError::Input(format!(
                "'{t}' is neither below nor above '{}' in the pipeline: pick a target connected to it",
                from.name
            )));
        }
        if below.contains(t.as_str()) && env.kind == crate::domain::EnvKind::Prod {
            return Err(EngineError::Input(format!(
                "'{t}' is production: production is never a back-promotion target"
            )));
        }
    }
    let repo = ws.open_repo()?;
    let model = load_model(ws, &repo, caches)?;
    let h = &model.history;
    let src = h
        .env_index(&from.name)
        .ok_or_else(|| unknown_env(ws, &from.name))?;
    for id in &req.stories {
        let Some(pres) = model.presence.get(id) else {
            return Err(EngineError::Input(format!(
                "story {id} is not in any env's history: check the id (pattern {})",
                ws.config.project.story_pattern
            )));
        };
        if pres[src] == Presence::Absent {
            return Err(EngineError::Input(format!(
                "story {id} is not in '{}': pick an env that has it (`backflow status`)",
                from.name
            )));
        }
    }
    let picks: Vec<ComponentRef> = req
        .components
        .iter()
        .map(|c| ComponentRef::parse(c).map_err(EngineError::Input))
        .collect::<Result<_, _>>()?;
    let src_tree = repo
        .find_commit(h.envs[src].tip)
        .and_then(|c| c.tree())
        .map_err(GitError::from)?;
    let mut pick_paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if !picks.is_empty() {
        let index = component_index(&src_tree, &ws.package_dirs);
        for c in &picks {
            let key = container_of(c);
            let paths = index.get(&key).cloned().unwrap_or_default();
            if paths.is_empty() {
                return Err(EngineError::Input(format!(
                    "component {c} is not in '{}': check the name (TYPE:Name as `backflow plan` lists them)",
                    from.name
                )));
            }
            pick_paths.insert(c.to_string(), paths);
        }
    }
    let mut calc = PresenceCalc::new(h, &repo, caches);
    let mut targets = Vec::new();
    for t in &req.to {
        let ti = h.env_index(t).ok_or_else(|| unknown_env(ws, t))?;
        let env = p.env(t).ok_or_else(|| unknown_env(ws, t))?;
        let tgt_tree = repo
            .find_commit(h.envs[ti].tip)
            .and_then(|c| c.tree())
            .map_err(GitError::from)?;
        let mut apply = Vec::new();
        let mut already = Vec::new();
        let mut all_paths: BTreeSet<String> = BTreeSet::new();
        let mut added = String::new();
        // Deleted in-file children (a removed label), which whole-file deletions miss.
        let mut child_deletions: BTreeSet<ComponentRef> = BTreeSet::new();
        let wanted: Vec<&String> = if req.stories.is_empty() && picks.is_empty() {
            model
                .presence
                .iter()
                .filter(|(_, pr)| pr[src] != Presence::Absent && pr[ti] != Presence::Present)
                .map(|(id, _)| id)
                .collect()
        } else {
            req.stories.iter().collect()
        };
        for id in wanted {
            let s = &h.stories[id];
            let presence = model.presence[id][ti];
            if presence == Presence::Present {
                already.push(id.clone());
                continue;
            }
            let missing = calc.missing(ti, s)?;
            let mut commits = Vec::new();
            let mut paths = Vec::new();
            let mut comps = BTreeSet::new();
            for c in &missing {
                let rep = h.representative(src, *c).unwrap_or(*c);
                commits.push(rep.to_string());
                paths.extend(changed_paths(&repo, caches, rep)?);
                added.push_str(&added_lines(&repo, rep)?);
                let cc = commit_components(&repo, caches, rep, &ws.package_dirs)?;
                for d in &cc.deleted {
                    comps.remove(d);
                    child_deletions.insert(d.clone());
                }
                for c in cc.changed {
                    child_deletions.remove(&c);
                    comps.insert(c);
                }
                comps.extend(cc.deleted);
            }
            let first = &h.commits[&s.canonical[0]];
            all_paths.extend(paths.iter().cloned());
            apply.push(PlannedStory {
                story: id.clone(),
                title: crate::domain::story::title_from_subject(&first.summary, id),
                presence,
                commits,
                components: comps.iter().map(|c| c.to_string()).collect(),
            });
        }
        for paths in pick_paths.values() {
            all_paths.extend(paths.iter().cloned());
            for p in paths {
                if let Some(b) = src_tree
                    .get_path(std::path::Path::new(p))
                    .ok()
                    .and_then(|e| repo.find_blob(e.id()).ok())
                {
                    added.push_str(&String::from_utf8_lossy(b.content()));
                }
            }
        }
        // Deletions: components whose files are gone from the source.
        let mut deletions = BTreeSet::new();
        let mut changed = BTreeSet::new();
        for path in &all_paths {
            let Some(r) = registry().resolve(path, &ws.package_dirs) else {
                continue;
            };
            if src_tree.get_path(std::path::Path::new(path)).is_ok() {
                changed.insert(r.component.clone());
            } else if !component_still_exists(&src_tree, path, &r.component)
                && component_still_exists(&tgt_tree, path, &r.component)
            {
                deletions.insert(r.component.clone());
            }
        }
        for d in &deletions {
            changed.remove(d);
        }
        let tgt_index = component_index(&tgt_tree, &ws.package_dirs);
        for d in child_deletions {
            let c = container_of(&d);
            if c != d && tgt_index.contains_key(&c) {
                deletions.insert(d);
            }
        }
        let no_ops: Vec<String> = changed
            .iter()
            .filter(|c| {
                all_paths
                    .iter()
                    .filter(|p| {
                        registry()
                            .resolve(p, &ws.package_dirs)
                            .is_some_and(|r| &r.component == *c)
                    })
                    .all(|p| blob_at(&src_tree, p) == blob_at(&tgt_tree, p))
            })
            .map(|c| c.to_string())
            .collect();
        let missing_dependencies =
            missing_dependencies(&tgt_tree, &all_paths, &added, &ws.package_dirs);
        let mut warnings = Vec::new();
        for b in types::BEHAVIOUR {
            if let Some(w) = b.deploy_warning
                && changed.iter().any(|c| c.type_name == b.name)
            {
                warnings.push(w.to_string());
            }
        }
        if env.is_protected() {
            warnings.push(format!(
                "'{t}' is protected: validation runs first and the env name must be confirmed"
            ));
        }
        let data_loss: Vec<String> = deletions
            .iter()
            .filter(|c| types::destroys_data(&c.type_name))
            .map(|c| c.to_string())
            .collect();
        if !data_loss.is_empty() {
            warnings.push(format!(
                "{} data in the org: {}",
                if data_loss.len() == 1 {
                    "1 deletion destroys".to_string()
                } else {
                    format!("{} deletions destroy", data_loss.len())
                },
                data_loss.join(", ")
            ));
        }
        // Predicted conflicts: the same in-memory apply the job will run (writes no refs).
        let mut conflicts: Vec<PlannedConflict> = Vec::new();
        let mut commit_oids: Vec<(i64, Oid)> = Vec::new();
        for s in &apply {
            for c in &s.commits {
                if let Ok(oid) = Oid::from_str(c) {
                    let t = repo
                        .find_commit(oid)
                        .map(|c| c.time().seconds())
                        .unwrap_or(0);
                    commit_oids.push((t, oid));
                }
            }
        }
        commit_oids.sort();
        if !commit_oids.is_empty() || !picks.is_empty() {
            let req = crate::git::apply::ApplyRequest {
                target: h.envs[ti].tip.to_string(),
                commits: commit_oids.into_iter().map(|(_, o)| o).collect(),
                already_present: Default::default(),
                picks: picks
                    .iter()
                    .cloned()
                    .map(crate::git::apply::Pick::Component)
                    .collect(),
                pick_source: Some(from.branch.clone()),
                package_dirs: ws.package_dirs.clone(),
            };
            match crate::git::apply::apply(&repo, &req, None) {
                Ok(out) => {
                    for c in &out.conflicts {
                        conflicts.extend(c.rows().into_iter().map(|r| PlannedConflict {
                            component: r.component,
                            path: r.path,
                            kind: r.kind,
                        }));
                    }
                }
                Err(e) => warnings.push(format!("conflicts could not be predicted: {e}")),
            }
        }
        targets.push(PlanTarget {
            env: t.clone(),
            branch: env.branch.clone(),
            protected: env.is_protected(),
            apply,
            already_present: already,
            deletions: deletions.iter().map(|c| c.to_string()).collect(),
            data_loss,
            missing_dependencies,
            conflicts,
            component_picks: pick_paths.keys().cloned().collect(),
            no_ops,
            warnings,
        });
    }
    Ok(Plan {
        from: from.name.clone(),
        targets,
    })
}

fn blob_at(tree: &git2::Tree<'_>, path: &str) -> Option<Oid> {
    tree.get_path(std::path::Path::new(path))
        .ok()
        .map(|e| e.id())
}

/// Whether the component a deleted `path` belonged to still has files in `tree`.
fn component_still_exists(tree: &git2::Tree<'_>, path: &str, c: &ComponentRef) -> bool {
    if tree.get_path(std::path::Path::new(path)).is_ok() {
        return true;
    }
    let def = registry().get(&c.type_name);
    let path = std::path::Path::new(path);
    // Bundles: the component is its folder; a deleted file inside a live bundle is a change.
    if def.is_some_and(|d| d.is_bundle())
        && let Some(dir) = bundle_dir(path, &c.member)
    {
        return tree.get_path(&dir).is_ok();
    }
    // Content + sidecar: `A.cls` and `A.cls-meta.xml`.
    let s = path.to_string_lossy();
    let twin = match s.strip_suffix("-meta.xml") {
        Some(content) => content.to_string(),
        None => format!("{s}-meta.xml"),
    };
    tree.get_path(std::path::Path::new(&twin)).is_ok()
}

fn bundle_dir(path: &std::path::Path, member: &str) -> Option<std::path::PathBuf> {
    let mut acc = std::path::PathBuf::new();
    for comp in path.components() {
        acc.push(comp);
        if comp.as_os_str() == member {
            return Some(acc);
        }
    }
    None
}

/// References in the planned change (added lines and picked files) to fields, classes and
/// objects the target lacks and the plan does not bring.
fn missing_dependencies(
    tgt: &git2::Tree<'_>,
    paths: &BTreeSet<String>,
    added: &str,
    package_dirs: &[String],
) -> Vec<String> {
    let tgt_index = component_index(tgt, package_dirs);
    let planned: BTreeSet<ComponentRef> = paths
        .iter()
        .filter_map(|p| registry().resolve(p, package_dirs).map(|r| r.component))
        .collect();
    let has = |c: &ComponentRef| tgt_index.contains_key(c) || planned.contains(c);
    let mut missing = BTreeSet::new();
    for path in paths {
        // A custom field needs its custom object.
        if let Some(r) = registry().resolve(path, package_dirs)
            && let Some(parent) = &r.parent
            && parent.member.ends_with("__c")
            && !has(parent)
        {
            missing.insert(parent.clone());
        }
    }
    for (tag, ty) in [
        ("field", "CustomField"),
        ("apexClass", "ApexClass"),
        ("object", "CustomObject"),
    ] {
        for value in tag_values(added, tag) {
            let custom = value.contains("__c") || ty == "ApexClass";
            if !custom || value.contains(' ') || (ty == "CustomField" && !value.contains('.')) {
                continue;
            }
            let c = ComponentRef::new(ty, value);
            if !has(&c) {
                missing.insert(c);
            }
        }
    }
    missing.into_iter().map(|c| c.to_string()).collect()
}

/// Texts of the `<tag>…</tag>` elements in `text`. The text is added diff lines and picked
/// files, not one document, so the reader is lenient: each line is read on its own (an
/// element may still span lines), unbalanced tags are accepted and what cannot be read (code
/// between elements) is skipped.
pub(super) fn tag_values(text: &str, tag: &str) -> Vec<String> {
    use quick_xml::errors::IllFormedError;
    use quick_xml::events::Event;
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let mut r = quick_xml::Reader::from_str(line);
        r.config_mut().check_end_names = false;
        loop {
            let before = r.buffer_position();
            match r.read_event() {
                Ok(Event::Start(s)) => {
                    cur = (s.local_name().as_ref() == tag.as_bytes()).then(String::new);
                }
                Ok(Event::Text(t)) => {
                    if let Some(c) = cur.as_mut() {
                        c.push_str(&xml::unescape(&t));
                    }
                }
                Ok(Event::GeneralRef(g)) => {
                    if let Some(c) = cur.as_mut() {
                        let raw = format!("&{};", String::from_utf8_lossy(&g));
                        c.push_str(&xml::unescape(raw.as_bytes()));
                    }
                }
                Ok(Event::CData(d)) => {
                    if let Some(c) = cur.as_mut() {
                        c.push_str(&String::from_utf8_lossy(&d));
                    }
                }
                Ok(Event::End(e)) => {
                    if let Some(c) = cur.take()
                        && e.local_name().as_ref() == tag.as_bytes()
                    {
                        out.push(c.trim().to_string());
                    }
                }
                // A closing tag whose opening tag is on an earlier line.
                Err(quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(name))) => {
                    if let Some(c) = cur.take()
                        && name.rsplit(':').next() == Some(tag)
                    {
                        out.push(c.trim().to_string());
                    }
                }
                Ok(Event::Eof) => break,
                Ok(_) => cur = None,
                Err(_) => {
                    cur = None;
                    if r.buffer_position() <= before {
                        break;
                    }
                }
            }
        }
    }
    out
}
