//! Where an object store's credentials will come from, decided before its first request.
//!
//! `object_store` falls back, when the environment holds no credentials, to the cloud's instance
//! metadata service (`169.254.169.254`), and retries it with backoff: a machine that has none
//! gets, after seconds or minutes, the service's address and a status code. Here each store's
//! chain is walked the way `object_store` walks it; when it would end at the metadata service,
//! the service is asked once, with short timeouts, whether it has credentials to give (an
//! instance role, a managed identity, an attached service account). If it has none, the store
//! is not opened and the user reads one sentence: what was tried and what to set.
//!
//! The metadata addresses are `object_store`'s own settings (`AWS_METADATA_ENDPOINT`,
//! `AZURE_MSI_ENDPOINT`, `GCE_METADATA_HOST`), so a test can point them at a local server.

use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as S3Key};
use object_store::azure::{AzureConfigKey as AzKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as GcsKey};

/// How long the metadata service has to accept a connection: it is on the local link, so a
/// second is plenty (`object_store` uses the same).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one request to the metadata service may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The instance metadata endpoints `object_store` falls back to when nothing else is set.
const AWS_METADATA: &str = "http://169.254.169.254";
const AZURE_MSI: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const GCE_METADATA_HOST: &str = "metadata.google.internal";
const GCE_METADATA_IP: &str = "169.254.169.254";

/// What a metadata request came back with.
#[derive(Debug)]
enum Reply {
    /// An HTTP status, and the body when it was a success.
    Status(u16, String),
    /// No reply: nothing listening, no route, a name that does not resolve, or no answer in
    /// time. The text says which, in a few words.
    Silence(String),
}

impl Reply {
    fn ok(&self) -> Option<&str> {
        match self {
            Reply::Status(200, body) => Some(body),
            _ => None,
        }
    }

