//! Object-store access from a URL.
//!
//! Every input root and output folder of regrade is a URL, so the same job runs against a
//! laptop folder, S3, GCS, Azure or an in-process memory store (tests):
//!
//! | URL | store |
//! |---|---|
//! | `file:///abs/dir`, `/abs/dir`, `rel/dir` | local filesystem rooted at the directory |
//! | `s3://bucket/prefix` | S3 via `AmazonS3Builder::from_env` (honours `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...) |
//! | `gs://bucket/prefix` | Google Cloud Storage via `GoogleCloudStorageBuilder::from_env` |
//! | `az://container/prefix` (also `abfs://`, `azure://`) | Azure Blob via `MicrosoftAzureBuilder::from_env` |
//! | `memory://name/prefix` | an in-memory store, one per `name` for the whole process |
//!
//! Credentials come only from the environment (the builders' `from_env`); they are never
//! printed: [`Location::url`] is the URL the user gave, which holds no secret unless the user
//! put one there, and [`redact`] strips userinfo and query strings from any URL before it is
//! shown.
//!
//! # Retries and timeouts
//!
//! The cloud stores (S3, GCS, Azure) are given explicit retry and timeout settings
//! ([`StoreSettings`]) rather than the client library's defaults. A request that fails with a
//! 5xx or 429 answer, a dropped or refused connection, or a timeout is retried with exponential
//! backoff (base 2, with jitter) until it succeeds, `max_retries` retries were made, or
//! `retry_timeout` has passed since its first attempt; then the error reaches the command,
//! which fails without publishing a manifest. A GET whose body breaks off midway is resumed
//! from the last byte received (same object version, by ETag), under the same limits. Each
//! setting can be overridden by an environment variable; a value that does not parse is an
//! error naming the variable:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `REGRADE_STORE_MAX_RETRIES` | retries per request (0: none) | 10 |
//! | `REGRADE_STORE_RETRY_TIMEOUT_SECS` | no retry starts later than this after the first attempt | 180 |
//! | `REGRADE_STORE_BACKOFF_INIT_SECS` | wait before the first retry, doubled each time | 0.1 |
//! | `REGRADE_STORE_BACKOFF_MAX_SECS` | longest wait between two attempts | 15 |
//! | `REGRADE_STORE_TIMEOUT_SECS` | one attempt, from connecting to the last byte of the body | 60 |
//! | `REGRADE_STORE_CONNECT_TIMEOUT_SECS` | establishing a connection | 5 |
//!
//! Durations are seconds and may be decimal (`0.5`). Idle pooled connections are closed after
//! [`POOL_IDLE_TIMEOUT`], before typical servers drop them on their side. These settings win
//! over the client library's own variables (`AWS_TIMEOUT`, `GOOGLE_TIMEOUT`, ...). Local,
//! `file://` and `memory://` stores have no network and ignore them.
//!
//! # Staging names
//!
//! A local file is written as `_NAME.regrade-staging` in its folder and renamed into place
//! when complete ([`local::StagedLocal`]); a crash in between leaves that name, which
//! listings show and [`staged_target`] recognises, so `--resume` and `--overwrite` remove it.
//! Object stores need none: a put or a multipart upload is invisible until complete.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

pub mod local;
pub mod partition;

/// Pooled connections idle this long are closed (S3 closes its side after about 20 s).
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Environment variables of [`StoreSettings`].
pub(crate) const MAX_RETRIES_VAR: &str = "REGRADE_STORE_MAX_RETRIES";
pub(crate) const RETRY_TIMEOUT_VAR: &str = "REGRADE_STORE_RETRY_TIMEOUT_SECS";
pub(crate) const BACKOFF_INIT_VAR: &str = "REGRADE_STORE_BACKOFF_INIT_SECS";
pub(crate) const BACKOFF_MAX_VAR: &str = "REGRADE_STORE_BACKOFF_MAX_SECS";
pub(crate) const TIMEOUT_VAR: &str = "REGRADE_STORE_TIMEOUT_SECS";
pub(crate) const CONNECT_TIMEOUT_VAR: &str = "REGRADE_STORE_CONNECT_TIMEOUT_SECS";

