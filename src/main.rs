//! The `logpush-parquet` binary: parses flags, calls the library, maps the outcome to an exit
//! code (see `exit_code`).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use clap::Parser;
use logpush_parquet::cli::{Cli, Command, ConvertArgs, LogFormat};
use logpush_parquet::exit_code;
use logpush_parquet::metrics::{RunLabels, RunMetrics};
use logpush_parquet::report::{Progress, Status, Summary};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, _) => tracing::Level::DEBUG,
    };
    let logs = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    match run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = exit_code_of(&err);
            if !is_broken_pipe(&err) {
                report_error(cli.log_format, &err);
            }
            ExitCode::from(code)
        }
    }
}

/// The exit code of a command that stopped on `err`.
fn exit_code_of(err: &anyhow::Error) -> u8 {
    if is_broken_pipe(err) {
        return exit_code::SUCCESS;
    }
    match err.downcast_ref::<logpush_parquet::Error>() {
        Some(logpush_parquet::Error::Locked { .. }) => exit_code::LOCKED,
        Some(
            logpush_parquet::Error::InvalidOption { .. }
            | logpush_parquet::Error::InputNotFound { .. }
            | logpush_parquet::Error::Schema { .. },
        ) => exit_code::USAGE,
        _ => exit_code::FAILURE,
    }
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::Schema(args) => {
            let text = args.render()?;
            std::io::stdout().write_all(text.as_bytes())?;
            Ok(exit_code::SUCCESS)
        }
        Command::Convert(args) => convert(args, cli.quiet, cli.log_format),
        Command::Compact(args) => {
            let options = args.to_options()?;
            let summary = logpush_parquet::maintain::compact::compact(&options)
                .with_context(|| format!("compact {}", options.table))?;
            write_summary(args.summary_json.as_deref(), &summary)?;
            if !cli.quiet {
                eprint!("{}", summary.to_text());
            }
            Ok(exit_code::SUCCESS)
        }
        Command::Check(args) => {
            let options = args.to_options()?;
            let report = logpush_parquet::preflight::check(&options);
            write_summary(args.summary_json.as_deref(), &report)?;
            if !cli.quiet {
                eprint!("{}", report.to_text());
            }
            Ok(if report.ok {
                exit_code::SUCCESS
            } else {
                exit_code::FAILURE
            })
        }
        Command::Vacuum(args) => {
            let options = args.to_options()?;
            let summary = logpush_parquet::maintain::vacuum::vacuum(&options)
                .with_context(|| format!("vacuum {}", options.table))?;
            if summary.dry_run {
                let mut out = std::io::stdout().lock();
                for key in &summary.deleted {
                    writeln!(out, "{key}")?;
                }
            }
            write_summary(args.summary_json.as_deref(), &summary)?;
            if !cli.quiet {
                eprint!("{}", summary.to_text());
            }
            Ok(exit_code::SUCCESS)
        }
    }
}

/// Writes `summary` as JSON to `path` (`-`: standard output), when there is one.
fn write_summary(
    path: Option<&std::path::Path>,
    summary: &impl serde::Serialize,
) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let json = serde_json::to_string_pretty(summary)? + "\n";
    if path.as_os_str() == "-" {
        std::io::stdout().write_all(json.as_bytes())?;
    } else {
        std::fs::write(path, json).with_context(|| format!("write summary {}", path.display()))?;
    }
    Ok(())
}

fn convert(args: &ConvertArgs, quiet: bool, log_format: LogFormat) -> anyhow::Result<u8> {
    // A command line that does not validate writes no metrics: the labels, or the metrics'
    // destination itself, may be what is wrong.
    let options = args.to_options()?;
    let sinks = args.metrics_sinks()?;
    let started = SystemTime::now();
    let progress = Progress::new(!quiet);
    let job = logpush_parquet::job::convert(&options, &progress)
        .with_context(|| format!("convert into {}", options.output));
    let ended = SystemTime::now();
    let (summary, outcome) = match job {
        Ok(summary) => {
            let outcome = report(args, &summary, quiet, log_format);
            (Some(summary), outcome)
        }
        Err(err) => (None, Err(err)),
    };
    // A dry run writes nothing, metrics included: it would replace the real job's.
    let Some(sinks) = sinks.filter(|_| !options.dry_run) else {
        return outcome;
    };
    let code = match &outcome {
        Ok(code) => *code,
        Err(err) => exit_code_of(err),
    };
    let labels = RunLabels::new(&options, &sinks.extra_labels);
    let text = RunMetrics {
        labels: &labels,
        exit_code: code,
        started,
        ended,
        summary: summary.as_ref(),
    }
    .render();
    if let Err(err) = sinks.deliver(&labels, &text) {
        let err = anyhow::Error::new(err);
        // Like --summary-json: a run its monitoring cannot see does not exit 0; a failed run
        // keeps its own code.
        return match outcome {
            Ok(exit_code::SUCCESS) => Err(err),
            other => {
                report_error(log_format, &err);
                other
            }
        };
    }
    outcome
}

/// Writes a finished run's summary (JSON, stdout list, stderr text); its exit code.
fn report(
    args: &ConvertArgs,
    summary: &Summary,
    quiet: bool,
    log_format: LogFormat,
) -> anyhow::Result<u8> {
    write_summary(args.summary_json.as_deref(), summary)?;
    if summary.dry_run {
        let mut out = std::io::stdout().lock();
        for input in &summary.would_convert {
            writeln!(out, "{input}")?;
        }
    }
    if !quiet {
        match log_format {
            LogFormat::Text => eprint!("{}", summary.to_text()),
            // One JSON line, like the logs: the text lines and the whole summary.
            LogFormat::Json => eprintln!(
                "{}",
                serde_json::json!({
                    "level": "INFO",
                    "fields": {"message": summary.to_text().trim_end(), "summary": summary},
                })
            ),
        }
    }
    Ok(match summary.status {
        Status::Ok => exit_code::SUCCESS,
        Status::InputFailed => exit_code::INPUT_FAILED,
        Status::RejectThresholdExceeded => exit_code::REJECT_THRESHOLD_EXCEEDED,
    })
}

/// The final error on stderr: a line for people, or a JSON object with `--log-format json`.
fn report_error(format: LogFormat, err: &anyhow::Error) {
    match format {
        LogFormat::Text => eprintln!("error: {err:#}"),
        LogFormat::Json => eprintln!(
            "{}",
            serde_json::json!({"level": "ERROR", "fields": {"message": format!("{err:#}")}})
        ),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
