//! Where the server is and how to log in: `--url mysql://USER@HOST:PORT/DB[?ssl-mode=…]`, the
//! password from `MYSQL_PWD` or an option file (`--defaults-file`, read as the `mysql` client
//! reads its `[client]` group), never from the URL. Nothing here prints a password: [`Server`]'s
//! `Debug` and [`Server::shown`] leave it out.
//!
//! TLS follows the `mysql` client's `--ssl-mode`: `PREFERRED` (default) encrypts when the server
//! offers TLS, `REQUIRED` refuses a server that does not, `VERIFY_CA` also checks the
//! certificate against `ssl-ca`, `VERIFY_IDENTITY` the host name too, `DISABLED` never encrypts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use mysql::{Conn, OptsBuilder, SslOpts};

use crate::error::UsageError;

/// `--ssl-mode`, as the `mysql` client has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SslMode {
    Disabled,
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl SslMode {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "DISABLED" => SslMode::Disabled,
            "PREFERRED" => SslMode::Preferred,
            "REQUIRED" => SslMode::Required,
            "VERIFY_CA" => SslMode::VerifyCa,
            "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
            _ => {
                return Err(UsageError::new(format!(
                    "ssl-mode '{s}' is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
                ))
                .into())
            }
        })
    }
}

/// The server to read from, resolved once from the URL, the option file and the environment.
#[derive(Clone)]
pub(crate) struct Server {
    host: String,
    port: u16,
    socket: Option<String>,
    user: String,
    password: Option<String>,
    pub(crate) database: String,
    pub(crate) ssl_mode: SslMode,
    ssl_ca: Option<PathBuf>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

fn usage(message: String) -> anyhow::Error {
    UsageError::new(message).into()
}

impl Server {
    /// Resolve `url`, with `defaults_file` (option file) and `env` (for `MYSQL_PWD`).
    pub(crate) fn resolve(
        url: &str,
        defaults_file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Server> {
        let file = match defaults_file {
            Some(path) => read_option_file(path)?,
            None => BTreeMap::new(),
        };
        let parsed = url::Url::parse(url).map_err(|e| {
            usage(format!("--url: not a URL ({e}); expected mysql://USER@HOST:PORT/DATABASE"))
        })?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(usage(format!(
                "--url: the scheme must be mysql:// or mariadb://, not {}://",
                parsed.scheme()
            )));
        }
        if parsed.password().is_some() {
            return Err(usage(
                "--url holds a password: passwords in URLs end up in shell history and process lists. \
                 Give it in MYSQL_PWD or in a --defaults-file ([client] password=...) instead"
                    .into(),
            ));
        }
        // A URL's user and path are percent-encoded (a user name may hold `@`); text that is not
        // valid percent-encoding is taken as it is.
        let decode =
            |s: &str| crate::store::partition::unescape_partition_value(s).unwrap_or_else(|| s.to_string());
        let user = Some(decode(parsed.username()))
            .filter(|u| !u.is_empty())
            .or_else(|| file.get("user").cloned())
            .ok_or_else(|| {
                usage("--url names no user (mysql://USER@HOST/DB) and no option file gives one".into())
            })?;
        let mut database = decode(parsed.path().trim_matches('/'));
        if database.is_empty() {
            database = file.get("database").cloned().unwrap_or_default();
        }
        if database.is_empty() {
            return Err(usage("--url names no database: mysql://USER@HOST:PORT/edxapp".into()));
        }
        let host = parsed
            .host_str()
            .map(String::from)
            .filter(|h| !h.is_empty())
            .or_else(|| file.get("host").cloned())
            .unwrap_or_else(|| "localhost".into());
        let port = match (parsed.port(), file.get("port")) {
            (Some(p), _) => p,
            (None, Some(p)) => {
                p.parse().map_err(|_| usage(format!("option file: port '{p}' is not a number")))?
            }
            (None, None) => 3306,
        };
        let mut params: BTreeMap<String, String> = parsed
            .query_pairs()
            .map(|(k, v)| (k.replace('_', "-").to_ascii_lowercase(), v.into_owned()))
            .collect();
        for key in params.keys() {
            if !matches!(key.as_str(), "ssl-mode" | "ssl-ca" | "socket") {
                return Err(usage(format!(
                    "--url: unknown parameter '{key}' (known: ssl-mode, ssl-ca, socket)"
                )));
            }
        }
        let mut pick = |key: &str| params.remove(key).or_else(|| file.get(key).cloned());
        let ssl_mode =
            pick("ssl-mode").map(|m| SslMode::parse(&m)).transpose()?.unwrap_or(SslMode::Preferred);
        let ssl_ca = pick("ssl-ca").map(PathBuf::from);
        let socket = pick("socket");
        if matches!(ssl_mode, SslMode::VerifyCa | SslMode::VerifyIdentity) && ssl_ca.is_none() {
            return Err(usage(format!("ssl-mode {ssl_mode:?} needs ssl-ca=FILE (the CA certificate, PEM)")));
        }
        // The option file's password wins over MYSQL_PWD, as in the mysql client.
        let password = file.get("password").cloned().or_else(|| env("MYSQL_PWD"));
        Ok(Server { host, port, socket, user, password, database, ssl_mode, ssl_ca })
    }

