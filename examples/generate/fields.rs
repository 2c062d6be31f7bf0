//! The generic generator: rows of any dataset, driven by its field list.
//!
//! Each field gets a value generator once, from its type, its `enum` list and its name
//! (`...IP` addresses, `...Country` codes, `...RayID` hex, `...Status` HTTP codes, ...);
//! writing a row is then a loop over those generators. Strings from fixed pools are escaped
//! once, up front, so a row is mostly `push_str` and integer formatting.
//!
//! Files are independent (each has its own RNG, seeded from the main one, in file order), so
//! they are written by several threads and the output is the same for any `--threads`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use logpush_parquet::schema::{EpochUnit, EventSchema, FieldSpec, FieldType};
use logpush_parquet::time::civil_from_days;

use super::{Options, Rng, archive_file};

/// Percent of rows in which an optional field is absent, and absent or `null`.
const ABSENT_PCT: u64 = 5;
const ABSENT_OR_NULL_PCT: u64 = 8;
/// An enum field takes a value outside its documented list once in this many rows.
const UNDOCUMENTED_ONE_IN: u64 = 2_000;
/// Lines are gathered into chunks of about this size before they go to gzip.
const CHUNK: usize = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Fixed vocabularies.

const WORDS: &[&str] = &[
    "default",
    "primary",
    "edge",
    "origin",
    "cache",
    "worker",
    "tunnel",
    "gateway",
    "proxy",
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "active",
    "pending",
    "enabled",
    "disabled",
    "managed",
    "custom",
    "internal",
    "external",
    "production",
    "staging",
    "test",
    "blue",
    "green",
    "north",
    "south",
    "standard",
    "premium",
    "legacy",
    "v2",
    "beta",
    "core",
    "public",
    "private",
    "shared",
    "global",
    "naïve",
    "日本",
];
/// Free text, raw: escaped when the pools are built. Quotes, backslashes, control characters
/// and non-ASCII text, to exercise the decoder's string paths.
const TEXT: &[&str] = &[
    "connection reset by peer",
    "upstream timed out (110: Connection timed out) while reading response header",
    "Unexpected token '<' in JSON at position 0",
    "He said \"hello\" and left",
    "C:\\Program Files\\Cloudflare\\warp-svc.exe",
    "line one\nline two",
    "tab\tseparated\tvalues",
    "naïve café résumé",
    "日本語のメッセージ",
    "Grüße aus Zürich",
    "rocket 🚀 launched",
    "bell \u{7} and unit separator \u{1f}",
    "mixed \"quotes\", \\backslashes\\ and / slashes — done",
    "<script>alert('x')</script>",
    "SELECT * FROM users WHERE name = 'a' OR '1'='1'",
    "",
    "{\"nested\":\"json in a string\"}",
    "Request blocked by policy",
    "certificate has expired",
    "quota exceeded for account",
];
/// Free text already written as JSON string literals, with `\u` escapes (a surrogate pair
/// among them) and the rarer short escapes.
const TEXT_ESCAPED: &[&str] = &[
    r#""caf\u00e9 au lait""#,
    r#""\u65e5\u672c""#,
    r#""emoji \ud83d\ude00 pair""#,
    r#""escaped \/ solidus and \b\f\r""#,
];
const NAMES: &[&str] = &[
    "Alice Example",
    "Bob Smith",
    "José García",
    "山田 太郎",
    "Zoë O'Brien",
    "\"Bobby\" Tables",
    "Jürgen Müller",
    "Priya Patel",
    "Chen Wei",
    "Olusegun Adeyemi",
];
const COUNTRIES: &[&str] = &[
    "us", "de", "gb", "fr", "jp", "br", "in", "sg", "au", "ca", "nl", "se", "za", "kr", "mx", "es",
    "it", "pl", "ch", "ar", "ng", "id", "tr", "ua", "xx",
];
const CONTINENTS: &[&str] = &["NA", "EU", "AS", "SA", "OC", "AF", "AN"];
const CITIES: &[&str] = &[
    "San Francisco",
    "London",
    "Frankfurt am Main",
    "Singapore",
    "São Paulo",
    "München",
    "東京",
    "Zürich",
    "Kraków",
    "Montréal",
    "New York",
    "Sydney",
    "Mumbai",
    "Lagos",
];
const STATES: &[&str] = &[
    "CA", "TX", "NY", "WA", "BY", "ON", "NSW", "ENG", "IDF", "13",
];
const ORGS: &[&str] = &[
    "CLOUDFLARENET",
    "GOOGLE",
    "AMAZON-02",
    "MICROSOFT-CORP-MSN-AS-BLOCK",
    "Deutsche Telekom AG",
    "Comcast Cable Communications, LLC",
    "NTT Communications Corporation",
    "Telefónica de España",
    "China Telecom (Group)",
    "OVH SAS",
];
const ZONES: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "shop.example",
    "example.co.uk",
    "api.example.io",
];
const SUBDOMAINS: &[&str] = &[
    "www", "api", "cdn", "shop", "app", "static", "mail", "auth", "img", "blog", "m", "docs",
];
const PATH_PARTS: &[&str] = &[
    "api",
    "v1",
    "v2",
    "users",
    "products",
    "static",
    "images",
    "js",
    "css",
    "search",
    "cart",
    "login",
    "assets",
    "blog",
    "2026",
    "wp-admin",
    "graphql",
    "health",
    "caf%C3%A9",
    "ünïcode",
];
const PATH_ENDS: &[&str] = &[
    "",
    "index.html",
    "logo.png",
    "app.js",
    "style.css",
    "favicon.ico",
    "robots.txt",
    "data.json",
    "feed.xml",
    "wp-login.php",
];
const QUERIES: &[&str] = &[
    "",
    "",
    "",
    "?q=shoes",
    "?id=42&ref=home",
    "?page=2&sort=price",
    "?utm_source=newsletter&utm_medium=email",
    "?q=\"quoted\"&x=a\\b",
    "?name=José",
    "?token=abc123",
];
const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "curl/8.7.1",
    "python-requests/2.31.0",
    "Go-http-client/2.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "okhttp/4.12.0",
    "",
];
const METHODS: &[(&str, u32)] = &[
    ("GET", 70),
    ("POST", 15),
    ("HEAD", 4),
    ("PUT", 3),
    ("OPTIONS", 3),
    ("DELETE", 2),
    ("PATCH", 2),
    ("PROPFIND", 1),
];
const HTTP_STATUS: &[(u64, u32)] = &[
    (200, 700),
    (204, 20),
    (206, 10),
    (301, 20),
    (302, 30),
    (304, 80),
    (400, 10),
    (401, 10),
    (403, 30),
    (404, 50),
    (405, 2),
    (429, 10),
    (499, 5),
    (500, 8),
    (502, 5),
    (503, 5),
    (504, 3),
    (520, 2),
    (522, 2),
    (0, 3),
];
const PORTS: &[(u64, u32)] = &[
    (443, 60),
    (80, 20),
    (8080, 3),
    (8443, 3),
    (22, 2),
    (53, 5),
    (25, 1),
    (3306, 1),
];
const DNS_TYPES: &[(u64, u32)] = &[
    (1, 50),
    (28, 25),
    (5, 8),
    (65, 6),
    (16, 3),
    (15, 2),
    (2, 2),
    (12, 2),
    (33, 1),
    (6, 1),
];
const DNS_TYPE_NAMES: &[&str] = &[
    "A", "AAAA", "CNAME", "HTTPS", "TXT", "MX", "NS", "PTR", "SRV", "SOA",
];
const TLS_VERSIONS: &[&str] = &["TLSv1.3", "TLSv1.2", "TLSv1.1", "none"];
const CIPHERS: &[&str] = &[
    "AEAD-AES128-GCM-SHA256",
    "AEAD-AES256-GCM-SHA384",
    "AEAD-CHACHA20-POLY1305-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "NONE",
];
const HTTP_VERSIONS: &[&str] = &["HTTP/2", "HTTP/1.1", "HTTP/3", "HTTP/1.0"];
const NET_PROTOCOLS: &[&str] = &["tcp", "udp", "icmp", "gre", "esp"];
const CONTENT_TYPES: &[&str] = &[
    "text/html",
    "application/json",
    "image/png",
    "application/javascript",
    "text/css",
    "image/webp",
    "application/octet-stream",
    "text/plain; charset=utf-8",
    "",
];
const FILE_NAMES: &[&str] = &[
    "report.pdf",
    "invoice 2026.xlsx",
    "photo_été.jpg",
    "資料.docx",
    "setup.exe",
    "archive.zip",
    "notes.txt",
    "budget \"final\".csv",
];
const HTTP_DATES: &[&str] = &[
    "Tue, 24 Nov 2026 10:00:00 GMT",
    "Mon, 23 Nov 2026 08:12:45 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Wed, 21 Oct 2015 07:28:00 GMT",
    "",
];
const SSIDS: &[&str] = &[
    "HomeWiFi",
    "Office-5G",
    "Café Libre",
    "eduroam",
    "Guest \"Lounge\"",
    "",
];
const STATUSES: &[&str] = &[
    "ok", "success", "error", "failed", "pending", "timeout", "blocked", "allowed",
];
const MODELS: &[&str] = &[
    "MacBookPro18,3",
    "Latitude 7440",
    "ThinkPad X1 Carbon Gen 11",
    "Pixel 8",
    "iPhone15,2",
    "Surface Laptop 5",
];
const FILE_TYPES: &[&str] = &["pdf", "xlsx", "jpg", "docx", "exe", "zip", "txt", "csv"];
const VERSIONS: &[&str] = &[
    "1.0.0",
    "2024.5.1",
    "14.4.1",
    "10.0.19045",
    "2.3.4-beta",
    "124.0.6367.91",
    "6.8.0-35",
];
const TIME_ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/São_Paulo",
];
const OS_NAMES: &[&str] = &["windows", "mac", "linux", "ios", "android", "chromeos"];
const BROWSERS: &[&str] = &[
    "Chrome",
    "Safari",
    "Firefox",
    "Edge",
    "Opera",
    "Samsung Internet",
];
const DEVICE_TYPES: &[&str] = &["desktop", "mobile", "tablet"];
const MANUFACTURERS: &[&str] = &[
    "Apple Inc.",
    "Dell Inc.",
    "LENOVO",
    "HP",
    "Microsoft Corporation",
    "Google",
];
const CATEGORIES: &[&str] = &[
    "Technology",
    "Business",
    "Social Networks",
    "Education",
    "Streaming Video",
    "Shopping",
    "News & Media",
    "Security Threats",
    "Gaming",
    "Travel",
];
const APPLICATIONS: &[&str] = &[
    "Google Workspace",
    "Slack",
    "Zoom",
    "Microsoft 365",
    "GitHub",
    "Dropbox",
    "Salesforce",
    "Notion",
];
const HEADER_NAMES: &[&str] = &[
    "x-forwarded-for",
    "x-request-id",
    "cache-control",
    "x-frame-options",
    "set-cookie",
    "vary",
    "content-security-policy",
    "x-powered-by",
    "server",
    "strict-transport-security",
];
const JSON_KEYS: &[&str] = &[
    "id",
    "name",
    "type",
    "value",
    "enabled",
    "count",
    "tags",
    "config",
    "rules",
    "action",
    "score",
    "labels",
    "source",
    "mode",
    "ttl",
    "priority",
    "description",
    "zone",
    "settings",
    "items",
    "note",
    "größe",
    "key with \"quote\"",
    "path\\to",
];
const REQUEST_HEADERS: &[(&str, &[&str])] = &[
    (
        "accept",
        &[
            "*/*",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "application/json",
        ],
    ),
    (
        "accept-encoding",
        &["gzip, deflate, br", "gzip", "br, zstd"],
    ),
    (
        "accept-language",
        &["en-US,en;q=0.9", "fr-FR,fr;q=0.8", "ja,en;q=0.5", "de-CH"],
    ),
    ("cache-control", &["no-cache", "max-age=0"]),
    (
        "content-type",
        &[
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=\"----abc\"",
        ],
    ),
    (
        "x-forwarded-for",
        &["203.0.113.7", "198.51.100.23, 10.0.0.1"],
    ),
    ("x-requested-with", &["XMLHttpRequest"]),
    ("if-none-match", &["W/\"5e8c-1a2b3c\"", "\"33a64df551\""]),
    ("x-custom-note", &["café", "日本", "back\\slash"]),
    ("origin", &["https://www.example.com", "null"]),
    (
        "sec-ch-ua",
        &["\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\""],
    ),
    (
        "authorization",
        &["Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Basic dXNlcjpwYXNz"],
    ),
];
const RESPONSE_HEADERS: &[(&str, &[&str])] = &[
    (
        "content-type",
        &["text/html; charset=utf-8", "application/json", "image/png"],
    ),
    (
        "cache-control",
        &["public, max-age=3600", "no-store", "private"],
    ),
    ("etag", &["W/\"5e8c-1a2b3c\"", "\"33a64df551\""]),
    ("server", &["cloudflare", "nginx", "Apache/2.4.58"]),
    (
        "set-cookie",
        &["session=abc; Path=/; HttpOnly", "lang=fr; Max-Age=86400"],
    ),
    ("vary", &["Accept-Encoding", "Origin, Accept"]),
    ("x-cache", &["HIT", "MISS"]),
    ("content-encoding", &["gzip", "br"]),
    (
        "location",
        &["https://www.example.com/", "/login?next=%2Fcart"],
    ),
    (
        "strict-transport-security",
        &["max-age=31536000; includeSubDomains"],
    ),
];
const COOKIES: &[(&str, &[&str])] = &[
    ("__cf_bm", &["k2Pq3xZ0.aB-1700000000-1.0.1.1-Zy9"]),
    ("_ga", &["GA1.1.123456789.1700000000"]),
    ("session", &["s%3Aabc.def", "eyJ1Ijoxfq"]),
    ("lang", &["fr", "en", "ja"]),
    ("theme", &["dark", "light"]),
    ("consent", &["{\"ads\":false}"]),
    ("cart", &["%7B%22n%22%3A2%7D"]),
    ("name", &["José", "\"quoted\""]),
];

