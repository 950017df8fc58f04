//! A GeoReport v2 server (wiki.open311.org/GeoReport_v2) for the Open311
//! tests: a plain `TcpListener` on loopback, a thread per connection, one
//! HTTP/1.1 request per connection, under `/open311/v2`. It keeps to the
//! standard's awkward parts: XML unless the path ends in `.json` (`.xml`
//! or no extension: XML), form-encoded POSTs (`+`, `%XX`, repeated
//! `attribute[code][]`), error arrays, batch services that answer with a
//! token resolved later, refusal of a duplicate request, dates with an
//! offset (`+01:00`), and the last 90 days when a search names no dates.
//!
//! The tests steer it: the services and the API key, a case's status and
//! notes, going down (the listener closed, the port kept) and coming back,
//! holding the answer to the next POST after the case is made (the client
//! times out though the case exists), error arrays in XML even when JSON
//! was asked, searches that miss everything for a while (a lagging index),
//! status reads answered 503. It records every POST with its decoded
//! fields, every case, and every request with its answer.

mod model;
mod routes;
mod wire;

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::now;
pub use model::{Attribute, Case, Hit, Kind, Post, Service};
pub use routes::parse_date;
pub use wire::encode;

/// Where the standard's resources are: `{BASE}/services.json` and so on.
pub const BASE: &str = "/open311/v2";

/// How long the waiting helpers wait.
const PATIENCE: Duration = Duration::from_secs(20);

struct State {
    services: Vec<Service>,
    api_key: String,
    cases: Vec<Case>,
    posts: Vec<Post>,
    hits: Vec<Hit>,
    next_id: u64,
    hold_next_post: Option<Duration>,
    errors_as_xml: bool,
    resolve_tokens_after: Option<usize>,
    hidden_listings: usize,
    fail_status_reads: bool,
}

struct Shared {
    state: Mutex<State>,
    down: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server's own loopback address: the other tests listen on
/// 127.0.0.1, so while the server is down (or a port is reserved) none of
/// them can take its port.
pub const HOST: &str = "127.0.0.3";

/// The server; it stops listening when dropped.
pub struct Open311Server {
    pub port: u16,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Open311Server {
    /// Listens on a random loopback port, with no services and no API key
    /// until told.
    pub fn start() -> Open311Server {
        Open311Server::serve(TcpListener::bind((HOST, 0)).expect("bind the Open311 server"))
    }

    /// A port nothing listens on yet (connections are refused until
    /// [`Open311Server::start_on`]).
    pub fn reserve_port() -> u16 {
        TcpListener::bind((HOST, 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
    }

    pub fn start_on(port: u16) -> Open311Server {
        Open311Server::serve(TcpListener::bind((HOST, port)).expect("bind the Open311 server"))
    }

    fn serve(listener: TcpListener) -> Open311Server {
        let port = listener.local_addr().expect("address").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                services: Vec::new(),
                api_key: String::new(),
                cases: Vec::new(),
                posts: Vec::new(),
                hits: Vec::new(),
                next_id: 638_344,
                hold_next_post: None,
                errors_as_xml: false,
                resolve_tokens_after: None,
                hidden_listings: 0,
                fail_status_reads: false,
            }),
            down: AtomicBool::new(false),
        });
        let accept = listen(listener, shared.clone());
        Open311Server { port, shared, accept: Mutex::new(Some(accept)) }
    }

    /// The base URL a council would configure:
    /// `http://127.0.0.3:<port>/open311/v2`.
    pub fn endpoint(&self) -> String {
        format!("http://{HOST}:{}{BASE}", self.port)
    }

    pub fn set_services(&self, services: Vec<Service>) {
        lock(&self.shared.state).services = services;
    }

    /// The key every POST must carry (`api_key`); a wrong one gets a 403.
    pub fn set_api_key(&self, key: &str) {
        lock(&self.shared.state).api_key = key.to_owned();
    }

    /// The council changes a case: its status (open or closed) and notes.
    #[track_caller]
    pub fn set_status(&self, service_request_id: &str, status: &str, notes: Option<&str>) {
        let mut state = lock(&self.shared.state);
        let case = state
            .cases
            .iter_mut()
            .find(|c| c.service_request_id.as_deref() == Some(service_request_id))
            .unwrap_or_else(|| panic!("no case {service_request_id}"));
        case.status = status.to_owned();
        case.status_notes = notes.map(str::to_owned);
        case.updated = now();
    }

