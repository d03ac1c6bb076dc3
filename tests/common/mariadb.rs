//! A real, private MariaDB server for the tests: `mariadb-install-db` into a temporary
//! directory, then `mariadbd` on a unix socket in that directory and on `127.0.0.1:<port>`, one
//! server per [`MariaDb`], killed and removed on drop. Every server is independent (own data
//! directory, socket and port), so tests run in parallel, within a binary and across binaries.
//!
//! Without the MariaDB binaries (Debian: `apt-get install mariadb-server mariadb-client`),
//! [`MariaDb::start`] returns `None` (the test skips, loudly), unless `REGRADE_REQUIRE_MARIADB=1`,
//! when it panics.
//!
//! The server speaks utf8mb4 (`utf8mb4_unicode_ci`) in UTC, allows `LOAD DATA LOCAL INFILE`, and
//! has a `root` user without a password on the socket and on `127.0.0.1`. SQL goes through the
//! `mariadb` command-line client: [`MariaDb::exec`] and [`MariaDb::try_exec`] run statements,
//! [`MariaDb::query`] returns rows, [`MariaDb::source_file`] runs a script file.
//!
//! [`MariaDb::query`] reads the client's `--xml` output: it is the one output format of the
//! client that tells NULL (`xsi:nil="true"`) from the string `'NULL'` and carries tabs, newlines,
//! carriage returns, backslashes and any UTF-8 unchanged (`--batch` prints both as `NULL`). Its only
//! loss: the client prints a NUL byte inside a value as a space (XML cannot hold NUL).
//!
//! If the test process dies without dropping its servers (killed, Ctrl-C), a watchdog shell per
//! server sees its stdin pipe close, kills the server and removes its directory.

use super::free_port;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Set to `1` to make missing MariaDB binaries a test failure instead of a skip.
pub const REQUIRE_VAR: &str = "REGRADE_REQUIRE_MARIADB";
/// The server, the data-directory initialiser and the command-line client.
const SERVER_BIN: &str = "mariadbd";
const INSTALL_DB_BIN: &str = "mariadb-install-db";
const CLIENT_BIN: &str = "mariadb";
/// Searched after `PATH`: `mariadbd` lives in `/usr/sbin`, not on every user's `PATH`.
const EXTRA_BIN_DIRS: [&str; 3] = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// How long a started server may take to answer `select 1`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Port races (another process takes the free port first) are retried this many times.
const START_ATTEMPTS: usize = 3;
/// A unix socket path must fit `sockaddr_un.sun_path` (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Server options for a throwaway test server, on top of paths, port and user.
const SERVER_OPTIONS: &[&str] = &[
    "--bind-address=127.0.0.1",
    "--skip-name-resolve",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_unicode_ci",
    "--default-time-zone=+00:00",
    "--local-infile=1",
    "--innodb-buffer-pool-size=64M",
    // The default 96 MiB redo log would make each data directory 113 MiB instead of 21 MiB.
    "--innodb-log-file-size=4M",
    // No io_uring/libaio: they are refused in some containers; speed does not matter here.
    "--innodb-use-native-aio=0",
    // Nothing here needs to survive a crash.
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
    "--skip-log-bin",
    "--max-connections=50",
];

/// The watchdog: reads one line from its stdin. `disarm` (written by [`MariaDb`]'s drop, which
/// stops the server itself) ends it; end of input without it (the test process is gone) kills the
/// server `$1` and removes the directory `$2` once the server has gone.
const WATCHDOG: &str = r#"
if read line && [ "$line" = disarm ]; then exit 0; fi
kill -9 "$1" 2>/dev/null
i=0
while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
rm -rf "$2"
"#;

/// A running `mariadbd` with its data directory, socket and logs in a temporary directory.
/// Dropping it kills the server (see [`Process`]), then removes the directory.
pub struct MariaDb {
    // Fields drop in order: the server stops before its directory goes.
    process: Process,
    client: PathBuf,
    socket: PathBuf,
    port: u16,
    /// `<tmp>/err.log`: the server's error log.
    err_log: PathBuf,
    tmp: tempfile::TempDir,
}

/// The server process and its watchdog.
struct Process {
    server: Child,
    watchdog: Child,
    watchdog_stdin: Option<ChildStdin>,
}

