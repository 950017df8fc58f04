//! What the test GeoReport server serves and records: services and their
//! definitions, cases, POSTs and requests.

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::{Value, json};

/// `realtime` (an id at once), `batch` (a token, the id later) or
/// `blackbox` (an id, and no status changes expected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Realtime,
    Batch,
    Blackbox,
}

impl Kind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Kind::Realtime => "realtime",
            Kind::Batch => "batch",
            Kind::Blackbox => "blackbox",
        }
    }
}

/// An attribute of a service definition.
#[derive(Debug, Clone)]
pub struct Attribute {
    pub code: String,
    /// false: text to show, not a field to fill in.
    pub variable: bool,
    /// string, number, datetime, text, singlevaluelist or multivaluelist.
    pub datatype: &'static str,
    pub required: bool,
    pub datatype_description: Option<String>,
    pub order: u32,
    pub description: String,
    /// (key, name) of the list datatypes.
    pub values: Vec<(String, String)>,
}

impl Attribute {
    pub fn new(code: &str, datatype: &'static str, required: bool, description: &str) -> Attribute {
        Attribute {
            code: code.to_owned(),
            variable: true,
            datatype,
            required,
            datatype_description: None,
            order: 0,
            description: description.to_owned(),
            values: Vec::new(),
        }
    }

    /// Text shown to whoever reports (`variable: false`).
    pub fn informational(code: &str, description: &str) -> Attribute {
        Attribute { variable: false, ..Attribute::new(code, "text", false, description) }
    }

    pub fn values(mut self, values: &[(&str, &str)]) -> Attribute {
        self.values = values.iter().map(|(k, n)| (k.to_string(), n.to_string())).collect();
        self
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": self.datatype_description,
            "order": self.order,
            "description": self.description,
            "values": self.values.iter().map(|(k, n)| json!({"key": k, "name": n})).collect::<Vec<_>>(),
        })
    }
}

/// A service the endpoint lists.
#[derive(Debug, Clone)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub description: String,
    pub kind: Kind,
    /// Comma separated, as the standard has it.
    pub keywords: String,
    pub group: String,
    pub agency: String,
    pub notice: String,
    pub attributes: Vec<Attribute>,
    /// Attributes a POST must carry though the definition does not list
    /// them (a definition out of date: the POST is refused with a 400).
    pub undeclared_required: Vec<String>,
}

impl Service {
    pub fn new(code: &str, name: &str, kind: Kind, group: &str) -> Service {
        Service {
            code: code.to_owned(),
            name: name.to_owned(),
            description: format!("Report a problem: {}", name.to_lowercase()),
            kind,
            keywords: String::new(),
            group: group.to_owned(),
            agency: format!("{group} department"),
            notice: format!("The {group} department deals with these within 5 working days."),
            attributes: Vec::new(),
            undeclared_required: Vec::new(),
        }
    }

    pub fn keywords(mut self, keywords: &str) -> Service {
        self.keywords = keywords.to_owned();
        self
    }

    /// Adds an attribute, ordered after the ones before it.
    pub fn attribute(mut self, mut attribute: Attribute) -> Service {
        attribute.order = self.attributes.len() as u32 + 1;
        self.attributes.push(attribute);
        self
    }

    pub fn requiring_undeclared(mut self, code: &str) -> Service {
        self.undeclared_required.push(code.to_owned());
        self
    }

    /// Whether it has a definition worth fetching (`services/{code}`).
    pub fn metadata(&self) -> bool {
        !self.attributes.is_empty()
    }

    pub(super) fn list_entry(&self) -> Value {
        json!({
            "service_code": self.code,
            "service_name": self.name,
            "description": self.description,
            "metadata": self.metadata(),
            "type": self.kind.as_str(),
            "keywords": self.keywords,
            "group": self.group,
        })
    }

    pub(super) fn definition(&self) -> Value {
        json!({
            "service_code": self.code,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
        })
    }
}

/// A case (service request) the server holds.
#[derive(Debug, Clone)]
pub struct Case {
    /// None while a batch request's token is not resolved.
    pub service_request_id: Option<String>,
    pub token: Option<String>,
    pub service_code: String,
    pub service_name: String,
    pub description: String,
    /// open or closed.
    pub status: String,
    pub status_notes: Option<String>,
    pub agency_responsible: String,
    pub service_notice: String,
    pub requested: DateTime<FixedOffset>,
    pub updated: DateTime<FixedOffset>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub email: Option<String>,
    pub media_url: Option<String>,
    /// (code, value); a multi-valued attribute once per value.
    pub attributes: Vec<(String, String)>,
    pub(super) token_reads: usize,
}

impl Case {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "service_request_id": self.service_request_id,
            "status": self.status,
            "status_notes": self.status_notes,
            "service_name": self.service_name,
            "service_code": self.service_code,
            "description": self.description,
            "agency_responsible": self.agency_responsible,
            "service_notice": self.service_notice,
            "requested_datetime": w3c(&self.requested),
            "updated_datetime": w3c(&self.updated),
            "expected_datetime": null,
            "address": self.address,
            "address_id": self.address_id,
            "zipcode": null,
            "lat": self.lat,
            "long": self.long,
            "media_url": self.media_url,
        })
    }
}

/// A POST as received, with its fields decoded.
#[derive(Debug, Clone)]
pub struct Post {
    pub path: String,
    pub content_type: String,
    /// In order, repeated names kept.
    pub fields: Vec<(String, String)>,
    /// The status it was answered with.
    pub status: u16,
}

impl Post {
    /// The first value of a field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a field, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.field(name).is_some()
    }
}

/// Any request, with its decoded query and the status it got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    /// Without the query string.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub status: u16,
}

impl Hit {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Now, as a council in UTC+1 writes it.
pub(super) fn now() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&FixedOffset::east_opt(3600).expect("offset"))
}

/// W3C / ISO 8601 with the offset: `2026-03-01T10:00:00+01:00`.
fn w3c(at: &DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}