    /// How the service answered, for the end of the sentence: `refused: 403 Forbidden`.
    fn told(&self) -> String {
        match self {
            Reply::Status(code, _) => {
                let reason = reqwest::StatusCode::from_u16(*code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                format!("refused: {code} {reason}").trim_end().to_string()
            }
            Reply::Silence(why) => why.clone(),
        }
    }
}

/// One request to a metadata service, as `object_store`'s HTTP client would send it (the same
/// proxy settings from the environment), with short timeouts and no retries.
async fn ask(method: reqwest::Method, url: &str, headers: &[(&str, &str)]) -> Reply {
    let client = match reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
    {
        Ok(client) => client,
        Err(e) => return Reply::Silence(format!("could not be asked: {e}")),
    };
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    match request.send().await {
        Ok(response) => {
            let code = response.status().as_u16();
            let body = if code == 200 {
                response.text().await.unwrap_or_default()
            } else {
                String::new()
            };
            Reply::Status(code, body)
        }
        Err(e) if e.is_timeout() => Reply::Silence(format!(
            "did not answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        )),
        Err(_) => Reply::Silence("did not answer".to_string()),
    }
}

/// Whether an environment variable is set to something.
fn env(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// S3: static keys, no signing, web identity, container or pod credentials are `object_store`'s
/// to use. Otherwise, with a custom endpoint (R2, MinIO...), there is nothing to ask: only AWS
/// has an instance metadata service. On AWS, the metadata service is asked for a token and the
/// instance's role, as `object_store` will ask.
pub(super) async fn check_s3(builder: &AmazonS3Builder) -> Result<(), String> {
    let config = |key: S3Key| builder.get_config_value(&key).filter(|v| !v.is_empty());
    if config(S3Key::AccessKeyId).is_some()
        || config(S3Key::SkipSignature).as_deref() == Some("true")
        || (config(S3Key::WebIdentityTokenFile).is_some() && config(S3Key::RoleArn).is_some())
        || config(S3Key::ContainerCredentialsRelativeUri).is_some()
        || config(S3Key::ContainerCredentialsFullUri).is_some()
        || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    {
        return Ok(());
    }
    let profile = profile_hint();
    if let Some(endpoint) = config(S3Key::Endpoint) {
        return Err(format!(
            "no S3 credentials for the endpoint {endpoint}: set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY (for R2, an API token's S3 credentials){profile}"
        ));
    }
    let endpoint = config(S3Key::MetadataEndpoint).unwrap_or_else(|| AWS_METADATA.to_string());
    let endpoint = endpoint.trim_end_matches('/');
    let token = ask(
        reqwest::Method::PUT,
        &format!("{endpoint}/latest/api/token"),
        &[("X-aws-ec2-metadata-token-ttl-seconds", "60")],
    )
    .await;
    let imdsv1 = config(S3Key::ImdsV1Fallback).as_deref() == Some("true");
    let token = match (&token, imdsv1) {
        (Reply::Status(200, token), _) => Some(token.clone()),
        (Reply::Status(403, _), true) => None,
        _ => return Err(no_aws_credentials(endpoint, &token.told(), &profile)),
    };
    let headers: Vec<(&str, &str)> = token
        .iter()
        .map(|t| ("X-aws-ec2-metadata-token", t.as_str()))
        .collect();
    let roles = ask(
        reqwest::Method::GET,
        &format!("{endpoint}/latest/meta-data/iam/security-credentials/"),
        &headers,
    )
    .await;
    match &roles {
        Reply::Status(200, role) if !role.trim().is_empty() => Ok(()),
        Reply::Status(200 | 404, _) => Err(no_aws_credentials(
            endpoint,
            "answered, but no role is attached to this instance",
            &profile,
        )),
        _ => Err(no_aws_credentials(endpoint, &roles.told(), &profile)),
    }
}

fn no_aws_credentials(endpoint: &str, told: &str, profile: &str) -> String {
    format!(
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where \
         an instance role is available (tried the environment, web identity and container \
         credentials, then the instance metadata service at {endpoint}, which {told}){profile}"
    )
}

/// `object_store` reads no AWS profiles (`~/.aws/config`, `~/.aws/credentials`): when the user
/// has one, the sentence says how to hand its keys over.
fn profile_hint() -> String {
    let named = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let home_has_credentials = std::env::var_os("HOME").is_some_and(|home| {
        let aws = std::path::Path::new(&home).join(".aws");
        aws.join("credentials").is_file() || aws.join("config").is_file()
    });
    match named {
        Some(profile) => format!(
            "; AWS_PROFILE={profile} is set, but profiles are not read: export its keys with \
             `eval \"$(aws configure export-credentials --profile {profile} --format env)\"`"
        ),
        None if home_has_credentials => "; profiles in ~/.aws are not read: export a profile's \
             keys with `eval \"$(aws configure export-credentials --format env)\"`"
            .to_string(),
        None => String::new(),
    }
}

/// Azure: an account is needed first (from the environment or the URL's host); then an access
/// key, a SAS, a bearer token, a service principal, workload identity, the Azure CLI or the
/// emulator are `object_store`'s to use. Otherwise the managed identity endpoint is asked for
/// a token, as `object_store` will ask.
pub(super) async fn check_azure(
    builder: &MicrosoftAzureBuilder,
    url: &url::Url,
) -> Result<(), String> {
    let config = |key: AzKey| builder.get_config_value(&key).filter(|v| !v.is_empty());
    let is_true = |key: AzKey| config(key).as_deref() == Some("true");
    if is_true(AzKey::UseEmulator) || is_true(AzKey::SkipSignature) {
        return Ok(());
    }
    // `abfss://container@account.dfs.core.windows.net/` and `https://account.blob...` name
    // the account in the host; `az://container/` does not.
    let host_names_account = url.host_str().is_some_and(|host| host.contains('.'));
    if config(AzKey::AccountName).is_none() && !host_names_account {
        return Err(
            "no Azure storage account: set AZURE_STORAGE_ACCOUNT_NAME (or name it in the URL, \
             abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/), and its credentials \
             (AZURE_STORAGE_ACCOUNT_KEY, a SAS token in AZURE_STORAGE_SAS_KEY, or a service \
             principal's AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID)"
                .to_string(),
        );
    }
    let principal = config(AzKey::ClientId).is_some()
        && config(AzKey::AuthorityId).is_some()
        && (config(AzKey::ClientSecret).is_some() || config(AzKey::FederatedTokenFile).is_some());
    if config(AzKey::AccessKey).is_some()
        || config(AzKey::SasKey).is_some()
        || config(AzKey::Token).is_some()
        || is_true(AzKey::UseAzureCli)
        || principal
        || config(AzKey::FabricTokenServiceUrl).is_some()
        || config(AzKey::CredentialType).is_some_and(|t| t != "auto")
    {
        return Ok(());
    }
    let endpoint = config(AzKey::MsiEndpoint).unwrap_or_else(|| AZURE_MSI.to_string());
    let mut token_url = url::Url::parse(&endpoint)
        .map_err(|e| format!("the managed identity endpoint {endpoint} is not a valid URL: {e}"))?;
    token_url
        .query_pairs_mut()
        .append_pair("api-version", "2019-08-01")
        .append_pair("resource", "https://storage.azure.com");
    let reply = ask(
        reqwest::Method::GET,
        token_url.as_str(),
        &[("Metadata", "true")],
    )
    .await;
    match reply.ok() {
        Some(_) => Ok(()),
        None => Err(format!(
            "no Azure credentials found: set AZURE_STORAGE_ACCOUNT_KEY (or a SAS token in \
             AZURE_STORAGE_SAS_KEY, or a service principal's AZURE_CLIENT_ID, \
             AZURE_CLIENT_SECRET and AZURE_TENANT_ID), or run where a managed identity is \
             available (tried the environment, then the managed identity endpoint {endpoint}, \
             which {})",
            reply.told()
        )),
    }
}

/// GCS: a service account key (file or JSON), application default credentials (the variable,
/// or gcloud's file in the home folder), or no signing are `object_store`'s to use. Otherwise
/// the metadata server is asked for the attached service account, by name and then by
/// address, as `object_store` will ask.
pub(super) async fn check_gcs(builder: &GoogleCloudStorageBuilder) -> Result<(), String> {
    let config = |key: GcsKey| builder.get_config_value(&key).filter(|v| !v.is_empty());
    let gcloud_file = std::env::var_os("HOME").is_some_and(|home| {
        std::path::Path::new(&home)
            .join(".config/gcloud/application_default_credentials.json")
            .is_file()
    });
    if config(GcsKey::ServiceAccount).is_some()
        || config(GcsKey::ServiceAccountKey).is_some()
        || config(GcsKey::ApplicationCredentials).is_some()
        || config(GcsKey::SkipSignature).as_deref() == Some("true")
        || env("GOOGLE_APPLICATION_CREDENTIALS")
        || gcloud_file
    {
        return Ok(());
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let host = var("GCE_METADATA_HOST")
        .or_else(|| var("GCE_METADATA_ROOT"))
        .unwrap_or_else(|| GCE_METADATA_HOST.to_string());
    let ip = var("GCE_METADATA_IP").unwrap_or_else(|| GCE_METADATA_IP.to_string());
    ask_gce_metadata(host, ip).await
}

/// Asks the GCE metadata server, by name and then by address, for the attached service account.
async fn ask_gce_metadata(host: String, ip: String) -> Result<(), String> {
    let path = "computeMetadata/v1/instance/service-accounts/default/email";
    let headers = [("Metadata-Flavor", "Google")];
    let mut reply = ask(
        reqwest::Method::GET,
        &format!("http://{host}/{path}"),
        &headers,
    )
    .await;
    let mut asked = host;
    if matches!(reply, Reply::Silence(_)) && ip != asked {
        reply = ask(
            reqwest::Method::GET,
            &format!("http://{ip}/{path}"),
            &headers,
        )
        .await;
        asked = ip;
    }
    match reply.ok() {
        Some(_) => Ok(()),
        None => Err(format!(
            "no Google Cloud credentials found: set GOOGLE_SERVICE_ACCOUNT (the path of a \
             service account key file) or GOOGLE_APPLICATION_CREDENTIALS, or run where a \
             service account is attached (tried the environment and gcloud's application \
             default credentials, then the metadata server at http://{asked}, which {})",
            reply.told()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A metadata service on loopback answering `METHOD /path` (query left out) from `routes`,
    /// 404 otherwise; it serves until the test ends. Returns its base URL.
    fn metadata_server(routes: &'static [(&'static str, u16, &'static str)]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                let mut parts = first.split_whitespace();
                let asked = format!(
                    "{} {}",
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or("").split('?').next().unwrap()
                );
                let (status, body) = routes
                    .iter()
                    .find(|(route, _, _)| *route == asked)
                    .map_or((404, ""), |(_, status, body)| (*status, *body));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{address}")
    }

    fn on_aws(endpoint: &str, imdsv1: bool) -> AmazonS3Builder {
        let builder = AmazonS3Builder::new()
            .with_bucket_name("lake")
            .with_metadata_endpoint(endpoint);
        if imdsv1 {
            builder.with_imdsv1_fallback()
        } else {
            builder
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn an_instance_role_lets_the_store_open() {
        let imds = metadata_server(&[
            ("PUT /latest/api/token", 200, "token"),
            (
                "GET /latest/meta-data/iam/security-credentials/",
                200,
                "lake-writer",
            ),
        ]);
        assert_eq!(block_on(check_s3(&on_aws(&imds, false))), Ok(()));
    }

    #[test]
    fn an_instance_without_a_role_is_named() {
        let imds = metadata_server(&[("PUT /latest/api/token", 200, "token")]);
        let said = block_on(check_s3(&on_aws(&imds, false))).unwrap_err();
        assert!(
            said.starts_with("no AWS credentials found: set AWS_ACCESS_KEY_ID"),
            "{said}"
        );
        assert!(
            said.contains(&format!(
                "service at {imds}, which answered, but no role is attached"
            )),
            "{said}"
        );
    }

    #[test]
    fn a_refused_token_is_final_unless_imdsv1_is_allowed() {
        let imds = metadata_server(&[
            ("PUT /latest/api/token", 403, ""),
            (
                "GET /latest/meta-data/iam/security-credentials/",
                200,
                "lake-writer",
            ),
        ]);
        let said = block_on(check_s3(&on_aws(&imds, false))).unwrap_err();
        assert!(said.contains("which refused: 403 Forbidden"), "{said}");
        assert_eq!(block_on(check_s3(&on_aws(&imds, true))), Ok(()));
    }

    #[test]
    fn credentials_in_the_configuration_are_not_checked() {
        let builder = on_aws("http://127.0.0.1:9", false)
            .with_access_key_id("AKIAEXAMPLE")
            .with_secret_access_key("secret");
        assert_eq!(block_on(check_s3(&builder)), Ok(()));
        let anonymous = on_aws("http://127.0.0.1:9", false).with_skip_signature(true);
        assert_eq!(block_on(check_s3(&anonymous)), Ok(()));
    }

    #[test]
    fn a_custom_endpoint_without_keys_asks_no_metadata_service() {
        let builder = on_aws("http://127.0.0.1:9", false).with_endpoint("http://127.0.0.1:10");
        let said = block_on(check_s3(&builder)).unwrap_err();
        assert!(
            said.starts_with(
                "no S3 credentials for the endpoint http://127.0.0.1:10: set AWS_ACCESS_KEY_ID"
            ),
            "{said}"
        );
        assert!(!said.contains("metadata"), "{said}");
    }

    #[test]
    fn a_managed_identity_lets_an_azure_store_open() {
        let url = url::Url::parse("az://container/prefix").unwrap();
        let msi = metadata_server(&[("GET /token", 200, "{}")]);
        let builder = MicrosoftAzureBuilder::new()
            .with_account("account")
            .with_msi_endpoint(format!("{msi}/token"));
        assert_eq!(block_on(check_azure(&builder, &url)), Ok(()));
        let none = metadata_server(&[("GET /token", 400, "")]);
        let builder = MicrosoftAzureBuilder::new()
            .with_account("account")
            .with_msi_endpoint(format!("{none}/token"));
        let said = block_on(check_azure(&builder, &url)).unwrap_err();
        assert!(
            said.starts_with("no Azure credentials found: set AZURE_STORAGE_ACCOUNT_KEY"),
            "{said}"
        );
        assert!(
            said.ends_with(&format!(
                "endpoint {none}/token, which refused: 400 Bad Request)"
            )),
            "{said}"
        );
    }

    #[test]
    fn an_azure_account_is_needed_unless_the_url_names_it() {
        let keyed = MicrosoftAzureBuilder::new().with_access_key("a2V5");
        let bare = url::Url::parse("az://container/prefix").unwrap();
        let said = block_on(check_azure(&keyed, &bare)).unwrap_err();
        assert!(
            said.starts_with("no Azure storage account: set AZURE_STORAGE_ACCOUNT_NAME"),
            "{said}"
        );
        let named = url::Url::parse("abfss://container@account.dfs.core.windows.net/p").unwrap();
        assert_eq!(block_on(check_azure(&keyed, &named)), Ok(()));
    }

    #[test]
    fn the_gce_metadata_server_is_asked_by_name_then_by_address() {
        let attached = metadata_server(&[(
            "GET /computeMetadata/v1/instance/service-accounts/default/email",
            200,
            "writer@project.iam.gserviceaccount.com",
        )]);
        let host = attached.trim_start_matches("http://").to_string();
        // Nothing listens on port 9 (discard): the name fails, the address answers.
        assert_eq!(
            block_on(ask_gce_metadata("127.0.0.1:9".into(), host.clone())),
            Ok(())
        );
        let detached = metadata_server(&[]);
        let host = detached.trim_start_matches("http://").to_string();
        let said = block_on(ask_gce_metadata(host.clone(), host)).unwrap_err();
        assert!(
            said.starts_with("no Google Cloud credentials found: set GOOGLE_SERVICE_ACCOUNT"),
            "{said}"
        );
        assert!(
            said.ends_with(&format!(
                "server at {detached}, which refused: 404 Not Found)"
            )),
            "{said}"
        );
    }

    #[test]
    fn a_metadata_service_that_never_answers_is_given_up_quickly() {
        // Connections are accepted by the kernel into the backlog and never answered.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let started = std::time::Instant::now();
        let said = block_on(check_s3(&on_aws(&endpoint, false))).unwrap_err();
        assert!(
            said.contains(&format!("at {endpoint}, which did not answer within 2 s")),
            "{said}"
        );
        // The bound is the request timeout, with a wide margin for a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        drop(listener);
    }
}