    /// The council gives a batch request its id; returns the id.
    #[track_caller]
    pub fn resolve_token(&self, token: &str) -> String {
        let mut state = lock(&self.shared.state);
        let index = state
            .cases
            .iter()
            .position(|c| c.token.as_deref() == Some(token))
            .unwrap_or_else(|| panic!("no token {token}"));
        state.resolve(index)
    }

    /// Resolves each token by itself on its `n`th `GET tokens/{token}`.
    pub fn resolve_tokens_after(&self, reads: usize) {
        lock(&self.shared.state).resolve_tokens_after = Some(reads);
    }

    /// Answers the next POST that makes a case only after `hold`, the case
    /// made first.
    pub fn hold_next_post(&self, hold: Duration) {
        lock(&self.shared.state).hold_next_post = Some(hold);
    }

    /// Error arrays in XML whatever the extension asked for.
    pub fn errors_as_xml(&self, on: bool) {
        lock(&self.shared.state).errors_as_xml = on;
    }

    /// The next `searches` answers of `GET requests` are empty, as from an
    /// index that has not caught up.
    pub fn hide_from_listing(&self, searches: usize) {
        lock(&self.shared.state).hidden_listings = searches;
    }

    /// `GET requests/{id}` answers 503 while on.
    pub fn fail_status_reads(&self, on: bool) {
        lock(&self.shared.state).fail_status_reads = on;
    }

    /// Closes the listener (connections are refused), keeping the port.
    pub fn go_down(&self) {
        let Some(accept) = lock(&self.accept).take() else { return };
        self.shared.down.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect((HOST, self.port));
        let _ = accept.join();
    }

    /// Listens again on the same port.
    pub fn come_up(&self) {
        let mut accept = lock(&self.accept);
        if accept.is_some() {
            return;
        }
        let listener = TcpListener::bind((HOST, self.port)).expect("bind the Open311 server again");
        self.shared.down.store(false, Ordering::SeqCst);
        *accept = Some(listen(listener, self.shared.clone()));
    }

    /// Every POST so far, in order of arrival.
    pub fn posts(&self) -> Vec<Post> {
        lock(&self.shared.state).posts.clone()
    }

    /// Every case made so far (batch ones before their id too).
    pub fn requests(&self) -> Vec<Case> {
        lock(&self.shared.state).cases.clone()
    }

    /// Every request so far, in order of arrival.
    pub fn hits(&self) -> Vec<Hit> {
        lock(&self.shared.state).hits.clone()
    }

    /// How many requests had this method and path (e.g.
    /// `/open311/v2/requests.json`).
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.shared.state).hits.iter().filter(|h| h.method == method && h.path == path).count()
    }

    /// Waits until at least `count` cases exist; returns them all.
    #[track_caller]
    pub fn wait_for_requests(&self, count: usize) -> Vec<Case> {
        wait_for(&format!("{count} cases on the Open311 server"), || self.requests(), count)
    }

    /// Waits until at least `count` POSTs have arrived; returns them all.
    #[track_caller]
    pub fn wait_for_posts(&self, count: usize) -> Vec<Post> {
        wait_for(&format!("{count} POSTs to the Open311 server"), || self.posts(), count)
    }
}

impl Drop for Open311Server {
    fn drop(&mut self) {
        self.go_down();
    }
}

#[track_caller]
fn wait_for<T: std::fmt::Debug>(what: &str, read: impl Fn() -> Vec<T>, count: usize) -> Vec<T> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let items = read();
        if items.len() >= count {
            return items;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; got {}: {items:#?}", items.len());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn listen(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if shared.down.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let shared = shared.clone();
            std::thread::spawn(move || serve_connection(stream, &shared));
        }
    })
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let Some(request) = wire::read_request(&stream) else { return };
    let (path, query) = request.target.split_once('?').unwrap_or((request.target.as_str(), ""));
    let (path, query) = (path.to_owned(), wire::decode_form(query));
    let mut hold = None;
    let reply = {
        let mut state = lock(&shared.state);
        let reply = state.route(&request, &path, &query, &mut hold);
        state.hits.push(Hit { method: request.method.clone(), path, query, status: reply.status });
        reply
    };
    if let Some(hold) = hold {
        std::thread::sleep(hold);
    }
    wire::write_reply(&stream, &reply);
}
