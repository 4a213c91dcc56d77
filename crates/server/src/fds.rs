//! File descriptors and client connections. At start the soft descriptor limit is raised to
//! the hard one (desktops often start apps at 1,024), and client connections are capped
//! below it, so that a local flood of idle connections cannot take the descriptors the
//! listener, the database, the log and upstream calls need. A connection past the cap is
//! closed at once, and the log says so (once a minute).

use std::sync::OnceLock;

/// Descriptors kept for everything but client connections: upstream connections, the
/// database and its journal, log files, the UI's files.
const RESERVE: u64 = 256;

/// The fewest connections the cap allows, however low the limit.
const FLOOR: u64 = 64;

/// The cap where descriptors have no limit (Windows; an unlimited soft limit).
const UNLIMITED_CAP: u64 = 16_384;

static CAP: OnceLock<usize> = OnceLock::new();

/// What [`raise_limit`] did: the soft limit before and after, when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: u64,
    pub after: u64,
}

/// Raises the soft limit on open files to the hard one (or as near as the system allows),
/// then fixes the connection cap. Call it once, before the first listener.
pub fn raise_limit() -> Option<Raised> {
    let raised = raise();
    let _ = CAP.set(cap_for(raised.map(|r| r.after)));
    raised
}

/// At most this many client connections at once (fixed from the soft limit the first time
/// it is asked, which [`raise_limit`] does at start).
pub fn connection_cap() -> usize {
    *CAP.get_or_init(|| cap_for(soft_limit()))
}

/// The cap for a soft limit (`None`: no limit).
fn cap_for(limit: Option<u64>) -> usize {
    let cap = limit.map_or(UNLIMITED_CAP, |l| l.saturating_sub(RESERVE).max(FLOOR));
    usize::try_from(cap).unwrap_or(usize::MAX)
}

#[cfg(unix)]
fn soft_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn soft_limit() -> Option<u64> {
    None
}

#[cfg(unix)]
fn raise() -> Option<Raised> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // `None` is unlimited: nothing to raise.
    let before = limit.current?;
    // macOS refuses more than its per-process maximum (10,240 by default), even when the
    // hard limit says unlimited; try the hard limit, then that.
    let hard = limit.maximum.unwrap_or(u64::MAX);
    for want in [hard, hard.min(10_240)] {
        if want <= before {
            break;
        }
        let asked = Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, asked).is_ok() {
            return Some(Raised {
                before,
                after: want,
            });
        }
    }
    Some(Raised {
        before,
        after: before,
    })
}

#[cfg(not(unix))]
fn raise() -> Option<Raised> {
    None
}

/// Says what start-up found, for the log.
pub fn log(raised: Option<Raised>) {
    let cap = connection_cap();
    match raised {
        Some(Raised { before, after }) if after > before => tracing::info!(
            before,
            after,
            connections = cap,
            "raised the open-file limit; client connections are capped below it"
        ),
        Some(Raised { after, .. }) => tracing::info!(
            limit = after,
            connections = cap,
            "open-file limit; client connections are capped below it"
        ),
        None => tracing::info!(connections = cap, "client connections are capped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_limit_and_never_falls_under_its_floor() {
        assert_eq!(cap_for(Some(1024)), 768);
        assert_eq!(cap_for(Some(20_000)), 19_744);
        assert_eq!(cap_for(Some(100)), 64);
        assert_eq!(cap_for(None), 16_384);
    }
}
