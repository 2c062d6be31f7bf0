//! The Iceberg REST catalog client: the handful of calls a writer needs (configuration,
//! authentication, namespaces, loading, creating and committing to a table), over the HTTP
//! client object_store already brings. R2 Data Catalog takes a bearer token (an R2 API token);
//! other catalogs take OAuth2 client credentials, exchanged for a token at `/v1/oauth/tokens`.
//!
//! Every failure becomes one sentence naming the catalog and what to do: a refused token, an
//! unreachable catalog, a missing warehouse. A commit tells a conflict (another writer
//! committed first: reload and try again) from an unknown outcome (a 5xx or a lost reply: the
//! commit may have landed), which the caller settles by looking for its run id.

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::storage::Storage;

/// How long one catalog request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts of a request that failed to connect or got a 5xx (reads only).
const READ_ATTEMPTS: u32 = 3;

/// The environment variable holding a static bearer token (R2 Data Catalog: an R2 API token).
pub const TOKEN_ENV: &str = "ICEBERG_CATALOG_TOKEN";
/// The environment variables holding OAuth2 client credentials (other REST catalogs).
pub const CLIENT_ID_ENV: &str = "ICEBERG_CATALOG_CLIENT_ID";
/// See [`CLIENT_ID_ENV`].
pub const CLIENT_SECRET_ENV: &str = "ICEBERG_CATALOG_CLIENT_SECRET";

/// Where the catalog is and how to reach a table in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogOptions {
    /// The catalog's base URI (`https://catalog.cloudflarestorage.com/<account>/<bucket>`).
    pub uri: String,
    /// The warehouse (R2: `<account>_<bucket>`).
    pub warehouse: String,
    /// The table's namespace levels.
    pub namespace: Vec<String>,
    /// The table's name.
    pub table: String,
}

impl CatalogOptions {
    /// `NAMESPACE.TABLE` (namespace levels separated by dots) into the namespace and table.
    pub fn parse_table(text: &str) -> std::result::Result<(Vec<String>, String), String> {
        let parts: Vec<&str> = text.split('.').collect();
        if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "{text:?} is not NAMESPACE.TABLE (such as logs.http_requests)"
            ));
        }
        let (table, namespace) = parts.split_last().expect("two parts at least");
        Ok((
            namespace.iter().map(|s| s.to_string()).collect(),
            table.to_string(),
        ))
    }

    /// `namespace.table`, for messages.
    pub fn table_name(&self) -> String {
        format!("{}.{}", self.namespace.join("."), self.table)
    }
}

/// The outcome of a commit request.
#[derive(Debug)]
pub enum CommitOutcome {
    /// Committed: the table's new metadata.
    Committed(Value),
    /// Refused because the table changed since it was loaded (409): reload and try again.
    Conflict(String),
    /// Unknown (a 5xx, a timeout, a lost reply): the commit may have landed.
    Unknown(String),
}

/// A connected REST catalog: its URI, the warehouse's prefix and a token.
pub struct Catalog {
    client: reqwest::Client,
    storage: std::sync::Arc<Storage>,
    options: CatalogOptions,
    /// `{uri}/v1/{prefix}`.
    base: String,
    /// The bearer token (static, or granted for the client credentials).
    token: std::sync::Mutex<Option<String>>,
    /// The OAuth2 client credentials, to be granted a new token when the catalog refuses one
    /// that expired during a long run.
    credentials: Option<(String, String)>,
}

