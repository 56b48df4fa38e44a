//! Who is acting: BACKFLOW_USER, else the repository's git email, else the OS user.

pub fn current_user(repo: Option<&git2::Repository>) -> String {
    if let Ok(u) = std::env::var("BACKFLOW_USER")
        && !u.trim().is_empty()
    {
        return u.trim().to_string();
    }
    if let Some(r) = repo
        && let Ok(cfg) = r.config()
        && let Ok(email) = cfg.get_string("user.email")
        && !email.trim().is_empty()
    {
        return email.trim().to_string();
    }
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
