//! The `idp-bridge` binary: sets up logging, parses the command line and
//! hands the command to the library ([`idp_bridge::cli`]).

use std::process::ExitCode;

use clap::Parser;
use idp_bridge::cli::{Cli, run};

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("idp-bridge: {message}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr, filtered by `IDP_BRIDGE_LOG` (default `info`), as JSON
/// when `IDP_BRIDGE_LOG_FORMAT=json`; text fields escape control
/// characters (`log_format`), so no value can forge a line. Text is coloured only on a terminal
/// and never when `NO_COLOR` is set (<https://no-color.org>), so a log file
/// or a supervisor's pipe holds no escape codes.
fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDP_BRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(idp_bridge::util::log_format::escaped_fields())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color());
    if std::env::var("IDP_BRIDGE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Whether `NO_COLOR` asks for no colour: set and not empty.
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
