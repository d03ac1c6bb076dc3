//! A fault-injecting HTTP/1.1 forwarding proxy for the S3 tests, std only.
//!
//! [`FaultProxy::start`] listens on `127.0.0.1:<free port>`; the client under test is pointed at
//! it (`AWS_ENDPOINT=http://127.0.0.1:<port>`) and each request it sends is forwarded to the
//! upstream server (s3s-fs), and the answer relayed back, on a connection per client connection
//! (keep-alive on both sides; a thread per client connection). Requests and responses are
//! relayed byte for byte, headers included, so SigV4 signatures (which cover `Host`) still
//! verify; bodies are framed by `Content-Length` or `Transfer-Encoding: chunked` (kept
//! chunked), a response without either runs to the end of the connection.
//!
//! Faults follow a deterministic [`Plan`]: a list of [`Rule`]s, each matching requests by
//! method and request target (path and query) and firing on every `every`-th matching request
//! (from `phase`), at most `limit` times, and only once `after` requests of some method were
//! answered with a 2xx (to start an outage partway through a run). The first rule that fires
//! decides the request's [`Fault`]. What fires depends only on the order in which requests
//! arrive, so a single-threaded client sees the same faults every time; a concurrent one sees
//! the same pattern over its interleaving.
//!
//! Every injected fault is counted ([`FaultProxy::injected`]) and every request is logged
//! ([`FaultProxy::log`]), so a test can show that faults really happened and on which requests.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the proxy waits on a silent peer before giving up on a connection.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest header block accepted (request or response).
const MAX_HEAD: usize = 64 * 1024;

/// What the proxy does to one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Read the request, then close the connection without answering (nothing is forwarded).
    Drop,
    /// Forward the request (the server acts on it), then hold its answer back this long before
    /// relaying it. Longer than the client's timeout, the client gives up first.
    Delay(Duration),
    /// Answer this status with an S3 error body, without forwarding.
    Status(u16),
    /// Forward the request (the server acts on it, e.g. stores the object), then answer this
    /// status instead of the server's answer.
    StatusAfterForward(u16),
    /// Forward the request, relay the answer's headers as they are (so the full
    /// `Content-Length`) and only the first half of its body, then close the connection. A
    /// response without a body cannot be truncated: it is relayed whole, and not counted.
    Truncate,
    /// Stop the proxy: this connection is closed without an answer, every other one before its
    /// next request, and the listening port is closed, so new connections are refused (the
    /// server has gone away).
    GoAway,
}

impl Fault {
    /// Name of the fault in counters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Drop => "drop",
            Fault::Delay(_) => "delay",
            Fault::Status(_) => "status",
            Fault::StatusAfterForward(_) => "status_after_forward",
            Fault::Truncate => "truncate",
            Fault::GoAway => "go_away",
        }
    }
}

/// When a fault is injected: requests matching `method` and `target_contains`, the
/// `phase`-th, `phase + every`-th, ... of them (counted from 0 over the matching requests once
/// the rule is active), at most `limit` times, once `after` is reached.
#[derive(Debug, Clone)]
pub struct Rule {
    pub fault: Fault,
    /// `GET`, `PUT`, ...; `None`: any method.
    pub method: Option<String>,
    /// A substring of the request target (`/bucket/key?query`); `None`: any target.
    pub target_contains: Option<String>,
    pub every: usize,
    pub phase: usize,
    pub limit: Option<usize>,
    /// Active only once this many requests with this method were answered 2xx by the server
    /// and relayed unharmed (`("PUT", 3)`: after three uploads succeeded).
    pub after: Option<(String, usize)>,
}

impl Rule {
    /// Every request gets `fault`; narrow with the other methods.
    pub fn new(fault: Fault) -> Rule {
        Rule { fault, method: None, target_contains: None, every: 1, phase: 0, limit: None, after: None }
    }

    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_string());
        self
    }

    pub fn target_contains(mut self, part: &str) -> Rule {
        self.target_contains = Some(part.to_string());
        self
    }

    /// Fire on matching requests `phase`, `phase + every`, `phase + 2 * every`, ...
    pub fn every(mut self, every: usize, phase: usize) -> Rule {
        assert!(every > 0 && phase < every, "every {every}, phase {phase}");
        self.every = every;
        self.phase = phase;
        self
    }

    pub fn limit(mut self, limit: usize) -> Rule {
        self.limit = Some(limit);
        self
    }

    pub fn after(mut self, method: &str, successes: usize) -> Rule {
        self.after = Some((method.to_string(), successes));
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.target_contains.as_deref().is_none_or(|t| target.contains(t))
    }
}