// ---------------------------------------------------------------------------------------------
// JSON output helpers.

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

fn quote_all(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| quoted(s)).collect()
}

fn push_u64(out: &mut String, n: u64) {
    let _ = write!(out, "{n}");
}

fn push_2(out: &mut String, n: u32) {
    out.push((b'0' + (n / 10) as u8) as char);
    out.push((b'0' + (n % 10) as u8) as char);
}

fn push_ipv4(rng: &mut Rng, out: &mut String) {
    let r = rng.next();
    let _ = write!(
        out,
        "{}.{}.{}.{}",
        1 + r % 223,
        (r >> 8) & 255,
        (r >> 16) & 255,
        1 + (r >> 24) % 254
    );
}

fn push_ipv6(rng: &mut Rng, out: &mut String) {
    let r = rng.next();
    let prefix = ["2001:db8", "2a06:98c0", "2606:4700", "2400:cb00"][(r & 3) as usize];
    let _ = write!(
        out,
        "{prefix}:{:x}:{:x}::{:x}",
        (r >> 8) & 0xffff,
        (r >> 24) & 0xffff,
        (r >> 40) & 0xffff
    );
}

fn push_uuid(rng: &mut Rng, out: &mut String) {
    let a = rng.next();
    let b = rng.next();
    let _ = write!(
        out,
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    );
}

