//! Emails as pure values (R11, R18, R36): what each mail says, in plain
//! text and HTML, carrying the account's name. Delivery (the outbox and the
//! SMTP worker) is elsewhere; these only render.
//!
//! A mail may carry a one-time token or a temporary password, so its
//! `Debug` shows the kind and recipient only, never the bodies.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::names::EmailAddress;

/// Why a mail is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Invitation,
    PasswordReset,
    TemporaryPassword,
    SessionReplaced,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::PasswordReset => "password_reset",
            Self::TemporaryPassword => "temporary_password",
            Self::SessionReplaced => "session_replaced",
        }
    }

    pub fn parse_stored(text: &str) -> Option<Self> {
        match text {
            "invitation" => Some(Self::Invitation),
            "password_reset" => Some(Self::PasswordReset),
            "temporary_password" => Some(Self::TemporaryPassword),
            "session_replaced" => Some(Self::SessionReplaced),
            _ => None,
        }
    }
}

/// One email, rendered, ready for the outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub kind: MailKind,
    pub to: EmailAddress,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("OutgoingMail")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("bodies", &"[redacted]")
            .finish()
    }
}

/// What every template needs to know about where it is sent from.
#[derive(Debug, Clone, Copy)]
pub struct MailContext<'a> {
    /// The account's display name (carried by every mail).
    pub account_name: &'a str,
    /// The account's slug: what the recipient types as "account" at login.
    pub account_slug: &'a str,
    /// The recipient's display name.
    pub recipient_name: &'a str,
    /// Where links point (`https://app.example/roster`); without it the
    /// mail carries the token alone, to paste.
    pub link_base: Option<&'a str>,
}

/// The line of the plain-text body that carries a token; programs (and
/// tests) find the token after it.
pub const TOKEN_LINE_PREFIX: &str = "Token: ";
/// The line that carries a temporary password.
pub const PASSWORD_LINE_PREFIX: &str = "Temporary password: ";

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

fn link(context: &MailContext<'_>, path: &str, token: &str) -> Option<String> {
    context
        .link_base
        .map(|base| format!("{}/{path}?account={}&token={token}", base.trim_end_matches('/'), context.account_slug))
}

fn html_document(subject: &str, paragraphs: &[String]) -> String {
    let body: String = paragraphs.iter().map(|paragraph| format!("<p>{paragraph}</p>\n")).collect();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head><body>\n{body}</body></html>\n",
        escape_html(subject)
    )
}

/// Builds a mail from paragraphs of plain text; `secret_line` (a token or a
/// password line) is set apart in both bodies.
fn compose(
    kind: MailKind,
    to: &EmailAddress,
    subject: String,
    context: &MailContext<'_>,
    paragraphs: &[String],
    secret_line: Option<(&str, &str)>,
    link: Option<String>,
) -> OutgoingMail {
    let greeting = format!("Hello {},", context.recipient_name);
    let signature = format!("-- \n{} (sent by Roster)", context.account_name);
    let mut text = vec![greeting.clone()];
    text.extend(paragraphs.iter().cloned());
    let mut html = vec![escape_html(&greeting)];
    html.extend(paragraphs.iter().map(|paragraph| escape_html(paragraph)));
    if let Some(link) = &link {
        text.push(format!("Open: {link}"));
        html.push(format!("<a href=\"{0}\">{0}</a>", escape_html(link)));
    }
    if let Some((prefix, secret)) = secret_line {
        text.push(format!("{prefix}{secret}"));
        html.push(format!("{}<code>{}</code>", escape_html(prefix), escape_html(secret)));
    }
    text.push(signature.clone());
    html.push(escape_html(&signature).replace('\n', "<br>"));
    OutgoingMail {
        kind,
        to: to.clone(),
        html_body: html_document(&subject, &html),
        subject,
        text_body: text.join("\n\n") + "\n",
    }
}

/// R18: the invitation, with its one-time token.
pub fn invitation_mail(
    to: &EmailAddress,
    context: &MailContext<'_>,
    login_name: &str,
    invited_by: &str,
    token: &str,
    expires_at: DateTime<Utc>,
) -> OutgoingMail {
    let subject = format!("You are invited to {}", context.account_name);
    let paragraphs = [
        format!("{invited_by} invited you to join {} on Roster.", context.account_name),
        format!(
            "Accept the invitation to choose your password, then log in to account \"{}\" as \"{login_name}\". \
             The invitation can be used once and expires on {}.",
            context.account_slug,
            expires_at.format("%Y-%m-%d %H:%M UTC")
        ),
    ];
    let link = link(context, "accept-invitation", token);
    compose(MailKind::Invitation, to, subject, context, &paragraphs, Some((TOKEN_LINE_PREFIX, token)), link)
}

