//! Composes a mail from the database as it is at send time: a post hidden,
//! deleted or redacted since the mail was enqueued is not mailed (or is
//! mailed as it reads now). Every mail has a plain-text and an HTML part;
//! everything in the HTML is escaped, and post excerpts come from the
//! sanitised HTML, not the Markdown source.

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use super::digest::{self, DigestContent};
use super::preferences::{self, Mode, Topic, Unsubscribe};
use super::{DigestPayload, MailKind, NotificationPayload, TokenPayload, WebhookDisabledPayload, reachable};
use crate::error::{ApiError, ApiResult};
use crate::service::Context;
use crate::service::posts;
use crate::service::settings::LinkTemplates;
use crate::store::mail::{OutboxMail, Recipient};
use crate::store::notifications::Notification;
use crate::store::{self, DbConn};

/// What a claimed outbox row comes to.
pub enum Prepared {
    /// A message for `address` (the user's address when it was read).
    Mail { message: Box<Message>, address: String },
    /// Nothing to send, and why.
    Drop(String),
}

/// The words of a mail before they are put into a message.
struct Draft {
    subject: String,
    /// Paragraphs of plain text; a link is its own paragraph.
    paragraphs: Vec<Paragraph>,
    /// What the List-Unsubscribe headers name (notification mail only).
    unsubscribe: Option<Unsubscribe>,
}

enum Paragraph {
    Text(String),
    Quote(String),
    Link { label: String, url: String },
}

/// Reads what the mail needs and builds it, or says why it is dropped.
pub fn prepare(conn: &mut DbConn, ctx: &Context, mail: &OutboxMail) -> ApiResult<Prepared> {
    let Some(recipient) = store::mail::recipient(conn, mail.user_id)? else {
        return Ok(Prepared::Drop("the account is gone".into()));
    };
    let Some(kind) = MailKind::parse(&mail.kind) else {
        return Ok(Prepared::Drop(format!("unknown kind {}", mail.kind)));
    };
    let address = match (&mail.to_address, kind) {
        // Account mail goes to the address it was meant for, verified or not.
        (Some(address), _) if recipient.email == *address => address.clone(),
        (Some(_), _) => return Ok(Prepared::Drop("the account's address changed".into())),
        (None, _) if !reachable(&recipient, ctx.now()) => {
            return Ok(Prepared::Drop("the address is unverified or undeliverable".into()));
        }
        (None, _) => recipient.email.clone(),
    };
    let draft = match kind {
        MailKind::VerifyEmail => Some(verify_email(conn, ctx, &payload::<TokenPayload>(mail)?.token)?),
        MailKind::PasswordReset => Some(reset_password(conn, ctx, &payload::<TokenPayload>(mail)?.token)?),
        MailKind::Notification => notification(conn, ctx, mail, &recipient)?,
        MailKind::Digest => digest_mail(conn, ctx, &recipient, &payload::<DigestPayload>(mail)?)?,
        MailKind::WebhookDisabled => Some(webhook_disabled(ctx, &payload::<WebhookDisabledPayload>(mail)?)),
    };
    let Some(draft) = draft else {
        return Ok(Prepared::Drop("nothing left to tell (hidden, deleted, read or turned off)".into()));
    };
    let links = ctx.rules(conn)?.links.clone();
    match build(ctx, &links, mail.id, &recipient, &address, draft) {
        Ok(message) => Ok(Prepared::Mail { message: Box::new(message), address }),
        Err(reason) => Ok(Prepared::Drop(reason)),
    }
}

fn payload<T: serde::de::DeserializeOwned>(mail: &OutboxMail) -> ApiResult<T> {
    serde_json::from_str(&mail.payload).map_err(|e| ApiError::internal(format!("mail {} payload: {e}", mail.id)))
}

