//! The layers of docs/architecture.md, checked on the source so the folder
//! tree keeps telling the truth:
//!
//! - nothing under `src/service` or `src/store` names actix-web or the HTTP
//!   layer (`crate::http`);
//! - the HTTP layer calls services, never the store: of `crate::store` it
//!   may name only the connection and pool types its blocking pool runs;
//! - the support files directly under `src/service` import no capability
//!   folder, and no capability imports another in a circle.
//!
//! The checker reads `use` items and paths in code (comments are skipped);
//! the unit tests at the end show each rule failing on a violating source.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What the HTTP layer may name of the store.
const HTTP_MAY_NAME_OF_STORE: [&str; 3] = ["DbConn", "DbPool", "QueryCounter"];

#[test]
fn services_and_the_store_know_nothing_of_http() {
    let mut violations = Vec::new();
    for layer in ["src/service", "src/store"] {
        for file in rust_files(&root().join(layer)) {
            let code = code_of(&read(&file));
            violations.extend(http_mentions(&code).into_iter().map(|m| format!("{}: {m}", relative(&file))));
        }
    }
    assert!(violations.is_empty(), "the HTTP layer is named below it:\n{}", violations.join("\n"));
}

#[test]
fn handlers_call_services_not_the_store() {
    let mut violations = Vec::new();
    for file in rust_files(&root().join("src/http")) {
        let code = code_of(&read(&file));
        violations.extend(store_mentions(&code).into_iter().map(|m| format!("{}: {m}", relative(&file))));
    }
    assert!(violations.is_empty(), "HTTP handlers reach into the store:\n{}", violations.join("\n"));
}

