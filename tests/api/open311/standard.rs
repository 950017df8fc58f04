//! The test server itself speaks GeoReport v2 as the standard writes it,
//! checked with a plain HTTP client before the app is trusted to it:
//! formats by extension, service lists and definitions, form decoding,
//! the POST checks and the duplicate refusal, tokens, searches, error
//! arrays in JSON and XML, and going down and up on the same port.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::server::{Open311Server, encode};
use super::{API_KEY, council_services};

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    #[track_caller]
    fn json(&self) -> Value {
        assert!(self.content_type.starts_with("application/json"), "{}: {}", self.content_type, self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    #[track_caller]
    fn xml(&self) -> &str {
        assert!(self.content_type.starts_with("text/xml"), "{}: {}", self.content_type, self.body);
        assert!(self.body.starts_with(r#"<?xml version="1.0" encoding="utf-8"?>"#), "{}", self.body);
        &self.body
    }
}

struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(server: &Open311Server) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Client { agent, base: server.endpoint() }
    }

    fn send(&self, method: &str, path: &str, body: Option<&str>) -> Result<Answer, ureq::Error> {
        let mut request = ureq::http::Request::builder().method(method).uri(format!("{}/{path}", self.base));
        if body.is_some() {
            request = request.header("Content-Type", "application/x-www-form-urlencoded");
        }
        let request = request.body(body.unwrap_or_default().as_bytes().to_vec()).expect("request");
        let mut response = self.agent.run(request)?;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let bytes = response.body_mut().with_config().limit(10 * 1024 * 1024).read_to_vec().unwrap_or_default();
        Ok(Answer { status, content_type, body: String::from_utf8_lossy(&bytes).into_owned() })
    }

    #[track_caller]
    fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// A POST of `pairs`, each percent-encoded.
    #[track_caller]
    fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Answer {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        self.post_raw(path, &body.join("&"))
    }

    #[track_caller]
    fn post_raw(&self, path: &str, body: &str) -> Answer {
        self.send("POST", path, Some(body)).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
}

fn server() -> (Open311Server, Client) {
    let server = Open311Server::start();
    server.set_services(council_services());
    server.set_api_key(API_KEY);
    let client = Client::new(&server);
    (server, client)
}

#[track_caller]
fn error_array(answer: &Answer, code: u16) -> String {
    assert_eq!(answer.status, code, "{}", answer.body);
    let errors = answer.json();
    assert_eq!(errors.as_array().map(Vec::len), Some(1), "{errors}");
    assert_eq!(errors[0]["code"], code, "{errors}");
    errors[0]["description"].as_str().expect("a description").to_owned()
}

#[test]
fn services_come_as_xml_by_default_and_as_json_by_extension() {
    let (server, client) = server();
    let list = client.get("services.json");
    assert_eq!(list.status, 200);
    let services = list.json();
    assert_eq!(services.as_array().map(Vec::len), Some(4), "{services}");
    assert_eq!(
        services[0],
        json!({
            "service_code": "pothole",
            "service_name": "Pothole",
            "description": "Report a problem: pothole",
            "metadata": true,
            "type": "realtime",
            "keywords": "road, hole, tarmac",
            "group": "Streets",
        })
    );
    assert_eq!((services[1]["type"].as_str(), services[1]["metadata"].as_bool()), (Some("batch"), Some(false)));
    for path in ["services.xml", "services"] {
        let answer = client.get(path);
        let xml = answer.xml();
        assert!(xml.contains("<services><service>"), "{xml}");
        assert!(xml.contains("<service_code>missed_bin</service_code>") && xml.contains("<type>batch</type>"), "{xml}");
    }

    let definition = client.get("services/pothole.json").json();
    assert_eq!(definition["service_code"], "pothole");
    let attributes = definition["attributes"].as_array().expect("attributes");
    let codes: Vec<&str> = attributes.iter().filter_map(|a| a["code"].as_str()).collect();
    assert_eq!(codes, ["emergency", "depth", "lanes", "landmark"]);
    assert_eq!(attributes[0]["variable"], false);
    assert_eq!(
        attributes[1],
        json!({
            "variable": true,
            "code": "depth",
            "datatype": "singlevaluelist",
            "required": true,
            "datatype_description": null,
            "order": 2,
            "description": "How deep is it?",
            "values": [{"key": "shallow", "name": "Less than 5 cm"}, {"key": "deep", "name": "5 cm or more"}],
        })
    );
    let xml = client.get("services/pothole.xml");
    let xml = xml.xml();
    assert!(xml.contains("<service_definition>") && xml.contains("<attributes><attribute>"), "{xml}");
    assert!(xml.contains("<values><value><key>shallow</key><name>Less than 5 cm</name></value>"), "{xml}");
    let unknown = client.get("services/sinkhole.json");
    assert!(error_array(&unknown, 404).contains("sinkhole"));
    assert_eq!(server.count("GET", "/open311/v2/services.json"), 1);
    assert_eq!(server.count("GET", "/open311/v2/services"), 1);
}

#[test]
fn requests_are_form_encoded_checked_and_a_duplicate_is_refused() {
    let (server, client) = server();
    let wrong_key = client.post("requests.json", &[("api_key", "guess"), ("service_code", "streetlight")]);
    assert_eq!(error_array(&wrong_key, 403), "invalid api_key");
    let unknown = client.post("requests.json", &[("api_key", API_KEY), ("service_code", "sinkhole")]);
    assert!(error_array(&unknown, 400).contains("sinkhole"));
    let nowhere = client.post("requests.json", &[("api_key", API_KEY), ("service_code", "streetlight")]);
    assert!(error_array(&nowhere, 400).contains("location"));
    let half = client.post("requests.json", &[("api_key", API_KEY), ("service_code", "streetlight"), ("lat", "51.5")]);
    assert!(error_array(&half, 400).contains("location"), "lat without long is no location");
    let no_depth =
        client.post("requests.json", &[("api_key", API_KEY), ("service_code", "pothole"), ("address_id", "A-17")]);
    assert_eq!(error_array(&no_depth, 400), "attribute[depth] is required");
    let wrong_value = client.post(
        "requests.json",
        &[
            ("api_key", API_KEY),
            ("service_code", "pothole"),
            ("address_id", "A-17"),
            ("attribute[depth]", "bottomless"),
        ],
    );
    assert!(error_array(&wrong_value, 400).contains("bottomless"));
    let undeclared =
        client.post("requests.json", &[("api_key", API_KEY), ("service_code", "graffiti"), ("address_id", "A-17")]);
    assert_eq!(error_array(&undeclared, 400), "attribute[surface] is required");
    assert!(server.requests().is_empty());

    // `+` is a space, %XX a byte, names may be encoded, keys repeat.
    let body = format!(
        "api_key={API_KEY}&service_code=pothole&address_string=12+Mill+Lane%2C+Springfield\
         &description=Deep+hole+%26+a+broken+kerb+%E2%80%94+caf%C3%A9+corner\
         &attribute%5Bdepth%5D=deep&attribute[lanes][]=north&attribute[lanes][]=south&email=ann%40example.org"
    );
    let created = client.post_raw("requests.json", &body);
    assert_eq!(created.status, 200, "{}", created.body);
    let answer = created.json();
    let id = answer[0]["service_request_id"].as_str().expect("an id").to_owned();
    assert_eq!(answer[0]["account_id"], Value::Null, "{answer}");
    assert!(answer[0]["service_notice"].is_string(), "{answer}");
    let case = server.requests().remove(0);
    assert_eq!(case.service_request_id.as_deref(), Some(id.as_str()));
    assert_eq!(case.address.as_deref(), Some("12 Mill Lane, Springfield"));
    assert_eq!(case.description, "Deep hole & a broken kerb — café corner");
    assert_eq!(case.email.as_deref(), Some("ann@example.org"));
    let attributes: Vec<(&str, &str)> = case.attributes.iter().map(|(c, v)| (c.as_str(), v.as_str())).collect();
    assert_eq!(attributes, [("depth", "deep"), ("lanes", "north"), ("lanes", "south")]);
    let post = server.posts().pop().expect("the POST");
    assert_eq!(post.all("attribute[lanes][]"), ["north", "south"]);
    assert_eq!((post.field("attribute[depth]"), post.status), (Some("deep"), 200));

    // The same service and description again: the standard's duplicate.
    let again = client.post_raw("requests.json", &body);
    assert_eq!(again.status, 400);
    assert_eq!(again.json(), json!([{"code": 400, "description": "duplicate request"}]));
    assert_eq!(server.requests().len(), 1);

    // XML by default, `account_id` empty.
    let xml = client.post(
        "requests",
        &[
            ("api_key", API_KEY),
            ("service_code", "streetlight"),
            ("lat", "51.5"),
            ("long", "-0.12"),
            ("description", "Out"),
        ],
    );
    assert_eq!(xml.status, 200);
    let xml = xml.xml();
    assert!(xml.contains("<service_requests><request>") && xml.contains("<account_id/>"), "{xml}");
    let long = "x".repeat(4001);
    let too_long = client.post(
        "requests.json",
        &[("api_key", API_KEY), ("service_code", "streetlight"), ("address_id", "A-1"), ("description", long.as_str())],
    );
    assert!(error_array(&too_long, 400).contains("4000"));
    assert_eq!(server.posts().len(), 11);
}

#[test]
fn requests_are_found_by_id_code_status_and_date_and_closed_by_the_council() {
    let (server, client) = server();
    let mut ids = Vec::new();
    for (code, description) in [("streetlight", "Lamp 1 out"), ("streetlight", "Lamp 2 out"), ("graffiti", "Tags")] {
        let created = client.post(
            "requests.json",
            &[
                ("api_key", API_KEY),
                ("service_code", code),
                ("address_string", "Quay Street"),
                ("description", description),
                ("attribute[surface]", "brick"),
            ],
        );
        ids.push(created.json()[0]["service_request_id"].as_str().expect("id").to_owned());
    }
    let count = |query: &str| client.get(&format!("requests.json?{query}")).json().as_array().map_or(0, Vec::len);
    assert_eq!(count(""), 3);
    assert_eq!(count("service_code=streetlight"), 2);
    assert_eq!(count("service_code=streetlight,graffiti"), 3);
    assert_eq!(count(&format!("service_request_id={},{}", ids[0], ids[2])), 2);
    assert_eq!(count(&format!("service_request_id={}&service_code=graffiti", ids[0])), 1, "ids win");
    assert_eq!(count("status=closed"), 0);
    server.set_status(&ids[1], "closed", Some("Bulb replaced"));
    let closed = client.get("requests.json?status=closed").json();
    assert_eq!(closed.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (closed[0]["service_request_id"].as_str(), closed[0]["status_notes"].as_str()),
        (Some(ids[1].as_str()), Some("Bulb replaced"))
    );

    let hour_ago = (Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let in_an_hour = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, false);
    assert_eq!(count(&format!("start_date={hour_ago}&service_code=streetlight")), 2);
    assert_eq!(count(&format!("start_date={}", encode(&in_an_hour))), 0);
    assert_eq!(count(&format!("end_date={hour_ago}")), 0);
    let bad = client.get("requests.json?start_date=last+tuesday");
    assert!(error_array(&bad, 400).contains("start_date"));

    let one = client.get(&format!("requests/{}.json", ids[0])).json();
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
    let keys: Vec<&str> = one[0].as_object().expect("object").keys().map(String::as_str).collect();
    for key in [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ] {
        assert!(keys.contains(&key), "{key} missing from {one}");
    }
    let requested = one[0]["requested_datetime"].as_str().expect("requested_datetime");
    assert!(requested.ends_with("+01:00") && chrono::DateTime::parse_from_rfc3339(requested).is_ok(), "{requested}");
    assert_eq!(one[0]["status"], "open");
    assert!(error_array(&client.get("requests/1.json"), 404).contains("not found"));
    let xml = client.get("requests/1.xml");
    assert_eq!(xml.status, 404);
    assert!(xml.xml().contains("<errors><error><code>404</code><description>"), "{}", xml.body);

    // The quirks the tests switch on.
    server.errors_as_xml(true);
    let quirk = client.get("requests/1.json");
    assert_eq!(quirk.status, 404);
    assert!(quirk.xml().ends_with("</description></error></errors>"), "{}", quirk.body);
    server.errors_as_xml(false);
    server.hide_from_listing(1);
    assert_eq!(count(""), 0, "a lagging index");
    assert_eq!(count(""), 3);
    server.fail_status_reads(true);
    error_array(&client.get(&format!("requests/{}.json", ids[0])), 503);
    server.fail_status_reads(false);
    assert_eq!(client.get(&format!("requests/{}.json", ids[0])).status, 200);
    let searches =
        server.hits().into_iter().filter(|h| h.method == "GET" && h.path == "/open311/v2/requests.json").count();
    assert_eq!(searches, server.count("GET", "/open311/v2/requests.json"));
}

#[test]
fn batch_tokens_are_resolved_later_and_the_server_goes_down_and_up_on_its_port() {
    let (server, client) = server();
    let bin = |description: &str| {
        let answer = client.post(
            "requests.json",
            &[
                ("api_key", API_KEY),
                ("service_code", "missed_bin"),
                ("lat", "51.5"),
                ("long", "-0.12"),
                ("description", description),
            ],
        );
        let answer = answer.json();
        assert!(answer[0].get("service_request_id").is_none(), "{answer}");
        answer[0]["token"].as_str().expect("a token").to_owned()
    };
    let token = bin("Green bin missed");
    assert_eq!(client.get(&format!("tokens/{token}.json")).json(), json!([]));
    assert_eq!(client.get("requests.json").json(), json!([]), "no id, not listed");
    let id = server.resolve_token(&token);
    assert_eq!(client.get(&format!("tokens/{token}.json")).json(), json!([{"service_request_id": id, "token": token}]));
    assert_eq!(client.get(&format!("requests/{id}.json")).json()[0]["service_code"], "missed_bin");

    server.resolve_tokens_after(2);
    let later = bin("Black bin missed");
    assert_eq!(client.get(&format!("tokens/{later}.json")).json(), json!([]));
    let resolved = client.get(&format!("tokens/{later}.json")).json();
    assert!(resolved[0]["service_request_id"].is_string(), "{resolved}");
    error_array(&client.get("tokens/no-such-token.json"), 404);

    // Down: connections refused. Up: the same port again.
    server.go_down();
    assert!(client.send("GET", "services.json", None).is_err(), "the server still answers");
    server.come_up();
    assert_eq!(client.get("services.json").status, 200);

    // A held POST: the case is made, the answer comes late.
    server.hold_next_post(Duration::from_millis(300));
    let started = Instant::now();
    bin("Brown bin missed");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(server.requests().len(), 3);
    let held = Instant::now();
    bin("Blue bin missed");
    assert!(held.elapsed() < Duration::from_millis(300), "only the next POST is held");
}
