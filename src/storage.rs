//! Storage: local folders and object stores (S3 and S3-compatible stores such as R2, GCS, Azure)
//! behind one interface, [`Location`], built on the `object_store` crate.
//!
//! The rest of the program is synchronous threads; object store calls are async. A [`Storage`]
//! owns a small Tokio runtime and every call blocks on it, so a reader thread streams an object
//! exactly as it reads a file ([`ObjectReader`]).
//!
//! - Inputs are read as streams and decompressed as the bytes arrive; a stream that breaks is
//!   resumed from the byte it reached (pinned to the object's ETag so the object cannot change
//!   underneath), up to `--retries` times.
//! - Outputs are written locally first (Parquet needs a seekable-free sink only, but the writer
//!   rolls, flushes and spills on local disk) and go up as multipart uploads of bounded part
//!   size ([`Location::upload_file`]); a failed upload is aborted, so no part stays behind, and
//!   an object becomes visible only when its upload completes.
//! - Transient errors (5xx, timeouts, connection resets) are retried by `object_store` with
//!   exponential backoff; errors name the object as `scheme://bucket/key`. A request that
//!   landed but lost its reply is recognised on the retry: a lease create by the owner it
//!   names (`lock`), an upload completion by the object it left in place.
//! - Credentials come from the standard environment (`AWS_ACCESS_KEY_ID`, ...), never from
//!   flags, and are never printed: errors and logs show only URLs.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, WriteMultipart,
};

use crate::error::{Error, Result, StorageErrorKind};

mod credentials;

/// The default of `--upload-part-size`.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// The smallest part S3 accepts (all but the last).
pub const MIN_PART_SIZE: usize = 5 << 20;
/// The default of `--retries`.
pub const DEFAULT_RETRIES: usize = 5;
/// The default of `--retry-timeout`, in seconds.
pub const DEFAULT_RETRY_TIMEOUT_S: u64 = 60;

/// How to reach object stores. Secrets are not here: they come from the environment.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// `--s3-endpoint`: an S3-compatible endpoint (R2, a self-hosted store), else
    /// `AWS_ENDPOINT_URL`.
    pub s3_endpoint: Option<String>,
    /// `--s3-region`, else `AWS_REGION`.
    pub s3_region: Option<String>,
    /// `--s3-allow-http`: allow plain HTTP endpoints (else `AWS_ALLOW_HTTP`).
    pub s3_allow_http: bool,
    /// Retries of a failed request (transient errors only).
    pub retries: usize,
    /// Give up retrying a request after this long.
    pub retry_timeout: Duration,
    /// Part size of multipart uploads.
    pub part_size: usize,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            s3_endpoint: None,
            s3_region: None,
            s3_allow_http: false,
            retries: DEFAULT_RETRIES,
            retry_timeout: Duration::from_secs(DEFAULT_RETRY_TIMEOUT_S),
            part_size: DEFAULT_PART_SIZE,
        }
    }
}

/// The runtime object store calls block on, and the options to open stores with.
pub struct Storage {
    runtime: tokio::runtime::Runtime,
    options: StorageOptions,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("options", &self.options)
            .finish()
    }
}

/// Whether an argument names an object store location (`s3://...`) rather than a local path.
pub fn is_url(arg: &str) -> bool {
    arg.split_once("://").is_some_and(|(scheme, _)| {
        matches!(
            scheme,
            "s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss" | "file" | "memory"
        )
    })
}

