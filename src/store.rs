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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{bail, Context, Result};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::ObjectStore;
use url::Url;

/// An opened URL: the store, the prefix inside it and the URL for messages.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    /// Prefix of the URL inside the store (empty for a local directory, which is the store's root).
    pub prefix: Path,
    /// The URL as given, redacted, for messages.
    pub url: String,
}

impl Location {
    /// `prefix/child/...` as an object-store path.
    pub fn path(&self, parts: &[&str]) -> Path {
        parts.iter().fold(self.prefix.clone(), |p, part| p.join(*part))
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
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let (store, prefix): (Arc<dyn ObjectStore>, Path) = match scheme.as_deref() {
        None => local(std::path::Path::new(url), create, &shown)?,
        Some("file") => {
            let parsed = Url::parse(url).with_context(|| format!("invalid URL '{shown}'"))?;
            let dir = parsed.to_file_path().map_err(|()| {
                anyhow::anyhow!("'{shown}' is not an absolute local path (use file:///abs/dir)")
            })?;
            local(&dir, create, &shown)?
        }
        Some("memory") => memory(url, &shown)?,
        Some(s @ ("s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" | "azure" | "adl")) => {
            let parsed = Url::parse(url).with_context(|| format!("invalid URL '{shown}'"))?;
            let store = cloud(s, url).with_context(|| {
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
        Some(other) => bail!(
            "unsupported URL scheme '{other}://' in '{shown}'; use a local path, file://, s3://, \
             gs://, az:// or memory://"
        ),
    };
    Ok(Location { store, prefix, url: shown })
}

/// A cloud store for the URL, configured from the environment only.
fn cloud(scheme: &str, url: &str) -> object_store::Result<Arc<dyn ObjectStore>> {
    Ok(match scheme {
        "s3" | "s3a" => Arc::new(AmazonS3Builder::from_env().with_url(url).build()?),
        "gs" => Arc::new(GoogleCloudStorageBuilder::from_env().with_url(url).build()?),
        _ => Arc::new(MicrosoftAzureBuilder::from_env().with_url(url).build()?),
    })
}

fn local(dir: &std::path::Path, create: bool, shown: &str) -> Result<(Arc<dyn ObjectStore>, Path)> {
    if create {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create output directory '{shown}'"))?;
    } else if !dir.is_dir() {
        bail!("'{shown}' is not a directory (check the path, or use s3://, gs://, az:// for object storage)");
    }
    let store =
        LocalFileSystem::new_with_prefix(dir).with_context(|| format!("cannot open directory '{shown}'"))?;
    Ok((Arc::new(store), Path::default()))
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

    #[test]
    fn redact_strips_secrets() {
        assert_eq!(redact("s3://AKIA:secret@bucket/p?x=1"), "s3://bucket/p");
        assert_eq!(redact("s3://bucket/p"), "s3://bucket/p");
        assert_eq!(redact("rel/dir"), "rel/dir");
    }
}
