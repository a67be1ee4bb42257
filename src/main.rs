//! The `idp-bridge` binary: sets up logging, parses the command line and
//! hands the command to the library ([`idp_bridge::cli`]).

use std::process::ExitCode;

use clap::Parser;
use idp_bridge::cli::{Cli, run};

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    if !cli.command.serves() {
        exit_quietly_on_a_closed_stdout();
    }
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

/// A printing command piped into a reader that stops early
/// (`idp-bridge config schema | head`) ends as a C program killed by
/// `SIGPIPE` would, silently with status 141, instead of `print!`'s panic
/// and backtrace. Rust ignores `SIGPIPE`, and restoring its default needs
/// `unsafe` (forbidden in this crate), so the panic `print!` raises on a
/// broken pipe is recognised instead; any other panic keeps the default
/// report. Not for the serving commands: their stdout is not their output.
fn exit_quietly_on_a_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
