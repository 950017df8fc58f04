//! Where composed mail goes: an SMTP server (`AGORA_SMTP_URL`), or with
//! none configured an `.eml` file per mail under `<data_dir>/mail/`, so a
//! newcomer sees exactly what would be sent.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::Error as SmtpError;
use lettre::{Message, SmtpTransport, Transport as _};

use crate::config::{Settings, redact_url};
use crate::service::delivery::Outcome;

/// An SMTP exchange that takes longer than this is given up (and retried):
/// well inside the delivery lease.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

pub enum Transport {
    Smtp { transport: SmtpTransport, described: String },
    Files(PathBuf),
}

/// Why an SMTP URL cannot be used. Never carries the URL's credentials.
#[derive(Debug, thiserror::Error)]
#[error("AGORA_SMTP_URL ({url}) cannot be used: {reason}")]
pub struct TransportError {
    url: String,
    reason: String,
}

impl Transport {
    pub fn from_settings(settings: &Settings) -> Result<Transport, TransportError> {
        let Some(url) = &settings.mail.smtp_url else {
            return Ok(Transport::Files(settings.data_dir.join("mail")));
        };
        let error = |reason: String| TransportError { url: redact_url(url), reason };
        let transport = SmtpTransport::from_url(&lettre_url(url))
            .map_err(|e| error(e.to_string()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Transport::Smtp { transport, described: redact_url(url) })
    }

    /// For logs: where mail goes, without credentials.
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp { described, .. } => described.clone(),
            Transport::Files(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Hands one mail over. `file_name` names its `.eml` file (stable per
    /// mail, so a retry rewrites the same file).
    pub fn send(&self, message: &Message, file_name: &str) -> Outcome {
        match self {
            Transport::Smtp { transport, .. } => match transport.send(message) {
                Ok(_) => Outcome::Delivered,
                Err(e) => classify(&e),
            },
            Transport::Files(dir) => match write_eml(dir, file_name, &message.formatted()) {
                Ok(()) => Outcome::Delivered,
                Err(e) => Outcome::Temporary(format!("writing the .eml file: {e}")),
            },
        }
    }
}

/// Our URL schemes in lettre's terms: `smtp+starttls://` is plain SMTP that
/// must upgrade with STARTTLS.
fn lettre_url(url: &str) -> String {
    match url.strip_prefix("smtp+starttls://") {
        Some(rest) if rest.contains('?') => format!("smtp://{rest}&tls=required"),
        Some(rest) => format!("smtp://{rest}?tls=required"),
        None => url.to_owned(),
    }
}

/// A 5xx about the mailbox is permanent; everything else (4xx, refused
/// connections, timeouts, TLS trouble, and a rejected login, which an
/// operator can fix) is worth another attempt.
fn classify(e: &SmtpError) -> Outcome {
    let message = e.to_string();
    if e.is_permanent() {
        let auth_refused = e.status().is_some_and(|code| code.to_string().starts_with("53"));
        if !auth_refused {
            return Outcome::Permanent(message);
        }
    }
    Outcome::Temporary(message)
}

/// Writes through a temporary file and a rename, so a reader never sees
/// half a mail.
fn write_eml(dir: &std::path::Path, file_name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file_name);
    let partial = dir.join(format!(".{file_name}.partial"));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_urls_become_lettres() {
        assert_eq!(lettre_url("smtp+starttls://u:p@mail.example:587"), "smtp://u:p@mail.example:587?tls=required");
        assert_eq!(lettre_url("smtps://mail.example"), "smtps://mail.example");
        assert_eq!(lettre_url("smtp://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
    }

    #[test]
    fn every_scheme_builds_a_transport() {
        for url in ["smtp://127.0.0.1:2525", "smtp+starttls://u:p@mail.example:587", "smtps://u:p@mail.example"] {
            let settings = Settings {
                mail: crate::config::MailSettings { smtp_url: Some(url.to_owned()), ..Default::default() },
                ..Settings::default()
            };
            let transport = Transport::from_settings(&settings).unwrap();
            assert!(!transport.describe().contains(":p@"), "{}", transport.describe());
        }
    }
}
