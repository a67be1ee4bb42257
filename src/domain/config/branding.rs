//! `[branding]`: what a company makes its own on the pages without a fork —
//! the organisation name, the username label, a help text, an accent
//! colour, a logo, a favicon, a stylesheet added after the built-in one,
//! footer links, and those texts per language (`[branding.texts.de]`).
//!
//! The files are read once, at start (and by `check-config`): each is
//! size-capped and its type decided by its content (magic bytes) agreeing
//! with its extension, so the bridge never serves a file as something it is
//! not. Links are `https` or relative, never a scheme a browser would run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The languages the pages speak (the primary subtags of
/// `login::locale::Locale`); `[branding.texts.*]` may name only these.
pub const PAGE_LANGUAGES: &[&str] = &["en", "de", "fr"];

/// Where the logo is served (a path of the bridge's own origin, so the
/// CSP's `img-src 'self'` allows it).
pub const LOGO_PATH: &str = "/branding/logo";
/// Where the favicon is served.
pub const FAVICON_PATH: &str = "/branding/favicon";
/// Where the company's stylesheet is served (`style-src 'self'`).
pub const STYLESHEET_PATH: &str = "/branding/stylesheet.css";

/// Largest logo file: a logo is a few KiB; this keeps memory bounded.
const MAX_LOGO_BYTES: u64 = 512 * 1024;
/// Largest favicon file.
const MAX_FAVICON_BYTES: u64 = 128 * 1024;
/// Largest stylesheet file.
const MAX_STYLESHEET_BYTES: u64 = 256 * 1024;
/// Footer links at most (a footer, not a site map).
const MAX_LINKS: usize = 8;
/// Longest configured text (a label, a help text, a link).
const MAX_TEXT_CHARS: usize = 2048;

/// `[branding]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// Shown as the page title and heading.
    #[serde(default = "default_org")]
    pub organization: String,
    /// What the username field is called ("Username", "Employee ID", ...).
    #[serde(default = "default_username_label")]
    pub username_label: String,
    /// Optional help text under the form (plain text).
    pub help_text: Option<String>,
    /// Accent colour, a CSS hex colour such as `#0b5cad`; the button's
    /// white text must stay readable on it (contrast at least 4.5:1).
    #[serde(default = "default_accent")]
    pub accent_color: String,
    /// A logo file (PNG, SVG, ICO or WebP) shown above the heading.
    pub logo: Option<PathBuf>,
    /// A favicon file (PNG, SVG, ICO or WebP).
    pub favicon: Option<PathBuf>,
    /// The company's own CSS file, linked after the built-in stylesheet.
    pub stylesheet: Option<PathBuf>,
    /// Footer links ("Forgot your password?", "Help"), in this order.
    #[serde(default)]
    pub links: Vec<FooterLink>,
    /// Per-language texts by primary language tag (`de`, `fr`, `en`).
    #[serde(default)]
    pub texts: BTreeMap<String, BrandTexts>,
    /// The files, read at start; filled in by validation.
    #[serde(skip)]
    pub assets: BrandAssets,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            organization: default_org(),
            username_label: default_username_label(),
            help_text: None,
            accent_color: default_accent(),
            logo: None,
            favicon: None,
            stylesheet: None,
            links: Vec::new(),
            texts: BTreeMap::new(),
            assets: BrandAssets::default(),
        }
    }
}

fn default_org() -> String {
    "Single sign-on".into()
}
fn default_username_label() -> String {
    "Username".into()
}
fn default_accent() -> String {
    "#0b5cad".into()
}

/// `[[branding.links]]`: one footer link.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FooterLink {
    /// The link's text.
    pub label: String,
    /// An `https` URL or a relative one (`/help`).
    pub url: String,
}

