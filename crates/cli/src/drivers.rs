//! Registered ASIO drivers: the entry model, lookup by name, and the listing.

use asio_abi::Guid;

use crate::json::Json;

/// One subkey of `HKLM\SOFTWARE\ASIO`, resolved through `HKCR\CLSID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverEntry {
    /// The subkey name.
    pub name: String,
    /// The `CLSID` value; `Guid::NULL` when missing or malformed (see `problem`).
    pub clsid: Guid,
    /// The `Description` value, or the key name when that is missing.
    pub description: String,
    /// `HKCR\CLSID\{…}\InprocServer32` default value, if registered.
    pub dll_path: Option<String>,
    /// Whether `dll_path` names an existing file.
    pub dll_exists: bool,
    /// Why a host could not load this entry, if it could not.
    pub problem: Option<String>,
}

impl DriverEntry {
    /// Whether a host would try to load it.
    pub fn is_loadable(&self) -> bool {
        self.problem.is_none()
    }

    pub fn to_json(&self) -> Json {
        Json::object([
            ("name", Json::string(self.name.clone())),
            ("description", Json::string(self.description.clone())),
            ("clsid", Json::string(self.clsid.to_string())),
            ("dll", Json::opt(self.dll_path.clone())),
            ("dll_exists", Json::from(self.dll_exists)),
            ("problem", Json::opt(self.problem.clone())),
        ])
    }
}

/// What is wrong with an entry, in the order a host would stumble on it.
pub fn entry_problem(
    clsid: Option<Guid>,
    dll_path: Option<&str>,
    dll_exists: bool,
) -> Option<String> {
    if clsid.is_none() {
        return Some("CLSID value missing or malformed".into());
    }
    match dll_path {
        None => Some("CLSID not registered (no InprocServer32)".into()),
        Some(path) if !is_absolute_windows_path(path) => {
            Some(format!("InprocServer32 path is not absolute: {path}"))
        }
        Some(_) if !dll_exists => Some("DLL file does not exist".into()),
        Some(_) => None,
    }
}

/// `C:\…`, `C:/…` or a UNC path `\\server\…`.
pub fn is_absolute_windows_path(path: &str) -> bool {
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes[2] == b'\\' || bytes[2] == b'/');
    drive || path.starts_with("\\\\")
}

/// The entry whose key name or description equals `name`, ignoring case; key names win.
pub fn find<'a>(entries: &'a [DriverEntry], name: &str) -> Option<&'a DriverEntry> {
    entries
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(name))
        .or_else(|| {
            entries
                .iter()
                .find(|e| e.description.eq_ignore_ascii_case(name))
        })
}

/// The listing of `wasio drivers`.
pub fn to_text(entries: &[DriverEntry]) -> String {
    if entries.is_empty() {
        return "no ASIO drivers registered (HKLM\\SOFTWARE\\ASIO is empty or missing)\n".into();
    }
    let mut out = String::new();
    for e in entries {
        out.push_str(&format!("{}\n", e.name));
        if e.description != e.name {
            out.push_str(&format!("  description: {}\n", e.description));
        }
        out.push_str(&format!("  CLSID:       {}\n", e.clsid));
        out.push_str(&format!(
            "  DLL:         {}{}\n",
            e.dll_path.as_deref().unwrap_or("(none)"),
            match (&e.dll_path, e.dll_exists) {
                (Some(_), true) => " (exists)",
                (Some(_), false) => " (MISSING)",
                (None, _) => "",
            }
        ));
        if let Some(problem) = &e.problem {
            out.push_str(&format!("  problem:     {problem}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, description: &str) -> DriverEntry {
        DriverEntry {
            name: name.into(),
            clsid: Guid::from_u128(0x1234),
            description: description.into(),
            dll_path: Some("C:\\x.dll".into()),
            dll_exists: true,
            problem: None,
        }
    }

    #[test]
    fn find_prefers_key_names_and_ignores_case() {
        let entries = vec![
            entry("ASIO4ALL v2", "Wasio"),
            entry("Wasio", "Wasio (WASAPI)"),
        ];
        assert_eq!(find(&entries, "wasio").unwrap().name, "Wasio");
        assert_eq!(find(&entries, "WASIO (wasapi)").unwrap().name, "Wasio");
        assert_eq!(find(&entries, "asio4all V2").unwrap().name, "ASIO4ALL v2");
        assert!(find(&entries, "FlexASIO").is_none());
    }

    #[test]
    fn problems_in_host_order() {
        let g = Some(Guid::from_u128(1));
        assert_eq!(
            entry_problem(None, Some("C:\\a.dll"), true).as_deref(),
            Some("CLSID value missing or malformed")
        );
        assert_eq!(
            entry_problem(g, None, false).as_deref(),
            Some("CLSID not registered (no InprocServer32)")
        );
        assert_eq!(
            entry_problem(g, Some("a.dll"), true).as_deref(),
            Some("InprocServer32 path is not absolute: a.dll")
        );
        assert_eq!(
            entry_problem(g, Some("C:\\a.dll"), false).as_deref(),
            Some("DLL file does not exist")
        );
        assert_eq!(entry_problem(g, Some("\\\\srv\\share\\a.dll"), true), None);
        assert_eq!(entry_problem(g, Some("c:/a.dll"), true), None);
    }

    #[test]
    fn listing_shows_missing_dlls_and_problems() {
        let mut broken = entry("Broken", "Broken");
        broken.dll_exists = false;
        broken.problem = Some("DLL file does not exist".into());
        let text = to_text(&[entry("Wasio", "Wasio (WASAPI)"), broken]);
        assert!(text.contains("Wasio\n  description: Wasio (WASAPI)\n"));
        assert!(text.contains("  CLSID:       {00000000-0000-0000-0000-000000001234}\n"));
        assert!(text.contains("  DLL:         C:\\x.dll (exists)\n"));
        assert!(text.contains("Broken\n  CLSID:"));
        assert!(text.contains("(MISSING)\n  problem:     DLL file does not exist\n"));
        assert!(to_text(&[]).starts_with("no ASIO drivers registered"));
        let json = broken_json();
        assert!(json.contains("\"dll_exists\": false"));
    }

    fn broken_json() -> String {
        let mut e = entry("B", "B");
        e.dll_exists = false;
        e.to_json().to_pretty()
    }
}
