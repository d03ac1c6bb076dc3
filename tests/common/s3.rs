//! A real S3-compatible server on loopback for the tests: `s3s-fs` (`cargo install
//! s3s-fs@0.14.1 --locked --features binary`), one process per [`S3Server`], killed on drop.
//!
//! The server checks SigV4 signatures, so wrong credentials fail as they would on AWS. regrade
//! itself is run as a subprocess ([`S3Server::command`]) with the `AWS_*` variables set on the
//! `Command`: no test touches its own process environment, so tests run in parallel.
//!
//! Without `s3s-fs` on `PATH`, [`S3Server::start`] returns `None` (the test skips, loudly),
//! unless `REGRADE_REQUIRE_S3=1` (set by `.ci/run`), when it panics.
//!
//! s3s-fs keeps every object as a plain file `<root>/<bucket>/<key>` (its metadata and
//! temporary files live beside the bucket folders, never inside them), so [`S3Server::objects`]
//! reads what was stored straight from disk, independently of the S3 client under test.

use super::free_port;
use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ObjectStoreExt, PutPayload};

/// Set to `1` to make a missing `s3s-fs` a test failure instead of a skip.
pub const REQUIRE_VAR: &str = "REGRADE_REQUIRE_S3";
/// The server binary, looked up on `PATH`.
pub const SERVER_BIN: &str = "s3s-fs";
/// The one bucket every server has.
pub const BUCKET: &str = "regrade-test";
pub const ACCESS_KEY: &str = "test";
pub const SECRET_KEY: &str = "testtest";
pub const REGION: &str = "us-east-1";

/// How long a started server may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Port races (another process takes the free port first) are retried this many times.
const START_ATTEMPTS: usize = 3;

/// A running `s3s-fs` on `127.0.0.1:<port>` serving [`BUCKET`] from a temporary directory.
pub struct S3Server {
    child: Child,
    port: u16,
    /// `<tmp>/data`: the server's root; the bucket is the folder `<tmp>/data/<BUCKET>`.
    data: PathBuf,
    /// `<tmp>/s3s-fs.log`: the server's stdout and stderr.
    log: PathBuf,
    // Dropped after the server is killed (fields drop after `Drop::drop`).
    _tmp: tempfile::TempDir,
}