fn push_hex(rng: &mut Rng, digits: usize, out: &mut String) {
    let _ = write!(out, "{:016x}", rng.next());
    if digits > 16 {
        let _ = write!(out, "{:016x}", rng.next());
    }
}

/// A small pseudo-random number from the field name, to vary per-field choices without
/// drawing from the RNG.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn weighted<T: Copy>(rng: &mut Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.below(u64::from(total)) as u32;
    for (item, w) in items {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    items[0].0
}

// ---------------------------------------------------------------------------------------------
// Timestamps.

#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeFormat {
    UnixNano,
    Unix,
    Rfc3339,
    Rfc3339Ms,
    Rfc3339Ns,
}

impl TimeFormat {
    fn parse(s: &str) -> TimeFormat {
        match s {
            "unix" => TimeFormat::Unix,
            "rfc3339" => TimeFormat::Rfc3339,
            "rfc3339ms" => TimeFormat::Rfc3339Ms,
            "rfc3339ns" => TimeFormat::Rfc3339Ns,
            _ => TimeFormat::UnixNano,
        }
    }
}

/// Writes the instant `nanos` as Logpush would: in the field's epoch unit when it has one,
/// otherwise in the job's timestamp format.
fn push_time(out: &mut String, format: TimeFormat, unit: Option<EpochUnit>, nanos: i64) {
    if let Some(unit) = unit {
        let _ = write!(
            out,
            "{}",
            nanos.div_euclid(1_000_000_000 / unit.per_second())
        );
        return;
    }
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    match format {
        TimeFormat::UnixNano => {
            let _ = write!(out, "{nanos}");
        }
        TimeFormat::Unix => {
            let _ = write!(out, "{secs}");
        }
        _ => {
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let s = secs.rem_euclid(86_400) as u32;
            let _ = write!(out, "\"{y:04}-");
            push_2(out, m);
            out.push('-');
            push_2(out, d);
            out.push('T');
            push_2(out, s / 3600);
            out.push(':');
            push_2(out, s / 60 % 60);
            out.push(':');
            push_2(out, s % 60);
            match format {
                TimeFormat::Rfc3339Ms => {
                    let _ = write!(out, ".{:03}", frac / 1_000_000);
                }
                TimeFormat::Rfc3339Ns => {
                    let _ = write!(out, ".{frac:09}");
                }
                _ => {}
            }
            out.push_str("Z\"");
        }
    }
}

fn push_zero_time(out: &mut String, format: TimeFormat, unit: Option<EpochUnit>) {
    out.push_str(match (unit, format) {
        (Some(_), _) | (None, TimeFormat::UnixNano | TimeFormat::Unix) => "0",
        _ => "\"1970-01-01T00:00:00Z\"",
    });
}

/// Where a secondary timestamp lies relative to the row's event time.
#[derive(Clone, Copy)]
enum Offset {
    /// Within a few seconds either side.
    Near,
    /// Up to an hour before (starts, creation, message times).
    Before,
    /// A request's or session's duration after (ends, completions).
    After,
}

// ---------------------------------------------------------------------------------------------
// Value generators.

/// Quoted strings to pick from.
struct Pool {
    items: Vec<String>,
    /// Skewed towards the first items (rather than uniform).
    skew: bool,
}

impl Pool {
    fn new(items: Vec<String>, skew: bool) -> Pool {
        assert!(!items.is_empty(), "an empty value pool");
        Pool { items, skew }
    }
    fn pick(&self, rng: &mut Rng) -> &str {
        let i = if self.skew {
            rng.skewed(self.items.len())
        } else {
            rng.below(self.items.len() as u64) as usize
        };
        &self.items[i]
    }
}

enum Str {
    /// Documented values (skewed), and rarely one that is not documented.
    Enum {
        values: Pool,
        undocumented: String,
    },
    Pool(Pool),
    /// An address; the percentage of IPv6 ones.
    Ip(u64),
    Cidr,
    /// A fresh hex id of 16 or 32 digits.
    Hex(usize),
    Uuid,
}

enum Int {
    Weighted(&'static [(u64, u32)]),
    Pool(Vec<u64>),
    /// Skewed towards 0, below the bound.
    Skewed(usize),
    /// Uniform in `lo..hi`.
    Range(u64, u64),
    /// Mostly small, sometimes large.
    Mixed,
}

#[derive(Clone, Copy)]
enum Float {
    /// 0.0 to 1.0.
    Unit,
    /// 0 to 100.
    Percent,
    /// 1.0 to about 8.
    Ratio,
}

enum Json {
    /// An object of a few keys: strings, numbers, booleans, nested objects and arrays.
    Object,
    /// An array of such objects.
    Array,
    /// Workers' `Exceptions`: mostly empty.
    Exceptions,
    /// Workers' `Logs`: console messages.
    Logs,
    /// DNS resource records.
    Records,
    /// E-mail attachments.
    Attachments,
    /// DEX traceroute hops.
    Hops,
    /// `{name, percentage}` per application.
    ByApp,
    /// An object of numbers only (`JA4Signals`, tunnel statistics).
    Numbers,
    /// `[{label, score}]`.
    Scores,
    /// Workers' `Event`: a request (or a scheduled time).
    WorkersEvent,
    /// Workers' `ScriptVersion`: `{id, tag, message}`.
    ScriptVersion,
}

enum Gen {
    Time {
        unit: Option<EpochUnit>,
        offset: Offset,
        zero_is_null: bool,
    },
    Str(Str),
    Int(Int),
    Float(Float),
    /// Percent of `true`.
    Bool(u64),
    StrList(Str),
    IntList(Int),
    Map(&'static [(&'static str, &'static [&'static str])]),
    Json(Json),
}

struct Column {
    /// `"Name":`, already quoted.
    key: String,
    value: Gen,
    /// The event time: always present, set from the row's instant.
    event: bool,
}

/// Values shared by the fields that draw from them.
struct World {
    zones: Vec<String>,
    hosts: Vec<String>,
    /// Paths without a query string.
    paths: Vec<String>,
    /// Paths, some with a query string.
    uris: Vec<String>,
    urls: Vec<String>,
    colos: Vec<String>,
    emails: Vec<String>,
    asns: Vec<u64>,
    /// Raw (unquoted) strings for free-form JSON values.
    json_strings: Vec<String>,
}

