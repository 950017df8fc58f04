//! `openapi.yaml` as a test oracle: the routes it lists are exactly the
//! routes served, and every response a test receives matches its schema.

use std::collections::{BTreeSet, HashMap};
use std::sync::{LazyLock, Mutex};

use serde_json::Value;

use super::helpers::TestResponse;

static SPEC: LazyLock<Value> = LazyLock::new(|| {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).expect("openapi.yaml");
    serde_norway::from_str(&text).expect("openapi.yaml parses")
});

static VALIDATORS: LazyLock<Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The (METHOD, path) pairs the spec documents.
pub fn documented_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in SPEC["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// The error codes the spec lists for `Problem.code`.
pub fn documented_error_codes() -> BTreeSet<String> {
    let codes = &SPEC["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
    codes.as_array().expect("Problem.code is an enum").iter().map(|c| c.as_str().unwrap().to_owned()).collect()
}

/// Finds the documented path template a concrete path matches.
fn template_for(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    SPEC["paths"]
        .as_object()?
        .keys()
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .cloned()
}

fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Resolves a `$ref` to a response object.
fn resolve(value: &Value) -> &Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => SPEC.pointer(reference.trim_start_matches('#')).expect("dangling $ref"),
        None => value,
    }
}

/// A validator for the schema at `pointer`, compiled against the whole
/// document so its `$ref`s resolve.
fn validator(pointer: &str) -> std::sync::Arc<jsonschema::Validator> {
    let mut cache = VALIDATORS.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pointer.to_owned())
        .or_insert_with(|| {
            let mut root = SPEC.clone();
            root.as_object_mut().expect("object").insert(
                "$ref".to_owned(),
                Value::String(format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D"))),
            );
            let compiled = jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("schema at {pointer}: {e}"));
            std::sync::Arc::new(compiled)
        })
        .clone()
}

/// Checks a response against the documented responses of its operation.
/// Responses from undocumented paths (the 404 tests) are skipped.
#[track_caller]
pub fn check_against_spec(method: &str, path: &str, response: &TestResponse) {
    // CORS preflights are answered by the CORS layer, not by an operation.
    if method == "OPTIONS" {
        return;
    }
    let Some(template) = template_for(path) else { return };
    let method_key = method.to_lowercase();
    let operation_pointer = format!("/paths/{}/{}", escape_pointer(&template), method_key);
    let Some(operation) = SPEC.pointer(&operation_pointer) else {
        // A wrong method on a known path: the 405 is a problem, checked above.
        assert_eq!(response.status, 405, "{method} {template} is not documented");
        return;
    };
    let status = response.status.to_string();
    let (status_key, documented) = match operation["responses"].get(&status) {
        Some(documented) => (status.clone(), documented),
        None => (
            "default".to_owned(),
            operation["responses"]
                .get("default")
                .unwrap_or_else(|| panic!("{method} {template}: status {status} is not documented")),
        ),
    };
    if status_key == "default" {
        assert!(response.status >= 400, "{method} {template}: success status {status} is not documented");
    }
    let documented = resolve(documented);
    let Some(content) = documented.get("content") else {
        assert!(response.text.is_empty(), "{method} {template} {status}: documented without a body");
        return;
    };
    let content_type = response.header("content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    let Some(media) = content.get(media_type) else {
        panic!("{method} {template} {status}: content type {media_type} is not documented");
    };
    if !media_type.ends_with("json") {
        return;
    }
    let base = match operation["responses"].get(&status_key).and_then(|r| r.get("$ref")).and_then(Value::as_str) {
        Some(reference) => reference.trim_start_matches('#').to_owned(),
        None => format!("{operation_pointer}/responses/{status_key}"),
    };
    debug_assert!(media.get("schema").is_some());
    let schema_pointer = format!("{base}/content/{}/schema", escape_pointer(media_type));
    let body: Value = serde_json::from_str(&response.text)
        .unwrap_or_else(|e| panic!("{method} {template} {status}: body is not JSON ({e})"));
    let validator = validator(&schema_pointer);
    let errors: Vec<String> = validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {template} {status}: response violates the spec: {errors:?}\nbody: {body}");
}