/// `[branding.texts.LANG]`: the configured texts in one language; each
/// absent one falls back to the `[branding]` value.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandTexts {
    /// The organisation's name in this language.
    pub organization: Option<String>,
    /// The username label in this language.
    pub username_label: Option<String>,
    /// The help text in this language.
    pub help_text: Option<String>,
    /// The footer links' labels, one per `[[branding.links]]` in order.
    pub link_labels: Option<Vec<String>>,
}

/// The branding files as read at start.
#[derive(Clone, Default)]
pub struct BrandAssets {
    /// The logo, if configured.
    pub logo: Option<Asset>,
    /// The favicon, if configured.
    pub favicon: Option<Asset>,
    /// The company's stylesheet, if configured.
    pub stylesheet: Option<Asset>,
}

impl fmt::Debug for BrandAssets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrandAssets")
            .field("logo", &self.logo)
            .field("favicon", &self.favicon)
            .field("stylesheet", &self.stylesheet)
            .finish()
    }
}

/// One file to serve: its bytes, its type, and a version for cache busting.
#[derive(Clone)]
pub struct Asset {
    /// The file's content.
    pub bytes: bytes::Bytes,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// The first 16 hex digits of its SHA-256: the `?v=` of its link and its
    /// `ETag`, so a changed file reaches browsers at the next start.
    pub version: String,
}

impl Asset {
    /// Whether this is an SVG image (served under its own sandboxing CSP).
    pub fn is_svg(&self) -> bool {
        self.content_type == SVG
    }
}

impl fmt::Debug for Asset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Asset({}, {} bytes, v={})",
            self.content_type,
            self.bytes.len(),
            self.version
        )
    }
}

const PNG: &str = "image/png";
const SVG: &str = "image/svg+xml";
const ICO: &str = "image/x-icon";
const WEBP: &str = "image/webp";
const CSS: &str = "text/css; charset=utf-8";

/// The image type of `bytes` by its magic bytes (SVG: XML text whose
/// first element is `<svg`).
fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(PNG);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(WEBP);
    }
    if bytes.starts_with(&[0, 0, 1, 0]) && bytes.len() >= 6 {
        return Some(ICO);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.trim_start_matches('\u{feff}').trim_start();
    // An XML declaration, a doctype and comments may come before <svg.
    let head: String = text.chars().take(4096).collect();
    (text.starts_with('<') && head.contains("<svg")).then_some(SVG)
}

/// The type an image's extension promises.
fn image_type_of_extension(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "png" => Some(PNG),
        "svg" => Some(SVG),
        "ico" => Some(ICO),
        "webp" => Some(WEBP),
        _ => None,
    }
}

/// Reads `path` (at most `max` bytes), naming `key` in every problem.
fn read_capped(key: &str, path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{key}: cannot read {shown}: {e}"))?
        .len();
    if size > max {
        return Err(format!(
            "{key}: {shown} is {size} bytes; at most {max} are allowed"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{key}: cannot read {shown}: {e}"))?;
    if bytes.is_empty() {
        return Err(format!("{key}: {shown} is empty"));
    }
    if bytes.len() as u64 > max {
        return Err(format!("{key}: {shown} grew past {max} bytes while read"));
    }
    Ok(bytes)
}

fn asset(bytes: Vec<u8>, content_type: &'static str) -> Asset {
    let version = hex::encode(&crate::util::crypto::sha256(&bytes)[..8]);
    Asset {
        bytes: bytes.into(),
        content_type,
        version,
    }
}

/// A type's name for people.
fn kind(content_type: &str) -> &'static str {
    match content_type {
        PNG => "PNG",
        SVG => "SVG",
        ICO => "ICO",
        WEBP => "WebP",
        _ => "other",
    }
}

/// Reads an image: PNG, SVG, ICO or WebP, its content agreeing with its name.
fn load_image(key: &str, path: &Path, max: u64) -> Result<Asset, String> {
    let shown = path.display();
    let promised = image_type_of_extension(path)
        .ok_or_else(|| format!("{key}: {shown}: the file must end in .png, .svg, .ico or .webp"))?;
    let bytes = read_capped(key, path, max)?;
    match sniff_image(&bytes) {
        Some(found) if found == promised => Ok(asset(bytes, found)),
        Some(found) => Err(format!(
            "{key}: {shown}: the name says {} but the content is {}",
            kind(promised),
            kind(found)
        )),
        None => Err(format!(
            "{key}: {shown}: the content is not a {} image",
            kind(promised)
        )),
    }
}

/// Reads the company's stylesheet: a `.css` file of UTF-8 text.
fn load_stylesheet(key: &str, path: &Path) -> Result<Asset, String> {
    let shown = path.display();
    let is_css = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("css"));
    if !is_css {
        return Err(format!("{key}: {shown}: the file must end in .css"));
    }
    let bytes = read_capped(key, path, MAX_STYLESHEET_BYTES)?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err(format!("{key}: {shown}: the stylesheet must be UTF-8 text"));
    }
    Ok(asset(bytes, CSS))
}