impl Storage {
    /// A storage with its own two-thread runtime.
    pub fn new(options: StorageOptions) -> Result<Arc<Storage>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("storage")
            .enable_all()
            .build()
            .map_err(|e| Error::storage("runtime", e.to_string()))?;
        Ok(Arc::new(Storage { runtime, options }))
    }

    /// The options stores are opened with.
    pub fn options(&self) -> &StorageOptions {
        &self.options
    }

    /// Runs a future to its end on the storage runtime (from any non-runtime thread).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Runs an object store call, again (up to `--retries` times, with backoff) when it failed
    /// with a transport error that `object_store` itself did not retry: a pooled connection the
    /// server had dropped ("connection was not ready", a reset while sending). `object_store`
    /// retries connect errors, timeouts and 5xx responses; these it reports at once.
    pub fn call<T, F, Fut>(&self, mut op: F) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let mut attempt = 0;
        loop {
            match self.runtime.block_on(op()) {
                Err(e)
                    if attempt < self.options.retries
                        && worth_retrying(StorageErrorKind::of(&e), &describe(&e)) =>
                {
                    attempt += 1;
                    let pause = Duration::from_millis(100 << attempt.min(6));
                    tracing::info!(attempt, "transport error, trying again: {}", describe(&e));
                    std::thread::sleep(pause);
                }
                result => return result,
            }
        }
    }

    /// Opens a location: a URL (`s3://bucket/prefix`, `gs://`, `az://`, `file:///path`) or a
    /// local folder path.
    pub fn open(self: &Arc<Self>, arg: &str) -> Result<Location> {
        if !is_url(arg) {
            return self.open_local(FsPath::new(arg));
        }
        let url = url::Url::parse(arg)
            .map_err(|e| Error::storage(arg, format!("not a valid URL: {e}")))?;
        if url.scheme() == "file" {
            let path = url
                .to_file_path()
                .map_err(|()| Error::storage(arg, "not an absolute local path"))?;
            return self.open_local(&path);
        }
        let store = self.remote_store(&url, arg)?;
        let prefix =
            Path::from_url_path(url.path()).map_err(|e| Error::storage(arg, e.to_string()))?;
        let base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        Ok(Location {
            storage: self.clone(),
            store,
            prefix,
            base,
            local: None,
        })
    }

    fn open_local(self: &Arc<Self>, path: &FsPath) -> Result<Location> {
        std::fs::create_dir_all(path).map_err(|e| Error::output(path, e))?;
        let root = std::fs::canonicalize(path).map_err(|e| Error::output(path, e))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| Error::from_store(root.display().to_string(), e))?
            .with_automatic_cleanup(true)
            .with_fsync(true);
        Ok(Location {
            storage: self.clone(),
            store: Arc::new(store),
            prefix: Path::default(),
            base: String::new(),
            local: Some(root),
        })
    }

    fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            max_retries: self.options.retries,
            retry_timeout: self.options.retry_timeout,
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(10),
                base: 2.0,
            },
        }
    }

    /// The store at `url` (given as `arg`), refused before any request when it would have no
    /// credentials: [`credentials`] says, in one sentence, what was tried and what to set.
    fn remote_store(&self, url: &url::Url, arg: &str) -> Result<Arc<dyn ObjectStore>> {
        let o = &self.options;
        let store_error = |e| Error::from_store(arg.to_string(), e);
        let credentials = |checked: std::result::Result<(), String>| {
            checked.map_err(|message| Error::Storage {
                location: arg.to_string(),
                kind: StorageErrorKind::Refused,
                message,
                store_error: None,
            })
        };
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "s3" | "s3a" => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(url.as_str())
                    .with_retry(self.retry_config());
                if let Some(endpoint) = &o.s3_endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(region) = &o.s3_region {
                    builder = builder.with_region(region);
                }
                if o.s3_allow_http {
                    builder = builder.with_allow_http(true);
                }
                credentials(self.block_on(credentials::check_s3(&builder)))?;
                Arc::new(builder.build().map_err(store_error)?)
            }
            "gs" => {
                let builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(url.as_str())
                    .with_retry(self.retry_config());
                credentials(self.block_on(credentials::check_gcs(&builder)))?;
                Arc::new(builder.build().map_err(store_error)?)
            }
            "az" | "azure" | "abfs" | "abfss" => {
                let builder = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(url.as_str())
                    .with_retry(self.retry_config());
                credentials(self.block_on(credentials::check_azure(&builder, url)))?;
                Arc::new(builder.build().map_err(store_error)?)
            }
            "memory" => Arc::new(object_store::memory::InMemory::new()),
            other => return Err(Error::storage(arg, format!("unsupported scheme {other}"))),
        };
        Ok(store)
    }
}

/// A Parquet file in a store, for [`parquet::arrow::ParquetRecordBatchStreamBuilder`]: the footer
/// and each column chunk fetched as ranges (a file is never held whole).
pub struct ParquetObjectFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl parquet::arrow::async_reader::AsyncFileReader for ParquetObjectFile {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<Bytes>> {
        Box::pin(async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<
        'a,
        parquet::errors::Result<Arc<parquet::file::metadata::ParquetMetaData>>,
    > {
        Box::pin(async move {
            let size = self.size;
            let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        })
    }
}

/// A folder on local disk or a prefix in an object store: the output root, or where inputs are
/// listed. Keys below it are given as `/`-separated relative paths.
#[derive(Clone)]
pub struct Location {
    storage: Arc<Storage>,
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// `scheme://bucket` for object stores, empty for local folders.
    base: String,
    /// The canonical folder, for local locations.
    local: Option<PathBuf>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display_key(""))
    }
}

/// An object found by listing, relative to the location listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// `/`-separated path below the location.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The ETag, or the modification time, identifying this version of the object.
    pub version: String,
    /// The ETag, when the store gives one (reads resumed part-way insist on it).
    pub e_tag: Option<String>,
    /// When it was last written, in Unix milliseconds.
    pub modified_ms: i64,
}