impl World {
    fn new(rng: &mut Rng, colos: usize) -> World {
        let raw_hosts: Vec<String> = (0..60)
            .map(|i| {
                let zone = ZONES[rng.skewed(ZONES.len())];
                if i % 7 == 0 {
                    zone.to_string()
                } else {
                    format!(
                        "{}.{zone}",
                        SUBDOMAINS[rng.below(SUBDOMAINS.len() as u64) as usize]
                    )
                }
            })
            .collect();
        let raw_paths: Vec<String> = (0..2_000)
            .map(|_| {
                let mut p = String::new();
                for _ in 0..rng.below(4) {
                    p.push('/');
                    p.push_str(PATH_PARTS[rng.skewed(PATH_PARTS.len())]);
                }
                if rng.below(4) == 0 {
                    let _ = write!(p, "/{}", rng.below(100_000));
                }
                p.push('/');
                p.push_str(PATH_ENDS[rng.skewed(PATH_ENDS.len())]);
                p
            })
            .collect();
        let urls = (0..2_000)
            .map(|_| {
                let host = &raw_hosts[rng.skewed(raw_hosts.len())];
                let path = &raw_paths[rng.skewed(raw_paths.len())];
                let query = QUERIES[rng.below(QUERIES.len() as u64) as usize];
                let scheme = if rng.below(20) == 0 { "http" } else { "https" };
                quoted(&format!("{scheme}://{host}{path}{query}"))
            })
            .collect();
        let mut raw_colos: Vec<String> = Vec::new();
        while raw_colos.len() < colos.max(1) {
            let code: String = (0..3)
                .map(|_| (b'A' + rng.below(26) as u8) as char)
                .collect();
            if !raw_colos.contains(&code) {
                raw_colos.push(code);
            }
        }
        let emails = (0..300)
            .map(|i| {
                let user = [
                    "alice", "bob", "carol", "dave", "erin", "frank", "jürgen", "o'brien",
                ][i % 8];
                let zone = ZONES[rng.skewed(ZONES.len())];
                if i < 8 {
                    quoted(&format!("{user}@{zone}"))
                } else {
                    quoted(&format!("{user}.{}@{zone}", rng.below(10_000)))
                }
            })
            .collect();
        let asns = (0..500).map(|_| 1 + rng.below(400_000)).collect();
        let mut json_strings: Vec<String> = WORDS.iter().map(|s| s.to_string()).collect();
        json_strings.extend(TEXT.iter().map(|s| s.to_string()));
        json_strings.extend(raw_hosts.iter().take(10).cloned());
        World {
            hosts: quote_all(&raw_hosts.iter().map(String::as_str).collect::<Vec<_>>()),
            zones: quote_all(ZONES),
            paths: quote_all(&raw_paths.iter().map(String::as_str).collect::<Vec<_>>()),
            uris: raw_paths
                .iter()
                .map(|p| {
                    let q = QUERIES[rng.below(QUERIES.len() as u64) as usize];
                    quoted(&format!("{p}{q}"))
                })
                .collect(),
            urls,
            colos: quote_all(&raw_colos.iter().map(String::as_str).collect::<Vec<_>>()),
            emails,
            asns,
            json_strings,
        }
    }
}

fn text_pool() -> Pool {
    let mut items = quote_all(TEXT);
    items.extend(TEXT_ESCAPED.iter().map(|s| s.to_string()));
    Pool::new(items, false)
}

fn pool(items: &[&str], skew: bool) -> Str {
    Str::Pool(Pool::new(quote_all(items), skew))
}

/// Ids drawn from a small set (accounts, zones, rules, devices).
fn id_pool(rng: &mut Rng, uuid: bool, n: usize) -> Str {
    let items = (0..n)
        .map(|_| {
            let mut s = String::from("\"");
            if uuid {
                push_uuid(rng, &mut s);
            } else {
                push_hex(rng, 32, &mut s);
            }
            s.push('"');
            s
        })
        .collect();
    Str::Pool(Pool::new(items, true))
}

