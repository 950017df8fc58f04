//! The standard's resources (GET services, GET services/{code}, POST
//! requests, GET requests, GET requests/{id}, GET tokens/{token}), in JSON
//! or XML by the extension, and its error arrays.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde_json::{Value, json};

use super::model::{Case, Kind, Post, Service, now};
use super::wire::{self, Format, Reply};
use super::{BASE, State};

/// An ISO 8601 date and time, with an offset (or `Z`), or without (UTC).
pub fn parse_date(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .or_else(|| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc().fixed_offset())
        })
}

/// `attribute[code]` or `attribute[code][]` → code.
fn attribute_code(name: &str) -> Option<&str> {
    let inner = name.strip_prefix("attribute[")?;
    let inner = inner.strip_suffix("[]").unwrap_or(inner);
    inner.strip_suffix(']').filter(|code| !code.is_empty())
}

impl State {
    pub(super) fn route(
        &mut self,
        request: &wire::Request,
        path: &str,
        query: &[(String, String)],
        hold: &mut Option<Duration>,
    ) -> Reply {
        let Some(rest) = path.strip_prefix(BASE).and_then(|r| r.strip_prefix('/')) else {
            return self.error(Format::Xml, 404, "not found");
        };
        let mut segments: Vec<&str> = rest.split('/').collect();
        let last = segments.pop().unwrap_or_default();
        let (name, format) = match last.rsplit_once('.') {
            Some((name, "json")) => (name, Format::Json),
            Some((name, "xml")) => (name, Format::Xml),
            _ => (last, Format::Xml),
        };
        segments.push(name);
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["services"]) => {
                let list: Vec<Value> = self.services.iter().map(Service::list_entry).collect();
                format.render(200, "services", &Value::Array(list))
            }
            ("GET", ["services", code]) => match self.services.iter().find(|s| s.code == *code) {
                Some(service) => format.render(200, "service_definition", &service.definition()),
                None => self.error(format, 404, &format!("service_code {code} not found")),
            },
            ("POST", ["requests"]) => self.create(format, request, path, hold),
            ("GET", ["requests"]) => self.search(format, query),
            ("GET", ["requests", id]) => self.one(format, id),
            ("GET", ["tokens", token]) => self.token(format, token),
            (_, ["services"] | ["services", _] | ["requests"] | ["requests", _] | ["tokens", _]) => {
                self.error(format, 405, "method not allowed")
            }
            _ => self.error(format, 404, "not found"),
        }
    }

    /// `[{code, description}]`, in XML when asked or when the switch says.
    fn error(&self, format: Format, status: u16, description: &str) -> Reply {
        let format = if self.errors_as_xml { Format::Xml } else { format };
        format.render(status, "errors", &json!([{"code": status, "description": description}]))
    }

    fn create(&mut self, format: Format, request: &wire::Request, path: &str, hold: &mut Option<Duration>) -> Reply {
        let fields = wire::decode_form(&String::from_utf8_lossy(&request.body));
        let content_type = request.header("content-type").unwrap_or_default().to_owned();
        let reply = match self.try_create(format, &fields, &content_type) {
            Ok(reply) => {
                *hold = self.hold_next_post.take();
                reply
            }
            Err(reply) => reply,
        };
        self.posts.push(Post { path: path.to_owned(), content_type, fields, status: reply.status });
        reply
    }

    fn try_create(&mut self, format: Format, fields: &[(String, String)], content_type: &str) -> Result<Reply, Reply> {
        let field =
            |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return Err(self.error(format, 400, "the body must be application/x-www-form-urlencoded"));
        }
        if field("api_key") != Some(self.api_key.as_str()) || self.api_key.is_empty() {
            return Err(self.error(format, 403, "invalid api_key"));
        }
        let Some(code) = field("service_code") else {
            return Err(self.error(format, 400, "service_code was not provided"));
        };
        let Some(service) = self.services.iter().find(|s| s.code == code).cloned() else {
            return Err(self.error(format, 400, &format!("service_code {code} not found")));
        };
        let lat = field("lat").and_then(|v| v.parse::<f64>().ok());
        let long = field("long").and_then(|v| v.parse::<f64>().ok());
        let address = field("address_string");
        let address_id = field("address_id");
        let located = (lat.is_some() && long.is_some()) || address.is_some() || address_id.is_some();
        if !located {
            return Err(self.error(format, 400, "a location is required: lat and long, address_string or address_id"));
        }
        if lat.is_some_and(|l| !(-90.0..=90.0).contains(&l)) || long.is_some_and(|l| !(-180.0..=180.0).contains(&l)) {
            return Err(self.error(format, 400, "lat or long out of range"));
        }
        let attributes: Vec<(String, String)> = fields
            .iter()
            .filter_map(|(name, value)| attribute_code(name).map(|code| (code.to_owned(), value.clone())))
            .collect();
        let given = |code: &str| attributes.iter().any(|(c, v)| c == code && !v.trim().is_empty());
        for attribute in service.attributes.iter().filter(|a| a.variable && a.required) {
            if !given(attribute.code.as_str()) {
                return Err(self.error(format, 400, &format!("attribute[{}] is required", attribute.code)));
            }
        }
        for (code, value) in &attributes {
            let listed = service.attributes.iter().find(|a| &a.code == code);
            if let Some(attribute) = listed.filter(|a| a.datatype.ends_with("valuelist"))
                && !attribute.values.iter().any(|(key, _)| key == value)
            {
                return Err(self.error(format, 400, &format!("attribute[{code}] has no value {value}")));
            }
        }
        for code in &service.undeclared_required {
            if !given(code.as_str()) {
                return Err(self.error(format, 400, &format!("attribute[{code}] is required")));
            }
        }
        let description = fields.iter().find(|(n, _)| n == "description").map(|(_, v)| v.clone()).unwrap_or_default();
        if description.chars().count() > 4000 {
            return Err(self.error(format, 400, "description is longer than 4000 characters"));
        }
        if self.cases.iter().any(|c| c.service_code == service.code && c.description == description) {
            return Err(self.error(format, 400, "duplicate request"));
        }
        let at = now();
        let mut case = Case {
            service_request_id: None,
            token: None,
            service_code: service.code.clone(),
            service_name: service.name.clone(),
            description,
            status: "open".to_owned(),
            status_notes: None,
            agency_responsible: service.agency.clone(),
            service_notice: service.notice.clone(),
            requested: at,
            updated: at,
            address: address.map(str::to_owned),
            address_id: address_id.map(str::to_owned),
            lat,
            long,
            email: field("email").map(str::to_owned),
            media_url: field("media_url").map(str::to_owned),
            attributes,
            token_reads: 0,
        };
        let answer = if service.kind == Kind::Batch {
            let token = uuid::Uuid::new_v4().to_string();
            case.token = Some(token.clone());
            json!([{"token": token, "service_notice": service.notice}])
        } else {
            let id = self.new_id();
            case.service_request_id = Some(id.clone());
            json!([{"service_request_id": id, "service_notice": service.notice, "account_id": null}])
        };
        self.cases.push(case);
        Ok(format.render(200, "service_requests", &answer))
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    pub(super) fn resolve(&mut self, index: usize) -> String {
        if let Some(id) = self.cases[index].service_request_id.clone() {
            return id;
        }
        let id = self.new_id();
        self.cases[index].service_request_id = Some(id.clone());
        self.cases[index].updated = now();
        id
    }

    /// `GET requests`: by ids (the rest ignored), or by service codes,
    /// statuses and dates (the last 90 days when none is given).
    fn search(&mut self, format: Format, query: &[(String, String)]) -> Reply {
        let param = |name: &str| query.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
        let list = |items: Vec<Value>| format.render(200, "service_requests", &Value::Array(items));
        if self.hidden_listings > 0 {
            self.hidden_listings -= 1;
            return list(Vec::new());
        }
        let listed = self.cases.iter().filter(|c| c.service_request_id.is_some());
        if let Some(ids) = param("service_request_id") {
            let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
            return list(
                listed
                    .filter(|c| ids.contains(&c.service_request_id.as_deref().unwrap_or_default()))
                    .map(Case::to_json)
                    .collect(),
            );
        }
        let mut dates = [None, None];
        for (slot, name) in dates.iter_mut().zip(["start_date", "end_date"]) {
            if let Some(text) = param(name) {
                match parse_date(text) {
                    Some(date) => *slot = Some(date),
                    None => return self.error(format, 400, &format!("{name} is not an ISO 8601 date: {text}")),
                }
            }
        }
        let [mut start, end] = dates;
        if start.is_none() && end.is_none() {
            start = Some(now() - chrono::Duration::days(90));
        }
        let codes: Option<Vec<&str>> = param("service_code").map(|c| c.split(',').map(str::trim).collect());
        let statuses: Option<Vec<&str>> = param("status").map(|s| s.split(',').map(str::trim).collect());
        let found = listed
            .filter(|c| codes.as_ref().is_none_or(|codes| codes.contains(&c.service_code.as_str())))
            .filter(|c| statuses.as_ref().is_none_or(|statuses| statuses.contains(&c.status.as_str())))
            .filter(|c| start.is_none_or(|start| c.requested >= start))
            .filter(|c| end.is_none_or(|end| c.requested <= end))
            .map(Case::to_json)
            .collect();
        list(found)
    }

    fn one(&self, format: Format, id: &str) -> Reply {
        if self.fail_status_reads {
            return self.error(format, 503, "temporarily unavailable");
        }
        match self.cases.iter().find(|c| c.service_request_id.as_deref() == Some(id)) {
            Some(case) => format.render(200, "service_requests", &json!([case.to_json()])),
            None => self.error(format, 404, &format!("service_request_id {id} not found")),
        }
    }

    fn token(&mut self, format: Format, token: &str) -> Reply {
        let Some(index) = self.cases.iter().position(|c| c.token.as_deref() == Some(token)) else {
            return self.error(format, 404, &format!("token {token} not found"));
        };
        self.cases[index].token_reads += 1;
        let due = self.resolve_tokens_after.is_some_and(|after| self.cases[index].token_reads >= after);
        if due {
            self.resolve(index);
        }
        let answer = match &self.cases[index].service_request_id {
            Some(id) => json!([{"service_request_id": id, "token": token}]),
            None => json!([]),
        };
        format.render(200, "service_requests", &answer)
    }
}