/// The rules, in order of precedence. An empty plan forwards everything untouched.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub rules: Vec<Rule>,
}

impl Plan {
    pub fn new(rules: Vec<Rule>) -> Plan {
        Plan { rules }
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Event {
    /// Arrival order, from 0.
    pub index: usize,
    pub method: String,
    pub target: String,
    /// The fault injected, if any (a truncation that found no body to cut is `None`).
    pub fault: Option<Fault>,
    /// The server's status, when the request was forwarded and answered.
    pub upstream_status: Option<u16>,
}

#[derive(Default)]
struct State {
    /// Per rule: matching requests seen while active, and faults fired.
    seen: Vec<usize>,
    fired: Vec<usize>,
    /// Per method: requests the server answered 2xx and that were relayed unharmed.
    succeeded: BTreeMap<String, usize>,
    injected: BTreeMap<&'static str, usize>,
    log: Vec<Event>,
}

struct Shared {
    plan: Plan,
    upstream: SocketAddr,
    addr: SocketAddr,
    requests: AtomicUsize,
    /// Set by [`Fault::GoAway`] or on drop: stop accepting and close every connection.
    stopped: AtomicBool,
    /// Connection-level problems of the proxy itself (unparsable requests, the server
    /// unreachable): a healthy test sees none.
    errors: Mutex<Vec<String>>,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault for a request (and its index), counting it against the plan.
    fn decide(&self, method: &str, target: &str) -> (usize, Option<Fault>) {
        let index = self.requests.fetch_add(1, Ordering::SeqCst);
        let mut st = self.lock();
        let mut chosen = None;
        for (i, rule) in self.plan.rules.iter().enumerate() {
            if !rule.matches(method, target) {
                continue;
            }
            if let Some((m, n)) = &rule.after {
                if st.succeeded.get(&m.to_ascii_uppercase()).copied().unwrap_or(0) < *n {
                    continue;
                }
            }
            let k = st.seen[i];
            st.seen[i] += 1;
            let due = k % rule.every == rule.phase && rule.limit.is_none_or(|l| st.fired[i] < l);
            if due && chosen.is_none() {
                st.fired[i] += 1;
                chosen = Some(rule.fault.clone());
            }
        }
        (index, chosen)
    }

    fn record(&self, event: Event) {
        let mut st = self.lock();
        if let Some(f) = &event.fault {
            *st.injected.entry(f.kind()).or_default() += 1;
        } else if event.upstream_status.is_some_and(|s| (200..300).contains(&s)) {
            *st.succeeded.entry(event.method.to_ascii_uppercase()).or_default() += 1;
        }
        st.log.push(event);
    }

    fn error(&self, what: String) {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).push(what);
    }

    /// Stop accepting: set the flag and wake the accept loop with a connection of our own.
    fn stop(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        }
    }
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listen on a free loopback port and forward to `upstream` (`http://127.0.0.1:<port>` or
    /// `127.0.0.1:<port>`) under `plan`.
    pub fn start(upstream: &str, plan: Plan) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("upstream '{upstream}' is not host:port: {e}"));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let n = plan.rules.len();
        let shared = Arc::new(Shared {
            plan,
            upstream,
            addr,
            requests: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            errors: Mutex::new(Vec::new()),
            state: Mutex::new(State { seen: vec![0; n], fired: vec![0; n], ..State::default() }),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(listener, shared))
        };
        FaultProxy { shared, accept: Some(accept) }
    }

    /// `http://127.0.0.1:<port>`: the endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// Requests received (whole request heads read).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Faults of one kind ([`Fault::kind`]) injected so far.
    pub fn injected(&self, kind: &str) -> usize {
        self.shared.lock().injected.get(kind).copied().unwrap_or(0)
    }

    /// Faults injected so far, by kind.
    pub fn injected_all(&self) -> BTreeMap<&'static str, usize> {
        self.shared.lock().injected.clone()
    }

    /// Faults of one kind injected on requests of one method.
    pub fn injected_on(&self, kind: &str, method: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|e| {
                e.method.eq_ignore_ascii_case(method) && e.fault.as_ref().is_some_and(|f| f.kind() == kind)
            })
            .count()
    }

    /// Every request so far, in the order they were completed.
    pub fn log(&self) -> Vec<Event> {
        self.shared.lock().log.clone()
    }

    /// The proxy's own problems (should be empty).
    pub fn errors(&self) -> Vec<String> {
        self.shared.errors.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A readable account for failure messages: counts, then the requests that got a fault.
    pub fn summary(&self) -> String {
        let st = self.shared.lock();
        let mut out = format!("proxy: {} requests, injected {:?}\n", self.requests(), st.injected);
        for e in st.log.iter().filter(|e| e.fault.is_some()) {
            out.push_str(&format!(
                "  #{} {} {} -> {:?} (server: {:?})\n",
                e.index, e.method, e.target, e.fault, e.upstream_status
            ));
        }
        for e in self.errors() {
            out.push_str(&format!("  proxy error: {e}\n"));
        }
        out
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        let shared = shared.clone();
        std::thread::spawn(move || {
            // A client that gives up (its timeout) resets or closes the connection: not a
            // problem of the proxy. Unparsable messages are.
            if let Err(e) = serve(conn, &shared) {
                if e.kind() == io::ErrorKind::InvalidData {
                    shared.error(format!("connection: {e}"));
                }
            }
        });
    }
    // The listener is dropped here: the port refuses connections from now on.
}