/// A string generator for a field (or a list item) named `name`.
fn string_gen(name: &str, rng: &mut Rng, world: &World) -> Str {
    let l = name.to_ascii_lowercase();
    let has = |s: &str| l.contains(s);
    let ends = |s: &str| l.ends_with(s);
    if has("json") {
        let items = (0..200)
            .map(|_| {
                let mut raw = String::new();
                json_object(rng, world, &mut raw, 1);
                quoted(&raw)
            })
            .collect();
        return Str::Pool(Pool::new(items, false));
    }
    if has("country") || ends("geo") {
        let upper = !name.ends_with("Country");
        let items: Vec<String> = COUNTRIES
            .iter()
            .map(|c| {
                if upper {
                    c.to_uppercase()
                } else {
                    c.to_string()
                }
            })
            .collect();
        return Str::Pool(Pool::new(
            quote_all(&items.iter().map(String::as_str).collect::<Vec<_>>()),
            true,
        ));
    }
    if has("continent") {
        return pool(CONTINENTS, true);
    }
    if ends("city") {
        return pool(CITIES, true);
    }
    if has("stateiso") || ends("regioncode") {
        return pool(STATES, true);
    }
    if ends("zip") {
        let items = (0..200)
            .map(|_| format!("\"{:05}\"", rng.below(100_000)))
            .collect();
        return Str::Pool(Pool::new(items, true));
    }
    if ends("netmask") {
        return if has("ipv6") {
            pool(
                &["ffff:ffff:ffff:ffff::", "ffff:ffff:ffff::", "ffff:ffff::"],
                true,
            )
        } else {
            pool(
                &[
                    "255.255.255.0",
                    "255.255.0.0",
                    "255.255.255.255",
                    "255.255.252.0",
                ],
                true,
            )
        };
    }
    if has("subnet") {
        return Str::Cidr;
    }
    if has("geohash") {
        const B32: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
        let items = (0..300)
            .map(|_| {
                let h: String = (0..6)
                    .map(|_| B32[rng.below(32) as usize] as char)
                    .collect();
                format!("\"{h}\"")
            })
            .collect();
        return Str::Pool(Pool::new(items, true));
    }
    if has("latitude") || has("longitude") {
        let max = if has("latitude") { 90 } else { 180 };
        let items = (0..300)
            .map(|_| {
                let sign = if rng.below(2) == 0 { "" } else { "-" };
                format!("\"{sign}{}.{:05}\"", rng.below(max), rng.below(100_000))
            })
            .collect();
        return Str::Pool(Pool::new(items, true));
    }
    if ends("aso") || has("asname") || has("asndescription") || has("asnname") {
        return pool(ORGS, true);
    }
    if has("asnumber") {
        let items = world.asns[..50]
            .iter()
            .map(|a| format!("\"AS{a}\""))
            .collect();
        return Str::Pool(Pool::new(items, true));
    }
    if ends("ipversion") {
        return pool(&["IPv4", "IPv6"], true);
    }
    let address_like = (name.contains("IP")
        && !has("protocol")
        && !has("options")
        && !has("extension")
        && !has("categor"))
        || ((ends("addr") || ends("address")) && !has("email"));
    if address_like {
        return Str::Ip(if has("ipv6") {
            100
        } else if has("ipv4") {
            0
        } else {
            25
        });
    }
    if has("email")
        || has("approver")
        || has("envelope")
        || has("sender")
        || has("requestedby")
        || ["from", "to", "cc", "bcc", "recipient", "replyto"].contains(&l.as_str())
    {
        return Str::Pool(Pool::new(world.emails.clone(), true));
    }
    if ["fromname", "toname", "ccname", "replytoname", "username"].contains(&l.as_str()) {
        return pool(NAMES, true);
    }
    if has("rayid") {
        return Str::Hex(16);
    }
    if has("useragent") {
        return pool(USER_AGENTS, true);
    }
    if ends("scheme") {
        return pool(&["https", "http"], true);
    }
    if has("query") && !has("name") && !has("type") && !has("id") && !has("size") {
        return pool(QUERIES, true);
    }
    if has("querytype") || has("dnsquerytype") {
        return pool(DNS_TYPE_NAMES, true);
    }
    if has("zonename") {
        return Str::Pool(Pool::new(world.zones.clone(), true));
    }
    if has("categor") {
        return pool(CATEGORIES, true);
    }
    if has("timezone") && !has("method") {
        return pool(TIME_ZONES, true);
    }
    if has("ssid") {
        return pool(SSIDS, true);
    }
    if has("idfrom") || has("idto") {
        return id_pool(rng, false, 16);
    }
    if has("host")
        || has("domain")
        || has("sni")
        || has("fqdn")
        || has("cname")
        || has("queryname")
        || has("zonename")
        || ends("servername")
    {
        return Str::Pool(Pool::new(world.hosts.clone(), true));
    }
    // "URI" by case: "security" holds "uri".
    if name.contains("URI") || l == "uri" {
        return Str::Pool(Pool::new(world.uris.clone(), true));
    }
    if has("path") && !has("pathing") {
        return Str::Pool(Pool::new(world.paths.clone(), true));
    }
    if has("url") || has("link") || has("referer") || has("referrer") {
        return Str::Pool(Pool::new(world.urls.clone(), true));
    }
    if has("expires") || has("lastmodified") || ends("date") {
        return pool(HTTP_DATES, true);
    }
    if has("method") && !has("timezone") {
        let items: Vec<&str> = METHODS.iter().map(|(m, _)| *m).collect();
        return pool(&items, true);
    }
    if has("colo") && (has("code") || has("name")) {
        return Str::Pool(Pool::new(world.colos.clone(), true));
    }
    if has("ja4") {
        let items = (0..300)
            .map(|_| {
                format!(
                    "\"t13d{:02}{:02}h2_{:012x}_{:012x}\"",
                    rng.below(20),
                    rng.below(20),
                    rng.next() >> 16,
                    rng.next() >> 16
                )
            })
            .collect();
        return Str::Pool(Pool::new(items, true));
    }
    if has("hash") || has("fingerprint") || has("ja3") {
        let items = (0..500)
            .map(|_| format!("\"{:016x}{:016x}\"", rng.next(), rng.next()))
            .collect();
        return Str::Pool(Pool::new(items, true));
    }
    if has("cipher") {
        return pool(CIPHERS, true);
    }
    if (has("tls") || has("ssl")) && (has("protocol") || has("version")) {
        return pool(TLS_VERSIONS, true);
    }
    if has("protocol") || has("httpversion") {
        return if has("request") || has("http") {
            pool(HTTP_VERSIONS, true)
        } else {
            pool(NET_PROTOCOLS, true)
        };
    }
    if has("contenttype") {
        return pool(CONTENT_TYPES, true);
    }
    if has("file") && has("type") {
        return pool(FILE_TYPES, true);
    }
    if has("file") && ends("name") {
        return pool(FILE_NAMES, true);
    }
    if has("osname") || has("platform") {
        return pool(OS_NAMES, true);
    }
    if has("browser") {
        return pool(BROWSERS, true);
    }
    if has("devicetype") {
        return pool(DEVICE_TYPES, true);
    }
    if has("manufacturer") {
        return pool(MANUFACTURERS, true);
    }
    if has("version") {
        return pool(VERSIONS, true);
    }
    if has("status") {
        return pool(STATUSES, true);
    }
    if has("model") {
        return pool(MODELS, true);
    }
    if has("application") || ends("app") {
        return pool(APPLICATIONS, true);
    }
    if ends("header") {
        return pool(HEADER_NAMES, true);
    }
    if ends("id") || ends("uuid") || ends("aud") || ends("serialnumber") || l == "ref" {
        if ends("uuid") || ends("aud") {
            return if per_row_id(&l) {
                Str::Uuid
            } else {
                id_pool(rng, true, 64)
            };
        }
        let uuid = name_hash(name).is_multiple_of(2);
        return match (per_row_id(&l), uuid) {
            (true, true) => Str::Uuid,
            (true, false) => Str::Hex(32),
            (false, _) => id_pool(rng, uuid, 64),
        };
    }
    if has("message")
        || has("description")
        || has("error")
        || has("warning")
        || has("reason")
        || has("subject")
        || has("body")
        || has("payload")
        || has("prompt")
        || has("response")
        || has("justification")
        || has("comment")
        || has("metadata")
        || has("headers")
        || has("context")
    {
        return Str::Pool(text_pool());
    }
    if has("name") {
        let mut items: Vec<String> = (0..60)
            .map(|_| {
                quoted(&format!(
                    "{}-{}-{}",
                    WORDS[rng.below(36) as usize],
                    WORDS[rng.below(36) as usize],
                    rng.below(100)
                ))
            })
            .collect();
        items.extend(quote_all(&["naïve-façade", "名前", "name \"quoted\""]));
        return Str::Pool(Pool::new(items, true));
    }
    pool(WORDS, true)
}

/// Ids that name one event (a request, a session, a message) rather than a long-lived thing.
fn per_row_id(l: &str) -> bool {
    [
        "request",
        "session",
        "message",
        "connection",
        "query",
        "packet",
        "event",
        "ephemeral",
        "copy",
        "alert",
        "log",
        "trace",
        "flow",
        "finding",
        "test",
    ]
    .iter()
    .any(|w| l.contains(w))
}

/// An int generator for a field (or list item) named `name` of a DNS dataset or another.
fn int_gen(name: &str, dns: bool, rng: &mut Rng, world: &World) -> Int {
    let l = name.to_ascii_lowercase();
    let has = |s: &str| l.contains(s);
    let ends = |s: &str| l.ends_with(s);
    if ends("rcode") || (dns && ends("responsecode")) {
        return Int::Weighted(&[(0, 80), (3, 15), (2, 4), (5, 1)]);
    }
    if has("status") || ends("responsecode") || has("statuscode") {
        return Int::Weighted(HTTP_STATUS);
    }
    if ends("port") {
        return if has("src") || has("source") || has("client") || has("local") {
            Int::Range(1024, 65_536)
        } else {
            Int::Weighted(PORTS)
        };
    }
    if has("sequence")
        || has("acknowledgement")
        || has("checksum")
        || has("identification")
        || has("timestamp")
        || has("flowlabel")
        || has("grekey")
    {
        return Int::Range(0, 1 << 32);
    }
    if has("dontfragment") || has("morefragments") {
        return Int::Range(0, 2);
    }
    if has("headerlength") || has("subnetlength") || has("dataoffset") {
        return Int::Range(0, 64);
    }
    if has("closecode") {
        return Int::Weighted(&[(1000, 60), (1001, 20), (1006, 15), (1011, 5)]);
    }
    if l == "protocol" || l == "ipprotocol" {
        return Int::Weighted(&[(6, 70), (17, 25), (1, 3), (47, 1), (50, 1)]);
    }
    if has("permitted") {
        return Int::Range(0, 2);
    }
    let header = ["ip", "tcp", "udp", "icmp", "gre"]
        .iter()
        .any(|p| l.starts_with(p));
    if header && has("length") {
        return Int::Range(20, 1_500);
    }
    if has("bytes") || has("size") || has("length") || has("bits") || ends("bps") || ends("kb") {
        return Int::Skewed(50_000_000);
    }
    if ends("asn") || ends("as") || has("asn") {
        return Int::Pool(world.asns.clone());
    }
    if has("score") {
        return Int::Range(1, 100);
    }
    if has("querytype") || l == "qtype" {
        return Int::Weighted(DNS_TYPES);
    }
    if has("ttl") {
        return Int::Range(1, 256);
    }
    if ends("us") && !ends("status") {
        return Int::Skewed(30_000_000);
    }
    if ends("ms") || has("time") || has("duration") || has("latency") || has("rtt") {
        return Int::Skewed(30_000);
    }
    if ends("id") || ends("ids") {
        let (lo, hi, n) = if has("colo") {
            (1, 400, 300)
        } else if has("zone") || has("account") {
            (100_000_000, 999_999_999, 20)
        } else if has("categor") || has("feed") || has("application") {
            (1, 200, 100)
        } else {
            (1, 100_000, 200)
        };
        return Int::Pool((0..n).map(|_| lo + rng.below(hi - lo)).collect());
    }
    if has("count") || has("packets") || has("flows") || has("cycles") || has("index") {
        return Int::Skewed(1_000);
    }
    if has("major") {
        return Int::Range(1, 130);
    }
    if has("samplerate") || has("sampleinterval") {
        return Int::Weighted(&[(1, 60), (10, 20), (100, 15), (1000, 5)]);
    }
    if has("code")
        || has("type")
        || has("flags")
        || has("version")
        || has("dscp")
        || has("ecn")
        || has("scale")
        || has("mss")
        || has("dbm")
        || has("percent")
        || has("error")
    {
        return Int::Range(0, 256);
    }
    if header {
        return Int::Range(0, 65_536);
    }
    Int::Mixed
}