/// Retry and timeout settings of the cloud stores (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoreSettings {
    /// Retries of one request after its first attempt (0: no retries).
    pub max_retries: usize,
    /// No retry is started later than this after the request's first attempt.
    pub retry_timeout: Duration,
    /// Wait before the first retry; doubled for each further one, up to `backoff_max`.
    pub backoff_init: Duration,
    pub backoff_max: Duration,
    /// One attempt of a request, including reading the whole response body.
    pub timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            backoff_init: Duration::from_millis(100),
            backoff_max: Duration::from_secs(15),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl StoreSettings {
    /// The defaults, overridden by the `REGRADE_STORE_*` variables that are set.
    pub(crate) fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// [`Self::from_env`] over any source of variables (`None`: not set).
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut s = Self::default();
        if let Some(v) = lookup(MAX_RETRIES_VAR) {
            s.max_retries = v.trim().parse().map_err(|_| {
                anyhow::anyhow!(
                    "{MAX_RETRIES_VAR}='{v}' is not a whole number of retries (e.g. 10; 0 for none)"
                )
            })?;
        }
        let secs = |var: &str, positive: bool, default: Duration| -> Result<Duration> {
            let Some(v) = lookup(var) else { return Ok(default) };
            let d = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .and_then(|x| Duration::try_from_secs_f64(x).ok())
                .ok_or_else(|| anyhow::anyhow!("{var}='{v}' is not a number of seconds (e.g. 60 or 0.5)"))?;
            if positive && d.is_zero() {
                bail!("{var}='{v}': the time must be more than zero");
            }
            Ok(d)
        };
        s.retry_timeout = secs(RETRY_TIMEOUT_VAR, false, s.retry_timeout)?;
        s.backoff_init = secs(BACKOFF_INIT_VAR, false, s.backoff_init)?;
        s.backoff_max = secs(BACKOFF_MAX_VAR, false, s.backoff_max)?;
        s.timeout = secs(TIMEOUT_VAR, true, s.timeout)?;
        s.connect_timeout = secs(CONNECT_TIMEOUT_VAR, true, s.connect_timeout)?;
        if s.backoff_init > s.backoff_max {
            bail!(
                "{BACKOFF_INIT_VAR} ({:?}) is longer than {BACKOFF_MAX_VAR} ({:?})",
                s.backoff_init,
                s.backoff_max
            );
        }
        Ok(s)
    }

    /// object_store's retry policy for these settings.
    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.backoff_init,
                max_backoff: self.backoff_max,
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }

    /// The HTTP client settings, as object_store's configuration keys and values.
    pub(crate) fn client_config(&self) -> Vec<(ClientConfigKey, String)> {
        // Nanoseconds: exact, and parsed by every object_store builder.
        let ns = |d: Duration| format!("{}ns", d.as_nanos());
        vec![
            (ClientConfigKey::Timeout, ns(self.timeout)),
            (ClientConfigKey::ConnectTimeout, ns(self.connect_timeout)),
            (ClientConfigKey::PoolIdleTimeout, ns(POOL_IDLE_TIMEOUT)),
        ]
    }
}

/// An opened URL: the store, the prefix inside it and the URL for messages.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    /// Prefix of the URL inside the store (empty for a local directory, which is the store's root).
    pub prefix: Path,
    /// The URL as given, redacted, for messages.
    pub url: String,
    /// The folder on the local filesystem, for a local URL.
    pub local_dir: Option<std::path::PathBuf>,
}

impl Location {
    /// A path under this location, relative to it (as the manifest lists files); a path
    /// outside it whole.
    pub fn relative(&self, path: &Path) -> String {
        path.prefix_match(&self.prefix)
            .map(|p| p.map(|x| x.as_ref().to_string()).collect::<Vec<_>>().join("/"))
            .unwrap_or_else(|| path.to_string())
    }