/// An HTTP message head: the first line, the header lines as received, and the body framing.
struct Head {
    /// The head's bytes exactly as received, ending with the blank line.
    raw: Vec<u8>,
    first_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn content_length(&self) -> io::Result<Option<usize>> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| bad(format!("bad Content-Length '{v}'"))),
        }
    }

    fn wants_close(&self) -> bool {
        self.header("connection").is_some_and(|v| v.to_ascii_lowercase().contains("close"))
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Read a head; `None` on a clean end of stream before any byte.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut raw = Vec::new();
    loop {
        let start = raw.len();
        let n = r.read_until(b'\n', &mut raw)?;
        if n == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(bad("connection closed inside a head".into()))
            };
        }
        if raw.len() > MAX_HEAD {
            return Err(bad("head too long".into()));
        }
        let line = &raw[start..];
        if line == b"\r\n" || line == b"\n" {
            if start == 0 {
                // Tolerate blank lines between messages (RFC 9112 section 2.2).
                raw.clear();
                continue;
            }
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = text.lines();
    let first_line = lines.next().unwrap_or_default().to_string();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect();
    Ok(Some(Head { raw, first_line, headers }))
}

/// Read a chunked body, keeping its framing bytes (chunk sizes, extensions, trailers) as they
/// are, so it can be relayed unchanged.
fn read_chunked_raw(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    loop {
        let start = raw.len();
        if r.read_until(b'\n', &mut raw)? == 0 {
            return Err(bad("connection closed inside a chunked body".into()));
        }
        let line = String::from_utf8_lossy(&raw[start..]).to_string();
        let size_hex = line.trim().split(';').next().unwrap_or("").trim().to_string();
        let size =
            usize::from_str_radix(&size_hex, 16).map_err(|_| bad(format!("bad chunk size '{size_hex}'")))?;
        if size == 0 {
            // Trailers, up to a blank line.
            loop {
                let start = raw.len();
                if r.read_until(b'\n', &mut raw)? == 0 {
                    return Err(bad("connection closed inside chunked trailers".into()));
                }
                if &raw[start..] == b"\r\n" || &raw[start..] == b"\n" {
                    return Ok(raw);
                }
            }
        }
        let at = raw.len();
        raw.resize(at + size + 2, 0);
        r.read_exact(&mut raw[at..])?;
    }
}

/// Read a body framed as `head` says. `until_close`: no framing, the body runs to the end of
/// the stream (responses only).
fn read_body(r: &mut impl BufRead, head: &Head, until_close: bool) -> io::Result<Vec<u8>> {
    if head.chunked() {
        read_chunked_raw(r)
    } else if let Some(n) = head.content_length()? {
        let mut body = vec![0; n];
        r.read_exact(&mut body)?;
        Ok(body)
    } else if until_close {
        let mut body = Vec::new();
        r.read_to_end(&mut body)?;
        Ok(body)
    } else {
        Ok(Vec::new())
    }
}

/// The server's answer to one forwarded request.
struct Response {
    head: Head,
    body: Vec<u8>,
    status: u16,
    /// The server closes the connection after this response.
    closes: bool,
}

/// A keep-alive connection to the server, opened when first needed.
struct Upstream {
    addr: SocketAddr,
    conn: Option<(TcpStream, BufReader<TcpStream>)>,
}