/// R11: a one-time link (token) to choose a new password.
pub fn password_reset_mail(
    to: &EmailAddress,
    context: &MailContext<'_>,
    token: &str,
    expires_at: DateTime<Utc>,
) -> OutgoingMail {
    let subject = format!("Reset your {} password", context.account_name);
    let paragraphs = [
        format!(
            "Someone asked to reset your password for {}. If it was not you, ignore this email.",
            context.account_name
        ),
        format!("The reset can be used once and expires on {}.", expires_at.format("%Y-%m-%d %H:%M UTC")),
    ];
    let link = link(context, "reset-password", token);
    compose(MailKind::PasswordReset, to, subject, context, &paragraphs, Some((TOKEN_LINE_PREFIX, token)), link)
}

/// R10, R11: a temporary password, to be changed at first use (R42).
pub fn temporary_password_mail(
    to: &EmailAddress,
    context: &MailContext<'_>,
    login_name: &str,
    password: &str,
    expires_at: DateTime<Utc>,
) -> OutgoingMail {
    let subject = format!("Your temporary {} password", context.account_name);
    let paragraphs = [
        format!(
            "Log in to account \"{}\" as \"{login_name}\" with the temporary password below; you will be asked \
             to choose your own at once.",
            context.account_slug
        ),
        format!("The temporary password expires on {}.", expires_at.format("%Y-%m-%d %H:%M UTC")),
    ];
    compose(
        MailKind::TemporaryPassword,
        to,
        subject,
        context,
        &paragraphs,
        Some((PASSWORD_LINE_PREFIX, password)),
        None,
    )
}

/// R36: the notice that a newer login replaced the user's session.
pub fn session_replaced_mail(
    to: &EmailAddress,
    context: &MailContext<'_>,
    at: DateTime<Utc>,
    client_address: Option<&str>,
) -> OutgoingMail {
    let subject = format!("New login to your {} account", context.account_name);
    let from = client_address.map(|address| format!(" from {address}")).unwrap_or_default();
    let paragraphs = [
        format!(
            "A new login{from} on {} ended your previous session: Roster keeps one session per login.",
            at.format("%Y-%m-%d %H:%M UTC")
        ),
        "If this was not you, change your password and tell your administrator.".to_owned(),
    ];
    compose(MailKind::SessionReplaced, to, subject, context, &paragraphs, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> MailContext<'static> {
        MailContext {
            account_name: "Acme <Shops>",
            account_slug: "acme",
            recipient_name: "Ann",
            link_base: Some("https://roster.example/"),
        }
    }

    #[test]
    fn r18_the_invitation_carries_the_token_and_the_accounts_name_in_both_bodies() {
        let to = EmailAddress::parse("to", "ann@acme.example").unwrap();
        let mail = invitation_mail(&to, &context(), "ann", "bob", "TOKEN123", Utc::now());
        assert!(mail.subject.contains("Acme <Shops>"));
        assert!(mail.text_body.contains("Token: TOKEN123\n"));
        assert!(mail.text_body.contains("https://roster.example/accept-invitation?account=acme&token=TOKEN123"));
        assert!(mail.html_body.contains("Acme &lt;Shops&gt;"), "html is escaped");
        assert!(mail.html_body.contains("<code>TOKEN123</code>"));
        assert!(!format!("{mail:?}").contains("TOKEN123"), "Debug shows no body");
    }

    #[test]
    fn every_template_names_the_account() {
        let to = EmailAddress::parse("to", "ann@acme.example").unwrap();
        let context = context();
        let mails = [
            password_reset_mail(&to, &context, "T", Utc::now()),
            temporary_password_mail(&to, &context, "ann", "P", Utc::now()),
            session_replaced_mail(&to, &context, Utc::now(), Some("203.0.113.7")),
        ];
        for mail in mails {
            assert!(mail.subject.contains("Acme <Shops>"), "{:?}", mail.kind);
            assert!(mail.text_body.contains("Acme <Shops>"));
            assert!(mail.html_body.contains("Acme &lt;Shops&gt;"));
            assert_eq!(MailKind::parse_stored(mail.kind.as_str()), Some(mail.kind));
        }
    }
}