/// Why a footer link's URL is refused, if it is: only `https` URLs and
/// relative ones, so no `javascript:`, `data:` or plain-http link reaches
/// the page, and nothing a browser reads as another host (`//host`, `/\host`).
fn link_problem(url: &str) -> Option<&'static str> {
    if url.is_empty() {
        return Some("must not be empty");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces or control characters");
    }
    if url.contains('\\') {
        return Some("must not contain a backslash");
    }
    match url::Url::parse(url) {
        Ok(u) if u.scheme() != "https" => Some("must be an https URL or a relative one"),
        Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("must name a host"),
        Err(url::ParseError::RelativeUrlWithoutBase) if url.starts_with("//") => {
            Some("must not start with // (it would name another host, maybe over http)")
        }
        // An https URL with a host, or a relative one.
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => None,
        Err(_) => Some("is not a valid URL"),
    }
}

/// The relative luminance of a `#rrggbb` colour (WCAG 2.2, "relative luminance").
fn luminance(hex: &str) -> Option<f64> {
    let channel = |i: usize| -> Option<f64> {
        let v = f64::from(u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()?) / 255.0;
        Some(if v <= 0.040_45 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        })
    };
    if hex.len() != 7 || !hex.starts_with('#') {
        return None;
    }
    Some(0.2126 * channel(1)? + 0.7152 * channel(3)? + 0.0722 * channel(5)?)
}

/// The contrast ratio of white text on a `#rrggbb` background.
pub fn contrast_with_white(hex: &str) -> Option<f64> {
    luminance(hex).map(|l| 1.05 / (l + 0.05))
}

fn check_text(key: &str, text: &str, problems: &mut Vec<String>) {
    if text.trim().is_empty() {
        problems.push(format!("{key}: must not be empty"));
    } else if text.chars().count() > MAX_TEXT_CHARS {
        problems.push(format!("{key}: at most {MAX_TEXT_CHARS} characters"));
    }
}