    /// The object-store path of a path relative to this location: the inverse of
    /// [`Self::relative`] (escaped segments are kept as they are); `None` for a path that
    /// cannot be one (`..`, empty segments, empty).
    pub fn resolve(&self, relative: &str) -> Option<Path> {
        let p = Path::parse(relative).ok()?;
        if relative.is_empty() || p.parts().count() == 0 {
            return None;
        }
        Some(p.parts().fold(self.prefix.clone(), |acc, part| acc.join(part)))
    }

    /// `prefix/child/...` as an object-store path.
    pub fn path(&self, parts: &[&str]) -> Path {
        parts.iter().fold(self.prefix.clone(), |p, part| p.join(*part))
    }

    /// The folder `folder` inside this location, as a location of its own.
    pub fn sub(&self, folder: &str) -> Location {
        Location {
            store: self.store.clone(),
            prefix: self.path(&[folder]),
            url: format!("{}/{folder}", self.url.trim_end_matches('/')),
            local_dir: self.local_dir.as_ref().map(|d| d.join(folder)),
        }
    }

    /// A path inside this location as the user would write it, for messages:
    /// `<url>/<path relative to the prefix>`.
    pub fn display(&self, path: &Path) -> String {
        let rel = path
            .prefix_match(&self.prefix)
            .map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>().join("/"))
            .unwrap_or_else(|| path.to_string());
        if rel.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{}", self.url.trim_end_matches('/'), rel)
        }
    }
}

/// Open a URL for reading. A local directory must exist.
pub fn open(url: &str) -> Result<Location> {
    open_with(url, false)
}

/// Open a URL for writing. A local directory is created if needed.
pub fn open_output(url: &str) -> Result<Location> {
    open_with(url, true)
}

/// Open a URL and return the store and the prefix inside it, as `(store, prefix)`.
pub fn parse(url: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let loc = open(url)?;
    Ok((loc.store, loc.prefix))
}

fn open_with(url: &str, create: bool) -> Result<Location> {
    let shown = redact(url);
    if url.trim().is_empty() {
        bail!("empty URL; give a directory or an object-store URL such as s3://bucket/prefix");
    }
    if let Some(dir) = local_dir(url)? {
        let store = local(&dir, create, &shown)?;
        return Ok(Location { store, prefix: Path::default(), url: shown, local_dir: Some(dir) });
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let (store, prefix): (Arc<dyn ObjectStore>, Path) = match scheme.as_deref() {
        Some("memory") => memory(url, &shown)?,
        Some(s @ ("s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" | "azure" | "adl")) => {
            let parsed = Url::parse(url).with_context(|| format!("invalid URL '{shown}'"))?;
            let settings = StoreSettings::from_env()
                .with_context(|| format!("invalid object-store retry or timeout setting for '{shown}'"))?;
            let store = cloud(s, url, &settings).with_context(|| {
                let (service, vars) = match s {
                    "s3" | "s3a" => ("S3", "AWS_*"),
                    "gs" => ("Google Cloud Storage", "GOOGLE_*"),
                    _ => ("Azure Blob Storage", "AZURE_*"),
                };
                format!("cannot configure {service} for '{shown}'; check the {vars} environment variables")
            })?;
            let prefix = Path::from_url_path(parsed.path())
                .with_context(|| format!("invalid path in URL '{shown}'"))?;
            (store, prefix)
        }
        None | Some("file") => bail!("'{shown}' is a local folder, opened above"),
        Some(other) => bail!(
            "unsupported URL scheme '{other}://' in '{shown}'; use a local path, file://, s3://, \
             gs://, az:// or memory://"
        ),
    };
    Ok(Location { store, prefix, url: shown, local_dir: None })
}

/// The local folder a URL names (a plain path or `file://`), or `None` for an object store.
pub(crate) fn local_dir(url: &str) -> Result<Option<std::path::PathBuf>> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        None => Ok(Some(std::path::PathBuf::from(url))),
        Some("file") => {
            let shown = redact(url);
            let parsed = Url::parse(url).with_context(|| format!("invalid URL '{shown}'"))?;
            let dir = parsed.to_file_path().map_err(|()| {
                anyhow::anyhow!("'{shown}' is not an absolute local path (use file:///abs/dir)")
            })?;
            Ok(Some(dir))
        }
        _ => Ok(None),
    }
}

