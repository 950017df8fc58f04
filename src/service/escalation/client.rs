//! A GeoReport v2 client (wiki.open311.org/GeoReport_v2): the council's
//! Open311 endpoint, always asked for JSON, with its errors understood in
//! either JSON or XML (some servers answer errors in XML whatever was
//! asked for).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a call to the endpoint went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No answer: refused, timed out, reset. Worth trying again.
    Unreachable(String),
    /// An HTTP error with the endpoint's own words (`code: description`).
    Refused { status: u16, message: String },
    /// A 2xx whose body is not what the standard says.
    Malformed(String),
}

impl CallError {
    pub fn message(&self) -> String {
        match self {
            CallError::Unreachable(m) => format!("the endpoint did not answer: {m}"),
            CallError::Refused { status, message } => format!("{status}: {message}"),
            CallError::Malformed(m) => format!("the endpoint's answer was not GeoReport v2: {m}"),
        }
    }

    /// A refusal of the request itself, which sending it again will not
    /// change. A bad key, a wrong path (404) or a server error can be
    /// fixed or pass: those are retried.
    pub fn is_permanent(&self) -> bool {
        matches!(self, CallError::Refused { status, .. } if matches!(status, 400 | 413 | 422))
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, CallError::Refused { message, .. } if message.to_lowercase().contains("duplicate"))
    }
}

/// One entry of `services.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Service {
    pub service_code: String,
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub metadata: bool,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub keywords: Option<String>,
}

/// An attribute a service asks for (`services/{code}.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct Attribute {
    pub code: String,
    #[serde(default)]
    pub datatype: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub required: bool,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub variable: bool,
    #[serde(default)]
    pub values: Vec<AttributeValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AttributeValue {
    #[serde(deserialize_with = "stringly")]
    pub key: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Definition {
    #[serde(default)]
    attributes: Vec<Attribute>,
}

/// What a POST of a request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Id(String),
    /// Batch services: an id comes later, for this token.
    Token(String),
}

/// A case as the endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub service_request_id: String,
    pub status: Option<String>,
    pub status_notes: Option<String>,
    pub description: Option<String>,
}

