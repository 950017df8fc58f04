//! A webhook receiver on loopback for the benchmarks (`webhooks`, `load`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A webhook receiver on loopback: a thread per connection, HTTP/1.1 with
/// keep-alive, `200` and an empty body to every request at once. Counts
/// the POSTs; it lives as long as the process.
pub(crate) struct Receiver {
    port: u16,
    received: Arc<AtomicU64>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let counter = counter.clone();
                std::thread::spawn(move || receive(stream, &counter));
            }
        });
        Receiver { port, received }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// POSTs received so far.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }
}

/// Serves one connection's requests, in turn, until it closes.
fn receive(stream: TcpStream, received: &AtomicU64) {
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if !reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            return;
        }
        if line.trim().is_empty() {
            continue;
        }
        let method = line.split(' ').next().unwrap_or_default().to_owned();
        let (mut length, mut chunked, mut close) = (0u64, false, false);
        loop {
            let mut header = String::new();
            if !reader.read_line(&mut header).is_ok_and(|n| n > 0) {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else { continue };
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_ascii_lowercase());
            match name.as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "transfer-encoding" => chunked = value.contains("chunked"),
                "connection" => close = value.contains("close"),
                "expect" if value == "100-continue" => {
                    let _ = out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                _ => {}
            }
        }
        let complete = if chunked { skip_chunked(&mut reader) } else { skip(&mut reader, length) };
        if !complete {
            return;
        }
        if method == "POST" {
            received.fetch_add(1, Ordering::SeqCst);
        }
        let response: &[u8] = if close {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        };
        if out.write_all(response).is_err() || close {
            return;
        }
    }
}

/// Reads and drops `n` bytes; false if the connection ended first.
fn skip(reader: &mut BufReader<TcpStream>, n: u64) -> bool {
    std::io::copy(&mut reader.take(n), &mut std::io::sink()).is_ok_and(|copied| copied == n)
}

/// Reads and drops a chunked body, trailers included.
fn skip_chunked(reader: &mut BufReader<TcpStream>) -> bool {
    loop {
        let mut size_line = String::new();
        if !reader.read_line(&mut size_line).is_ok_and(|n| n > 0) {
            return false;
        }
        let size = size_line.trim().split(';').next().unwrap_or_default().trim().to_owned();
        let Ok(size) = u64::from_str_radix(&size, 16) else { return false };
        if size == 0 {
            loop {
                let mut trailer = String::new();
                if !reader.read_line(&mut trailer).is_ok_and(|n| n > 0) {
                    return false;
                }
                if trailer.trim().is_empty() {
                    return true;
                }
            }
        }
        // The chunk and the CRLF after it.
        if !skip(reader, size + 2) {
            return false;
        }
    }
}