impl Branding {
    /// Checks every key and reads the files, reporting each problem by key;
    /// the files read are kept in `assets`.
    pub fn check(&mut self, problems: &mut Vec<String>) {
        let accent_hex = self.accent_color.len() == 7
            && self.accent_color.starts_with('#')
            && self.accent_color[1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        match contrast_with_white(&self.accent_color).filter(|_| accent_hex) {
            None => {
                problems.push("branding.accent_color: must be a hex colour like #0b5cad".into());
            }
            // The button's label is white on the accent (WCAG 2.2 §1.4.3).
            Some(ratio) if ratio < 4.5 => problems.push(format!(
                "branding.accent_color: white text on {} has a contrast of {ratio:.2}:1; \
                 choose a darker colour (at least 4.5:1, WCAG 2.2 AA)",
                self.accent_color
            )),
            Some(_) => {}
        }
        check_text("branding.organization", &self.organization, problems);
        check_text("branding.username_label", &self.username_label, problems);
        if let Some(help) = &self.help_text {
            check_text("branding.help_text", help, problems);
        }
        if self.links.len() > MAX_LINKS {
            problems.push(format!("branding.links: at most {MAX_LINKS} links"));
        }
        for (i, link) in self.links.iter().enumerate() {
            check_text(&format!("branding.links[{i}].label"), &link.label, problems);
            if let Some(why) = link_problem(&link.url) {
                problems.push(format!("branding.links[{i}].url: `{}` {why}", link.url));
            } else if link.url.len() > MAX_TEXT_CHARS {
                problems.push(format!(
                    "branding.links[{i}].url: at most {MAX_TEXT_CHARS} characters"
                ));
            }
        }
        for (lang, texts) in &self.texts {
            let key = format!("branding.texts.{lang}");
            if !PAGE_LANGUAGES.contains(&lang.as_str()) {
                problems.push(format!(
                    "{key}: unknown language `{lang}`; the pages speak {} (name the primary tag, e.g. `de`)",
                    PAGE_LANGUAGES.join(", ")
                ));
            }
            for (name, text) in [
                ("organization", &texts.organization),
                ("username_label", &texts.username_label),
                ("help_text", &texts.help_text),
            ] {
                if let Some(text) = text {
                    check_text(&format!("{key}.{name}"), text, problems);
                }
            }
            if let Some(labels) = &texts.link_labels {
                if labels.len() != self.links.len() {
                    problems.push(format!(
                        "{key}.link_labels: {} label(s) for {} [[branding.links]]; give one per link, in order",
                        labels.len(),
                        self.links.len()
                    ));
                }
                for (i, label) in labels.iter().enumerate() {
                    check_text(&format!("{key}.link_labels[{i}]"), label, problems);
                }
            }
        }
        let mut keep = |read: Result<Asset, String>| read.map_err(|e| problems.push(e)).ok();
        self.assets = BrandAssets {
            logo: self
                .logo
                .as_deref()
                .and_then(|p| keep(load_image("branding.logo", p, MAX_LOGO_BYTES))),
            favicon: self
                .favicon
                .as_deref()
                .and_then(|p| keep(load_image("branding.favicon", p, MAX_FAVICON_BYTES))),
            stylesheet: self
                .stylesheet
                .as_deref()
                .and_then(|p| keep(load_stylesheet("branding.stylesheet", p))),
        };
    }

    /// The configured texts for a page in `lang` (a primary tag), if any.
    pub fn texts_for(&self, lang: &str) -> Option<&BrandTexts> {
        self.texts.get(lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_typed_by_their_content() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some(PNG));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some(WEBP));
        assert_eq!(sniff_image(&[0, 0, 1, 0, 1, 0, 16, 16]), Some(ICO));
        assert_eq!(
            sniff_image(
                b"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
            ),
            Some(SVG)
        );
        assert_eq!(sniff_image(b"<html><body>not an image"), None);
        assert_eq!(sniff_image(b"GIF89a"), None);
    }

    #[test]
    fn links_are_https_or_relative() {
        for ok in [
            "https://help.example.com/reset",
            "/help",
            "help.html",
            "?q=1",
        ] {
            assert_eq!(link_problem(ok), None, "{ok}");
        }
        for bad in [
            "http://help.example.com",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "//evil.example",
            "/\\evil.example",
            "https://",
            "/a b",
            "",
        ] {
            assert!(link_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn contrast_follows_wcag() {
        let white = contrast_with_white("#ffffff").expect("hex");
        assert!((white - 1.0).abs() < 1e-9);
        let black = contrast_with_white("#000000").expect("hex");
        assert!((black - 21.0).abs() < 1e-9);
        // The default accent: 6.6:1.
        let accent = contrast_with_white("#0b5cad").expect("hex");
        assert!(accent > 6.0 && accent < 7.0, "{accent}");
        assert!(contrast_with_white("#7fbfff").expect("hex") < 4.5);
    }
}
