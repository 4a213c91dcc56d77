//! Logging for both binaries: stderr, and for the desktop app a file a day as well, each
//! through a background writer, so a request never waits on log output (a stalled terminal
//! or an undrained pipe drops log lines instead of blocking requests).

use std::path::PathBuf;
use std::sync::Mutex;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Flushes the log writers when dropped, or when [`LogGuards::flush`] is called (at exit).
pub struct LogGuards(Mutex<Vec<WorkerGuard>>);

impl LogGuards {
    /// Writes out what is buffered and stops the writers.
    pub fn flush(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// What one day's log file may hold. Past it, lines are dropped until the next day, after
/// one line that says so: two weeks of files stay under 14 × 32 MiB whatever clients send.
pub const DAILY_CAP_BYTES: u64 = 32 << 20;

/// A writer that passes on at most `cap` bytes a (UTC) day.
struct Capped<W> {
    inner: W,
    cap: u64,
    day: u64,
    written: u64,
    today: fn() -> u64,
}

fn utc_day() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

const CAP_NOTE: &[u8] =
    b"(the log reached its size cap for today: further lines are dropped until tomorrow)\n";

impl<W: std::io::Write> std::io::Write for Capped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let today = (self.today)();
        if today != self.day {
            (self.day, self.written) = (today, 0);
        }
        if self.written + buf.len() as u64 <= self.cap {
            self.inner.write_all(buf)?;
            self.written += buf.len() as u64;
        } else if self.written <= self.cap {
            // Once: the note, then nothing more today.
            self.inner.write_all(CAP_NOTE)?;
            self.written = self.cap + 1;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Starts logging: `RUST_LOG` if set, else `info` (`debug` for our crates when `debug`).
/// With `files`, also `ondemand-proxy.YYYY-MM-DD.log` there: two weeks kept, each at most
/// [`DAILY_CAP_BYTES`].
pub fn init(debug: bool, files: Option<PathBuf>) -> LogGuards {
    let default = if debug {
        "debug,hyper=info,reqwest=info,h2=info"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (stderr, stderr_guard) = NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stderr());
    let mut guards = vec![stderr_guard];
    let file = files.and_then(|dir| {
        std::fs::create_dir_all(&dir).ok()?;
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("ondemand-proxy")
            .filename_suffix("log")
            .max_log_files(14)
            .build(dir)
            .ok()
    });
    let file_layer = file.map(|file| {
        let capped = Capped {
            inner: file,
            cap: DAILY_CAP_BYTES,
            day: utc_day(),
            written: 0,
            today: utc_day,
        };
        let (writer, guard) = NonBlockingBuilder::default().lossy(true).finish(capped);
        guards.push(guard);
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(stderr),
        )
        .with(file_layer)
        .try_init();
    LogGuards(Mutex::new(guards))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    static DAY: AtomicU64 = AtomicU64::new(1);

    #[test]
    fn a_day_writes_at_most_its_cap_then_one_note_and_the_next_day_starts_afresh() {
        let mut capped = Capped {
            inner: Vec::new(),
            cap: 100,
            day: 1,
            written: 0,
            today: || DAY.load(Ordering::Relaxed),
        };
        for _ in 0..1000 {
            assert_eq!(capped.write(b"a line of log\n").unwrap(), 14);
        }
        let text = String::from_utf8(capped.inner.clone()).unwrap();
        assert_eq!(text.matches("a line of log").count(), 7);
        assert!(text.ends_with(std::str::from_utf8(CAP_NOTE).unwrap()));
        assert_eq!(text.matches("size cap").count(), 1);
        DAY.store(2, Ordering::Relaxed);
        capped.write_all(b"tomorrow\n").unwrap();
        assert!(
            String::from_utf8(capped.inner)
                .unwrap()
                .ends_with("tomorrow\n")
        );
    }
}