impl Drop for Process {
    /// Kills the server (its data is throwaway: no clean shutdown needed, and a kill cannot
    /// hang) after disarming the watchdog.
    fn drop(&mut self) {
        if let Some(mut stdin) = self.watchdog_stdin.take() {
            let _ = stdin.write_all(b"disarm\n");
            drop(stdin);
            let _ = self.watchdog.wait();
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The three binaries, found.
struct Bins {
    server: PathBuf,
    install_db: PathBuf,
    client: PathBuf,
}

impl MariaDb {
    /// Start a server, or `None` (after saying so on stderr) when the MariaDB binaries are not
    /// installed and `REGRADE_REQUIRE_MARIADB` is not `1`. Panics if they are installed but the
    /// server does not come up.
    pub fn start() -> Option<MariaDb> {
        Self::start_with_options(&[])
    }

    /// [`MariaDb::start`] with more server options (`--ssl-cert=...`, say).
    pub fn start_with_options(extra: &[String]) -> Option<MariaDb> {
        let bins = match find_bins() {
            Ok(bins) => bins,
            Err(missing) => {
                let msg = format!(
                    "{missing} not found on PATH or in {}; install MariaDB with \
                     `apt-get install mariadb-server mariadb-client`",
                    EXTRA_BIN_DIRS.join(", ")
                );
                if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                    panic!("{REQUIRE_VAR}=1 but {msg}");
                }
                eprintln!("\n*** SKIPPING MARIADB TEST: {msg} ***\n");
                return None;
            }
        };
        Some(Self::start_with(bins, extra))
    }

    fn start_with(bins: Bins, extra: &[String]) -> MariaDb {
        // Under /tmp, not $TMPDIR, which may be long: the socket path must stay short.
        let base = if Path::new("/tmp").is_dir() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let mut tmp = tempfile::Builder::new()
            .prefix("regrade-mdb-")
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("temp dir in {}: {e}", base.display()));
        let data = tmp.path().join("data");
        let socket = tmp.path().join("sock");
        let err_log = tmp.path().join("err.log");
        let socket_len = socket.as_os_str().len();
        assert!(
            socket_len <= MAX_SOCKET_PATH,
            "socket path too long ({socket_len} bytes): {}",
            socket.display()
        );
        // mariadbd refuses to run as root without `--user=root`; mariadb-install-db accepts
        // `--user` only from root. Anyone else runs both as themselves, without `--user`.
        let as_root = std::fs::metadata(tmp.path()).expect("temp dir metadata").uid() == 0;
        let user: &[&str] = if as_root { &["--user=root"] } else { &[] };

        let install_log = tmp.path().join("install.log");
        let log = File::create(&install_log).expect("install log");
        let status = Command::new(&bins.install_db)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(user)
            .args(["--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"])
            // Passed on to the bootstrap server. Its own tmpdir: two bootstraps sharing /tmp
            // can collide on their temporary tables ("Unknown table 'mysql.tmp_user_sys'").
            .arg(format!("--tmpdir={}", tmp.path().display()))
            // The redo log is created at this size.
            .args(["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=64M", "--innodb-use-native-aio=0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("install log"))
            .stderr(log)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bins.install_db.display()));
        if !status.success() {
            panic!(
                "{} --datadir={} failed ({status}); its output:\n{}",
                bins.install_db.display(),
                data.display(),
                tail(&install_log, 60)
            );
        }

        let mut last_failure = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let log = File::create(&err_log).expect("error log");
            let mut server = Command::new(&bins.server)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--port={port}"))
                .args(user)
                .arg(format!("--log-error={}", err_log.display()))
                .arg(format!("--pid-file={}", tmp.path().join("mariadbd.pid").display()))
                .arg(format!("--tmpdir={}", tmp.path().display()))
                // SELECT ... INTO OUTFILE and LOAD DATA INFILE (server side) only in the temp dir.
                .arg(format!("--secure-file-priv={}", tmp.path().display()))
                .args(SERVER_OPTIONS)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("error log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bins.server.display()));
            let mut watchdog = Command::new("sh")
                .args(["-c", WATCHDOG, "regrade-mariadb-watchdog"])
                .arg(server.id().to_string())
                .arg(tmp.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    let _ = server.kill();
                    let _ = server.wait();
                    panic!("cannot run the watchdog shell `sh`: {e}")
                });
            let watchdog_stdin = watchdog.stdin.take();
            let mut db = MariaDb {
                process: Process { server, watchdog, watchdog_stdin },
                client: bins.client.clone(),
                socket: socket.clone(),
                port,
                err_log: err_log.clone(),
                tmp,
            };
            match db.wait_ready() {
                Ok(()) => return db,
                Err(Failure::Exited(msg)) => {
                    last_failure = msg;
                    // Stop this server (drop its process) and keep the data directory for the
                    // next attempt.
                    let MariaDb { process, tmp: kept, .. } = db;
                    drop(process);
                    tmp = kept;
                    // Most likely the port was taken between `free_port` and the bind: retried.
                    if !last_failure.contains("Address already in use") {
                        break;
                    }
                }
                Err(Failure::Timeout(msg)) => panic!("{msg}"),
            }
        }
        panic!("{SERVER_BIN} did not start; {last_failure}");
    }

