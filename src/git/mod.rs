//! git2 repository access: story discovery, presence, in-memory apply, branch updates.
//! Every function here is blocking: callers run it off the async workers.

pub mod apply;
pub mod demo;
pub mod diff;
pub mod history;
pub mod presence_cache;
pub mod record;
pub mod shared_ref;

pub use history::{Caches, GitError, History};

/// Process-wide libgit2 settings, applied by the binary before it opens a repository.
///
/// libgit2 re-hashes every object it reads by default; git itself does not (it verifies objects
/// in `fsck` and on transfer), and on big trees the re-hash is a third of an in-memory apply.
/// Objects written still go through libgit2's checks.
///
/// Commits are not kept in libgit2's object cache: history is read once per commit into
/// backflow's own records, and 50,000 cached commits would only add to the peak memory.
pub fn configure_process() {
    git2::opts::strict_hash_verification(false);
    // SAFETY: called once by the binary at start-up, before any thread uses libgit2.
    if let Err(e) = unsafe { git2::opts::set_cache_object_limit(git2::ObjectType::Commit, 0) } {
        tracing::debug!("libgit2 commit cache left as is: {e}");
    }
    // Bounded memory on big repositories (docs/history.md): libgit2 maps pack files in 1 GiB
    // windows without limit, and every page read stays resident; its object cache may grow
    // to 256 MiB of parsed trees, which history reads never ask for twice (they keep what
    // they learn). A few windows of 32 MiB and an 8 MiB cache cost no measurable speed.
    // SAFETY: as above, before any thread uses libgit2.
    let set = unsafe {
        git2::opts::set_mwindow_size(32 << 20)
            .and_then(|_| git2::opts::set_mwindow_mapped_limit(64 << 20))
            .and_then(|_| git2::opts::set_cache_max_size(8 << 20))
    };
    if let Err(e) = set {
        tracing::debug!("libgit2 memory limits left as they are: {e}");
    }
}

/// Writes a ref, trying again a few times when the file system refused it.
///
/// libgit2 creates a nested ref's reflog directory (`logs/refs/heads/backflow/promote/qa/`)
/// and then its file; another process deleting its own promotion branch prunes the empty
/// parents in between, and the write fails with "failed to make directory". Seen with twenty
/// processes at once (docs/architecture.md, "Interruption, load and soak").
pub fn set_reference(
    repo: &git2::Repository,
    name: &str,
    id: git2::Oid,
    force: bool,
    message: &str,
) -> Result<(), git2::Error> {
    let mut tries = 0u64;
    loop {
        match repo.reference(name, id, force, message) {
            Err(e) if e.class() == git2::ErrorClass::Os && tries < 5 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10 * tries));
            }
            r => return r.map(|_| ()),
        }
    }
}
