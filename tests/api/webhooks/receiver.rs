//! A real HTTP receiver for the webhook tests: a plain `TcpListener` on
//! loopback, a thread per connection, one HTTP/1.1 request per connection
//! (answered with `Connection: close`). It records every request (path,
//! headers, raw body bytes, arrival time) and answers from a script: a
//! default status, statuses to answer first, extra headers (a `Location`
//! for a redirect), a body and a delay that holds each request in flight.
//! It counts the attempts of one delivery (`webhook-id`) in flight at once,
//! to catch two nodes sending the same delivery together. Signatures are
//! checked with the `standardwebhooks` crate, an implementation independent
//! of Agora's.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::http;

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    /// The body exactly as sent: signatures are over these bytes.
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn webhook_id(&self) -> &str {
        self.header("webhook-id").unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        json(self)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `type` of the body, or "" when it is not a JSON object.
    pub fn event_type(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// One line for failure messages.
    pub fn summary(&self) -> String {
        format!("{} {} -> {} id={} type={}", self.method, self.path, self.status, self.webhook_id(), self.event_type())
    }
}

/// The body as JSON (panics if it is not).
pub fn json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", request.text()))
}

/// Checks the request's Standard Webhooks signature with `secret`
/// (`whsec_…`), as a receiver would: the `webhook-id`,
/// `webhook-timestamp` (within five minutes of the real clock) and any of
/// the `v1,` signatures of `webhook-signature`, over the raw body.
pub fn verify(request: &Request, secret: &str) -> Result<(), String> {
    let webhook = standardwebhooks::Webhook::new(secret).map_err(|e| format!("the secret {secret}: {e}"))?;
    webhook.verify(&request.body, &request.headers).map_err(|e| e.to_string())
}

/// The `v1,…` signatures of a request.
pub fn signatures(request: &Request) -> Vec<String> {
    request
        .header("webhook-signature")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

struct Script {
    status: u16,
    first: VecDeque<u16>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    delay: Duration,
}

struct Shared {
    requests: Mutex<Vec<Request>>,
    script: Mutex<Script>,
    in_flight: Mutex<HashMap<String, usize>>,
    /// The most attempts of one webhook-id seen in flight at once.
    max_same_id: AtomicUsize,
    stopped: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// The status, extra headers, body and delay of the next answer.
    fn next_answer(&self) -> (u16, Vec<(String, String)>, String, Duration) {
        let mut script = lock(&self.script);
        let status = script.first.pop_front().unwrap_or(script.status);
        let body = script.body.clone().unwrap_or_else(|| format!("status {status}"));
        (status, script.headers.clone(), body, script.delay)
    }

    fn enter(&self, id: &str) {
        let mut in_flight = lock(&self.in_flight);
        let count = in_flight.entry(id.to_owned()).or_default();
        *count += 1;
        self.max_same_id.fetch_max(*count, Ordering::SeqCst);
    }

    fn leave(&self, id: &str) {
        let mut in_flight = lock(&self.in_flight);
        if let Some(count) = in_flight.get_mut(id) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(id);
            }
        }
    }
}

/// The receiver; it stops listening when dropped.
pub struct Receiver {
    pub port: u16,
    host: IpAddr,
    shared: Arc<Shared>,
}

/// Where reserved ports live: a loopback address of their own, so that no
/// other test's listener (all on 127.0.0.1) can take a reserved port before
/// its receiver starts.
const RESERVED_HOST: &str = "127.0.0.2";