impl Listed {
    fn from_meta(key: String, meta: ObjectMeta) -> Self {
        Listed {
            key,
            size: meta.size,
            version: meta
                .e_tag
                .clone()
                .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
            e_tag: meta.e_tag,
            modified_ms: meta.last_modified.timestamp_millis(),
        }
    }
}

impl Location {
    /// A location over an existing store (tests use [`object_store::memory::InMemory`]).
    pub fn with_store(storage: Arc<Storage>, store: Arc<dyn ObjectStore>, base: &str) -> Self {
        Location {
            storage,
            store,
            prefix: Path::default(),
            base: base.to_string(),
            local: None,
        }
    }

    /// The local folder, when this location is on local disk.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local.as_deref()
    }

    /// The storage this location blocks on.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// This location as a URL ending in `/` (`file:///abs/path/`, `s3://bucket/prefix/`) and an
    /// object store rooted where that URL's path starts (the bucket, or `/` on local disk): the
    /// way table-format libraries address objects (a URL's path is the object's key).
    pub fn url_and_root_store(&self) -> Result<(url::Url, Arc<dyn ObjectStore>)> {
        let invalid = |message: String| Error::storage(self.display_key(""), message);
        match &self.local {
            Some(root) => {
                let url = url::Url::from_directory_path(root)
                    .map_err(|()| invalid("not an absolute local path".into()))?;
                Ok((url, Arc::new(object_store::local::LocalFileSystem::new())))
            }
            None => {
                let mut url = url::Url::parse(&format!("{}/", self.base))
                    .map_err(|e| invalid(e.to_string()))?;
                {
                    let mut segments = url
                        .path_segments_mut()
                        .map_err(|()| invalid("not a hierarchical URL".into()))?;
                    segments.pop_if_empty();
                    for part in self.prefix.parts() {
                        segments.push(part.as_ref());
                    }
                    segments.push(""); // the trailing `/` of a folder
                }
                Ok((url, self.store.clone()))
            }
        }
    }

    /// A Parquet file at `relative` of `size` bytes, read in ranges by Parquet's async reader.
    pub fn parquet_file(&self, relative: &str, size: u64) -> ParquetObjectFile {
        ParquetObjectFile {
            store: self.store.clone(),
            path: self.path(relative),
            size,
        }
    }

    /// The runtime this location's requests run on.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.storage.runtime.handle().clone()
    }

    /// The object path of `relative`.
    fn path(&self, relative: &str) -> Path {
        // Keys are taken as they are (Hive folder names hold `%XX` escapes that must not be
        // escaped again); only a key `Path::parse` refuses is escaped part by part.
        let joined = format!("{}/{relative}", self.prefix);
        Path::parse(&joined).unwrap_or_else(|_| {
            let mut path = self.prefix.clone();
            for part in relative.split('/').filter(|p| !p.is_empty()) {
                path = path.clone().join(part);
            }
            path
        })
    }

    /// `relative` as a user reads it: `s3://bucket/prefix/relative` or a local path.
    pub fn display_key(&self, relative: &str) -> String {
        match &self.local {
            Some(root) if relative.is_empty() => root.display().to_string(),
            Some(root) => root.join(relative).display().to_string(),
            None => {
                let path = self.path(relative);
                if path.as_ref().is_empty() {
                    self.base.clone()
                } else {
                    format!("{}/{}", self.base, path)
                }
            }
        }
    }

    fn error(&self, relative: &str, error: object_store::Error) -> Error {
        Error::from_store(self.display_key(relative), error)
    }

    /// Every object below `relative` (recursively), with keys relative to this location.
    pub fn list(&self, relative: &str) -> Result<Vec<Listed>> {
        let prefix = self.path(relative);
        let prefix_opt = (!prefix.as_ref().is_empty()).then_some(&prefix);
        let metas: Vec<ObjectMeta> = self
            .storage
            .call(|| self.store.list(prefix_opt).try_collect::<Vec<ObjectMeta>>())
            .map_err(|e| self.error(relative, e))?;
        let mut listed: Vec<Listed> = metas
            .into_iter()
            .map(|meta| Listed::from_meta(self.relative(&meta.location), meta))
            .collect();
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    /// The object at `relative`, if there is one.
    pub fn head(&self, relative: &str) -> Result<Option<Listed>> {
        let path = self.path(relative);
        match self.storage.call(|| self.store.head(&path)) {
            Ok(meta) => Ok(Some(Listed::from_meta(relative.to_string(), meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    fn relative(&self, path: &Path) -> String {
        match path.prefix_match(&self.prefix) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }

    /// The whole (small) object at `relative`, or `None` when there is none.
    pub fn get_bytes(&self, relative: &str) -> Result<Option<Bytes>> {
        let path = self.path(relative);
        let result = self.storage.call(|| async {
            match self.store.get(&path).await {
                Ok(got) => got.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        result.map_err(|e| self.error(relative, e))
    }

    /// Several small objects at once (16 requests in flight), in the order of `relatives`;
    /// `None` for those not there.
    pub fn get_many(&self, relatives: &[String]) -> Result<Vec<Option<Bytes>>> {
        let fetches = relatives.iter().map(|relative| {
            let path = self.path(relative);
            async move {
                match self.store.get(&path).await {
                    Ok(got) => got.bytes().await.map(Some),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
                .map_err(|e| self.error(relative, e))
            }
        });
        self.storage
            .block_on(futures::stream::iter(fetches).buffered(16).try_collect())
    }

    /// Writes a small object in one request. With `create_only`, fails with `Ok(false)` when
    /// the object exists already (an atomic create, used for locks).
    pub fn put_bytes(&self, relative: &str, bytes: Vec<u8>, create_only: bool) -> Result<bool> {
        let mode = if create_only {
            PutMode::Create
        } else {
            PutMode::Overwrite
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let path = self.path(relative);
        let payload = PutPayload::from(bytes);
        let put = self
            .storage
            .call(|| self.store.put_opts(&path, payload.clone(), options.clone()));
        match put {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) if create_only => Ok(false),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// Whether the store creates objects atomically (`PutMode::Create`, If-None-Match on S3):
    /// `writers` race to create one new object, four times over (the later races on warm
    /// connections, which start together), and each time exactly one may win. Local disk
    /// always does. Some S3-compatible servers ignore the condition, or let racing writers all
    /// win.
    pub fn creates_atomically(&self, writers: usize) -> Result<bool> {
        if self.local.is_some() {
            return Ok(true);
        }
        for trial in 0..4 {
            let key = format!(
                "_ledger/probe/create-{}-{}-{trial}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            );
            let path = self.path(&key);
            let options = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let attempts = (0..writers).map(|i| {
                let payload = PutPayload::from(format!("writer {i}").into_bytes());
                let (path, options) = (path.clone(), options.clone());
                async move { self.store.put_opts(&path, payload, options).await }
            });
            let results = self.storage.block_on(futures::future::join_all(attempts));
            let _ = self.delete(&key);
            let mut won = 0;
            for result in results {
                match result {
                    Ok(_) => won += 1,
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => {}
                    Err(e) => return Err(self.error(&key, e)),
                }
            }
            tracing::debug!(trial, won, writers, "atomic create probe");
            if won != 1 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Deletes the object at `relative`; one that is not there is no error.
    pub fn delete(&self, relative: &str) -> Result<()> {
        let path = self.path(relative);
        match self.storage.call(|| self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(relative, e)),
        }
    }

    /// Moves an object (a rename on local disk, a copy and a delete on object stores),
    /// replacing any object at `to`.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (from, to_path) = (self.path(from), self.path(to));
        self.storage
            .call(|| self.store.rename(&from, &to_path))
            .map_err(|e| self.error(to, e))
    }

    /// Moves `from` to `to` if `from` exists; `Ok(false)` when it does not (already moved).
    pub fn rename_if_present(&self, from: &str, to: &str) -> Result<bool> {
        let (from, to_path) = (self.path(from), self.path(to));
        match self.storage.call(|| self.store.rename(&from, &to_path)) {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(to, e)),
        }
    }

    /// Uploads a local file to `relative`: on local disk a rename, on object stores a multipart
    /// upload of `--upload-part-size` parts read from the file one at a time (at most two parts
    /// in memory), aborted on failure so that no part or partial object stays behind.
    ///
    /// `relative` must be a key only this run writes (a staged file, the run's rejects): a
    /// completion whose reply was lost counts as done when an object of the file's size is there.
    pub fn upload_file(&self, file: &FsPath, relative: &str) -> Result<u64> {
        let size = std::fs::metadata(file)
            .map_err(|e| Error::output(file, e))?
            .len();
        if let Some(root) = &self.local {
            let target = root.join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e))?;
            }
            std::fs::rename(file, &target).map_err(|e| Error::output(&target, e))?;
            return Ok(size);
        }
        // A file of one part goes up in one request (retried like any other).
        if size <= self.storage.options.part_size as u64 {
            let bytes = std::fs::read(file).map_err(|e| Error::output(file, e))?;
            self.put_bytes(relative, bytes, false)?;
            return Ok(size);
        }
        // A part refused over a dropped connection fails the whole upload (it is aborted): the
        // file is local, so the upload is simply made again.
        let mut attempt = 0;
        loop {
            match self.upload_once(file, size, relative) {
                Err(Error::Storage { kind, message, .. })
                    if attempt < self.storage.options.retries && worth_retrying(kind, &message) =>
                {
                    attempt += 1;
                    tracing::info!(attempt, "upload failed, uploading again: {message}");
                    std::thread::sleep(Duration::from_millis(100 << attempt.min(6)));
                }
                result => return result.map(|()| size),
            }
        }
    }

    fn upload_once(&self, file: &FsPath, size: u64, relative: &str) -> Result<()> {
        let path = self.path(relative);
        let part_size = self.storage.options.part_size;
        let mut source = File::open(file).map_err(|e| Error::output(file, e))?;
        let result: Result<()> = self.storage.block_on(async {
            let upload = self
                .store
                .put_multipart(&path)
                .await
                .map_err(|e| self.error(relative, e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
            let mut buffer = vec![0u8; part_size];
            let sent: Result<()> = async {
                loop {
                    let n =
                        read_full(&mut source, &mut buffer).map_err(|e| Error::output(file, e))?;
                    if n == 0 {
                        break;
                    }
                    writer
                        .wait_for_capacity(1)
                        .await
                        .map_err(|e| self.error(relative, e))?;
                    writer.write(&buffer[..n]);
                }
                Ok(())
            }
            .await;
            match sent {
                Ok(()) => match writer.finish().await {
                    Ok(_) => Ok(()),
                    // A completion that landed but whose reply was lost is retried, and the
                    // retry finds no such upload: the object is there, the size of the file,
                    // and (the key being this run's own) it is this upload's.
                    Err(e) => match self.store.head(&path).await {
                        Ok(meta) if meta.size == size => {
                            tracing::info!(
                                object = %self.display_key(relative),
                                "the upload's completion failed but the object is in place: {}",
                                describe(&e)
                            );
                            Ok(())
                        }
                        _ => Err(self.error(relative, e)),
                    },
                },
                Err(e) => {
                    if let Err(abort) = writer.abort().await {
                        tracing::warn!(
                            object = %self.display_key(relative),
                            "could not abort the failed upload: {}",
                            describe(&abort)
                        );
                    }
                    Err(e)
                }
            }
        });
        result
    }

    /// Opens the object at `relative` as a byte stream, resumed on transient breaks.
    pub fn reader(&self, relative: &str, listed: &Listed) -> ObjectReader {
        ObjectReader {
            location: self.clone(),
            relative: relative.to_string(),
            path: self.path(relative),
            size: listed.size,
            e_tag: listed.e_tag.clone(),
            offset: 0,
            stream: None,
            chunk: Bytes::new(),
            resumes_left: self.storage.options.retries,
        }
    }
}

/// Runs `task` on each of `items`, up to `limit` at a time, each in a thread of its own (storage
/// calls block); returns the results in the order of `items`. On an error no new task starts,
/// and the first error (in the order of `items`) is returned once the running ones are done.
/// Publishing and uploading thousands of small files one at a time pays each request's latency
/// in turn; this pays it `limit` at a time.
pub fn concurrently<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    task: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    std::thread::scope(|scope| {
        for _ in 0..limit.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else {
                        break;
                    };
                    let result = task(item);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().expect("no task panics holding the lock")[i] = Some(result);
                }
            });
        }
    });
    // Tasks start in the order of `items`, so the ones that never started come after every
    // one that did, among which is the error that stopped them.
    let results = results
        .into_inner()
        .expect("no task panics holding the lock");
    results.into_iter().flatten().collect()
}

/// Fills `buffer` as far as the file allows; returns the bytes read (0 at the end).
fn read_full(source: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The one retry policy of the storage layer, on top of `object_store`'s own: a request that
/// failed in transit (its kind, [`StorageErrorKind::is_transport`]: a pooled connection the
/// server had dropped, a reset) is tried again when `object_store` gave up on it before using
/// its retries: not retried at all, or fewer times than allowed (`after 1 retries,
/// max_retries: 5`: the retry met a dropped connection). After all its retries the error is
/// final, and every other kind (refused, not found, conflicts) is final at once.
fn worth_retrying(kind: StorageErrorKind, said: &str) -> bool {
    // The count of retries made is only in object_store's text: its RetryError is private.
    kind.is_transport()
        && match retries_used(said) {
            None => true,
            Some((used, allowed)) => used < allowed,
        }
}

/// The retries `object_store` made and allowed, from its `after N retries, max_retries: M`.
fn retries_used(text: &str) -> Option<(u64, u64)> {
    let number = |s: &str| -> Option<u64> {
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        s[..digits].parse().ok()
    };
    let after = text.split_once(", after ")?.1;
    let (used, rest) = after.split_once(" retries, max_retries: ")?;
    Some((number(used)?, number(rest)?))
}

/// An object store error in one line, without the request details that may be long.
fn describe(error: &object_store::Error) -> String {
    crate::error::error_chain(error)
}

/// An object read as a stream: `Read` for the decompressors, blocking on the storage runtime.
/// When the stream breaks part-way it is reopened from the byte reached.
pub struct ObjectReader {
    location: Location,
    relative: String,
    path: Path,
    size: u64,
    e_tag: Option<String>,
    offset: u64,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
    resumes_left: usize,
}

impl ObjectReader {
    fn open_stream(&mut self) -> object_store::Result<()> {
        let options = GetOptions {
            range: (self.offset > 0).then_some(GetRange::Offset(self.offset)),
            if_match: self.e_tag.clone().filter(|_| self.offset > 0),
            ..GetOptions::default()
        };
        let store = self.location.store.clone();
        let path = self.path.clone();
        let got = self
            .location
            .storage
            .call(|| store.get_opts(&path, options.clone()))?;
        self.stream = Some(got.into_stream());
        Ok(())
    }

    fn io_error(&self, error: object_store::Error) -> io::Error {
        io::Error::other(format!(
            "{}: {}",
            self.location.display_key(&self.relative),
            describe(&error)
        ))
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.chunk.is_empty() {
                let n = buf.len().min(self.chunk.len());
                buf[..n].copy_from_slice(&self.chunk[..n]);
                self.chunk = self.chunk.slice(n..);
                return Ok(n);
            }
            if self.stream.is_none() {
                if self.offset >= self.size && self.offset > 0 {
                    return Ok(0);
                }
                self.open_stream().map_err(|e| self.io_error(e))?;
            }
            let next = {
                let stream = self.stream.as_mut().expect("opened above");
                self.location.storage.block_on(stream.next())
            };
            match next {
                Some(Ok(bytes)) => {
                    self.offset += bytes.len() as u64;
                    self.chunk = bytes;
                }
                None => {
                    self.stream = None;
                    if self.offset < self.size {
                        // Ended early: resume like a broken stream.
                        if self.resumes_left == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                format!(
                                    "{}: stream ended at byte {} of {}",
                                    self.location.display_key(&self.relative),
                                    self.offset,
                                    self.size
                                ),
                            ));
                        }
                        self.resumes_left -= 1;
                        continue;
                    }
                    self.size = self.offset;
                    return Ok(0);
                }
                Some(Err(e)) => {
                    self.stream = None;
                    if self.resumes_left == 0 {
                        return Err(self.io_error(e));
                    }
                    self.resumes_left -= 1;
                    tracing::warn!(
                        object = %self.location.display_key(&self.relative),
                        offset = self.offset,
                        "stream broke, resuming: {}",
                        describe(&e)
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn storage_errors_are_classified_by_their_type_not_their_text() {
        use object_store::client::{HttpError, HttpErrorKind};
        let source =
            || Box::new(std::io::Error::other("x")) as Box<dyn std::error::Error + Send + Sync>;
        let generic = |http: HttpError| object_store::Error::Generic {
            store: "S3",
            source: Box::new(http),
        };
        let cases = [
            (
                object_store::Error::NotFound {
                    path: "k".into(),
                    source: source(),
                },
                StorageErrorKind::NotFound,
            ),
            (
                object_store::Error::PermissionDenied {
                    path: "k".into(),
                    source: source(),
                },
                StorageErrorKind::Refused,
            ),
            (
                object_store::Error::Unauthenticated {
                    path: "k".into(),
                    source: source(),
                },
                StorageErrorKind::Refused,
            ),
            (
                object_store::Error::Precondition {
                    path: "k".into(),
                    source: source(),
                },
                StorageErrorKind::Conflict,
            ),
            (
                generic(HttpError::new(
                    HttpErrorKind::Connect,
                    std::io::Error::other("refused"),
                )),
                StorageErrorKind::Unreachable,
            ),
            (
                generic(HttpError::new(
                    HttpErrorKind::Request,
                    std::io::Error::other("reset"),
                )),
                StorageErrorKind::Transport,
            ),
            (
                object_store::Error::Generic {
                    store: "S3",
                    source: source(),
                },
                StorageErrorKind::Other,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(StorageErrorKind::of(&error), kind, "{error}");
            let Error::Storage {
                kind: got,
                message,
                store_error,
                ..
            } = Error::from_store("s3://b/k".into(), error)
            else {
                panic!("a storage error")
            };
            assert_eq!(got, kind);
            assert!(store_error.is_some());
            if kind == StorageErrorKind::Refused {
                assert!(message.contains("AWS_ACCESS_KEY_ID"), "{message}");
            }
        }
    }

    #[test]
    fn dropped_connections_are_retried_unless_object_store_used_its_retries() {
        let sending = "HTTP error: error sending request: client error (Canceled): operation was \
                       canceled: connection was not ready";
        let at_once =
            format!("Generic S3 error: Error performing PUT http://h/b/k in 3ms - {sending}");
        let after_one = format!(
            "Generic S3 error: Error performing list request: Error performing GET http://h/b?x in \
             107ms, after 1 retries, max_retries: 5, retry_timeout: 60s  - {sending}"
        );
        let after_all = after_one.replace("after 1 retries", "after 5 retries");
        let transport = StorageErrorKind::Transport;
        assert!(worth_retrying(transport, &at_once));
        assert!(worth_retrying(transport, &after_one));
        assert!(!worth_retrying(transport, &after_all));
        // The kind decides first: refused, missing and conflicting requests are final at once.
        for kind in [
            StorageErrorKind::Refused,
            StorageErrorKind::NotFound,
            StorageErrorKind::Conflict,
            StorageErrorKind::Other,
        ] {
            assert!(!worth_retrying(kind, &at_once), "{kind:?}");
        }
        assert_eq!(retries_used(&after_one), Some((1, 5)));
        assert_eq!(retries_used(&at_once), None);
    }

    #[test]
    fn concurrently_keeps_order_runs_tasks_at_once_and_stops_at_the_first_error() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let items: Vec<usize> = (0..200).collect();
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        // Items 0 and 1 wait for each other (for at most 10 s): they meet only if they run at
        // the same time.
        let (arrived, met) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let doubled = concurrently(&items, 8, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            if i < 2 {
                arrived.fetch_add(1, Ordering::SeqCst);
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while arrived.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
                    std::thread::yield_now();
                }
                if arrived.load(Ordering::SeqCst) == 2 {
                    met.fetch_add(1, Ordering::SeqCst);
                }
            }
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(i * 2)
        })
        .unwrap();
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(
            met.load(Ordering::SeqCst),
            2,
            "items 0 and 1 ran at the same time"
        );
        let most = most.load(Ordering::SeqCst);
        assert!((2..=8).contains(&most), "{most} tasks at once");

        let started = AtomicUsize::new(0);
        let erring = std::sync::atomic::AtomicBool::new(false);
        let failed = concurrently(&items, 4, |&i| {
            started.fetch_add(1, Ordering::SeqCst);
            if i == 10 || i == 150 {
                erring.store(true, Ordering::SeqCst);
                return Err(Error::storage(format!("item {i}"), "refused"));
            }
            // Later tasks take a while, and wait for the error (at most 10 s): so a thread
            // descheduled at the error cannot see the others run through every item first.
            if i > 10 {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !erring.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(i)
        });
        match failed {
            Err(Error::Storage { location, .. }) => assert_eq!(location, "item 10"),
            other => panic!("expected the first error, got {other:?}"),
        }
        assert!(
            started.load(Ordering::SeqCst) < 150,
            "no new task after the error"
        );
        assert!(
            concurrently(&[] as &[u8], 4, |_| Ok(()))
                .unwrap()
                .is_empty()
        );
    }

    /// A store whose atomic creates and multipart completions lose their reply: the request
    /// lands (or, with `land` false, does not) and the client sees the answer its retry would
    /// get: "already exists" for a create, "no such upload" for a completion.
    #[derive(Debug)]
    pub(crate) struct RepliesLost {
        inner: Arc<object_store::memory::InMemory>,
        land: bool,
    }

    impl RepliesLost {
        pub(crate) fn landing() -> Self {
            RepliesLost {
                inner: Arc::new(object_store::memory::InMemory::new()),
                land: true,
            }
        }
    }

    impl std::fmt::Display for RepliesLost {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "RepliesLost({})", self.inner)
        }
    }

    /// The multipart upload of [`RepliesLost`].
    #[derive(Debug)]
    struct CompletionReplyLost {
        inner: Box<dyn object_store::MultipartUpload>,
        land: bool,
    }

    #[async_trait::async_trait]
    impl object_store::MultipartUpload for CompletionReplyLost {
        fn put_part(&mut self, data: PutPayload) -> object_store::UploadPart {
            self.inner.put_part(data)
        }
        async fn complete(&mut self) -> object_store::Result<object_store::PutResult> {
            if self.land {
                self.inner.complete().await?;
            }
            Err(object_store::Error::Generic {
                store: "RepliesLost",
                source: "NoSuchUpload: the upload does not exist (completed or aborted)".into(),
            })
        }
        async fn abort(&mut self) -> object_store::Result<()> {
            self.inner.abort().await
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for RepliesLost {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            options: PutOptions,
        ) -> object_store::Result<object_store::PutResult> {
            if !matches!(options.mode, PutMode::Create) {
                return self.inner.put_opts(location, payload, options).await;
            }
            if self.land {
                self.inner.put_opts(location, payload, options).await?;
            }
            Err(object_store::Error::AlreadyExists {
                path: location.to_string(),
                source: "the retry of a create whose reply was lost".into(),
            })
        }
        async fn put_multipart_opts(
            &self,
            location: &Path,
            options: object_store::PutMultipartOptions,
        ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
            let inner = self.inner.put_multipart_opts(location, options).await?;
            Ok(Box::new(CompletionReplyLost {
                inner,
                land: self.land,
            }))
        }
        async fn get_opts(
            &self,
            location: &Path,
            options: object_store::GetOptions,
        ) -> object_store::Result<object_store::GetResult> {
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<object_store::ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: object_store::CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    /// A storage for tests.
    pub(crate) fn storage() -> Arc<Storage> {
        Storage::new(StorageOptions::default()).unwrap()
    }

    fn memory() -> Location {
        memory_over(Arc::new(object_store::memory::InMemory::new()))
    }

    /// A location over `store` with the smallest parts, so that small files go up in several.
    fn memory_over(store: Arc<dyn ObjectStore>) -> Location {
        let storage = Storage::new(StorageOptions {
            part_size: MIN_PART_SIZE,
            ..StorageOptions::default()
        })
        .unwrap();
        Location::with_store(storage, store, "memory://test")
    }

    /// A file of three parts and a bit, in `dir`.
    fn multipart_file(dir: &FsPath) -> (PathBuf, Vec<u8>) {
        let file = dir.join("big");
        let data: Vec<u8> = (0..MIN_PART_SIZE * 3 + 12345)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        std::fs::write(&file, &data).unwrap();
        (file, data)
    }

    #[test]
    fn urls_and_local_paths_are_told_apart() {
        assert!(is_url("s3://bucket/prefix"));
        assert!(is_url("gs://bucket"));
        assert!(is_url("file:///tmp/x"));
        assert!(!is_url("./s3:/odd"));
        assert!(!is_url("/tmp/out"));
        assert!(!is_url("http://example.com/x"), "plain HTTP is not a store");
    }

    #[test]
    fn put_get_list_rename_delete_and_atomic_create() {
        let loc = memory();
        assert!(loc.put_bytes("a/b.json", b"1".to_vec(), true).unwrap());
        assert!(!loc.put_bytes("a/b.json", b"2".to_vec(), true).unwrap());
        assert_eq!(loc.get_bytes("a/b.json").unwrap().unwrap(), &b"1"[..]);
        assert!(loc.get_bytes("a/none").unwrap().is_none());
        loc.rename("a/b.json", "c/d.json").unwrap();
        let listed = loc.list("").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].key, "c/d.json");
        assert_eq!(listed[0].size, 1);
        loc.delete("c/d.json").unwrap();
        loc.delete("c/d.json").unwrap();
        assert!(loc.list("c").unwrap().is_empty());
        assert_eq!(loc.display_key("x/y"), "memory://test/x/y");
    }

    #[test]
    fn a_multipart_upload_and_a_streamed_read_give_back_the_same_bytes() {
        let loc = memory();
        let dir = tempfile::tempdir().unwrap();
        // The upload is split, the read comes back in pieces.
        let (file, data) = multipart_file(dir.path());
        assert_eq!(
            loc.upload_file(&file, "out/big").unwrap(),
            data.len() as u64
        );
        let listed = loc.head("out/big").unwrap().unwrap();
        let mut back = Vec::new();
        loc.reader("out/big", &listed)
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "round trip differs");
    }

    #[test]
    fn an_upload_whose_completion_reply_was_lost_is_done_if_the_object_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let (file, data) = multipart_file(dir.path());
        let landed = memory_over(Arc::new(RepliesLost::landing()));
        assert_eq!(
            landed.upload_file(&file, "out/big").unwrap(),
            data.len() as u64
        );
        assert!(landed.get_bytes("out/big").unwrap().unwrap() == data);

        let lost = memory_over(Arc::new(RepliesLost {
            land: false,
            ..RepliesLost::landing()
        }));
        let err = lost.upload_file(&file, "out/big").unwrap_err();
        assert!(err.to_string().contains("NoSuchUpload"), "{err}");
        assert!(lost.head("out/big").unwrap().is_none());
    }

    #[test]
    fn local_locations_rename_uploads_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(StorageOptions::default()).unwrap();
        let loc = storage
            .open(&dir.path().join("root").display().to_string())
            .unwrap();
        let temp = dir.path().join("t");
        std::fs::write(&temp, b"abc").unwrap();
        loc.upload_file(&temp, "x/y.parquet").unwrap();
        assert!(!temp.exists());
        assert_eq!(
            std::fs::read(dir.path().join("root/x/y.parquet")).unwrap(),
            b"abc"
        );
        assert_eq!(loc.list("x").unwrap()[0].key, "x/y.parquet");
    }
}