fn float_gen(name: &str) -> Float {
    let l = name.to_ascii_lowercase();
    if l.contains("percent") {
        Float::Percent
    } else if l.contains("ratio") {
        Float::Ratio
    } else {
        Float::Unit
    }
}

fn json_gen(name: &str) -> Json {
    let l = name.to_ascii_lowercase();
    let has = |s: &str| l.contains(s);
    if has("exception") {
        Json::Exceptions
    } else if l == "logs" {
        Json::Logs
    } else if has("resourcerecords") || l == "rdata" {
        Json::Records
    } else if has("attachment") {
        Json::Attachments
    } else if has("traceroutehops") || has("hops") {
        Json::Hops
    } else if has("byapp") {
        Json::ByApp
    } else if has("signals") || has("tunnelstats") || has("stats") {
        Json::Numbers
    } else if has("topiccategories") {
        Json::Scores
    } else if l == "event" {
        Json::WorkersEvent
    } else if l == "scriptversion" {
        Json::ScriptVersion
    } else if l.ends_with('s') && !has("details") && !has("status") {
        Json::Array
    } else {
        Json::Object
    }
}

/// The singular of a list field's name (`ResolvedIPs` → `ResolvedIP`), for its items.
fn singular(name: &str) -> &str {
    if name.len() > 3 && name.ends_with('s') && !name.ends_with("ss") {
        &name[..name.len() - 1]
    } else {
        name
    }
}

/// The generator of one field.
fn column(f: &FieldSpec, event: bool, dns: bool, rng: &mut Rng, world: &World) -> Column {
    let name = f.name.as_str();
    let l = name.to_ascii_lowercase();
    let value = match f.field_type {
        FieldType::Timestamp => Gen::Time {
            unit: f.epoch_unit,
            offset: if ["end", "finish", "complete", "last", "disconnect"]
                .iter()
                .any(|w| l.contains(w))
            {
                Offset::After
            } else if ["start", "creat", "message", "first", "connect", "request"]
                .iter()
                .any(|w| l.contains(w))
            {
                Offset::Before
            } else {
                Offset::Near
            },
            zero_is_null: f.zero_is_null,
        },
        FieldType::String => match &f.enum_values {
            Some(values) => Gen::Str(Str::Enum {
                values: Pool::new(values.iter().map(|v| quoted(v)).collect(), values.len() > 2),
                undocumented: quoted("undocumentedValue"),
            }),
            None => Gen::Str(string_gen(name, rng, world)),
        },
        FieldType::Int => Gen::Int(int_gen(name, dns, rng, world)),
        FieldType::Float => Gen::Float(float_gen(name)),
        FieldType::Bool => Gen::Bool(10 + name_hash(name) % 81),
        FieldType::StringList => Gen::StrList(string_gen(singular(name), rng, world)),
        FieldType::IntList => Gen::IntList(int_gen(singular(name), dns, rng, world)),
        FieldType::StringMap => Gen::Map(if l.contains("cookie") {
            COOKIES
        } else if l.contains("response") {
            RESPONSE_HEADERS
        } else {
            REQUEST_HEADERS
        }),
        FieldType::Json => Gen::Json(json_gen(name)),
    };
    Column {
        key: format!("{}:", quoted(name)),
        value,
        event,
    }
}

fn push_str_value(s: &Str, rng: &mut Rng, out: &mut String) {
    match s {
        Str::Enum {
            values,
            undocumented,
        } => {
            if rng.below(UNDOCUMENTED_ONE_IN) == 0 {
                out.push_str(undocumented);
            } else {
                out.push_str(values.pick(rng));
            }
        }
        Str::Pool(p) => out.push_str(p.pick(rng)),
        Str::Ip(v6_pct) => {
            out.push('"');
            if rng.below(100) < *v6_pct {
                push_ipv6(rng, out);
            } else {
                push_ipv4(rng, out);
            }
            out.push('"');
        }
        Str::Cidr => {
            let r = rng.next();
            if r.is_multiple_of(4) {
                let _ = write!(out, "\"2001:db8:{:x}::/48\"", (r >> 8) & 0xffff);
            } else {
                let _ = write!(
                    out,
                    "\"{}.{}.{}.0/24\"",
                    1 + (r >> 8) % 223,
                    (r >> 16) & 255,
                    (r >> 24) & 255
                );
            }
        }
        Str::Hex(digits) => {
            out.push('"');
            push_hex(rng, *digits, out);
            out.push('"');
        }
        Str::Uuid => {
            out.push('"');
            push_uuid(rng, out);
            out.push('"');
        }
    }
}

fn push_int_value(i: &Int, rng: &mut Rng, out: &mut String) {
    let v = match i {
        Int::Weighted(items) => weighted(rng, items),
        Int::Pool(items) => items[rng.skewed(items.len())],
        Int::Skewed(max) => rng.skewed(*max) as u64,
        Int::Range(lo, hi) => lo + rng.below(hi - lo),
        Int::Mixed => {
            if rng.below(100) < 85 {
                rng.skewed(1_000) as u64
            } else {
                rng.below(1_000_000_000_000)
            }
        }
    };
    push_u64(out, v);
}

/// A number with a fraction (`0.4375`); rarely an integer-valued one (`1`) or an exponent.
fn push_float_value(f: Float, rng: &mut Rng, out: &mut String) {
    let r = rng.below(100);
    if r < 2 {
        push_u64(
            out,
            match f {
                Float::Unit => rng.below(2),
                Float::Percent => rng.below(101),
                Float::Ratio => 1 + rng.below(8),
            },
        );
        return;
    }
    if r < 3 {
        let _ = write!(out, "{}e-{}", 1 + rng.below(9), 1 + rng.below(3));
        return;
    }
    let whole = match f {
        Float::Unit => 0,
        Float::Percent => rng.below(100),
        Float::Ratio => 1 + rng.skewed(8) as u64,
    };
    let mut frac = 1 + rng.below(9_999);
    let mut digits = 4;
    while frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    let _ = write!(out, "{whole}.{frac:0digits$}");
}

