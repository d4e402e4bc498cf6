//! A `redis-server` process of a test's own, to stop and restart at will.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// A redis-server on its own port, killed on drop.
pub struct RedisProcess {
    pub port: u16,
    child: Option<Child>,
    /// Where an append-only file keeps every write across restarts; `None`:
    /// nothing is persisted.
    persisted_in: Option<tempfile::TempDir>,
}

impl RedisProcess {
    /// Starts redis-server on a free port and waits until it answers.
    pub async fn start() -> anyhow::Result<Self> {
        let mut process = Self { port: crate::free_port(), child: None, persisted_in: None };
        process.restart().await?;
        Ok(process)
    }

    /// As [`Self::start`], but every write is appended and fsynced to a
    /// file of its own, so a restart (even after SIGKILL) comes back with
    /// the same data, as a production Redis with AOF would.
    pub async fn start_persistent() -> anyhow::Result<Self> {
        let mut process = Self { port: crate::free_port(), child: None, persisted_in: Some(tempfile::tempdir()?) };
        process.restart().await?;
        Ok(process)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port: empty, or with what was persisted.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let port = self.port.to_string();
        let mut args = vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""];
        let directory = self.persisted_in.as_ref().map(|directory| directory.path().display().to_string());
        match &directory {
            Some(directory) => args.extend(["--appendonly", "yes", "--appendfsync", "always", "--dir", directory]),
            None => args.extend(["--appendonly", "no"]),
        }
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                anyhow::anyhow!("redis-server is required for this test (scripts/test installs it): {error}")
            })?;
        self.child = Some(child);
        for _ in 0..100 {
            if self.answers_ping().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("redis-server on port {} did not start", self.port)
    }

    /// Kills the server and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
            let _ = child.wait().await;
        }
    }

    async fn answers_ping(&self) -> bool {
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else { return false };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        matches!(tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await, Ok(Ok(_)))
            && &reply == b"+PONG\r\n"
    }
}