    /// Waits until the client can run `select 1` on the socket.
    fn wait_ready(&mut self) -> Result<(), Failure> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.process.server.try_wait().expect("wait for mariadbd") {
                return Err(Failure::Exited(format!(
                    "{SERVER_BIN} on port {} exited with {status} before accepting connections; \
                     end of its error log:\n{}",
                    self.port,
                    self.server_log()
                )));
            }
            // The socket appears once the server listens; a connection may still be refused
            // until it is ready.
            if self.socket.exists() && self.try_exec("", "select 1").is_ok() {
                return Ok(());
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(Failure::Timeout(format!(
                    "{SERVER_BIN} did not answer on {} within {STARTUP_TIMEOUT:?}; end of its error log:\n{}",
                    self.socket.display(),
                    self.server_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The server's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The server's TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://root@127.0.0.1:<port>/<db>` (no password).
    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// The server's private temporary directory (also its `secure_file_priv`).
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The end of the server's error log, for failure messages.
    pub fn server_log(&self) -> String {
        tail(&self.err_log, 40)
    }

    /// The client, connected as root over the socket, in database `db` (none if empty), with
    /// utf8mb4 and `LOAD DATA LOCAL INFILE` allowed. SQL is read from stdin (batch mode).
    pub fn client(&self, db: &str) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.arg("--no-defaults").arg(format!("--socket={}", self.socket.display())).args([
            "--user=root",
            "--default-character-set=utf8mb4",
            "--local-infile=1",
        ]);
        if !db.is_empty() {
            cmd.arg(format!("--database={db}"));
        }
        cmd
    }

    /// Runs `sql` (any number of statements) in database `db` (none if empty); panics with the
    /// client's error on failure. The client stops at the first failing statement.
    pub fn exec(&self, db: &str, sql: &str) {
        if let Err(e) = self.try_exec(db, sql) {
            panic!("SQL failed in database '{db}': {e}\nSQL: {}", excerpt(sql));
        }
    }

    /// Runs `sql` in database `db` (none if empty): the client's stdout (tab-separated, with
    /// `\t`, `\n`, `\\`, `\0` escaped) or, when it fails, its stderr.
    pub fn try_exec(&self, db: &str, sql: &str) -> Result<String, String> {
        outcome(run_with_input(self.client(db), sql.as_bytes()))
    }

    /// The rows of the one result set that `sql` returns (statements before it may return none,
    /// e.g. `SET`), every value as the client prints it, NULL as `None`. Panics if the SQL fails,
    /// returns no or several result sets, or a value is not UTF-8 (select `HEX(col)` instead).
    pub fn query(&self, db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut cmd = self.client(db);
        cmd.arg("--xml");
        let xml = outcome(run_with_input(cmd, sql.as_bytes()))
            .unwrap_or_else(|e| panic!("query failed in database '{db}': {e}\nSQL: {}", excerpt(sql)));
        let mut sets = parse_xml(&xml).unwrap_or_else(|e| {
            panic!("cannot read the client's XML output: {e}\nSQL: {}\nXML:\n{}", excerpt(sql), excerpt(&xml))
        });
        match sets.len() {
            1 => sets.pop().expect("one result set"),
            n => panic!("query expects exactly one result set, got {n}\nSQL: {}", excerpt(sql)),
        }
    }

    /// Runs the SQL script `script` in database `db` (none if empty) with the client's working
    /// directory set to `dir`, so that relative paths in `LOAD DATA LOCAL INFILE` resolve there:
    /// the client's stdout, or its stderr when a statement fails (the script stops there).
    pub fn source_file(&self, db: &str, script: &Path, dir: &Path) -> Result<String, String> {
        let input = File::open(script).unwrap_or_else(|e| panic!("open {}: {e}", script.display()));
        let out = self
            .client(db)
            .current_dir(dir)
            .stdin(input)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.client.display()));
        outcome(out)
    }
}

enum Failure {
    Exited(String),
    Timeout(String),
}

fn find_bins() -> Result<Bins, String> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(EXTRA_BIN_DIRS.iter().map(PathBuf::from));
    let find = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
    match (find(SERVER_BIN), find(INSTALL_DB_BIN), find(CLIENT_BIN)) {
        (Some(server), Some(install_db), Some(client)) => Ok(Bins { server, install_db, client }),
        (server, install_db, client) => {
            let missing: Vec<String> =
                [(server, SERVER_BIN), (install_db, INSTALL_DB_BIN), (client, CLIENT_BIN)]
                    .into_iter()
                    .filter(|(found, _)| found.is_none())
                    .map(|(_, name)| format!("`{name}`"))
                    .collect();
            Err(missing.join(", "))
        }
    }
}