pub struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    pub fn new(endpoint: &str, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent("Agora-Open311/1")
            .build()
            .into();
        Client { agent, base: endpoint.trim_end_matches('/').to_owned() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, CallError> {
        let mut request = self.agent.get(self.url(path));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        read(request.call())
    }

    pub fn services(&self, jurisdiction: Option<&str>) -> Result<Vec<Service>, CallError> {
        let query: Vec<(&str, &str)> = jurisdiction.map(|j| ("jurisdiction_id", j)).into_iter().collect();
        let value = self.get("services.json", &query)?;
        serde_json::from_value(value).map_err(|e| CallError::Malformed(e.to_string()))
    }

    pub fn attributes(&self, code: &str, jurisdiction: Option<&str>) -> Result<Vec<Attribute>, CallError> {
        let query: Vec<(&str, &str)> = jurisdiction.map(|j| ("jurisdiction_id", j)).into_iter().collect();
        let value = self.get(&format!("services/{}.json", encode_segment(code)), &query)?;
        let definition: Definition = serde_json::from_value(value).map_err(|e| CallError::Malformed(e.to_string()))?;
        Ok(definition.attributes)
    }

    /// POSTs a service request as the standard's form fields.
    pub fn submit(&self, form: &[(String, String)]) -> Result<Submitted, CallError> {
        let response =
            self.agent.post(self.url("requests.json")).send_form(form.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let value = read(response)?;
        let first = first(&value)?;
        if let Some(id) = text(first, "service_request_id") {
            return Ok(Submitted::Id(id));
        }
        match text(first, "token") {
            Some(token) => Ok(Submitted::Token(token)),
            None => Err(CallError::Malformed("neither service_request_id nor token".into())),
        }
    }

    /// The id a batch token became, once the endpoint has one.
    pub fn resolve_token(&self, token: &str, jurisdiction: Option<&str>) -> Result<Option<String>, CallError> {
        let query: Vec<(&str, &str)> = jurisdiction.map(|j| ("jurisdiction_id", j)).into_iter().collect();
        match self.get(&format!("tokens/{}.json", encode_segment(token)), &query) {
            Ok(value) => Ok(value.as_array().and_then(|a| a.first()).and_then(|t| text(t, "service_request_id"))),
            Err(CallError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn case(&self, id: &str, jurisdiction: Option<&str>) -> Result<Case, CallError> {
        let query: Vec<(&str, &str)> = jurisdiction.map(|j| ("jurisdiction_id", j)).into_iter().collect();
        let value = self.get(&format!("requests/{}.json", encode_segment(id)), &query)?;
        case(first(&value)?).ok_or_else(|| CallError::Malformed("a request without service_request_id".into()))
    }

    /// Cases of a service created since `start_date` (ISO 8601), to find one
    /// this client may have created before a timeout.
    pub fn cases_since(
        &self,
        service_code: &str,
        start_date: &str,
        jurisdiction: Option<&str>,
    ) -> Result<Vec<Case>, CallError> {
        let mut query = vec![("service_code", service_code), ("start_date", start_date)];
        if let Some(j) = jurisdiction {
            query.push(("jurisdiction_id", j));
        }
        let value = self.get("requests.json", &query)?;
        Ok(value.as_array().map(|a| a.iter().filter_map(case).collect()).unwrap_or_default())
    }
}

fn case(value: &Value) -> Option<Case> {
    Some(Case {
        service_request_id: text(value, "service_request_id")?,
        status: text(value, "status"),
        status_notes: text(value, "status_notes"),
        description: text(value, "description"),
    })
}

fn first(value: &Value) -> Result<&Value, CallError> {
    value.as_array().and_then(|a| a.first()).ok_or_else(|| CallError::Malformed("expected a non-empty array".into()))
}

/// A field as text, whether the endpoint sent a string or a number.
fn text(value: &Value, field: &str) -> Option<String> {
    match value.get(field)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a response: a 2xx's JSON, or the endpoint's error array.
fn read(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, CallError> {
    let mut response = result.map_err(|e| CallError::Unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| CallError::Unreachable(e.to_string()))?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&body).map_err(|e| CallError::Malformed(e.to_string()));
    }
    Err(CallError::Refused { status, message: error_message(&body).unwrap_or_else(|| format!("HTTP {status}")) })
}

/// The first error of a GeoReport error array, JSON or XML.
pub fn error_message(body: &str) -> Option<String> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(trimmed).ok()?;
        let error = value.as_array().and_then(|a| a.first()).unwrap_or(&value);
        let description = text(error, "description")?;
        return Some(match text(error, "code") {
            Some(code) => format!("{code} {description}"),
            None => description,
        });
    }
    let code = xml_element(trimmed, "code");
    let description = xml_element(trimmed, "description")?;
    Some(match code {
        Some(code) => format!("{code} {description}"),
        None => description,
    })
}

/// The text of the first `<name>` element of an XML document (entities
/// arrive as their own events and are put back in place).
fn xml_element(xml: &str, name: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut text: Option<String> = None;
    loop {
        match (reader.read_event().ok()?, text.as_mut()) {
            (Event::Start(e), None) if e.name().as_ref() == name.as_bytes() => text = Some(String::new()),
            (Event::Text(t), Some(text)) => text.push_str(&t.decode().ok()?),
            (Event::CData(t), Some(text)) => text.push_str(&String::from_utf8_lossy(&t)),
            (Event::GeneralRef(r), Some(text)) => {
                let entity = r.decode().ok()?;
                match (r.resolve_char_ref().ok().flatten(), entity.as_ref()) {
                    (Some(c), _) => text.push(c),
                    (None, "amp") => text.push('&'),
                    (None, "lt") => text.push('<'),
                    (None, "gt") => text.push('>'),
                    (None, "quot") => text.push('"'),
                    (None, "apos") => text.push('\''),
                    (None, other) => text.push_str(&format!("&{other};")),
                }
            }
            (Event::End(e), Some(_)) if e.name().as_ref() == name.as_bytes() => {
                return text.map(|t| t.trim().to_owned());
            }
            (Event::Eof, _) => return None,
            _ => {}
        }
    }
}

/// A path segment with everything but unreserved characters escaped.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        Value::Number(n) => n.as_i64() == Some(1),
        _ => false,
    })
}

fn stringly<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_arrays_are_read_in_json_and_xml() {
        assert_eq!(error_message(r#"[{"code":403,"description":"Invalid api_key"}]"#).unwrap(), "403 Invalid api_key");
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><errors><error><code>400</code>\
                   <description>duplicate request &amp; refused</description></error></errors>";
        assert_eq!(error_message(xml).unwrap(), "400 duplicate request & refused");
        assert_eq!(error_message("Service Unavailable"), None);
    }

    #[test]
    fn only_request_errors_are_permanent() {
        let refused = |status| CallError::Refused { status, message: "x".into() };
        assert!(refused(400).is_permanent());
        assert!(!refused(403).is_permanent());
        assert!(!refused(404).is_permanent());
        assert!(!refused(503).is_permanent());
        assert!(!CallError::Unreachable("timeout".into()).is_permanent());
        assert!(CallError::Refused { status: 400, message: "400 Duplicate request".into() }.is_duplicate());
    }
}
