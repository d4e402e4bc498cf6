//! The mail delivery worker: drains the outbox (written in the transactions
//! of the changes that cause mail) over SMTP with lettre, or, without SMTP
//! configured, into `.eml` files under `<data_dir>/outbox` whose paths it
//! logs (the embedded default, so a new user can follow an invitation).
//!
//! Each mail is claimed with a lease (`MailOutbox::claim_mail`), so several
//! directory replicas never send one mail together; a delivery is retried a
//! few times in place with exponential backoff (backon), then released with
//! a later due time, doubling per attempt up to `retry_max_ms`. Nothing is
//! lost while the SMTP server is down, and a mail marked sent is never
//! claimed again. A replica that dies between sending and marking leaves the
//! mail to be sent again after the lease: delivery is at least once, which
//! only that crash can turn into twice.
//!
//! Mail bodies hold tokens: no body, subject or token reaches a log line or
//! a span here; only ids, kinds, paths and SMTP errors do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use roster_domain::clock::SharedClock;
use roster_domain::lifecycle::QueuedMail;
use roster_domain::repository::DirectoryRepository;
use secrecy::ExposeSecret;

use crate::settings::MailSettings;

/// How mail leaves.
#[derive(Clone)]
enum Delivery {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
}

/// A transport for `smtp://[user:password@]host[:port]` (port 25 by
/// default): plain SMTP, for a relay on the same host or network. This
/// build carries no TLS stack for mail; a relay does TLS onwards.
fn smtp_transport(url: &str) -> anyhow::Result<lettre::transport::smtp::AsyncSmtpTransportBuilder> {
    let invalid = || anyhow::anyhow!("mail.smtp_url must be smtp://[user:password@]host[:port]");
    let rest = url.strip_prefix("smtp://").ok_or_else(invalid)?;
    let rest = rest.trim_end_matches('/');
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((credentials, address)) => (Some(credentials), address),
        None => (None, rest),
    };
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|_| invalid())?),
        None => (address, 25),
    };
    if host.is_empty() {
        return Err(invalid());
    }
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port);
    if let Some(credentials) = credentials {
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.to_owned(),
            password.to_owned(),
        ));
    }
    Ok(builder)
}

/// Drains the outbox until the task is aborted.
pub struct MailWorker {
    outbox: Arc<dyn DirectoryRepository>,
    clock: SharedClock,
    delivery: Delivery,
    from: Mailbox,
    settings: MailSettings,
}

impl MailWorker {
    /// A worker for `settings`; `data_dir` holds the `.eml` files when no
    /// SMTP server is configured.
    pub fn new(
        outbox: Arc<dyn DirectoryRepository>,
        clock: SharedClock,
        settings: &MailSettings,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = settings.from.parse().map_err(|error| anyhow::anyhow!("mail.from: {error}"))?;
        let delivery = match settings.smtp_url.as_ref().map(|url| url.expose_secret().trim().to_owned()) {
            Some(url) if !url.is_empty() => {
                let transport =
                    smtp_transport(&url)?.timeout(Some(Duration::from_millis(settings.smtp_timeout_ms))).build();
                Delivery::Smtp(transport)
            }
            _ => Delivery::Files(data_dir.join("outbox")),
        };
        Ok(Self { outbox, clock, delivery, from, settings: settings.clone() })
    }

    /// Looks for due mail every `poll_interval_ms` and sends it.
    pub async fn run(self) {
        let mut interval = tokio::time::interval(Duration::from_millis(self.settings.poll_interval_ms.max(10)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(error) = self.drain_once().await {
                tracing::warn!(%error, "could not read the mail outbox");
            }
        }
    }

    /// Claims what is due and delivers it; returns how many went out.
    pub async fn drain_once(&self) -> Result<usize, roster_domain::DomainError> {
        let lease = chrono::Duration::seconds(i64::from(self.settings.lease_seconds.max(1)));
        let claimed = self.outbox.claim_mail(self.clock.now(), lease, 20).await?;
        let mut sent = 0;
        for queued in claimed {
            match self.deliver(&queued).await {
                Ok(()) => {
                    self.outbox.mark_mail_sent(&queued.id, self.clock.now()).await?;
                    sent += 1;
                }
                Err(error) => {
                    let retry_at = self.clock.now() + self.backoff(queued.attempts);
                    tracing::warn!(mail.id = %queued.id, attempts = queued.attempts, %error, "mail delivery failed; will retry");
                    self.outbox.mark_mail_failed(&queued.id, &error, retry_at).await?;
                }
            }
        }
        Ok(sent)
    }

    /// The pause before the next attempt after `attempts` failed ones.
    fn backoff(&self, attempts: u32) -> chrono::Duration {
        let exponent = attempts.saturating_sub(1).min(20);
        let pause = self.settings.retry_initial_ms.saturating_mul(1_u64 << exponent).min(self.settings.retry_max_ms);
        chrono::Duration::milliseconds(i64::try_from(pause).unwrap_or(i64::MAX))
    }

    fn message(&self, queued: &QueuedMail) -> Result<Message, String> {
        let mail = &queued.mail;
        let to: Mailbox = mail.to.as_str().parse().map_err(|error| format!("recipient: {error}"))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text_body.clone()))
                    .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(mail.html_body.clone())),
            )
            .map_err(|error| format!("building the message: {error}"))
    }

    /// One delivery, retried in place a few times with backoff.
    async fn deliver(&self, queued: &QueuedMail) -> Result<(), String> {
        let message = self.message(queued)?;
        match &self.delivery {
            Delivery::Files(directory) => {
                let path = directory.join(format!("{}.eml", queued.id));
                tokio::fs::create_dir_all(directory).await.map_err(|error| error.to_string())?;
                tokio::fs::write(&path, message.formatted()).await.map_err(|error| error.to_string())?;
                tracing::info!(mail.id = %queued.id, kind = queued.mail.kind.as_str(), path = %path.display(), "mail written (no SMTP server configured)");
                Ok(())
            }
            Delivery::Smtp(transport) => {
                let initial = Duration::from_millis(self.settings.retry_initial_ms.clamp(1, 1000));
                let send = || async { transport.send(message.clone()).await };
                send.retry(ExponentialBuilder::default().with_min_delay(initial).with_max_times(2))
                    .await
                    .map(|_| {
                        tracing::info!(mail.id = %queued.id, kind = queued.mail.kind.as_str(), "mail sent");
                    })
                    .map_err(|error| error.to_string())
            }
        }
    }
}