/// Where a file at `path` is staged while it is written: `_NAME.regrade-staging` beside it
/// (the leading `_` keeps Spark, Hive and Athena from reading it).
pub(crate) fn staging_path(path: &Path) -> Path {
    let name = path.filename().unwrap_or_default();
    let parts: Vec<_> = path.parts().collect();
    let folder = Path::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned());
    // `name` is a path segment as stored (already escaped): parsed, not re-encoded, so the
    // staging name is the target's name plus 17 bytes (`%` or UTF-8 would otherwise be
    // percent-encoded again, tripling a non-ASCII name past the file system's limit).
    let staged = format!("_{name}{STAGING_SUFFIX}");
    match object_store::path::PathPart::parse(&staged) {
        Ok(part) => folder.join(part),
        Err(_) => folder.join(staged.as_str()),
    }
}

/// A staging name of `path` for this writer alone (`_NAME.<pid>-<n>.regrade-staging`): for
/// exclusive creates, which several writers may race for.
pub(crate) fn unique_staging_path(path: &Path) -> Path {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.filename().unwrap_or_default();
    let unique = Path::from_iter(path.parts().take(path.parts().count().saturating_sub(1)))
        .join(format!("{name}.{}-{n}", std::process::id()).as_str());
    staging_path(&unique)
}

/// The end of every staging name.
pub(crate) const STAGING_SUFFIX: &str = ".regrade-staging";

