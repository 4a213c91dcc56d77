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

/// Starts logging: `RUST_LOG` if set, else `info` (`debug` for our crates when `debug`).
/// With `files`, also `ondemand-proxy.YYYY-MM-DD.log` there, two weeks kept.
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
        let (writer, guard) = NonBlockingBuilder::default().lossy(true).finish(file);
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