/// Runs `cmd` with `input` on its stdin, collecting stdout and stderr.
fn run_with_input(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    let mut stdin = child.stdin.take().expect("client stdin");
    // Written from another thread: the client may fill its stdout before reading all its input.
    std::thread::scope(|s| {
        s.spawn(move || {
            // A client that fails early stops reading: its stderr says why, not the broken pipe.
            let _ = stdin.write_all(input);
        });
        child.wait_with_output().expect("wait for the client")
    })
}

fn outcome(out: Output) -> Result<String, String> {
    if out.status.success() {
        String::from_utf8(out.stdout).map_err(|e| format!("the client's output is not UTF-8: {e}"))
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{} ({})", stderr.trim_end(), out.status))
    }
}

/// The result sets in the client's `--xml` output:
///
/// ```text
/// <?xml version="1.0"?>
/// <resultset statement="..." xmlns:xsi="...">
///   <row>
///     <field name="a">text</field>
///     <field name="b" xsi:nil="true" />
///   </row>
/// </resultset>
/// ```
///
/// The client escapes `<`, `>`, `&` and `"` in attribute values and text and writes every other
/// byte as is, so every raw `<` opens a tag and the text of a field runs to the next `<`.
fn parse_xml(xml: &str) -> Result<Vec<Vec<Vec<Option<String>>>>, String> {
    let mut sets: Vec<Vec<Vec<Option<String>>>> = Vec::new();
    let mut row: Option<Vec<Option<String>>> = None;
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        if !rest[..lt].trim().is_empty() {
            return Err(format!("unexpected text {:?}", &rest[..lt]));
        }
        let gt = rest[lt..].find('>').ok_or("unterminated tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        let name = tag.split_ascii_whitespace().next().unwrap_or("");
        match name {
            "?xml" => {}
            "resultset" => sets.push(Vec::new()),
            "/resultset" => {}
            "row" if row.is_none() => row = Some(Vec::new()),
            "/row" => {
                let done = row.take().ok_or("</row> outside a row")?;
                sets.last_mut().ok_or("<row> outside a result set")?.push(done);
            }
            "field" => {
                let fields = row.as_mut().ok_or("<field> outside a row")?;
                if let Some(attrs) = tag.strip_suffix('/') {
                    if !attrs.contains(r#"xsi:nil="true""#) {
                        return Err(format!("empty field without xsi:nil: <{tag}>"));
                    }
                    fields.push(None);
                } else {
                    let end = rest.find('<').ok_or("unterminated field")?;
                    let text = unescape(&rest[..end])?;
                    rest = rest[end..]
                        .strip_prefix("</field>")
                        .ok_or("a field's text is followed by no </field>")?;
                    fields.push(Some(text));
                }
            }
            _ => return Err(format!("unexpected tag <{tag}>")),
        }
    }
    if !rest.trim().is_empty() || row.is_some() {
        return Err("output ends inside a row or with text".to_string());
    }
    Ok(sets)
}

/// Replaces XML character references by the characters they stand for.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').ok_or_else(|| format!("unterminated entity in {text:?}"))? + amp;
        let entity = &rest[amp + 1..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|dec| dec.parse().ok())
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity}; in {text:?}"))?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => "(nothing)".to_string(),
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// At most the first 2000 characters of `text`, for failure messages.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(2000) {
        Some((at, _)) => format!("{}... ({} bytes in all)", &text[..at], text.len()),
        None => text.to_string(),
    }
}