    /// The server as logs and the manifest show it: no password, whether one is used.
    pub(crate) fn shown(&self) -> String {
        let via = self.socket.as_deref().map(|s| format!(" (socket {s})")).unwrap_or_default();
        format!(
            "mysql://{}@{}:{}/{}{via} [password: {}; ssl-mode {:?}]",
            self.user,
            self.host,
            self.port,
            self.database,
            if self.password.is_some() { "given" } else { "none" },
            self.ssl_mode
        )
    }

    fn opts(&self, tls: Option<SslOpts>) -> OptsBuilder {
        OptsBuilder::new()
            .ip_or_hostname(Some(self.host.clone()))
            .tcp_port(self.port)
            .socket(self.socket.clone())
            .prefer_socket(self.socket.is_some())
            .user(Some(self.user.clone()))
            .pass(self.password.clone())
            .db_name(Some(self.database.clone()))
            .tcp_connect_timeout(Some(Duration::from_secs(20)))
            .tcp_keepalive_time_ms(Some(60_000))
            // UTC for the session: NOW() and TIMESTAMP columns; datetime(6) is naive anyway.
            .init(vec!["SET NAMES utf8mb4", "SET time_zone = '+00:00'"])
            .ssl_opts(tls)
    }

    /// A new connection, TLS as `ssl-mode` says.
    pub(crate) fn connect(&self) -> Result<Conn> {
        let tls = match self.ssl_mode {
            SslMode::Disabled => None,
            // As the mysql client: PREFERRED and REQUIRED encrypt without checking the
            // certificate; the VERIFY modes check it.
            SslMode::Preferred | SslMode::Required => {
                Some(SslOpts::default().with_danger_accept_invalid_certs(true))
            }
            SslMode::VerifyCa => Some(
                SslOpts::default()
                    .with_root_cert_path(self.ssl_ca.clone().map(std::borrow::Cow::Owned))
                    .with_danger_skip_domain_validation(true),
            ),
            SslMode::VerifyIdentity => {
                Some(SslOpts::default().with_root_cert_path(self.ssl_ca.clone().map(std::borrow::Cow::Owned)))
            }
        };
        let uses_tls = tls.is_some();
        match Conn::new(self.opts(tls)) {
            Ok(conn) => Ok(conn),
            Err(mysql::Error::DriverError(mysql::DriverError::TlsNotSupported))
                if self.ssl_mode == SslMode::Preferred =>
            {
                tracing::debug!("the server offers no TLS; connecting without (ssl-mode PREFERRED)");
                Conn::new(self.opts(None)).map_err(|e| self.failed(e, false))
            }
            Err(e) => Err(self.failed(e, uses_tls)),
        }
    }