// ---------------------------------------------------------------------------------------------
// Free-form JSON.

fn push_json_scalar(rng: &mut Rng, world: &World, out: &mut String) {
    match rng.below(10) {
        0..=3 => push_json_str(
            out,
            &world.json_strings[rng.below(world.json_strings.len() as u64) as usize],
        ),
        4 | 5 => push_u64(out, rng.skewed(100_000) as u64),
        6 => push_float_value(Float::Unit, rng, out),
        7 => out.push_str("-1"),
        8 => out.push_str(if rng.below(2) == 0 { "true" } else { "false" }),
        _ => out.push_str("null"),
    }
}

/// A JSON value at `depth` (1 is the top level); objects and arrays nest up to depth 3.
fn json_value(rng: &mut Rng, world: &World, out: &mut String, depth: u32) {
    if depth >= 3 {
        push_json_scalar(rng, world, out);
        return;
    }
    match rng.below(10) {
        0..=6 => push_json_scalar(rng, world, out),
        7 | 8 => json_object(rng, world, out, depth + 1),
        _ => json_array(rng, world, out, depth + 1),
    }
}

fn json_object(rng: &mut Rng, world: &World, out: &mut String, depth: u32) {
    let n = 1 + rng.below(4) as usize;
    let start = rng.skewed(JSON_KEYS.len());
    out.push('{');
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, JSON_KEYS[(start + i) % JSON_KEYS.len()]);
        out.push(':');
        json_value(rng, world, out, depth);
    }
    out.push('}');
}

fn json_array(rng: &mut Rng, world: &World, out: &mut String, depth: u32) {
    let n = rng.below(4);
    out.push('[');
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        json_value(rng, world, out, depth);
    }
    out.push(']');
}

/// `[{...},{...}]` of 0 to `max` objects written by `item`.
fn json_objects(
    rng: &mut Rng,
    out: &mut String,
    max: u64,
    mut item: impl FnMut(&mut Rng, &mut String),
) {
    let n = rng.below(max + 1);
    out.push('[');
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        item(rng, out);
    }
    out.push(']');
}

fn push_json_value(j: &Json, rng: &mut Rng, world: &World, nanos: i64, out: &mut String) {
    let ms = nanos / 1_000_000;
    match j {
        Json::Object => {
            if rng.below(10) == 0 {
                json_objects(rng, out, 3, |rng, out| json_object(rng, world, out, 2));
            } else {
                json_object(rng, world, out, 1);
            }
        }
        Json::Array => json_objects(rng, out, 4, |rng, out| json_object(rng, world, out, 2)),
        Json::Exceptions => {
            if rng.below(10) < 8 {
                out.push_str("[]");
            } else {
                json_objects(rng, out, 2, |rng, out| {
                    out.push_str("{\"name\":");
                    push_json_str(out, ["Error", "TypeError", "RangeError"][rng.skewed(3)]);
                    out.push_str(",\"message\":");
                    push_json_str(out, TEXT[rng.below(TEXT.len() as u64) as usize]);
                    let _ = write!(out, ",\"timestamp\":{}}}", ms - rng.below(1000) as i64);
                });
            }
        }
        Json::Logs => json_objects(rng, out, 4, |rng, out| {
            out.push_str("{\"message\":[");
            push_json_str(out, TEXT[rng.below(TEXT.len() as u64) as usize]);
            if rng.below(3) == 0 {
                let _ = write!(out, ",{{\"count\":{}}}", rng.below(100));
            }
            out.push_str("],\"level\":");
            push_json_str(
                out,
                ["log", "info", "warn", "error", "debug"][rng.skewed(5)],
            );
            let _ = write!(out, ",\"timestamp\":{}}}", ms - rng.below(1000) as i64);
        }),
        Json::Records => json_objects(rng, out, 4, |rng, out| {
            let (ty, v6) = [("1", false), ("28", true), ("5", false)][rng.skewed(3)];
            let _ = write!(out, "{{\"type\":\"{ty}\",\"data\":\"");
            match ty {
                "5" => {
                    out.push_str(&world.hosts[rng.below(world.hosts.len() as u64) as usize][1..])
                }
                _ if v6 => {
                    push_ipv6(rng, out);
                    out.push('"');
                }
                _ => {
                    push_ipv4(rng, out);
                    out.push('"');
                }
            }
            let _ = write!(out, ",\"ttl\":{}}}", [60, 300, 3600][rng.below(3) as usize]);
        }),
        Json::Attachments => json_objects(rng, out, 3, |rng, out| {
            out.push_str("{\"Name\":");
            push_json_str(out, FILE_NAMES[rng.below(FILE_NAMES.len() as u64) as usize]);
            out.push_str(",\"ContentType\":");
            push_json_str(out, CONTENT_TYPES[rng.below(8) as usize]);
            let _ = write!(
                out,
                ",\"Size\":{},\"Md5\":\"{:016x}{:016x}\",\"Encrypted\":{}}}",
                rng.skewed(20_000_000),
                rng.next(),
                rng.next(),
                rng.below(10) == 0
            );
        }),
        Json::Hops => json_objects(rng, out, 4, |rng, out| {
            let _ = write!(
                out,
                "{{\"ttl\":{},\"ip\":{{\"address\":\"",
                1 + rng.below(30)
            );
            push_ipv4(rng, out);
            let _ = write!(
                out,
                "\",\"asn\":{},\"aso\":{},\"location\":{{\"city\":{},\"country\":\"{}\"}}}},\"rttMs\":{},\"errors\":{}}}",
                world.asns[rng.skewed(world.asns.len())],
                quoted(ORGS[rng.skewed(ORGS.len())]),
                quoted(CITIES[rng.skewed(CITIES.len())]),
                COUNTRIES[rng.skewed(COUNTRIES.len())].to_uppercase(),
                rng.skewed(300),
                if rng.below(10) == 0 {
                    "[\"timeout\",\"host unreachable\"]"
                } else {
                    "[]"
                }
            );
        }),
        Json::ByApp => json_objects(rng, out, 4, |rng, out| {
            let _ = write!(out, "{{\"name\":");
            push_json_str(
                out,
                [
                    "chrome",
                    "slack",
                    "zoom",
                    "Code Helper (Renderer)",
                    "explorer.exe",
                    "Microsoft Teams",
                ][rng.skewed(6)],
            );
            out.push_str(",\"percentage\":");
            push_float_value(Float::Unit, rng, out);
            out.push('}');
        }),
        Json::Numbers => {
            let keys = [
                "rttUs",
                "minRttUs",
                "packetsSent",
                "packetsLost",
                "bytesSent",
                "bytesReceived",
                "reqs_quantile_0.5",
                "h2h3_ratio_1h",
            ];
            let n = 2 + rng.below(keys.len() as u64 - 1) as usize;
            out.push('{');
            for (i, k) in keys.iter().take(n).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{k}\":");
                if k.contains("ratio") {
                    push_float_value(Float::Unit, rng, out);
                } else {
                    push_u64(out, rng.skewed(1_000_000) as u64);
                }
            }
            out.push('}');
        }
        Json::Scores => json_objects(rng, out, 3, |rng, out| {
            out.push_str("{\"label\":");
            push_json_str(out, WORDS[rng.skewed(WORDS.len())]);
            let _ = write!(out, ",\"score\":{}}}", 1 + rng.below(99));
        }),
        Json::ScriptVersion => {
            out.push_str("{\"id\":\"");
            push_uuid(rng, out);
            out.push_str("\",\"tag\":");
            push_json_str(out, ["v1.4.2", "", "release-2026-11"][rng.skewed(3)]);
            out.push_str(",\"message\":");
            push_json_str(out, TEXT[rng.below(TEXT.len() as u64) as usize]);
            out.push('}');
        }
        Json::WorkersEvent => {
            if rng.below(10) == 0 {
                let _ = write!(
                    out,
                    "{{\"cron\":\"*/5 * * * *\",\"scheduledTime\":{}}}",
                    ms - ms.rem_euclid(300_000)
                );
            } else {
                out.push_str("{\"request\":{\"url\":");
                out.push_str(&world.urls[rng.skewed(world.urls.len())]);
                let _ = write!(
                    out,
                    ",\"method\":\"{}\",\"headers\":",
                    weighted(rng, METHODS)
                );
                push_map(REQUEST_HEADERS, rng, out);
                let _ = write!(
                    out,
                    ",\"cf\":{{\"colo\":{}}}}},\"response\":{{\"status\":{}}}}}",
                    world.colos[rng.skewed(world.colos.len())],
                    weighted(rng, HTTP_STATUS)
                );
            }
        }
    }
}

