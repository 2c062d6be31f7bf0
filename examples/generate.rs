//! Writes realistic, deterministic Spectrum `spectrum_events` archives in Logpush layout:
//! `OUT/YYYYMMDD/<start>_<end>_<hash>.log.gz`, gzip NDJSON, rows in time order.
//!
//! ```text
//! cargo run --release --example generate -- --out DIR [--rows N] [--files N] [--apps N]
//!     [--colos N] [--format unixnano|unix|rfc3339|rfc3339ms|rfc3339ns] [--start EPOCH_SECONDS]
//!     [--hours N] [--seed N] [--ownership-challenge]
//! ```
//!
//! All 31 fields; connect and disconnect events (and a few of the rarer kinds); skewed
//! applications, enum values and status codes (`schema/spectrum_status_codes.tsv`); IPv4 and
//! IPv6 clients; about 300 colos. The same options always give the same bytes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use logpush_parquet::decode::timestamp::civil_from_days;

const STATUS_CODES: &str = include_str!("../schema/spectrum_status_codes.tsv");

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// An index in `0..n` skewed towards 0 (roughly Zipf-like).
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0) as usize % n.max(1)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn weighted<'a>(&mut self, items: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(u64::from(total)) as u32;
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        items[0].0
    }
}

struct Options {
    out: PathBuf,
    rows: u64,
    files: u64,
    apps: usize,
    colos: usize,
    format: String,
    start: i64,
    hours: i64,
    seed: u64,
    ownership_challenge: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        out: PathBuf::from("archive"),
        rows: 10_000,
        files: 4,
        apps: 40,
        colos: 300,
        format: "unixnano".into(),
        start: 1_795_392_000, // 2026-11-23T00:00:00Z
        hours: 2,
        seed: 1,
        ownership_challenge: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--ownership-challenge" {
            o.ownership_challenge = true;
            continue;
        }
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--out" => o.out = PathBuf::from(value),
            "--rows" => o.rows = num(&value)?,
            "--files" => o.files = num(&value)?.max(1),
            "--apps" => o.apps = num(&value)?.max(1) as usize,
            "--colos" => o.colos = num(&value)?.max(1) as usize,
            "--format" => o.format = value,
            "--start" => o.start = num(&value)? as i64,
            "--hours" => o.hours = num(&value)?.max(1) as i64,
            "--seed" => o.seed = num(&value)?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !["unixnano", "unix", "rfc3339", "rfc3339ms", "rfc3339ns"].contains(&o.format.as_str()) {
        return Err(format!("unknown --format {}", o.format));
    }
    Ok(o)
}

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)` of epoch seconds.
fn compact(secs: i64) -> (String, String) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let day = format!("{y:04}{m:02}{d:02}");
    let stamp = format!("{day}T{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60);
    (day, stamp)
}

fn timestamp(format: &str, nanos: i64, out: &mut String) {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let base = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    let _ = match format {
        "unixnano" => write!(out, "{nanos}"),
        "unix" => write!(out, "{secs}"),
        "rfc3339" => write!(out, "\"{base}Z\""),
        "rfc3339ms" => write!(out, "\"{base}.{:03}Z\"", frac / 1_000_000),
        _ => write!(out, "\"{base}.{frac:09}Z\""),
    };
}

fn zero_timestamp(format: &str, out: &mut String) {
    out.push_str(match format {
        "unixnano" | "unix" => "0",
        _ => "\"1970-01-01T00:00:00Z\"",
    });
}

struct World {
    apps: Vec<String>,
    colos: Vec<String>,
    asns: Vec<u32>,
    status_codes: Vec<u32>,
}

impl World {
    fn new(o: &Options, rng: &mut Rng) -> World {
        let apps = (0..o.apps)
            .map(|_| format!("{:016x}{:016x}", rng.next(), rng.next()))
            .collect();
        let mut colos: Vec<String> = Vec::new();
        while colos.len() < o.colos {
            let code: String = (0..3)
                .map(|_| (b'A' + rng.below(26) as u8) as char)
                .collect();
            if !colos.contains(&code) {
                colos.push(code);
            }
        }
        let asns = (0..500).map(|_| 1 + rng.below(400_000) as u32).collect();
        let status_codes = STATUS_CODES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("code"))
            .filter_map(|l| l.split('\t').next()?.parse().ok())
            .collect();
        World {
            apps,
            colos,
            asns,
            status_codes,
        }
    }
}

const COUNTRIES: &[&str] = &[
    "us", "de", "gb", "fr", "jp", "br", "in", "sg", "au", "ca", "nl", "se", "za", "kr", "mx",
];
const CIPHERS: &[(&str, u32)] = &[
    ("TLS_AES_128_GCM_SHA256", 50),
    ("TLS_AES_256_GCM_SHA384", 20),
    ("TLS_CHACHA20_POLY1305_SHA256", 10),
    ("ECDHE-RSA-AES128-GCM-SHA256", 10),
    ("UNK", 10),
];
const SNI: &[&str] = &[
    "db.example.com",
    "mqtt.example.net",
    "ssh.example.org",
    "game.example.io",
    "",
];

fn write_event(rng: &mut Rng, world: &World, format: &str, nanos: i64, line: &mut String) {
    let event = match rng.below(1000) {
        0..=459 => "connect",
        460..=939 => "disconnect",
        940..=959 => "clientFiltered",
        960..=979 => "tlsError",
        980..=989 => "originError",
        _ => "resolveOrigin",
    };
    let app = &world.apps[rng.skewed(world.apps.len())];
    let tls = rng.below(100) < 60;
    let v6 = rng.below(100) < 30;
    let client_ip = if v6 {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.below(65536),
            rng.below(65536),
            rng.below(65536)
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            1 + rng.below(223),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        )
    };
    let origin_ip = format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    );
    let status = match event {
        "connect" => 0,
        "disconnect" if rng.below(100) < 85 => 200,
        "clientFiltered" => 403,
        "tlsError" => 443,
        _ => world.status_codes[rng.below(world.status_codes.len() as u64) as usize],
    };
    let proto = if rng.below(100) < 90 { "tcp" } else { "udp" };
    let (client_tls, origin_tls) = if tls {
        (
            rng.weighted(&[("TLSv1.3", 70), ("TLSv1.2", 28), ("TLSv1.1", 2)]),
            rng.weighted(&[("TLSv1.3", 40), ("TLSv1.2", 40), ("none", 20)]),
        )
    } else {
        ("none", "none")
    };
    let fingerprint = if tls && rng.below(10) > 0 {
        format!(
            "{:016x}{:016x}{:016x}{:016x}",
            rng.next(),
            rng.next(),
            rng.next(),
            rng.next()
        )
    } else {
        String::new()
    };
    let duration_ns = (rng.skewed(3_600_000) as i64 + 1) * 1_000_000;
    line.clear();
    let _ = write!(
        line,
        "{{\"Application\":\"{app}\",\"ClientAsn\":{},\"ClientBytes\":{},\"ClientCountry\":\"{}\",\"ClientIP\":\"{client_ip}\",\"ClientMatchedIpFirewall\":\"{}\",\"ClientPort\":{},\"ClientProto\":\"{proto}\",\"ClientTcpRtt\":{},\"ClientTlsCipher\":\"{}\",\"ClientTlsClientHelloServerName\":\"{}\",\"ClientTlsProtocol\":\"{client_tls}\",\"ClientTlsStatus\":\"{}\",\"ColoCode\":\"{}\",\"ConnectTimestamp\":",
        world.asns[rng.skewed(world.asns.len())],
        if event == "connect" {
            0
        } else {
            rng.skewed(50_000_000)
        },
        COUNTRIES[rng.skewed(COUNTRIES.len())],
        rng.weighted(&[
            ("UNKNOWN", 90),
            ("ALLOW", 6),
            ("BLOCK_IP", 2),
            ("BLOCK_COUNTRY", 1),
            ("BLOCK_ASN", 1)
        ]),
        1024 + rng.below(64_511),
        rng.skewed(200_000_000),
        if tls { rng.weighted(CIPHERS) } else { "UNK" },
        if tls { rng.pick(SNI) } else { "" },
        if tls {
            rng.weighted(&[("OK", 95), ("HANDSHAKE_FAILED", 3), ("INVALID_SNI", 2)])
        } else {
            "UNKNOWN"
        },
        world.colos[rng.skewed(world.colos.len())],
    );
    if event == "connect" {
        timestamp(format, nanos, line);
        line.push_str(",\"DisconnectTimestamp\":");
        zero_timestamp(format, line);
    } else {
        timestamp(format, nanos - duration_ns, line);
        line.push_str(",\"DisconnectTimestamp\":");
        timestamp(format, nanos, line);
    }
    let _ = write!(
        line,
        ",\"Event\":\"{event}\",\"IpFirewall\":{},\"OriginBytes\":{},\"OriginIP\":\"{origin_ip}\",\"OriginPort\":{},\"OriginProto\":\"{proto}\",\"OriginTcpRtt\":{},\"OriginTlsCipher\":\"{}\",\"OriginTlsFingerprint\":\"{fingerprint}\",\"OriginTlsMode\":\"{}\",\"OriginTlsProtocol\":\"{origin_tls}\",\"OriginTlsStatus\":\"{}\",\"ProxyProtocol\":\"{}\",\"Status\":{status},\"Timestamp\":",
        rng.below(10) == 0,
        if event == "connect" {
            0
        } else {
            rng.skewed(500_000_000)
        },
        [22, 443, 1883, 3306, 5432, 25565][rng.skewed(6)],
        rng.skewed(100_000_000),
        if origin_tls == "none" {
            "UNK"
        } else {
            rng.weighted(CIPHERS)
        },
        if tls {
            rng.weighted(&[("full", 50), ("strict", 30), ("flexible", 15), ("off", 5)])
        } else {
            "off"
        },
        if origin_tls == "none" {
            "UNKNOWN"
        } else {
            "OK"
        },
        rng.weighted(&[("off", 80), ("v1", 8), ("v2", 10), ("simple", 2)]),
    );
    timestamp(format, nanos, line);
    line.push('}');
}

#[allow(
    clippy::unwrap_used,
    reason = "a developer tool: a panic names what failed"
)]
fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("generate: {e}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng(o.seed);
    let world = World::new(&o, &mut rng);
    let span_ns = o.hours * 3_600_000_000_000;
    let file_ns = span_ns / o.files as i64;
    let mut line = String::with_capacity(1024);
    let mut written = 0u64;
    let mut days = std::collections::BTreeSet::new();
    for f in 0..o.files {
        let rows = o.rows / o.files + u64::from(f < o.rows % o.files);
        let start_ns = o.start * 1_000_000_000 + f as i64 * file_ns;
        let (day, from) = compact(start_ns / 1_000_000_000);
        let (_, to) = compact((start_ns + file_ns) / 1_000_000_000);
        let dir = o.out.join(&day);
        std::fs::create_dir_all(&dir).expect("create output folder");
        days.insert(dir.clone());
        let path = dir.join(format!("{from}_{to}_{:08x}.log.gz", rng.next() as u32));
        let file = std::fs::File::create(&path).expect("create archive file");
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::new(6),
        );
        for r in 0..rows {
            let nanos =
                start_ns + (r as i64 * file_ns) / rows.max(1) as i64 + rng.below(1_000_000) as i64;
            write_event(&mut rng, &world, &o.format, nanos, &mut line);
            line.push('\n');
            gz.write_all(line.as_bytes()).expect("write archive");
            written += line.len() as u64;
        }
        gz.finish().expect("finish gzip").flush().expect("flush");
    }
    if o.ownership_challenge {
        for dir in &days {
            std::fs::write(dir.join("ownership-challenge.txt"), "5f9b1e7c2d\n")
                .expect("write challenge");
        }
    }
    eprintln!(
        "generate: {} rows, {} files, {} bytes of NDJSON in {}",
        o.rows,
        o.files,
        written,
        o.out.display()
    );
}
