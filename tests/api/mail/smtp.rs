//! A real SMTP server for the mail tests: the `mailin` protocol engine
//! behind a plain TCP listener on a random port, keeping what it receives.
//! It can refuse for a while (4xx), refuse an address for good (550), and
//! be started late on a port the server was told of (down, then up).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin::{Action, Handler, Response, SessionBuilder};

/// One mail as the server received it, decoded for reading.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    /// Headers unfolded and quoted-printable undone: easy to search.
    pub text: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.text
            .split("\r\n\r\n")
            .next()?
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// The first `token=` value after `marker` (a link's path).
    pub fn token_after(&self, marker: &str) -> Option<String> {
        let start = self.text.find(marker)?;
        let rest = &self.text[start..];
        let at = rest.find("token=")? + "token=".len();
        let token: String =
            rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
        Some(token)
    }
}

#[derive(Default)]
struct State {
    mails: Mutex<Vec<Received>>,
    failing: AtomicBool,
    refused: Mutex<HashSet<String>>,
    stopped: AtomicBool,
}

pub struct SmtpSink {
    pub port: u16,
    state: Arc<State>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        SmtpSink::serve(TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink"))
    }

    /// A port nothing listens on yet (connections are refused until
    /// [`SmtpSink::start_on`]).
    pub fn reserve_port() -> u16 {
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
    }

    pub fn start_on(port: u16) -> SmtpSink {
        SmtpSink::serve(TcpListener::bind(("127.0.0.1", port)).expect("bind the SMTP sink"))
    }

    fn serve(listener: TcpListener) -> SmtpSink {
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(State::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || session(stream, state));
            }
        });
        SmtpSink { port, state }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Received> {
        self.state.mails.lock().unwrap().clone()
    }

    pub fn mails_to(&self, address: &str) -> Vec<Received> {
        self.mails().into_iter().filter(|m| m.to.iter().any(|t| t == address)).collect()
    }

    /// Waits until `address` has received `count` mails; returns them all.
    #[track_caller]
    pub fn wait_for(&self, address: &str, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mails = self.mails_to(address);
            if mails.len() >= count {
                return mails;
            }
            assert!(Instant::now() < deadline, "{address} got {} mails, not {count}: {mails:#?}", mails.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the server has received `count` mails in all.
    #[track_caller]
    pub fn wait_for_total(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            assert!(Instant::now() < deadline, "received {} mails, not {count}", mails.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// While set, every mail is refused with 451 (try again later).
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// Refuses mail to `address` for good (550).
    pub fn refuse(&self, address: &str) {
        self.state.refused.lock().unwrap().insert(address.to_owned());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Session {
    state: Arc<State>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Session {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        self.to.clear();
        mailin::response::OK
    }

    // Refusals come at RCPT: mailin moves on to the next state whatever
    // the handler answers to MAIL FROM.
    fn rcpt(&mut self, to: &str) -> Response {
        if self.state.failing.load(Ordering::SeqCst) {
            return mailin::response::INTERNAL_ERROR;
        }
        if self.state.refused.lock().unwrap().contains(to) {
            return mailin::response::NO_MAILBOX;
        }
        self.to.push(to.to_owned());
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned();
        let received = Received { to: std::mem::take(&mut self.to), text: decode(&raw) };
        self.state.mails.lock().unwrap().push(received);
        mailin::response::OK
    }
}

fn session(stream: TcpStream, state: Arc<State>) {
    let remote = stream.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    // Replies go out as several small writes: without this, Nagle's
    // algorithm and the client's delayed ACKs cost ~40 ms per command.
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    let mut session =
        SessionBuilder::new("sink.test").build(remote, Session { state, to: Vec::new(), data: Vec::new() });
    if session.greeting().write_to(&mut writer).is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = session.process(&line);
        match response.action {
            Action::Reply => {
                if response.write_to(&mut writer).and_then(|_| writer.flush()).is_err() {
                    return;
                }
            }
            Action::Close => {
                let _ = response.write_to(&mut writer);
                return;
            }
            Action::UpgradeTls => return,
            Action::NoReply => {}
        }
    }
}

/// Unfolds the headers and undoes quoted-printable in the body.
fn decode(raw: &str) -> String {
    let (headers, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let headers = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
    format!("{headers}\r\n\r\n{}", unquote(body))
}

fn unquote(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
            && bytes[i + 1..i + 3].iter().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