/// An object of 0 to 4 distinct header-like keys.
fn push_map(pairs: &[(&str, &[&str])], rng: &mut Rng, out: &mut String) {
    let n = rng.below(5) as usize;
    let start = rng.below(pairs.len() as u64) as usize;
    out.push('{');
    for i in 0..n.min(pairs.len()) {
        if i > 0 {
            out.push(',');
        }
        let (key, values) = pairs[(start + i) % pairs.len()];
        push_json_str(out, key);
        out.push(':');
        push_json_str(out, values[rng.below(values.len() as u64) as usize]);
    }
    out.push('}');
}

// ---------------------------------------------------------------------------------------------
// Rows and files.

struct Plan {
    columns: Vec<Column>,
    world: World,
    format: TimeFormat,
}

impl Plan {
    fn write_value(&self, c: &Column, rng: &mut Rng, nanos: i64, out: &mut String) {
        match &c.value {
            Gen::Time {
                unit,
                offset,
                zero_is_null,
            } => {
                if c.event {
                    push_time(out, self.format, *unit, nanos);
                } else if *zero_is_null && rng.below(20) == 0 {
                    push_zero_time(out, self.format, *unit);
                } else {
                    let t = match offset {
                        Offset::Near => nanos + rng.below(10_000_000_000) as i64 - 5_000_000_000,
                        Offset::Before => nanos - (rng.skewed(3_600_000) as i64 + 1) * 1_000_000,
                        Offset::After => nanos + (rng.skewed(600_000) as i64 + 1) * 1_000_000,
                    };
                    push_time(out, self.format, *unit, t);
                }
            }
            Gen::Str(s) => push_str_value(s, rng, out),
            Gen::Int(i) => push_int_value(i, rng, out),
            Gen::Float(f) => push_float_value(*f, rng, out),
            Gen::Bool(pct) => out.push_str(if rng.below(100) < *pct {
                "true"
            } else {
                "false"
            }),
            Gen::StrList(s) => {
                out.push('[');
                for i in 0..rng.skewed(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str_value(s, rng, out);
                }
                out.push(']');
            }
            Gen::IntList(v) => {
                out.push('[');
                for i in 0..rng.skewed(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    push_int_value(v, rng, out);
                }
                out.push(']');
            }
            Gen::Map(pairs) => push_map(pairs, rng, out),
            Gen::Json(j) => push_json_value(j, rng, &self.world, nanos, out),
        }
    }

    /// Appends one line (with its newline): the fields in field-list order, each optional one
    /// sometimes absent or `null`.
    fn write_row(&self, rng: &mut Rng, nanos: i64, out: &mut String) {
        out.push('{');
        let mut first = true;
        for c in &self.columns {
            let mut null = false;
            if !c.event {
                let r = rng.below(100);
                if r < ABSENT_PCT {
                    continue;
                }
                null = r < ABSENT_OR_NULL_PCT;
            }
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&c.key);
            if null {
                out.push_str("null");
            } else {
                self.write_value(c, rng, nanos, out);
            }
        }
        out.push_str("}\n");
    }
}

/// One archive file to write.
struct Job {
    path: PathBuf,
    rows: u64,
    start_ns: i64,
    seed: u64,
}

#[allow(
    clippy::unwrap_used,
    reason = "a developer tool: a panic names what failed"
)]
fn write_file(plan: &Plan, job: &Job, file_ns: i64) -> u64 {
    let mut rng = Rng(job.seed);
    let file = std::fs::File::create(&job.path).expect("create archive file");
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::new(6));
    let rows = job.rows.max(1) as i128;
    let step = (i128::from(file_ns) / rows) as u64;
    let mut buf = String::with_capacity(CHUNK + 64 * 1024);
    let mut written = 0u64;
    for r in 0..job.rows {
        // Time order: the jitter stays below the gap to the next row's base.
        let base = job.start_ns + (i128::from(r) * i128::from(file_ns) / rows) as i64;
        let nanos = base + rng.below(step.min(1_000_000)) as i64;
        plan.write_row(&mut rng, nanos, &mut buf);
        if buf.len() >= CHUNK {
            gz.write_all(buf.as_bytes()).expect("write archive");
            written += buf.len() as u64;
            buf.clear();
        }
    }
    gz.write_all(buf.as_bytes()).expect("write archive");
    written += buf.len() as u64;
    gz.finish().expect("finish gzip").flush().expect("flush");
    written
}

/// Writes the archive of `schema` described by `o`.
#[allow(
    clippy::unwrap_used,
    reason = "a developer tool: a panic names what failed"
)]
pub(super) fn run(o: &Options, schema: &EventSchema) {
    let mut rng = Rng(o.seed);
    let world = World::new(&mut rng, o.colos);
    // The event time: the list's own, else its first timestamp, else none.
    let event = schema.event_time().or_else(|| {
        schema
            .fields()
            .iter()
            .position(|f| f.field_type == FieldType::Timestamp)
    });
    let dns = schema.dataset().contains("dns");
    // Fields of the list only (not the catch-all column), and not the deprecated ones, which a
    // Logpush job can no longer be configured with.
    let columns = schema
        .listed_fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.deprecated)
        .map(|(i, f)| column(f, Some(i) == event, dns, &mut rng, &world))
        .collect();
    let plan = Plan {
        columns,
        world,
        format: TimeFormat::parse(&o.format),
    };

    let span_ns = o.hours * 3_600_000_000_000;
    let file_ns = span_ns / o.files as i64;
    let mut days = std::collections::BTreeSet::new();
    let jobs: Vec<Job> = (0..o.files)
        .map(|f| {
            let (path, rows, start_ns) = archive_file(o, f, file_ns, &mut rng, &mut days);
            Job {
                path,
                rows,
                start_ns,
                seed: rng.next(),
            }
        })
        .collect();

    let threads = o
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let written = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    written.fetch_add(write_file(&plan, job, file_ns), Ordering::Relaxed);
                }
            });
        }
    });
    super::finish(o, &days, schema.dataset(), written.into_inner());
}