impl S3Server {
    /// Start a server, or `None` (after saying so on stderr) when `s3s-fs` is not installed and
    /// `REGRADE_REQUIRE_S3` is not `1`. Panics if the server is installed but does not come up.
    pub fn start() -> Option<S3Server> {
        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start() {
                Ok(server) => return Some(server),
                Err(Failure::NotInstalled(e)) => {
                    let msg = format!(
                        "`{SERVER_BIN}` is not on PATH ({e}); install it with \
                         `cargo install s3s-fs@0.14.1 --locked --features binary`"
                    );
                    if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                        panic!("{REQUIRE_VAR}=1 but {msg}");
                    }
                    eprintln!("\n*** SKIPPING S3 TEST: {msg} ***\n");
                    return None;
                }
                Err(Failure::Exited(msg)) => last_failure = msg,
                Err(Failure::Timeout(msg)) => panic!("{msg}"),
            }
        }
        panic!("{SERVER_BIN} did not start after {START_ATTEMPTS} attempts; last: {last_failure}");
    }

    fn try_start() -> Result<S3Server, Failure> {
        let tmp = tempfile::Builder::new().prefix("regrade-s3-").tempdir().expect("temp dir");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join(BUCKET)).expect("bucket folder");
        let log = tmp.path().join("s3s-fs.log");
        let log_file = File::create(&log).expect("log file");
        let port = free_port();
        let mut child = Command::new(SERVER_BIN)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Failure::NotInstalled(e.to_string()),
                _ => panic!("cannot run {SERVER_BIN}: {e}"),
            })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for s3s-fs") {
                // Most likely the port was taken between `free_port` and the bind: retried.
                return Err(Failure::Exited(format!(
                    "{SERVER_BIN} on port {port} exited with {status} before accepting connections; \
                     its output:\n{}",
                    read_log(&log)
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(S3Server { child, port, data, log, _tmp: tmp });
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Timeout(format!(
                    "{SERVER_BIN} did not accept connections on {addr} within {STARTUP_TIMEOUT:?}; \
                     its output:\n{}",
                    read_log(&log)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://<BUCKET>/<prefix>` (`s3://<BUCKET>` for an empty prefix).
    pub fn url(&self, prefix: &str) -> String {
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() {
            format!("s3://{BUCKET}")
        } else {
            format!("s3://{BUCKET}/{prefix}")
        }
    }

    /// The environment under which `AmazonS3Builder::from_env` (object_store 0.13) reaches this
    /// server: endpoint, plain HTTP, the server's keys, a region and path-style requests.
    pub fn envs(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint()),
            // The same key for object_store; the name the AWS CLI and SDKs read.
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The `regrade` binary with [`Self::envs`] set and every other inherited `AWS_*` variable
    /// removed (a developer's `AWS_SESSION_TOKEN` or `AWS_ENDPOINT_URL_S3` would otherwise leak
    /// into the client: `from_env` reads every `AWS_*` variable).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_regrade"));
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("AWS_")) {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.envs());
        cmd
    }

    /// Every object under `prefix`, keyed by its path relative to the prefix, read from the
    /// server's data directory.
    pub fn objects(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let dir = self.data.join(BUCKET).join(prefix.trim_matches('/'));
        if dir.is_dir() {
            local_tree(&dir)
        } else {
            BTreeMap::new()
        }
    }

    /// An object_store client for this server's bucket, configured explicitly (not from the
    /// process environment).
    pub fn store(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region(REGION)
            .with_bucket_name(BUCKET)
            .with_virtual_hosted_style_request(false)
            .build()
            .expect("S3 client")
    }

    /// PUT `bytes` at `key` (relative to the bucket) through the S3 API.
    pub fn put(&self, key: &str, bytes: &[u8]) {
        let store = self.store();
        let path = object_store::path::Path::parse(key).expect("object key");
        let payload = PutPayload::from(bytes.to_vec());
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        runtime.block_on(store.put(&path, payload)).unwrap_or_else(|e| {
            panic!("PUT {key} to {} failed: {e}\nserver output:\n{}", self.endpoint(), self.server_log())
        });
    }

    /// What the server printed so far (warnings and errors), for failure messages.
    pub fn server_log(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Failure {
    NotInstalled(String),
    Exited(String),
    Timeout(String),
}

fn read_log(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => "(nothing)".to_string(),
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// Every file under `dir`, keyed by its `/`-separated path relative to `dir`.
pub fn local_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under root");
                let key = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>();
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                out.insert(key.join("/"), bytes);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Panics naming the first path (in sorted order) that is missing from one tree or whose bytes
/// differ. A path is ignored when it equals an entry of `ignore` or lies under it (`entry/...`).
pub fn assert_same_trees(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>, ignore: &[&str]) {
    let ignored = |p: &str| {
        ignore.iter().any(|i| p == *i || p.strip_prefix(*i).is_some_and(|rest| rest.starts_with('/')))
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).filter(|k| !ignored(k)).collect();
    keys.sort();
    keys.dedup();
    for key in &keys {
        match (a.get(*key), b.get(*key)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => {
                let at = x.iter().zip(y.iter()).position(|(p, q)| p != q).unwrap_or(x.len().min(y.len()));
                panic!(
                    "trees differ at '{key}': {} vs {} bytes, first difference at byte {at} \
                     ({} paths compared)",
                    x.len(),
                    y.len(),
                    keys.len()
                );
            }
            (Some(_), None) => panic!("'{key}' is only in the first tree ({} paths compared)", keys.len()),
            (None, _) => panic!("'{key}' is only in the second tree ({} paths compared)", keys.len()),
        }
    }
}