impl Upstream {
    fn connect(&mut self) -> io::Result<&mut (TcpStream, BufReader<TcpStream>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_read_timeout(Some(IO_TIMEOUT))?;
            s.set_nodelay(true)?;
            self.conn = Some((s.try_clone()?, BufReader::new(s)));
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Send the request and read the answer; a kept-alive connection the server has closed in
    /// the meantime is replaced once.
    fn exchange(&mut self, method: &str, request: &[u8]) -> io::Result<Response> {
        let reused = self.conn.is_some();
        match self.try_exchange(method, request) {
            Ok(r) => Ok(r),
            Err(_) if reused => {
                self.conn = None;
                self.try_exchange(method, request)
            }
            Err(e) => Err(e),
        }
    }

    fn try_exchange(&mut self, method: &str, request: &[u8]) -> io::Result<Response> {
        let result = (|| {
            let (w, r) = self.connect()?;
            w.write_all(request)?;
            w.flush()?;
            loop {
                let head = read_head(r)?.ok_or_else(|| bad("server closed the connection".into()))?;
                let status: u16 = head
                    .first_line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad(format!("bad status line '{}'", head.first_line)))?;
                if (100..200).contains(&status) {
                    continue; // 100 Continue and friends: the final answer follows.
                }
                let no_body = method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304;
                let framed = head.chunked() || head.content_length()?.is_some();
                let until_close = !no_body && !framed;
                let body = if no_body { Vec::new() } else { read_body(r, &head, until_close)? };
                let closes = until_close || head.wants_close() || head.first_line.starts_with("HTTP/1.0");
                return Ok(Response { head, body, status, closes });
            }
        })();
        match &result {
            Ok(r) if r.closes => self.conn = None,
            Err(_) => self.conn = None,
            _ => {}
        }
        result
    }
}

/// An S3-style error answer.
fn error_response(status: u16) -> Vec<u8> {
    let (reason, code) = match status {
        500 => ("Internal Server Error", "InternalError"),
        502 => ("Bad Gateway", "BadGateway"),
        503 => ("Service Unavailable", "SlowDown"),
        _ => ("Error", "InjectedFault"),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>injected by the test's fault proxy</Message></Error>"
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serve one client connection: request after request until either side closes.
fn serve(client: TcpStream, shared: &Shared) -> io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_nodelay(true)?;
    let mut out = client.try_clone()?;
    let mut reader = BufReader::new(client);
    let mut upstream = Upstream { addr: shared.upstream, conn: None };
    loop {
        if shared.stopped.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(head) = read_head(&mut reader)? else { return Ok(()) };
        let body = read_body(&mut reader, &head, false)?;
        let mut parts = head.first_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let client_closes = head.wants_close();
        let (index, fault) = shared.decide(&method, &target);
        let mut event =
            Event { index, method: method.clone(), target, fault: fault.clone(), upstream_status: None };
        if shared.stopped.load(Ordering::SeqCst) {
            // Gone away while this request was being read: no answer.
            return Ok(());
        }

        let mut request = head.raw.clone();
        request.extend_from_slice(&body);
        let forwarded = match &fault {
            Some(Fault::Drop) => {
                shared.record(event);
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::GoAway) => {
                shared.record(event);
                shared.stop();
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Status(code)) => {
                shared.record(event);
                out.write_all(&error_response(*code))?;
                if client_closes {
                    return Ok(());
                }
                continue;
            }
            _ => match upstream.exchange(&method, &request) {
                Ok(r) => r,
                Err(e) => {
                    shared.error(format!("#{index} {method}: forwarding failed: {e}"));
                    shared.record(Event { fault: None, ..event });
                    out.write_all(&error_response(502))?;
                    return Ok(());
                }
            },
        };
        event.upstream_status = Some(forwarded.status);
        match fault {
            Some(Fault::StatusAfterForward(code)) => {
                shared.record(event);
                out.write_all(&error_response(code))?;
            }
            Some(Fault::Truncate) if !forwarded.body.is_empty() => {
                shared.record(event);
                out.write_all(&forwarded.head.raw)?;
                out.write_all(&forwarded.body[..forwarded.body.len() / 2])?;
                out.flush()?;
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
            other => {
                let delayed = if let Some(Fault::Delay(d)) = other {
                    std::thread::sleep(d);
                    true
                } else {
                    // A truncation that found no body relays the answer untouched.
                    event.fault = None;
                    false
                };
                shared.record(event);
                let sent = (|| {
                    out.write_all(&forwarded.head.raw)?;
                    out.write_all(&forwarded.body)?;
                    out.flush()
                })();
                if sent.is_err() && delayed {
                    // The client gave up waiting and closed the connection.
                    return Ok(());
                }
                sent?;
                if forwarded.closes {
                    return Ok(());
                }
            }
        }
        if client_closes {
            return Ok(());
        }
    }
}
