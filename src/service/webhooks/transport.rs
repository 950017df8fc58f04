//! How a delivery leaves the process: which URLs may be called at all, the
//! HTTP client whose every connection is checked against private
//! addresses, and the Standard Webhooks signature.
//!
//! Server-side request forgery is refused twice: when an endpoint is saved
//! (its host, resolved) and at each connection, on the addresses the
//! resolver returned (a name that resolved to a public address when saved
//! may point at the metadata service later). Redirects are never followed:
//! a 3xx is a failed attempt, so it cannot lead anywhere else either.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::WebhookSettings;

pub const MAX_URL_LENGTH: usize = 2048;
/// How much of a response the delivery log keeps.
const RESPONSE_EXCERPT: u64 = 1024;
const SECRET_PREFIX: &str = "whsec_";

/// Whether connecting to `ip` could reach something inside the council's
/// network or the host itself: loopback, private, link-local (the cloud
/// metadata service), shared, reserved, multicast and documentation
/// ranges, and IPv4 hidden inside IPv6.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            let nat64 = v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (nat64 && is_internal_v4(embedded_v4(v6)))
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (b & 0xc0) == 64) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // benchmarking
}

fn embedded_v4(v6: Ipv6Addr) -> Ipv4Addr {
    let s = v6.segments();
    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)
}

/// Checks an endpoint URL before it is saved; the error says what is wrong
/// in words an admin can act on.
pub fn check_url(url: &str, settings: &WebhookSettings) -> Result<(), String> {
    if url.len() > MAX_URL_LENGTH {
        return Err(format!("must be at most {MAX_URL_LENGTH} characters"));
    }
    let uri: Uri = url.parse().map_err(|_| "is not a valid URL".to_owned())?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if settings.allow_private => {}
        Some("http") => return Err("must use https".into()),
        _ => return Err("must be an https URL".into()),
    }
    let authority = uri.authority().ok_or("must name a host")?;
    if authority.as_str().contains('@') {
        return Err("must not carry a user name or password".into());
    }
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("must name a host".into());
    }
    if settings.allow_private {
        return Ok(());
    }
    let port = uri.port_u16().unwrap_or(443);
    let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|_| format!("names a host that does not resolve ({host})"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addresses.is_empty() {
        return Err(format!("names a host that does not resolve ({host})"));
    }
    if addresses.iter().any(|ip| is_internal(*ip)) {
        return Err("points at a loopback, private, link-local or reserved address; \
             set AGORA_WEBHOOK_ALLOW_PRIVATE=true to allow an internal network"
            .into());
    }
    Ok(())
}

/// The default resolver, with internal addresses taken out of its answer
/// (unless allowed): the connection can only go where the check allows.
#[derive(Debug)]
struct GuardedResolver {
    inner: DefaultResolver,
    allow_private: bool,
}

impl Resolver for GuardedResolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.inner.resolve(uri, config, timeout)?;
        if self.allow_private {
            return Ok(resolved);
        }
        let mut allowed = self.empty();
        for address in resolved.iter().filter(|a| !is_internal(a.ip())) {
            allowed.push(*address);
        }
        if allowed.is_empty() {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "refused: the host resolves to a loopback, private, link-local or reserved address",
            )));
        }
        Ok(allowed)
    }
}

/// What one attempt came to.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    pub duration_ms: i32,
    /// The first kilobyte of the response body.
    pub excerpt: Option<String>,
    /// Why there was no response (connection, timeout, refusal).
    pub error: Option<String>,
}

/// The HTTP client of this node's webhook sender.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new(settings: &WebhookSettings) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .timeout_global(Some(Duration::from_millis(settings.timeout_ms)))
            .user_agent("Agora-Webhooks/1")
            .build();
        let resolver = GuardedResolver { inner: DefaultResolver::default(), allow_private: settings.allow_private };
        Client { agent: ureq::Agent::with_parts(config, DefaultConnector::new(), resolver) }
    }

    /// POSTs a signed body; never fails, the outcome is in the response.
    pub fn post(&self, url: &str, headers: &[(&str, String)], body: &str) -> Response {
        let started = Instant::now();
        let mut request = self.agent.post(url).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let result = request.send(body);
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        match result {
            Ok(mut response) => {
                let mut excerpt = Vec::new();
                let _ = response.body_mut().as_reader().take(RESPONSE_EXCERPT).read_to_end(&mut excerpt);
                Response {
                    status: Some(response.status().as_u16()),
                    duration_ms,
                    excerpt: Some(String::from_utf8_lossy(&excerpt).into_owned()),
                    error: None,
                }
            }
            Err(e) => Response { status: None, duration_ms, excerpt: None, error: Some(e.to_string()) },
        }
    }
}

/// A new endpoint secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret(bytes: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under `secret`.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &str) -> String {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret)).unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> WebhookSettings {
        WebhookSettings::default()
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_to_internal_hosts_are_refused_unless_allowed() {
        for url in ["https://127.0.0.1/h", "https://[::1]/h", "https://169.254.169.254/latest", "https://localhost/h"] {
            assert!(check_url(url, &strict()).is_err(), "{url}");
        }
        assert!(check_url("http://example.org/h", &strict()).unwrap_err().contains("https"));
        assert!(check_url("ftp://example.org/h", &strict()).is_err());
        assert!(check_url("https://user:pw@example.org/h", &strict()).is_err());
        let open = WebhookSettings { allow_private: true, ..WebhookSettings::default() };
        assert!(check_url("http://127.0.0.1:9/h", &open).is_ok());
    }

    #[test]
    fn the_resolver_refuses_a_name_that_resolves_inside() {
        let resolver = GuardedResolver { inner: DefaultResolver::default(), allow_private: false };
        let uri: Uri = "http://localhost:9/".parse().unwrap();
        let config = Config::default();
        let result = resolver.resolve(&uri, &config, NextTimeout::default());
        assert!(result.is_err());
        let client = Client::new(&strict());
        let response = client.post("http://127.0.0.1:9/", &[], "{}");
        assert!(response.status.is_none());
        assert!(response.error.unwrap().contains("refused"));
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