fn verify_email(conn: &mut DbConn, ctx: &Context, token: &str) -> ApiResult<Draft> {
    let url = link(ctx, &ctx.rules(conn)?.links.verify_email, "{token}", token);
    Ok(Draft {
        subject: "Confirm your email address".into(),
        paragraphs: vec![
            Paragraph::Text(
                "Please confirm that this is your email address, so we can tell you when someone answers.".into(),
            ),
            Paragraph::Link { label: "Confirm my address".into(), url },
            Paragraph::Text("The link works for 48 hours. If you did not sign up, ignore this mail.".into()),
        ],
        unsubscribe: None,
    })
}

fn webhook_disabled(ctx: &Context, alert: &WebhookDisabledPayload) -> Draft {
    Draft {
        subject: "A webhook endpoint was disabled".into(),
        paragraphs: vec![
            Paragraph::Text(format!(
                "Agora stopped sending events to webhook endpoint {} ({}): {}.",
                alert.endpoint_id, alert.url, alert.reason
            )),
            Paragraph::Text(
                "Events since then were not queued for it. Fix the receiver, enable the endpoint again \
                 (PATCH /api/v1/admin/webhooks/{id} with enabled: true) and redeliver what it missed \
                 from its delivery log."
                    .into(),
            ),
            Paragraph::Link { label: "The API reference".into(), url: format!("{}/docs", public_url(ctx)) },
        ],
        unsubscribe: None,
    }
}

fn reset_password(conn: &mut DbConn, ctx: &Context, token: &str) -> ApiResult<Draft> {
    let url = link(ctx, &ctx.rules(conn)?.links.reset_password, "{token}", token);
    Ok(Draft {
        subject: "Reset your password".into(),
        paragraphs: vec![
            Paragraph::Text("Someone (we hope you) asked to reset the password of your account.".into()),
            Paragraph::Link { label: "Choose a new password".into(), url },
            Paragraph::Text(
                "The link works once, for 60 minutes, and signs you out everywhere. \
                 If you did not ask, ignore this mail: your password stays as it is."
                    .into(),
            ),
        ],
        unsubscribe: None,
    })
}

/// A notification mail, unless its post is no longer visible, it was read
/// already, or the recipient turned this kind off since.
fn notification(
    conn: &mut DbConn,
    ctx: &Context,
    mail: &OutboxMail,
    recipient: &Recipient,
) -> ApiResult<Option<Draft>> {
    let NotificationPayload { topic } = payload(mail)?;
    let Some(n) = mail.notification_id.map(|id| store::notifications::find(conn, id)).transpose()?.flatten() else {
        return Ok(None);
    };
    if n.read_at.is_some() || preferences::load(conn, recipient.id)?.mode(topic) != Mode::Instant {
        return Ok(None);
    }
    let Some(story) = story(conn, ctx, &n, topic)? else {
        return Ok(None);
    };
    Ok(Some(Draft {
        subject: story.headline.clone(),
        paragraphs: story.paragraphs(),
        unsubscribe: Some(Unsubscribe::Topic(topic)),
    }))
}

/// One notification told in words: a headline, an excerpt, a link.
pub struct Story {
    pub headline: String,
    pub excerpt: Option<String>,
    pub url: String,
}

impl Story {
    fn paragraphs(&self) -> Vec<Paragraph> {
        let mut paragraphs = vec![Paragraph::Text(self.headline.clone())];
        if let Some(excerpt) = &self.excerpt {
            paragraphs.push(Paragraph::Quote(excerpt.clone()));
        }
        paragraphs.push(Paragraph::Link { label: "Read it".into(), url: self.url.clone() });
        paragraphs
    }
}

