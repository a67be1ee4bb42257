//! The login page's languages (OIDC Core §3.1.2.1 `ui_locales`): English,
//! German and French. The client's `ui_locales` (in its order of preference)
//! decides; without it, the browser's `Accept-Language`; then English.
//! Only the primary language subtag is matched (`de-CH` gets German). The
//! chosen language travels in the sealed pending request, so the messages
//! after a failed attempt are in it too. An operator's own username label
//! and help text are shown as configured.

use serde::{Deserialize, Serialize};

/// A language the login page speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    /// English (the default).
    #[default]
    En,
    /// German.
    De,
    /// French.
    Fr,
}

/// The login page's fixed texts in one language.
#[derive(Debug)]
pub struct Texts {
    /// The `lang` attribute.
    pub lang: &'static str,
    /// "Sign in" as a title and button.
    pub sign_in: &'static str,
    /// The line under the heading.
    pub lead: &'static str,
    /// The username label, when the operator kept the default.
    pub username: &'static str,
    /// The password label.
    pub password: &'static str,
    /// Wrong username or password (never says which).
    pub wrong_credentials: &'static str,
    /// A locked or disabled account.
    pub locked: &'static str,
    /// The legacy IdP or the store is down.
    pub unavailable: &'static str,
    /// The legacy IdP answered something unexpected.
    pub unexpected: &'static str,
    /// An empty or oversized field.
    pub missing_fields: &'static str,
}

const EN: Texts = Texts {
    lang: "en",
    sign_in: "Sign in",
    lead: "Sign in with your existing account.",
    username: "Username",
    password: "Password",
    wrong_credentials: "The username or password is incorrect.",
    locked: "This account is locked or disabled. Contact your administrator.",
    unavailable: "The sign-in service is temporarily unavailable. Please try again in a moment.",
    unexpected: "The sign-in service answered unexpectedly. Please try again later.",
    missing_fields: "Enter your username and password.",
};

const DE: Texts = Texts {
    lang: "de",
    sign_in: "Anmelden",
    lead: "Melden Sie sich mit Ihrem bestehenden Konto an.",
    username: "Benutzername",
    password: "Passwort",
    wrong_credentials: "Benutzername oder Passwort ist falsch.",
    locked: "Dieses Konto ist gesperrt oder deaktiviert. Wenden Sie sich an Ihre Administration.",
    unavailable: "Der Anmeldedienst ist vorübergehend nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
    unexpected: "Der Anmeldedienst hat unerwartet geantwortet. Bitte versuchen Sie es später noch einmal.",
    missing_fields: "Geben Sie Benutzername und Passwort ein.",
};

const FR: Texts = Texts {
    lang: "fr",
    sign_in: "Se connecter",
    lead: "Connectez-vous avec votre compte existant.",
    username: "Nom d’utilisateur",
    password: "Mot de passe",
    wrong_credentials: "Le nom d’utilisateur ou le mot de passe est incorrect.",
    locked: "Ce compte est verrouillé ou désactivé. Contactez votre administrateur.",
    unavailable: "Le service de connexion est momentanément indisponible. Veuillez réessayer dans un instant.",
    unexpected: "Le service de connexion a répondu de façon inattendue. Veuillez réessayer plus tard.",
    missing_fields: "Saisissez votre nom d’utilisateur et votre mot de passe.",
};

/// An RFC 9110 §12.4.2 qvalue in thousandths: `0`, `0.5`, `1.000`.
fn qvalue(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl Locale {
    /// The language of a BCP 47 tag, by its primary subtag.
    fn of_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.trim();
        match primary.to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "de" => Some(Self::De),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }

    /// Picks the language: the first of `ui_locales` (space-separated, in
    /// order of preference) that the page speaks; else the best of
    /// `Accept-Language` by q-value; else English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Self {
        if let Some(found) = ui_locales
            .into_iter()
            .flat_map(str::split_whitespace)
            .find_map(Self::of_tag)
        {
            return found;
        }
        let mut offered: Vec<(u16, usize, Self)> = accept_language
            .into_iter()
            .flat_map(|h| h.split(','))
            .enumerate()
            .filter_map(|(i, item)| {
                let mut parts = item.split(';');
                let locale = Self::of_tag(parts.next()?)?;
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1000), |q| qvalue(q.trim()))?;
                (q > 0).then_some((q, i, locale))
            })
            .collect();
        // Highest q first; among equals, the order the browser gave.
        offered.sort_by_key(|(q, i, _)| (std::cmp::Reverse(*q), *i));
        offered.first().map_or(Self::En, |(_, _, l)| *l)
    }

    /// The page's texts in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Self::En => &EN,
            Self::De => &DE,
            Self::Fr => &FR,
        }
    }

    /// The lockout message, with the wait in whole minutes.
    pub fn lockout(self, seconds_left: i64) -> String {
        let minutes = (seconds_left + 59) / 60;
        let one = minutes == 1;
        match self {
            Self::En => format!(
                "Too many failed sign-in attempts. Try again in {minutes} minute{}.",
                if one { "" } else { "s" }
            ),
            Self::De => format!(
                "Zu viele fehlgeschlagene Anmeldeversuche. Versuchen Sie es in {minutes} Minute{} erneut.",
                if one { "" } else { "n" }
            ),
            Self::Fr => format!(
                "Trop de tentatives de connexion échouées. Réessayez dans {minutes} minute{}.",
                if one { "" } else { "s" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_win_in_their_order_then_accept_language_then_english() {
        assert_eq!(
            Locale::negotiate(Some("ja fr-CA de"), Some("de")),
            Locale::Fr
        );
        assert_eq!(
            Locale::negotiate(Some("ja"), Some("de-CH, fr;q=0.5")),
            Locale::De
        );
        assert_eq!(
            Locale::negotiate(None, Some("fr;q=0.4, de;q=0.9, en;q=0.8")),
            Locale::De
        );
        assert_eq!(Locale::negotiate(None, Some("de;q=0, fr")), Locale::Fr);
        assert_eq!(Locale::negotiate(None, Some("ja, zh")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("de;q=abc")), Locale::En);
        assert_eq!(
            Locale::negotiate(None, Some("de;q=1.5, fr;q=0.001")),
            Locale::Fr
        );
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.001"), None);
        assert_eq!(Locale::negotiate(None, None), Locale::En);
    }

    #[test]
    fn branding_accepts_texts_for_exactly_the_languages_spoken() {
        let spoken: Vec<&str> = [Locale::En, Locale::De, Locale::Fr]
            .into_iter()
            .map(|l| l.texts().lang)
            .collect();
        assert_eq!(spoken, crate::domain::config::PAGE_LANGUAGES);
    }

    #[test]
    fn the_lockout_counts_whole_minutes() {
        assert_eq!(
            Locale::En.lockout(60),
            "Too many failed sign-in attempts. Try again in 1 minute."
        );
        assert!(Locale::De.lockout(61).contains("2 Minuten"));
        assert!(Locale::Fr.lockout(900).contains("15 minutes"));
    }
}