impl Catalog {
    /// Connects: authenticates (a token from [`TOKEN_ENV`], or one the catalog grants for the
    /// client credentials in [`CLIENT_ID_ENV`] and [`CLIENT_SECRET_ENV`]) and reads the
    /// warehouse's configuration.
    pub fn connect(options: &CatalogOptions, storage: std::sync::Arc<Storage>) -> Result<Catalog> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Error::Iceberg {
                table: options.table_name(),
                message: format!("an HTTP client for the catalog could not be built: {e}"),
            })?;
        let uri = options.uri.trim_end_matches('/').to_string();
        let mut catalog = Catalog {
            client,
            storage,
            options: CatalogOptions {
                uri: uri.clone(),
                ..options.clone()
            },
            base: format!("{uri}/v1"),
            token: std::sync::Mutex::new(None),
            credentials: None,
        };
        let token = match (
            std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()),
            std::env::var(CLIENT_ID_ENV).ok().filter(|t| !t.is_empty()),
            std::env::var(CLIENT_SECRET_ENV).ok(),
        ) {
            (Some(token), _, _) => Some(token),
            (None, Some(id), Some(secret)) => {
                let token = catalog.oauth_token(&id, &secret)?;
                catalog.credentials = Some((id, secret));
                Some(token)
            }
            (None, Some(_), None) => {
                return Err(catalog.error(format!(
                    "{CLIENT_ID_ENV} is set but {CLIENT_SECRET_ENV} is not"
                )));
            }
            (None, None, _) => None,
        };
        catalog.token = std::sync::Mutex::new(token);
        let query = [("warehouse", options.warehouse.as_str())];
        let config = catalog.get_json(&format!("{}/config", catalog.base), &query)?;
        let prefix = config["overrides"]["prefix"]
            .as_str()
            .or_else(|| config["defaults"]["prefix"].as_str())
            .map(str::to_string);
        if let Some(prefix) = prefix {
            catalog.base = format!("{uri}/v1/{}", encode_segment(&prefix));
        }
        Ok(catalog)
    }

    /// The table's name, for messages.
    pub fn table_name(&self) -> String {
        self.options.table_name()
    }

    /// Whether the catalog answers at all: the HTTP status of its unauthenticated
    /// `GET /v1/config` (any status means it was reached).
    pub fn reach(options: &CatalogOptions, storage: std::sync::Arc<Storage>) -> Result<u16> {
        let catalog = Catalog {
            client: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .map_err(|e| Error::Iceberg {
                    table: options.table_name(),
                    message: format!("an HTTP client for the catalog could not be built: {e}"),
                })?,
            storage,
            options: options.clone(),
            base: format!("{}/v1", options.uri.trim_end_matches('/')),
            token: std::sync::Mutex::new(None),
            credentials: None,
        };
        let request = (catalog.client.get(format!("{}/config", catalog.base)))
            .query(&[("warehouse", options.warehouse.as_str())]);
        catalog.send(request).map(|(status, _)| status)
    }

    /// How many top-level namespaces the warehouse has (an authenticated request).
    pub fn count_namespaces(&self) -> Result<usize> {
        let reply = self.get_json(&format!("{}/namespaces", self.base), &[])?;
        Ok(reply["namespaces"].as_array().map_or(0, Vec::len))
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Iceberg {
            table: self.table_name(),
            message: message.into(),
        }
    }

    /// Exchanges OAuth2 client credentials for a token.
    fn oauth_token(&self, id: &str, secret: &str) -> Result<String> {
        let url = format!("{}/v1/oauth/tokens", self.options.uri.trim_end_matches('/'));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", id)
            .append_pair("client_secret", secret)
            .append_pair("scope", "catalog")
            .finish();
        let request = self
            .client
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        let (status, reply) = self.send(request)?;
        if status == 401 || status == 403 || status == 400 {
            return Err(self.error(format!(
                "the catalog at {} refused the client credentials in {CLIENT_ID_ENV} and \
                 {CLIENT_SECRET_ENV} ({status}: {})",
                self.options.uri,
                error_message(&reply)
            )));
        }
        if status != 200 {
            return Err(self.unexpected("POST", &url, status, &reply));
        }
        reply["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.error("the catalog's token reply has no access_token"))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.token.lock().expect("the token lock").as_ref() {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends the request `build` makes, with the token; when the catalog answers 401 and the
    /// token was granted for client credentials (it may have expired during a long run), asks
    /// for a new one and sends the request once more.
    fn send_authorized(&self, build: impl Fn() -> reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let reply = self.send(self.authorized(build()))?;
        match (&reply, &self.credentials) {
            ((401, _), Some((id, secret))) => {
                let token = self.oauth_token(id, secret)?;
                *self.token.lock().expect("the token lock") = Some(token);
                self.send(self.authorized(build()))
            }
            _ => Ok(reply),
        }
    }

    /// Sends `request`; returns the status and the JSON reply (`Null` when there is none).
    fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let uri = self.options.uri.clone();
        self.storage.block_on(async {
            let response = request.send().await.map_err(|e| {
                let why = if e.is_timeout() {
                    "it did not answer in time"
                } else if e.is_connect() {
                    "the connection was refused or could not be made"
                } else {
                    "the request failed"
                };
                Error::Iceberg {
                    table: self.table_name(),
                    message: format!("cannot reach the catalog at {uri}: {why} ({e})"),
                }
            })?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.unwrap_or_default();
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok((status, value))
        })
    }

    /// A GET of a JSON document, retried on connection failures and 5xx.
    fn get_json(&self, url: &str, query: &[(&str, &str)]) -> Result<Value> {
        match self.get(url, query)? {
            (200, value) => Ok(value),
            (status, reply) => Err(self.unexpected("GET", url, status, &reply)),
        }
    }

    fn get(&self, url: &str, query: &[(&str, &str)]) -> Result<(u16, Value)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.send_authorized(|| self.client.get(url).query(query)) {
                Ok((status, _)) if status >= 500 && attempt < READ_ATTEMPTS => {}
                Err(_) if attempt < READ_ATTEMPTS => {}
                Ok((401 | 403, reply)) => return Err(self.refused(&reply)),
                other => return other,
            }
            std::thread::sleep(Duration::from_millis(200 << attempt));
        }
    }

    fn post(&self, url: &str, body: &Value) -> Result<(u16, Value)> {
        let body = body.to_string();
        let request = || {
            (self.client.post(url))
                .header("Content-Type", "application/json")
                .body(body.clone())
        };
        match self.send_authorized(request)? {
            (401 | 403, reply) => Err(self.refused(&reply)),
            other => Ok(other),
        }
    }

    fn refused(&self, reply: &Value) -> Error {
        let how = match self.token.lock().expect("the token lock").as_ref() {
            Some(_) => format!(
                "the token ({TOKEN_ENV}, or the one granted for {CLIENT_ID_ENV}) was refused"
            ),
            None => format!(
                "no credentials were given: set {TOKEN_ENV} (R2: an API token with R2 Data \
                 Catalog permission) or {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV}"
            ),
        };
        self.error(format!(
            "the catalog at {} refused the request: {how} ({})",
            self.options.uri,
            error_message(reply)
        ))
    }

    fn unexpected(&self, method: &str, url: &str, status: u16, reply: &Value) -> Error {
        self.error(format!(
            "the catalog answered {status} to {method} {url}: {}",
            error_message(reply)
        ))
    }

    fn namespace_url(&self) -> String {
        format!(
            "{}/namespaces/{}",
            self.base,
            encode_segment(&self.options.namespace.join("\u{1f}"))
        )
    }

    fn table_url(&self) -> String {
        format!(
            "{}/tables/{}",
            self.namespace_url(),
            encode_segment(&self.options.table)
        )
    }

    /// Creates the namespace unless it exists. A create that fails otherwise than with 409 is
    /// forgiven when the namespace is there after all: SeaweedFS 4.48 answers 500 to some of
    /// several creates of one namespace at once, as shards starting together send them.
    pub fn ensure_namespace(&self) -> Result<()> {
        let exists = || match self.get(&self.namespace_url(), &[])? {
            (200, _) => Ok(true),
            (404, _) => Ok(false),
            (status, reply) => Err(self.unexpected("GET", &self.namespace_url(), status, &reply)),
        };
        if exists()? {
            return Ok(());
        }
        let url = format!("{}/namespaces", self.base);
        match self.post(
            &url,
            &json!({"namespace": self.options.namespace, "properties": {}}),
        )? {
            (200, _) | (409, _) => Ok(()),
            (_, _) if exists()? => Ok(()),
            (status, reply) => Err(self.unexpected("POST", &url, status, &reply)),
        }
    }

    /// The table (LoadTableResult: `metadata`, `metadata-location`, `config`), or `None`.
    pub fn load_table(&self) -> Result<Option<Value>> {
        match self.get(&self.table_url(), &[])? {
            (200, value) => Ok(Some(value)),
            (404, _) => Ok(None),
            (status, reply) => Err(self.unexpected("GET", &self.table_url(), status, &reply)),
        }
    }

    /// Creates the table with `schema` and `spec` (JSON), format version 2, and loads it: the
    /// table as the catalog has it, which is another writer's when that one created it first.
    /// The REST specification answers such a create 409; SeaweedFS 4.48 answers each of
    /// several creates at once 200, each with a table of its own (some at a location of their
    /// own), and keeps the last. What is loaded after the create is what the catalog kept, and
    /// a table replaced after that is caught by the commit's `assert-table-uuid`.
    pub fn create_table(&self, schema: &Value, spec: &Value, properties: &Value) -> Result<Value> {
        let url = format!("{}/tables", self.namespace_url());
        let body = json!({
            "name": self.options.table,
            "schema": schema,
            "partition-spec": spec,
            "write-order": {"order-id": 0, "fields": []},
            "properties": properties,
            "stage-create": false,
        });
        match self.post(&url, &body)? {
            (200, created) => Ok(self.load_table()?.unwrap_or(created)),
            (409, _) => self
                .load_table()?
                .ok_or_else(|| self.error("the table was reported as existing, then not found")),
            (status, reply) => Err(self.unexpected("POST", &url, status, &reply)),
        }
    }

    /// Commits `updates` to the table under `requirements`.
    pub fn commit(&self, requirements: Value, updates: Value) -> Result<CommitOutcome> {
        let body = json!({
            "identifier": {"namespace": self.options.namespace, "name": self.options.table},
            "requirements": requirements,
            "updates": updates,
        });
        let (url, body) = (self.table_url(), body.to_string());
        let request = || {
            (self.client.post(&url))
                .header("Content-Type", "application/json")
                .body(body.clone())
        };
        match self.send_authorized(request) {
            Ok((200, value)) => Ok(CommitOutcome::Committed(value)),
            Ok((409, reply)) => Ok(CommitOutcome::Conflict(error_message(&reply))),
            Ok((401 | 403, reply)) => Err(self.refused(&reply)),
            Ok((status, reply)) if status >= 500 => Ok(CommitOutcome::Unknown(format!(
                "{status}: {}",
                error_message(&reply)
            ))),
            Ok((status, reply)) => Err(self.unexpected("POST", &self.table_url(), status, &reply)),
            // No reply (a timeout, a dropped connection): the commit may have landed.
            Err(e) => Ok(CommitOutcome::Unknown(e.to_string())),
        }
    }
}

/// A catalog error reply's message (`{"error": {"message": ...}}`), or the reply as text.
fn error_message(reply: &Value) -> String {
    match reply["error"]["message"].as_str() {
        Some(message) => message.to_string(),
        None if reply.is_null() => "no details".to_string(),
        None => reply.to_string(),
    }
}

/// `text` as one URL path segment.
fn encode_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_split_into_namespace_levels_and_a_name() {
        assert_eq!(
            CatalogOptions::parse_table("logs.http"),
            Ok((vec!["logs".into()], "http".into()))
        );
        assert_eq!(
            CatalogOptions::parse_table("a.b.t"),
            Ok((vec!["a".into(), "b".into()], "t".into()))
        );
        for bad in ["t", "a..t", ".t", "a."] {
            assert!(CatalogOptions::parse_table(bad).is_err(), "{bad}");
        }
        assert_eq!(encode_segment("a\u{1f}b c"), "a%1Fb%20c");
    }
}
