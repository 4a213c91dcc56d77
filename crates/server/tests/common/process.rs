//! Spawning the `ondemand-proxy` binary as a user runs it, for the black-box tests that need
//! a process of its own (its environment, its exit, its stdout).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Running {
    pub child: Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    pub stdout: Vec<String>,
    /// Everything the process writes to stderr, read by a thread until the pipe closes.
    stderr: Option<std::thread::JoinHandle<String>>,
}

pub fn binary() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_ondemand-proxy")))
}

/// `cmd` without a developer's real configuration in its environment.
pub fn clean(mut cmd: Command) -> Command {
    // Never inherit a developer's real configuration.
    for var in [
        "API_ACCESS_TOKEN",
        "ONDEMAND_ACCOUNTS",
        "MAX_RETRIES",
        "RATE_LIMIT",
        "DEBUG_MODE",
        "LISTEN_HOST",
        "LISTEN_PORT",
        "DATA_DIR",
        "RUST_LOG",
        "ONDEMAND_PROXY",
        "ONDEMAND_CA_FILE",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

pub fn start(args: &[&str], envs: &[(&str, &str)], cwd: &std::path::Path) -> Running {
    let mut cmd = binary();
    cmd.arg("serve").args(args);
    spawn(cmd, envs, cwd)
}

pub fn spawn(mut cmd: Command, envs: &[(&str, &str)], cwd: &std::path::Path) -> Running {
    cmd.current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    // Drain stderr as it comes: an unread pipe would fill and stall the process.
    let mut pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut pipe, &mut all);
        all
    });
    Running {
        child,
        lines: rx,
        stdout: Vec::new(),
        stderr: Some(stderr),
    }
}

/// The binary in demo mode on a free port, with its data in `data`.
pub fn start_demo(data: &str, envs: &[(&str, &str)], cwd: &std::path::Path) -> Running {
    start(&["--demo", "--port", "0", "--data-dir", data], envs, cwd)
}

/// The binary in demo mode with its open-file limit set by `ulimit {limit}` first.
#[cfg(unix)]
pub fn start_demo_limited(limit: &str, data: &std::path::Path, envs: &[(&str, &str)]) -> Running {
    let script = format!("ulimit {limit} && exec \"$0\" serve --demo --port 0 --data-dir \"$1\"");
    let mut cmd = clean(Command::new("sh"));
    cmd.args([
        "-c",
        script.as_str(),
        env!("CARGO_BIN_EXE_ondemand-proxy"),
        data.to_str().unwrap(),
    ]);
    spawn(cmd, envs, data)
}

impl Running {
    /// The first stdout line containing `needle`, reading more as needed (panics after 20 s).
    pub fn wait_for(&mut self, needle: &str) -> String {
        if let Some(seen) = self.stdout.iter().find(|l| l.contains(needle)) {
            return seen.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line with {needle:?}; got {:?}", self.stdout));
            self.stdout.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn base_url(&mut self) -> String {
        let line = self.wait_for("OpenAI base URL:");
        line.rsplit(' ').next().unwrap().to_owned()
    }

    /// SIGTERM, wait, and return the exit status, stderr, and all of stdout.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String, Vec<String>) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let stderr = self
                    .stderr
                    .take()
                    .map(|t| t.join().unwrap())
                    .unwrap_or_default();
                let mut stdout = std::mem::take(&mut self.stdout);
                stdout.extend(self.lines.try_iter());
                return (status, stderr, stdout);
            }
            assert!(Instant::now() < deadline, "did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A test that fails before `terminate` leaves no server running behind it.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
