//! Colour in the text log only on a terminal, and never with `NO_COLOR`
//! (<https://no-color.org>): `serve` run on a pseudo-terminal (util-linux
//! `script`), with and without the variable. (A pipe never gets colour:
//! `cli::a_piped_text_log_has_no_colour_codes`.)

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

/// What `serve` writes to a terminal in its first seconds, `no_color`
/// giving `NO_COLOR`'s value (or none).
fn on_a_terminal(config: &std::path::Path, no_color: Option<&str>) -> String {
    let mut command = Command::new("script");
    command
        .args(["-qec"])
        .arg(format!(
            "timeout -s TERM 4 '{BIN}' serve --config '{}'",
            config.display()
        ))
        .arg("/dev/null")
        .env("IDP_BRIDGE_LOG", "info")
        .env_remove("IDP_BRIDGE_LOG_FORMAT")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    if let Some(value) = no_color {
        command.env("NO_COLOR", value);
    }
    let out = command.output().expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_text_log_is_coloured_on_a_terminal_unless_no_color_is_set() {
    let mut app = crate::support::TestApp::spawn().await;
    let config = app.config_path();
    app.stop().await;
    let coloured = on_a_terminal(&config, None);
    assert!(coloured.contains("listening"), "serve ran: {coloured:?}");
    assert!(
        coloured.contains('\x1b'),
        "a terminal gets colour (else this test proves nothing): {coloured:?}"
    );
    let plain = on_a_terminal(&config, Some("1"));
    assert!(plain.contains("listening"), "serve ran: {plain:?}");
    assert!(!plain.contains('\x1b'), "NO_COLOR=1: {plain:?}");
    // An empty NO_COLOR does not count (no-color.org).
    let empty = on_a_terminal(&config, Some(""));
    assert!(empty.contains('\x1b'), "NO_COLOR empty: {empty:?}");
}
