//! A real SMTP server of a test's own (`tests/smtp/smtp_sink.py`, aiosmtpd
//! from PyPI, installed by `scripts/test`), which stores every message it
//! receives as a file; to stop and restart on the same port at will.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// An SMTP sink on its own port, killed on drop.
pub struct SmtpSink {
    pub port: u16,
    folder: tempfile::TempDir,
    child: Option<Child>,
}

fn python() -> String {
    std::env::var("ROSTER_TEST_SMTP_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp/smtp_sink.py")
}

impl SmtpSink {
    /// Starts the sink on a free port and waits until it accepts
    /// connections.
    pub async fn start() -> anyhow::Result<Self> {
        let mut sink = Self { port: crate::free_port(), folder: tempfile::tempdir()?, child: None };
        sink.restart().await?;
        Ok(sink)
    }

    /// `smtp://127.0.0.1:<port>`, for `ROSTER_DIRECTORY__MAIL__SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, keeping the messages received.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let child = Command::new(python())
            .arg(script())
            .args(["--port", &self.port.to_string(), "--folder", &self.folder.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| anyhow::anyhow!("python with aiosmtpd is required (scripts/test installs it): {error}"))?;
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the SMTP sink on port {} did not start (is aiosmtpd installed?)", self.port)
    }

    /// Kills the sink and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.folder.path())
            .map(|entries| entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect())
            .unwrap_or_default();
        names.retain(|path| path.extension().is_some_and(|extension| extension == "eml"));
        names.sort();
        names.iter().filter_map(|path| std::fs::read_to_string(path).ok()).collect()
    }

    /// Waits until at least `count` messages arrived (30 s at most).
    pub async fn wait_for(&self, count: usize) -> anyhow::Result<Vec<String>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return Ok(messages);
            }
            anyhow::ensure!(Instant::now() < deadline, "{} of {count} messages arrived", messages.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The value after `prefix` on a line of `message` (`Token: `,
/// `Temporary password: `), as the plain-text part carries it.
pub fn line_value(message: &str, prefix: &str) -> Option<String> {
    message.lines().find_map(|line| line.trim_end_matches('\r').strip_prefix(prefix).map(str::to_owned))
}

/// The directory's environment for mail through `sink`: quick polling and
/// retries, so tests wait little.
pub fn mail_env(sink: &SmtpSink) -> Vec<(String, String)> {
    vec![
        ("ROSTER_DIRECTORY__MAIL__SMTP_URL".to_owned(), sink.url()),
        ("ROSTER_DIRECTORY__MAIL__POLL_INTERVAL_MS".to_owned(), "100".to_owned()),
        ("ROSTER_DIRECTORY__MAIL__RETRY_INITIAL_MS".to_owned(), "100".to_owned()),
        ("ROSTER_DIRECTORY__MAIL__RETRY_MAX_MS".to_owned(), "500".to_owned()),
        ("ROSTER_DIRECTORY__MAIL__SMTP_TIMEOUT_MS".to_owned(), "2000".to_owned()),
        ("ROSTER_DIRECTORY__PASSWORDS__RESET_ANSWER_FLOOR_MS".to_owned(), "50".to_owned()),
    ]
}