/// What a notification says, read now; `None` when what it is about can no
/// longer be seen (a moderator's action is told even about a hidden post:
/// that is the news).
pub fn story(conn: &mut DbConn, ctx: &Context, n: &Notification, topic: Topic) -> ApiResult<Option<Story>> {
    let Some(question) = n.question_id.map(|id| store::questions::find(conn, id)).transpose()?.flatten() else {
        return Ok(None);
    };
    let visible = |hidden: Option<chrono::NaiveDateTime>, deleted| posts::can_see(None, 0, hidden, deleted);
    let moderated = topic == Topic::ModeratorAction;
    if !moderated && !visible(question.hidden_at, question.deleted_at) {
        return Ok(None);
    }
    let mut excerpt_html = (topic == Topic::ExpertNewQuestion).then(|| question.body_html.clone());
    if let Some(answer) = n.answer_id.filter(|_| n.comment_id.is_none()) {
        let Some(answer) = store::answers::find(conn, answer)? else { return Ok(None) };
        if !moderated && !visible(answer.hidden_at, answer.deleted_at) {
            return Ok(None);
        }
        excerpt_html = (!moderated).then_some(answer.body_html);
    }
    if let Some(comment) = n.comment_id {
        let Some(comment) = store::comments::find(conn, comment)? else { return Ok(None) };
        if !moderated && !visible(comment.hidden_at, comment.deleted_at) {
            return Ok(None);
        }
        excerpt_html = (!moderated).then_some(comment.body_html);
    }
    let actor = match n.actor_id {
        Some(id) => store::mail::recipient(conn, id)?.map(|a| a.display_name),
        None => None,
    };
    let title = one_line(&question.title);
    let who = actor.as_deref().map(one_line).unwrap_or_else(|| "Someone".into());
    let headline = match topic {
        Topic::AnswerOnMyQuestion => format!("{who} answered your question \"{title}\""),
        Topic::FollowedQuestionActivity => format!("New answer on \"{title}\""),
        Topic::CommentOnMyPost => format!("{who} commented on your post in \"{title}\""),
        Topic::AnswerAccepted => format!("Your answer to \"{title}\" was accepted"),
        Topic::AnswerVerified => format!("The council verified your answer to \"{title}\""),
        Topic::ModeratorAction => format!("A moderator acted on your post in \"{title}\""),
        Topic::ExpertNewQuestion => format!("A new question in your area of expertise: \"{title}\""),
        Topic::EscalationUpdate => format!("News of the council's handling of \"{title}\""),
    };
    let url = link(ctx, &ctx.rules(conn)?.links.question, "{id}", &question.id.to_string());
    Ok(Some(Story { headline, excerpt: excerpt_html.map(|html| excerpt(&html)), url }))
}

fn digest_mail(
    conn: &mut DbConn,
    ctx: &Context,
    recipient: &Recipient,
    window: &DigestPayload,
) -> ApiResult<Option<Draft>> {
    let DigestContent { stories, unanswered } = digest::content(conn, ctx, recipient.id, window.since, window.until)?;
    if stories.is_empty() && unanswered.is_empty() {
        return Ok(None);
    }
    let mut paragraphs = Vec::new();
    if !stories.is_empty() {
        paragraphs.push(Paragraph::Text("What happened since your last digest:".into()));
        for story in &stories {
            paragraphs.extend(story.paragraphs());
        }
    }
    if !unanswered.is_empty() {
        paragraphs.push(Paragraph::Text("Questions waiting for an answer in the categories you follow:".into()));
        let template = ctx.rules(conn)?.links.question.clone();
        for (id, title) in &unanswered {
            paragraphs
                .push(Paragraph::Link { label: one_line(title), url: link(ctx, &template, "{id}", &id.to_string()) });
        }
    }
    let count = stories.len() + unanswered.len();
    Ok(Some(Draft {
        subject: format!("Your digest: {count} new {}", if count == 1 { "item" } else { "items" }),
        paragraphs,
        unsubscribe: Some(Unsubscribe::Digest),
    }))
}

/// Fills a link template; a template starting with `/` is on this server.
pub fn link(ctx: &Context, template: &str, placeholder: &str, value: &str) -> String {
    let filled = template.replace(placeholder, value);
    if filled.starts_with('/') { format!("{}{filled}", public_url(ctx)) } else { filled }
}

fn public_url(ctx: &Context) -> &str {
    ctx.config.mail.public_url.trim_end_matches('/')
}

/// The host mail ids are made in (the public URL's).
fn domain(ctx: &Context) -> &str {
    let url = public_url(ctx);
    let host = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = host.split(['/', ':']).next().unwrap_or(host);
    if host.is_empty() { "agora.invalid" } else { host }
}