    fn failed(&self, e: mysql::Error, tls: bool) -> anyhow::Error {
        let hint = match &e {
            mysql::Error::DriverError(mysql::DriverError::TlsNotSupported) => {
                " (the server offers no TLS and ssl-mode is REQUIRED or stricter)".to_string()
            }
            mysql::Error::MySqlError(m) if m.code == 1045 => {
                " (access denied: check the user, and the password in MYSQL_PWD or --defaults-file)"
                    .to_string()
            }
            mysql::Error::MySqlError(m) if m.code == 1049 => " (no such database)".to_string(),
            mysql::Error::IoError(_) | mysql::Error::DriverError(_) if !tls => {
                " (is the server running and reachable from here?)".to_string()
            }
            _ => String::new(),
        };
        UsageError::new(format!("cannot connect to {}: {e}{hint}", self.shown())).into()
    }
}

/// The `[client]` group of a MySQL option file: `key=value` lines (`_` and `-` alike in keys;
/// values may be quoted), `#`/`;` comments. `!include` directives are refused rather than
/// silently ignored.
fn read_option_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--defaults-file: cannot read {}", path.display()))
        .map_err(crate::error::usage)?;
    let mut out = BTreeMap::new();
    let mut in_client = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('!') {
            return Err(usage(format!(
                "--defaults-file {}: line {}: '{line}' directives are not supported; put the options in the file",
                path.display(),
                n + 1
            )));
        }
        if let Some(group) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = group.trim().eq_ignore_ascii_case("client");
            continue;
        }
        if !in_client {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        let key = key.trim().replace('_', "-").to_ascii_lowercase();
        let mut value = value.trim();
        for q in ['"', '\''] {
            if value.len() >= 2 && value.starts_with(q) && value.ends_with(q) {
                value = &value[1..value.len() - 1];
            }
        }
        out.insert(key, value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_echoing_it() {
        let e = Server::resolve("mysql://edx:s3cret@db:3306/edxapp", None, no_env).unwrap_err().to_string();
        assert!(e.contains("MYSQL_PWD") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn the_password_comes_from_the_option_file_before_mysql_pwd_and_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("my.cnf");
        std::fs::write(
            &file,
            "[mysqld]\npassword=nope\n[client]\npassword = \"from-file\"\nssl_mode=REQUIRED\n",
        )
        .unwrap();
        let env = |k: &str| (k == "MYSQL_PWD").then(|| "from-env".to_string());
        let s = Server::resolve("mysql://edx@db/edxapp", Some(&file), env).unwrap();
        assert_eq!(s.password.as_deref(), Some("from-file"));
        assert_eq!(s.ssl_mode, SslMode::Required);
        let s2 = Server::resolve("mysql://edx@db/edxapp", None, env).unwrap();
        assert_eq!(s2.password.as_deref(), Some("from-env"));
        for shown in [s.shown(), format!("{s:?}"), s2.shown()] {
            assert!(!shown.contains("from-") && shown.contains("password: given"), "{shown}");
        }
    }

    #[test]
    fn url_parts_and_parameters() {
        let s = Server::resolve("mysql://ro%40x@10.0.0.5/edx%5Fapp?ssl-mode=disabled", None, no_env).unwrap();
        assert_eq!(
            (s.user.as_str(), s.host.as_str(), s.port, s.database.as_str()),
            ("ro@x", "10.0.0.5", 3306, "edx_app")
        );
        assert_eq!(s.ssl_mode, SslMode::Disabled);
        for bad in [
            "mysql://u@h/db?sslmode=x",
            "mysql://u@h/",
            "postgres://u@h/db",
            "mysql://u@h/db?ssl-mode=VERIFY_CA",
        ] {
            assert!(Server::resolve(bad, None, no_env).is_err(), "{bad}");
        }
    }
}
