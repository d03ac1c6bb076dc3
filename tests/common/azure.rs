//! A real Azure Blob Storage emulator on loopback for the tests: Azurite (`npm install -g
//! azurite`), one `azurite-blob` process per [`Azurite`], killed on drop, with one container.
//!
//! regrade runs as a subprocess ([`Azurite::command`]) with every inherited `AZURE_*` variable
//! removed and the emulator's set: `AZURE_STORAGE_USE_EMULATOR=true`, `AZURITE_BLOB_STORAGE_URL`
//! and the emulator account's name and key, given explicitly (credentials are always set, so no
//! client ever looks for a cloud identity endpoint).
//!
//! Without `azurite-blob` on `PATH`, [`Azurite::start`] returns `None` (the test skips, loudly),
//! unless `REGRADE_REQUIRE_AZURE=1` (set by `.ci/run`), when it panics.

use super::free_port;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::{ObjectStore, ObjectStoreExt};

pub const REQUIRE_VAR: &str = "REGRADE_REQUIRE_AZURE";
pub const SERVER_BIN: &str = "azurite-blob";
pub const CONTAINER: &str = "regrade-test";
/// Azurite's well-known development account and key (public: they are in Azure's docs).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Azurite {
    child: Child,
    port: u16,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Azurite {
    /// Start Azurite and create [`CONTAINER`], or `None` when it is not installed (and not
    /// required).
    pub fn start() -> Option<Azurite> {
        let tmp = tempfile::Builder::new().prefix("regrade-azurite-").tempdir().expect("temp dir");
        let log = tmp.path().join("azurite.log");
        let port = free_port();
        let spawned = Command::new(SERVER_BIN)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--silent"])
            .args(["--skipApiVersionCheck", "--location"])
            .arg(tmp.path().join("data"))
            .stdin(Stdio::null())
            .stdout(File::create(&log).expect("log file"))
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let msg = format!("`{SERVER_BIN}` is not on PATH; install it with `npm install -g azurite`");
                if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                    panic!("{REQUIRE_VAR}=1 but {msg}");
                }
                eprintln!("\n*** SKIPPING AZURE TEST: {msg} ***\n");
                return None;
            }
            Err(e) => panic!("cannot run {SERVER_BIN}: {e}"),
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait().expect("wait for azurite") {
                panic!(
                    "{SERVER_BIN} exited with {status}: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                let _ = child.kill();
                panic!("{SERVER_BIN} did not accept connections on {addr} within {STARTUP_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let server = Azurite { child, port, log, _tmp: tmp };
        server.create_container();
        Some(server)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `az://<CONTAINER>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("az://{CONTAINER}/{}", prefix.trim_matches('/'))
    }

    /// The variables an operator sets to reach Azurite (README, "Azure Blob Storage").
    pub fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
            ("AZURITE_BLOB_STORAGE_URL", self.endpoint()),
            ("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT.to_string()),
            ("AZURE_STORAGE_ACCOUNT_KEY", KEY.to_string()),
        ]
    }

    /// The `regrade` binary with [`Self::envs`] set and every other `AZURE_*` variable removed.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_regrade"));
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(|k| k.starts_with("AZURE_") || k.starts_with("AZURITE_")) {
                cmd.env_remove(key);
            }
        }
        cmd.envs(self.envs());
        cmd
    }

    /// A client for the container, configured explicitly (an account endpoint, path-style), not
    /// from the process environment.
    pub fn store(&self) -> MicrosoftAzure {
        MicrosoftAzureBuilder::new()
            .with_account(ACCOUNT)
            .with_access_key(KEY)
            .with_endpoint(format!("{}/{ACCOUNT}", self.endpoint()))
            .with_allow_http(true)
            .with_container_name(CONTAINER)
            .build()
            .expect("Azure client")
    }

    /// Every blob under `prefix`, keyed by its path relative to the prefix.
    pub fn objects(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let store = self.store();
        let prefix = object_store::path::Path::from(prefix.trim_matches('/'));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio");
        runtime.block_on(async {
            use futures::TryStreamExt;
            let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.expect("list blobs");
            let mut out = BTreeMap::new();
            for m in metas {
                let bytes = store.get(&m.location).await.expect("get").bytes().await.expect("body");
                let rel = m.location.as_ref().strip_prefix(prefix.as_ref()).unwrap_or(m.location.as_ref());
                out.insert(rel.trim_start_matches('/').to_string(), bytes.to_vec());
            }
            out
        })
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `PUT /<account>/<container>?restype=container`, signed with the account key (SharedKey:
    /// object_store cannot create containers).
    fn create_container(&self) {
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{CONTAINER}\nrestype:container"
        );
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &b64.decode(KEY).expect("key"));
        let signature = b64.encode(ring::hmac::sign(&key, to_sign.as_bytes()).as_ref());
        let request = format!(
            "PUT /{ACCOUNT}/{CONTAINER}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             x-ms-date: {date}\r\nx-ms-version: {version}\r\nAuthorization: SharedKey {ACCOUNT}:{signature}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to azurite");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(response.starts_with("HTTP/1.1 201"), "creating the container failed:\n{response}");
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