#[test]
fn service_capabilities_import_each_other_in_no_circle() {
    let graph = service_graph(&root().join("src/service"));
    assert!(graph.len() > 5, "no service modules found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("service modules import each other in a circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn support_modules_import_no_capability() {
    let dir = root().join("src/service");
    let graph = service_graph(&dir);
    let folders = capability_folders(&dir);
    let mut violations = Vec::new();
    for (module, imports) in &graph {
        if folders.contains(module) {
            continue;
        }
        for imported in imports.intersection(&folders) {
            violations.push(format!("src/service/{module}.rs imports the capability `{imported}`"));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The source without its comments (line and block), so a comment that
/// mentions a module is not an import. String literals are kept: a path in
/// a string is not an import either, but none of the rules' words appear
/// in strings in practice, and keeping them keeps this simple.
fn code_of(source: &str) -> String {
    let mut code = String::with_capacity(source.len());
    let mut rest = source;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else {
            let c = rest.chars().next().unwrap_or_default();
            code.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    code
}

/// Every path in `code` written as `prefix::…`, with `use` groups
/// (`prefix::{a, b::{c}}`) expanded into one path per leaf.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let needle = format!("{prefix}::");
    let mut from = 0;
    while let Some(found) = code[from..].find(&needle) {
        let start = from + found;
        from = start + needle.len();
        let preceded_by_ident =
            code[..start].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded_by_ident {
            continue;
        }
        expand(&code[from..], &mut String::new(), &mut paths);
    }
    paths
}

/// Reads one path (or `{…}` group) at the start of `rest`, appending the
/// leaves to `out` with `base` in front.
fn expand(rest: &str, base: &mut String, out: &mut Vec<String>) {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let inner = &group[..matching_brace(group)];
        for part in split_top_level(inner) {
            expand(part, &mut base.clone(), out);
        }
        return;
    }
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
    let segment = &rest[..end];
    let full = format!("{base}{segment}");
    if segment.ends_with("::") && rest[end..].trim_start().starts_with('{') {
        let mut base = full;
        expand(&rest[end..], &mut base, out);
    } else if !full.is_empty() {
        out.push(full.trim_end_matches("::").to_owned());
    }
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect()
}

/// The crate's own paths used in `code` (`crate::…`), without the prefix.
fn crate_paths(code: &str) -> Vec<String> {
    paths_after(code, "crate")
}

/// Mentions of actix-web or the HTTP layer.
fn http_mentions(code: &str) -> Vec<String> {
    let mut found: Vec<String> =
        paths_after(code, "actix_web").into_iter().map(|p| format!("actix_web::{p}")).collect();
    if code.contains("use actix_web;") {
        found.push("actix_web".to_owned());
    }
    let http = crate_paths(code).into_iter().filter(|p| p == "http" || p.starts_with("http::"));
    found.extend(http.map(|p| format!("crate::{p}")));
    found
}

/// Paths into the store other than the connection and pool types.
fn store_mentions(code: &str) -> Vec<String> {
    crate_paths(code)
        .into_iter()
        .filter(|p| p == "store" || p.starts_with("store::"))
        .filter(|p| !HTTP_MAY_NAME_OF_STORE.iter().any(|allowed| p.strip_prefix("store::") == Some(allowed)))
        .map(|p| format!("crate::{p}"))
        .collect()
}

/// The folders directly under `src/service`: the capabilities.
fn capability_folders(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Top-level service module (a folder or a file directly under
/// `src/service`) → the other top-level service modules it imports.
fn service_graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(dir) {
        let inside = file.strip_prefix(dir).unwrap();
        let Some(first) = inside.components().next() else { continue };
        let module = first.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "mod" {
            continue;
        }
        let imports = graph.entry(module.clone()).or_default();
        for path in crate_paths(&code_of(&read(&file))) {
            let Some(path) = path.strip_prefix("service::") else { continue };
            let target = path.split("::").next().unwrap_or_default().to_owned();
            // `crate::service::Caller` and friends are the root's re-exports
            // of support modules; the rules' checks name them by module.
            let target = match target.as_str() {
                "Caller" => "caller".to_owned(),
                "Context" => "context".to_owned(),
                _ => target,
            };
            if target != module && !target.is_empty() && !target.starts_with(char::is_uppercase) {
                imports.insert(target);
            }
        }
    }
    graph
}

/// One cycle of the graph, as the modules along it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        trail: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = trail.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = trail[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        trail.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, trail) {
                return Some(cycle);
            }
        }
        trail.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph.keys().find_map(|node| visit(node, graph, &mut marks, &mut Vec::new()))
}

// The checker itself: each rule fails on a source that breaks it.

#[test]
fn the_checker_sees_http_named_in_a_service() {
    let source = "use crate::error::ApiResult;\nuse actix_web::web;\n// crate::http::state in a comment is fine\n";
    assert_eq!(http_mentions(&code_of(source)), vec!["actix_web::web"]);
    let grouped = "use crate::{error::ApiError, http::state::AppState};";
    assert_eq!(http_mentions(&code_of(grouped)), vec!["crate::http::state::AppState"]);
    assert!(http_mentions(&code_of("fn f(x: crate::http::state::AppState) {}")).len() == 1);
    assert!(http_mentions(&code_of("/* use actix_web::web; */ fn f() {}")).is_empty());
}

#[test]
fn the_checker_sees_a_handler_calling_the_store() {
    let allowed = "use crate::store::{DbConn, DbPool};";
    assert!(store_mentions(&code_of(allowed)).is_empty());
    let calling = "let x = crate::store::users::find(conn, 1);\nuse crate::store::{self, DbConn, outbox};";
    assert_eq!(
        store_mentions(&code_of(calling)),
        vec!["crate::store::users::find", "crate::store::self", "crate::store::outbox"]
    );
}

#[test]
fn the_checker_finds_a_circle() {
    fn edge(graph: &mut BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) {
        graph.entry(from.to_owned()).or_default().insert(to.to_owned());
    }
    let mut graph = BTreeMap::new();
    edge(&mut graph, "community", "posts");
    edge(&mut graph, "moderation", "community");
    edge(&mut graph, "posts", "settings");
    assert_eq!(find_cycle(&graph), None);
    edge(&mut graph, "posts", "moderation");
    let cycle = find_cycle(&graph).expect("a cycle");
    assert_eq!(cycle.first(), cycle.last());
    assert!(cycle.contains(&"posts".to_owned()) && cycle.contains(&"moderation".to_owned()), "{cycle:?}");
}

#[test]
fn the_checker_reads_nested_use_groups() {
    let source = "use crate::service::{community::{answers, votes::{self, Vote}}, Caller};";
    assert_eq!(
        crate_paths(&code_of(source)),
        vec![
            "service::community::answers",
            "service::community::votes::self",
            "service::community::votes::Vote",
            "service::Caller"
        ]
    );
}