/// The file a staging file was for, when `path` is one ([`staging_path`]).
pub(crate) fn staged_target(path: &Path) -> Option<Path> {
    let name = path.filename()?;
    let mut target = name.strip_prefix('_')?.strip_suffix(STAGING_SUFFIX)?;
    // A writer's own staging name ([`unique_staging_path`]): `NAME.<pid>-<n>`.
    if let Some((head, tail)) = target.rsplit_once('.') {
        let unique = tail.split_once('-').is_some_and(|(pid, n)| {
            [pid, n].iter().all(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        });
        if unique && !head.is_empty() {
            target = head;
        }
    }
    if target.is_empty() {
        return None;
    }
    let parts: Vec<_> = path.parts().collect();
    let folder = Path::from_iter(parts[..parts.len() - 1].iter().cloned());
    // As stored (already escaped): parsed, not re-encoded.
    Some(folder.join(object_store::path::PathPart::parse(target).ok()?))
}

/// A cloud store for the URL, configured from the environment, with `settings`' retries and
/// timeouts.
fn cloud(scheme: &str, url: &str, settings: &StoreSettings) -> object_store::Result<Arc<dyn ObjectStore>> {
    tracing::debug!(?settings, "object-store retries and timeouts");
    let client = settings.client_config();
    Ok(match scheme {
        "s3" | "s3a" => {
            let builder = client.into_iter().fold(AmazonS3Builder::from_env(), |b, (key, value)| {
                b.with_config(AmazonS3ConfigKey::Client(key), value)
            });
            Arc::new(builder.with_retry(settings.retry_config()).with_url(url).build()?)
        }
        "gs" => {
            let builder =
                client.into_iter().fold(GoogleCloudStorageBuilder::from_env(), |b, (key, value)| {
                    b.with_config(GoogleConfigKey::Client(key), value)
                });
            Arc::new(builder.with_retry(settings.retry_config()).with_url(url).build()?)
        }
        _ => {
            let builder = client.into_iter().fold(MicrosoftAzureBuilder::from_env(), |b, (key, value)| {
                b.with_config(AzureConfigKey::Client(key), value)
            });
            Arc::new(builder.with_retry(settings.retry_config()).with_url(url).build()?)
        }
    })
}

fn local(dir: &std::path::Path, create: bool, shown: &str) -> Result<Arc<dyn ObjectStore>> {
    if create {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create output directory '{shown}'"))?;
    } else if !dir.is_dir() {
        bail!("'{shown}' is not a directory (check the path, or use s3://, gs://, az:// for object storage)");
    }
    let store =
        LocalFileSystem::new_with_prefix(dir).with_context(|| format!("cannot open directory '{shown}'"))?;
    Ok(Arc::new(local::StagedLocal::new(store)))
}

/// `memory://name/prefix`: the store for `name` is created once and shared within the process.
fn memory(url: &str, shown: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let rest = &url["memory://".len()..];
    let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = Path::parse(path).with_context(|| format!("invalid path in URL '{shown}'"))?;
    let mut registry =
        REGISTRY.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let store = registry.entry(name.to_string()).or_insert_with(|| Arc::new(InMemory::new())).clone();
    Ok((store, prefix))
}

/// A URL with any userinfo (`user:secret@`) and query string (`?sig=...`) removed, for messages.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.scheme() != "file" && url.contains("://") => {
            let had_secret = !u.username().is_empty() || u.password().is_some() || u.query().is_some();
            if had_secret {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.set_query(None);
                u.to_string()
            } else {
                url.to_string()
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::{ObjectStoreExt, PutPayload};

    #[tokio::test]
    async fn memory_urls_share_a_store_per_name() {
        let a = open("memory://store-test/x").expect("open");
        a.store.put(&a.path(&["f"]), PutPayload::from_static(b"hi")).await.expect("put");
        let b = open("memory://store-test/x").expect("open");
        let got = b.store.get(&b.path(&["f"])).await.expect("get").bytes().await.expect("bytes");
        assert_eq!(&got[..], b"hi");
        let other = open("memory://store-test-other/x").expect("open");
        assert!(other.store.get(&other.path(&["f"])).await.is_err());
        assert_eq!(a.display(&a.path(&["t", "f"])), "memory://store-test/x/t/f");
    }

    #[test]
    fn staging_names_keep_escaped_and_non_ascii_segments_as_they_are() {
        let path = Path::parse("t/course_id=course-v1%3AОрг%2BX/part-00000.parquet").unwrap();
        let staged = staging_path(&path);
        assert_eq!(staged.as_ref(), "t/course_id=course-v1%3AОрг%2BX/_part-00000.parquet.regrade-staging");
        let journal = Path::parse("_journal/course_id=course-v1%3AОрг%2BX.json").unwrap();
        let staged = staging_path(&journal);
        assert_eq!(staged.as_ref(), "_journal/_course_id=course-v1%3AОрг%2BX.json.regrade-staging");
        assert_eq!(staged_target(&staged), Some(journal));
    }

    #[test]
    fn local_paths_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("a/b");
        let out_s = out.to_string_lossy().to_string();
        assert!(open(&out_s).is_err(), "reading a missing dir fails");
        open_output(&out_s).expect("output creates the dir");
        assert!(out.is_dir());
        open(&format!("file://{out_s}")).expect("file URL");
        let err = open("ftp://x/y").expect_err("bad scheme").to_string();
        assert!(err.contains("unsupported URL scheme 'ftp://'"), "{err}");
    }

    #[test]
    fn cloud_urls_give_the_prefix_inside_the_bucket() {
        // Building a client does no network I/O; credentials are looked up on first use.
        let (_, prefix) = parse("s3://bucket/exports/2026-01").expect("s3");
        assert_eq!(prefix.as_ref(), "exports/2026-01");
        let loc = open("s3://bucket").expect("s3");
        assert_eq!(loc.prefix.as_ref(), "");
        assert_eq!(loc.display(&loc.path(&["t", "f"])), "s3://bucket/t/f");
    }

    fn settings(vars: &[(&str, &str)]) -> Result<StoreSettings> {
        StoreSettings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn store_settings_default_and_override() {
        let d = settings(&[]).expect("defaults");
        assert_eq!(d, StoreSettings::default());
        assert_eq!((d.max_retries, d.retry_timeout), (10, Duration::from_secs(180)));
        assert_eq!((d.backoff_init, d.backoff_max), (Duration::from_millis(100), Duration::from_secs(15)));
        assert_eq!((d.timeout, d.connect_timeout), (Duration::from_secs(60), Duration::from_secs(5)));
        let s = settings(&[
            (MAX_RETRIES_VAR, "0"),
            (RETRY_TIMEOUT_VAR, "2.5"),
            (BACKOFF_INIT_VAR, "0"),
            (BACKOFF_MAX_VAR, " 0.05 "),
            (TIMEOUT_VAR, "0.25"),
            (CONNECT_TIMEOUT_VAR, "1"),
        ])
        .expect("overrides");
        assert_eq!(s.max_retries, 0);
        assert_eq!(s.retry_timeout, Duration::from_millis(2500));
        assert_eq!((s.backoff_init, s.backoff_max), (Duration::ZERO, Duration::from_millis(50)));
        assert_eq!((s.timeout, s.connect_timeout), (Duration::from_millis(250), Duration::from_secs(1)));
        let r = s.retry_config();
        assert_eq!((r.max_retries, r.retry_timeout), (0, Duration::from_millis(2500)));
        assert_eq!(r.backoff.max_backoff, Duration::from_millis(50));
    }

    #[test]
    fn bad_store_settings_name_the_variable() {
        for (var, value, expected) in [
            (MAX_RETRIES_VAR, "ten", "is not a whole number"),
            (MAX_RETRIES_VAR, "-1", "is not a whole number"),
            (TIMEOUT_VAR, "60s", "is not a number of seconds"),
            (TIMEOUT_VAR, "0", "more than zero"),
            (CONNECT_TIMEOUT_VAR, "-2", "is not a number of seconds"),
            (RETRY_TIMEOUT_VAR, "inf", "is not a number of seconds"),
            (BACKOFF_INIT_VAR, "NaN", "is not a number of seconds"),
            (BACKOFF_INIT_VAR, "20", "is longer than"),
        ] {
            let err = settings(&[(var, value)]).expect_err(var).to_string();
            assert!(err.contains(var) && err.contains(expected), "{var}={value}: {err}");
        }
    }

    #[test]
    fn cloud_builders_take_the_client_settings() {
        let s = StoreSettings { timeout: Duration::from_millis(1500), ..StoreSettings::default() };
        let b = s.client_config().into_iter().fold(AmazonS3Builder::new(), |b, (key, value)| {
            b.with_config(AmazonS3ConfigKey::Client(key), value)
        });
        let get = |k| b.get_config_value(&AmazonS3ConfigKey::Client(k));
        // Kept as given until the client is built, which parses them.
        assert_eq!(get(ClientConfigKey::Timeout).as_deref(), Some("1500000000ns"));
        assert_eq!(get(ClientConfigKey::ConnectTimeout).as_deref(), Some("5000000000ns"));
        assert_eq!(get(ClientConfigKey::PoolIdleTimeout).as_deref(), Some("15000000000ns"));
        cloud("s3", "s3://bucket/p", &s).expect("s3");
        cloud("gs", "gs://bucket/p", &s).expect("gcs");
    }

    #[test]
    fn redact_strips_secrets() {
        assert_eq!(redact("s3://AKIA:secret@bucket/p?x=1"), "s3://bucket/p");
        assert_eq!(redact("s3://bucket/p"), "s3://bucket/p");
        assert_eq!(redact("rel/dir"), "rel/dir");
    }
}