/// A stable id per mail: a retry of the same row is the same message, so a
/// receiving server (or reader) can drop the repeat.
pub fn message_id(ctx: &Context, mail_id: i64) -> String {
    format!("<mail-{mail_id}@{}>", domain(ctx))
}

fn build(
    ctx: &Context,
    links: &LinkTemplates,
    mail_id: i64,
    recipient: &Recipient,
    address: &str,
    draft: Draft,
) -> Result<Message, String> {
    let from: Mailbox = ctx.config.mail.from.parse().map_err(|e| format!("AGORA_MAIL_FROM: {e}"))?;
    let to_address = address.parse().map_err(|_| format!("malformed address for user {}", recipient.id))?;
    let to = Mailbox::new(Some(one_line(&recipient.display_name)), to_address);
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(one_line(&draft.subject))
        .message_id(Some(message_id(ctx, mail_id)))
        .date_now();
    if let Some(what) = draft.unsubscribe {
        // RFC 8058: the URL a mail client POSTs `List-Unsubscribe=One-Click`
        // to, without the user signing in.
        let token = preferences::unsubscribe_token(ctx, recipient.id, what);
        let url = format!("{}/api/v1/unsubscribe?token={token}", public_url(ctx));
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    let mut paragraphs = draft.paragraphs;
    if let Some(what) = draft.unsubscribe {
        let token = preferences::unsubscribe_token(ctx, recipient.id, what);
        let url = link(ctx, &links.unsubscribe, "{token}", &token);
        paragraphs.push(Paragraph::Link { label: "Stop these mails".into(), url });
    }
    builder
        .multipart(MultiPart::alternative_plain_html(plain_text(&paragraphs), html(&paragraphs)))
        .map_err(|e| format!("building the message: {e}"))
}

fn plain_text(paragraphs: &[Paragraph]) -> String {
    let mut out = String::new();
    for p in paragraphs {
        match p {
            Paragraph::Text(text) => out.push_str(text),
            Paragraph::Quote(text) => {
                out.push_str("> ");
                out.push_str(text);
            }
            Paragraph::Link { label, url } => {
                out.push_str(label);
                out.push_str(":\n");
                out.push_str(url);
            }
        }
        out.push_str("\n\n");
    }
    out
}

fn html(paragraphs: &[Paragraph]) -> String {
    let mut out = String::from("<!DOCTYPE html><html><body>\n");
    for p in paragraphs {
        match p {
            Paragraph::Text(text) => out.push_str(&format!("<p>{}</p>\n", escape(text))),
            Paragraph::Quote(text) => out.push_str(&format!("<blockquote>{}</blockquote>\n", escape(text))),
            Paragraph::Link { label, url } => {
                out.push_str(&format!("<p><a href=\"{}\">{}</a></p>\n", escape(url), escape(label)));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A header-safe line: control characters (CR and LF above all, which
/// would start a new header) become spaces, runs of space collapse.
pub fn one_line(text: &str) -> String {
    let spaced: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first ~300 characters of a post's sanitised HTML as plain text.
fn excerpt(body_html: &str) -> String {
    const MAX: usize = 300;
    let text = one_line(&unescape(&ammonia::Builder::empty().clean(body_html).to_string()));
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{}…", cut.trim_end())
}

/// Undoes the entity escaping of sanitised text (it is escaped again for
/// the HTML part).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_loses_line_breaks() {
        assert_eq!(one_line("Bins\r\nBcc: victim@example.org"), "Bins Bcc: victim@example.org");
    }

    #[test]
    fn excerpts_are_text_and_escaped_again_in_html() {
        let text = excerpt("<p>Use the <b>green</b> bin &amp; <script>x</script>call &lt;us&gt;</p>");
        assert_eq!(text, "Use the green bin & call <us>");
        assert_eq!(escape(&text), "Use the green bin &amp; call &lt;us&gt;");
    }
}
