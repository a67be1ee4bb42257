//! Draws the side-by-side benchmark's chart (SVG, with `plotters`) from the
//! results JSON `scripts/bench/run.sh` writes:
//! `bench_chart results.json docs/images/bench.svg`.
//!
//! Four panels, one bar per server, each the median of the rounds: CPU time
//! per complete login and per userinfo (lower is better), logins/s and
//! userinfo/s (higher is better); above them, the same run's ratios.

use plotters::prelude::*;
use serde_json::Value;

const COLORS: [RGBColor; 3] = [
    RGBColor(0xb3, 0x4d, 0x0b),
    RGBColor(0x3c, 0x87, 0x3a),
    RGBColor(0x55, 0x55, 0x99),
];

fn panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    bars: &[(String, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let top = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max).max(1.0) * 1.2;
    let n = u32::try_from(bars.len()).unwrap_or(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(56)
        // A segmented range includes its end: 0..n-1 gives n slots.
        .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0.0..top)?;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => names.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 13))
        .draw()?;
    for (i, (_, value)) in bars.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(0);
        let color = COLORS[i as usize % COLORS.len()];
        chart.draw_series(std::iter::once(Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *value),
            ],
            color.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{value:.0}"),
            (SegmentValue::CenterOf(i), *value + top * 0.03),
            ("sans-serif", 14).into_font(),
        )))?;
    }
    Ok(())
}

/// The same run's ratios (issue 30's targets): both sides' ID token
/// algorithm, a login's CPU in `openssl speed` RSA-2048 signatures, and
/// node-oidc-provider's CPU per login and per userinfo over the bridge's.
fn targets_line(medians: &serde_json::Map<String, Value>, notes: &Value) -> String {
    let figure = |name: &str, key: &str| {
        medians
            .get(name)
            .and_then(|m| m[key].as_f64())
            .unwrap_or(f64::NAN)
    };
    let login = figure("idp-bridge", "cpu_us_per_login");
    let signature = notes["openssl_rsa2048_sign_us"]
        .as_f64()
        .unwrap_or(f64::NAN);
    format!(
        "{} ID tokens both sides; a login = {:.1} RSA-2048 signatures (openssl speed, {signature:.0} µs); node ÷ bridge CPU: login {:.1}×, userinfo {:.1}×",
        notes["alg"].as_str().unwrap_or("RS256"),
        login / signature,
        figure("node-oidc-provider", "cpu_us_per_login") / login,
        figure("node-oidc-provider", "cpu_us_per_userinfo")
            / figure("idp-bridge", "cpu_us_per_userinfo"),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args
        .next()
        .ok_or("usage: bench_chart RESULTS.json OUT.svg")?;
    let output = args
        .next()
        .ok_or("usage: bench_chart RESULTS.json OUT.svg")?;
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&input)?)?;
    let medians = results["medians"].as_object().ok_or("no medians")?;
    let bars = |key: &str| -> Vec<(String, f64)> {
        medians
            .iter()
            .map(|(name, m)| (name.clone(), m[key].as_f64().unwrap_or(0.0)))
            .collect()
    };
    let root = SVGBackend::new(&output, (960, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(64);
    let rounds = results["rounds"].as_u64().unwrap_or(0);
    let c = &results["concurrency"];
    let notes = &results["notes"];
    head.draw(&Text::new(
        format!(
            "Side by side, one run, medians of {rounds} rounds ({} logins / {} userinfo concurrent, {} cores)",
            c["login"], c["userinfo"], notes["cores"].as_f64().unwrap_or(0.0)
        ),
        (16, 10),
        ("sans-serif", 17).into_font(),
    ))?;
    head.draw(&Text::new(
        targets_line(medians, notes),
        (16, 36),
        ("sans-serif", 15).into_font(),
    ))?;
    let panels = body.split_evenly((2, 2));
    panel(
        &panels[0],
        "server CPU per complete login, µs (lower is better)",
        &bars("cpu_us_per_login"),
    )?;
    panel(
        &panels[1],
        "server CPU per userinfo, µs (lower is better)",
        &bars("cpu_us_per_userinfo"),
    )?;
    panel(
        &panels[2],
        "complete logins/s (higher is better)",
        &bars("login_per_s"),
    )?;
    panel(
        &panels[3],
        "userinfo/s (higher is better)",
        &bars("userinfo_per_s"),
    )?;
    root.present()?;
    Ok(())
}