impl Receiver {
    /// Listens on a random loopback port; answers 200 until told otherwise.
    pub fn start() -> Receiver {
        Receiver::serve(TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver"))
    }

    /// A port nothing listens on yet on [`RESERVED_HOST`] (connections are
    /// refused until [`Receiver::start_on`]).
    pub fn reserve_port() -> u16 {
        TcpListener::bind((RESERVED_HOST, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
    }

    /// The URL a receiver on a reserved port will have.
    pub fn reserved_url(port: u16) -> String {
        format!("http://{RESERVED_HOST}:{port}/hook")
    }

    pub fn start_on(port: u16) -> Receiver {
        Receiver::serve(TcpListener::bind((RESERVED_HOST, port)).expect("bind the webhook receiver"))
    }

    fn serve(listener: TcpListener) -> Receiver {
        let address = listener.local_addr().expect("address");
        let (port, host) = (address.port(), address.ip());
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(Script {
                status: 200,
                first: VecDeque::new(),
                headers: Vec::new(),
                body: None,
                delay: Duration::ZERO,
            }),
            in_flight: Mutex::new(HashMap::new()),
            max_same_id: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let state = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if state.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = state.clone();
                std::thread::spawn(move || serve_connection(stream, &state));
            }
        });
        Receiver { port, host, shared }
    }

    /// The URL to register: `http://<host>:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}:{}/hook", self.host, self.port)
    }

    /// The status answered once the statuses of [`Receiver::answer_first`]
    /// are used up (200 at the start).
    pub fn answer(&self, status: u16) {
        lock(&self.shared.script).status = status;
    }

    /// Statuses to answer, in order, before the default one.
    pub fn answer_first(&self, statuses: &[u16]) {
        lock(&self.shared.script).first.extend(statuses.iter().copied());
    }

    /// A header added to every answer (e.g. `Location` for a 302).
    pub fn add_header(&self, name: &str, value: &str) {
        lock(&self.shared.script).headers.push((name.to_owned(), value.to_owned()));
    }

    /// The body of every answer (by default `status <code>`).
    pub fn set_body(&self, body: &str) {
        lock(&self.shared.script).body = Some(body.to_owned());
    }

    /// How long each request is held before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.shared.script).delay = delay;
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// The most attempts of one delivery (`webhook-id`) that were in flight
    /// at the same time: 1 unless two attempts of it overlapped.
    pub fn max_in_flight_per_id(&self) -> usize {
        self.shared.max_same_id.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` requests have arrived; returns them all.
    #[track_caller]
    pub fn wait_for(&self, count: usize, within: Duration) -> Vec<Request> {
        let deadline = Instant::now() + within;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests, not {count}: {:#?}",
                requests.len(),
                requests.iter().map(Request::summary).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag and lets the port go.
        let _ = TcpStream::connect((self.host, self.port));
    }
}

struct Head {
    method: String,
    path: String,
    headers: http::HeaderMap,
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    if shared.stopped.load(Ordering::SeqCst) {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let Some(head) = read_head(&mut reader) else { return };
    let expects_continue = head
        .headers
        .get("expect")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue {
        let mut out = &stream;
        let _ = out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let Some(body) = read_body(&mut reader, &head.headers) else { return };
    let at = Instant::now();
    let (status, extra, text, delay) = shared.next_answer();
    let id = head.headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    shared.enter(&id);
    lock(&shared.requests).push(Request {
        method: head.method,
        path: head.path,
        headers: head.headers,
        body,
        at,
        status,
    });
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    write_response(&stream, status, &extra, &text);
    shared.leave(&id);
}

fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().split(' ');
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = http::HeaderMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(&['\r', '\n'][..]);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        let value = http::HeaderValue::from_bytes(value.trim().as_bytes()).ok()?;
        headers.append(name, value);
    }
    Some(Head { method, path, headers })
}

fn read_body(reader: &mut impl BufRead, headers: &http::HeaderMap) -> Option<Vec<u8>> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            if reader.read_line(&mut size_line).ok()? == 0 {
                return None;
            }
            let size = usize::from_str_radix(size_line.trim().split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut trailer = String::new();
                    if reader.read_line(&mut trailer).ok()? == 0 || trailer.trim().is_empty() {
                        return Some(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    }
    let length = header("content-length").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

fn write_response(stream: &TcpStream, status: u16, extra: &[(String, String)], body: &str) {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let body = if status == 204 || status == 304 { "" } else { body };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(body);
    let mut out = stream;
    let _ = out.write_all(response.as_bytes());
    let _ = out.flush();
    let _ = stream.shutdown(Shutdown::Write);
}
