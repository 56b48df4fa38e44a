//! What Apex, Lightning web components and Aura bundles refer to: custom labels, Apex classes,
//! objects and fields. Read with a small tokenizer that skips comments and (for Apex) string
//! literals, so a name in a comment or a message never counts. Pure functions over text; the
//! engine decides which references the target org lacks (docs/architecture.md, "Dependency
//! check") and which test classes cover a change.

use std::collections::BTreeSet;

/// One thing a source file needs in the org. Names keep the case written in the source; Apex
/// is case-insensitive, so compare with [`Reference::key`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    /// A custom label (`Label.X`, `System.Label.X`, `@salesforce/label/c.X`, `$Label.c.X`).
    Label(String),
    /// An Apex class (`Foo.bar()`, `new Foo()`, `Foo x`, `@salesforce/apex/Foo.bar`).
    Class(String),
    /// A custom object (`Obj__c`) or the object of a schema import.
    Object(String),
    /// A field `Object.Field` (`Obj__c.Field__c`, `@salesforce/schema/Account.Tier__c`).
    Field(String, String),
}

impl Reference {
    /// The metadata type and member this reference names.
    pub fn component(&self) -> (&'static str, String) {
        match self {
            Reference::Label(n) => ("CustomLabel", n.clone()),
            Reference::Class(n) => ("ApexClass", n.clone()),
            Reference::Object(n) => ("CustomObject", n.clone()),
            Reference::Field(o, f) => ("CustomField", format!("{o}.{f}")),
        }
    }

    /// `TYPE:member` in lower case, for case-insensitive comparison.
    pub fn key(&self) -> String {
        let (t, m) = self.component();
        format!("{t}:{}", m.to_ascii_lowercase())
    }
}

/// What one Apex file declares and refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApexFile {
    /// Annotated `@isTest` (or has a `testMethod`): a test class.
    pub is_test: bool,
    /// Identifiers that may name a class, in source case (filtered by the caller against the
    /// classes that exist: Apex cannot tell a class from a variable without the org's schema).
    pub class_candidates: BTreeSet<String>,
    /// `Object.Field__c` where `Object` is not a custom object's name: a standard object's
    /// custom field, or a variable's member (the caller keeps those whose object it knows).
    pub field_candidates: BTreeSet<(String, String)>,
    /// Labels, custom objects and fields.
    pub refs: BTreeSet<Reference>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(char),
    /// A string literal's text (kept for LWC/Aura, ignored in Apex).
    Str(String),
}

/// Splits `src` into identifiers, punctuation and string literals; comments (`//`, `/* */`, and
/// `<!-- -->` when `markup`) are dropped. `quotes` are the characters that open a string.
fn tokenize(src: &str, quotes: &[char], markup: bool) -> Vec<Tok> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let starts = |i: usize, pat: &str| {
        pat.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        let c = chars[i];
        if starts(i, "//") && !markup {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if starts(i, "/*") {
            i += 2;
            while i < chars.len() && !starts(i, "*/") {
                i += 1;
            }
            i += 2;
        } else if markup && starts(i, "<!--") {
            i += 4;
            while i < chars.len() && !starts(i, "-->") {
                i += 1;
            }
            i += 3;
        } else if quotes.contains(&c) {
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Str(text));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            if !c.is_whitespace() {
                out.push(Tok::Punct(c));
            }
            i += 1;
        }
    }
    out
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn is_punct(t: Option<&Tok>, p: char) -> bool {
    t == Some(&Tok::Punct(p))
}

/// A custom object's API name: `__c`, `__mdt`, `__e` (not a relationship `__r`).
fn is_custom_object(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    ["__c", "__mdt", "__e"].iter().any(|s| l.ends_with(s))
}

/// Words of the language and the platform's namespaces: never a class of the project.
const APEX_WORDS: &[&str] = &[
    "abstract",
    "and",
    "as",
    "boolean",
    "break",
    "catch",
    "class",
    "continue",
    "database",
    "date",
    "datetime",
    "decimal",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "false",
    "final",
    "finally",
    "for",
    "from",
    "global",
    "id",
    "if",
    "implements",
    "in",
    "instanceof",
    "integer",
    "interface",
    "limit",
    "list",
    "long",
    "map",
    "new",
    "not",
    "null",
    "object",
    "or",
    "order",
    "override",
    "private",
    "protected",
    "public",
    "return",
    "schema",
    "select",
    "set",
    "sharing",
    "sobject",
    "static",
    "string",
    "super",
    "system",
    "test",
    "testmethod",
    "this",
    "throw",
    "transient",
    "trigger",
    "true",
    "try",
    "void",
    "virtual",
    "when",
    "where",
    "while",
    "with",
    "without",
];

/// Reads an Apex class or trigger.
pub fn apex(src: &str) -> ApexFile {
    let toks = tokenize(src, &['\''], false);
    let mut f = ApexFile::default();
    let at = |i: usize| toks.get(i);
    for i in 0..toks.len() {
        let Some(word) = ident(at(i)) else { continue };
        let lower = word.to_ascii_lowercase();
        let prev_dot = i > 0 && is_punct(at(i - 1), '.');
        if i > 0 && is_punct(at(i - 1), '@') {
            if lower == "istest" {
                f.is_test = true;
            }
            continue;
        }
        if lower == "testmethod" {
            f.is_test = true;
            continue;
        }
        // Label.X, System.Label.X
        if lower == "label" && is_punct(at(i + 1), '.') {
            let qualified_ok = !prev_dot
                || (i >= 2 && ident(at(i - 2)).is_some_and(|w| w.eq_ignore_ascii_case("system")));
            if qualified_ok && let Some(name) = ident(at(i + 2)) {
                f.refs.insert(Reference::Label(name.to_string()));
            }
            continue;
        }
        if prev_dot {
            // A member: a field of a known object is read by the caller from `Object.Field`.
            continue;
        }
        if is_custom_object(word) {
            if is_punct(at(i + 1), '.')
                && let Some(field) = ident(at(i + 2))
                && field.to_ascii_lowercase().ends_with("__c")
            {
                f.refs
                    .insert(Reference::Field(word.to_string(), field.to_string()));
            }
            f.refs.insert(Reference::Object(word.to_string()));
            continue;
        }
        if APEX_WORDS.contains(&lower.as_str())
            || word.chars().next().is_some_and(|c| c.is_ascii_digit())
        {
            continue;
        }
        // Standard object with a custom field: `Account.Tier__c` (the caller keeps it only when
        // the object is known, so a variable `acc.Tier__c` is dropped).
        if is_punct(at(i + 1), '.')
            && let Some(field) = ident(at(i + 2))
            && field.to_ascii_lowercase().ends_with("__c")
        {
            f.field_candidates
                .insert((word.to_string(), field.to_string()));
        }
        let static_use = is_punct(at(i + 1), '.');
        let constructed = i > 0 && ident(at(i - 1)).is_some_and(|w| w.eq_ignore_ascii_case("new"));
        let typed = ident(at(i + 1)).is_some();
        let generic = is_punct(at(i + 1), '>')
            || is_punct(at(i + 1), ',')
            || (i > 0 && is_punct(at(i - 1), '<'));
        if static_use || constructed || typed || generic {
            f.class_candidates.insert(word.to_string());
        }
    }
    f
}

/// Reads a file of a Lightning web component or Aura bundle (JavaScript, HTML, `.cmp`…):
/// `@salesforce/label|apex|schema` imports, `$Label.c.X` and an Aura `controller="Class"`.
pub fn lightning(src: &str) -> BTreeSet<Reference> {
    let mut out = BTreeSet::new();
    let toks = tokenize(src, &['\'', '"', '`'], false);
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Str(s) => {
                read_import(s, &mut out);
                let attr = i >= 2
                    && is_punct(toks.get(i - 1), '=')
                    && ident(toks.get(i - 2)).is_some_and(|w| w == "controller");
                if attr && !s.is_empty() {
                    // `ns.Class` names a packaged class: not ours to check.
                    if !s.contains('.') {
                        out.insert(Reference::Class(s.clone()));
                    }
                }
                read_label_expressions(s, &mut out);
            }
            Tok::Ident(w) if w == "$Label" => {
                if is_punct(toks.get(i + 1), '.')
                    && ident(toks.get(i + 2)) == Some("c")
                    && is_punct(toks.get(i + 3), '.')
                    && let Some(name) = ident(toks.get(i + 4))
                {
                    out.insert(Reference::Label(name.to_string()));
                }
            }
            _ => {}
        }
    }
    out
}

/// `$Label.c.X` inside an attribute value (`label="{!$Label.c.X}"`).
fn read_label_expressions(s: &str, out: &mut BTreeSet<Reference>) {
    let mut rest = s;
    while let Some(at) = rest.find("$Label.c.") {
        let tail = &rest[at + "$Label.c.".len()..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(Reference::Label(name));
        }
        rest = tail;
    }
}

fn read_import(s: &str, out: &mut BTreeSet<Reference>) {
    if let Some(name) = s.strip_prefix("@salesforce/label/c.") {
        if !name.is_empty() {
            out.insert(Reference::Label(name.to_string()));
        }
    } else if let Some(path) = s.strip_prefix("@salesforce/apex/") {
        // Class.method, or ns.Class.method for a packaged class.
        let parts: Vec<&str> = path.split('.').collect();
        if parts.len() == 2 && !parts[0].is_empty() {
            out.insert(Reference::Class(parts[0].to_string()));
        }
    } else if let Some(path) = s.strip_prefix("@salesforce/schema/") {
        let parts: Vec<&str> = path.split('.').collect();
        match parts.as_slice() {
            [obj] if !obj.is_empty() => {
                out.insert(Reference::Object(obj.to_string()));
            }
            [obj, field] => {
                if is_custom_object(obj) {
                    out.insert(Reference::Object(obj.to_string()));
                }
                // A relationship path (`Account.Owner.Name`) has more parts: skipped.
                if field.to_ascii_lowercase().ends_with("__c") {
                    out.insert(Reference::Field(obj.to_string(), field.to_string()));
                }
            }
            _ => {}
        }
    }
}

/// How a file is read, from its path: Apex (`.cls`, `.trigger`), Lightning (files under `lwc/`
/// or `aura/`), or not at all.
pub enum SourceKind {
    Apex,
    Lightning,
}

pub fn source_kind(path: &str) -> Option<SourceKind> {
    if path.ends_with(".cls") || path.ends_with(".trigger") {
        return Some(SourceKind::Apex);
    }
    let in_bundle = path.split('/').any(|p| p == "lwc" || p == "aura");
    let ext = path.rsplit('.').next().unwrap_or("");
    (in_bundle
        && matches!(
            ext,
            "js" | "html" | "cmp" | "app" | "evt" | "intf" | "design"
        ))
    .then_some(SourceKind::Lightning)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(src: &str) -> Vec<String> {
        apex(src).class_candidates.into_iter().collect()
    }

    #[test]
    fn apex_labels_plain_and_system_qualified() {
        let f = apex("String a = Label.Greeting; String b = System.Label.Farewell; x.Label.No;");
        assert!(f.refs.contains(&Reference::Label("Greeting".into())));
        assert!(f.refs.contains(&Reference::Label("Farewell".into())));
        assert!(!f.refs.contains(&Reference::Label("No".into())));
    }

    #[test]
    fn comments_and_strings_are_not_references() {
        let src = "// Label.InComment and Ghost.call()\n/* new Phantom(); Obj__c */\n\
                   String s = 'Label.InString Spirit.go() Thing__c';\nReal.run();";
        let f = apex(src);
        assert_eq!(classes(src), ["Real"]);
        assert!(f.refs.is_empty(), "{:?}", f.refs);
    }

    #[test]
    fn class_references_static_new_and_typed() {
        let src = "public class A { Helper h = new Builder(); void m() { Util.go(); \
                   List<Item> xs; Map<Key, Value> m2; } }";
        let c = classes(src);
        for name in ["Helper", "Builder", "Util", "Item", "Key", "Value"] {
            assert!(c.contains(&name.to_string()), "{name} in {c:?}");
        }
        // Language words and members are not candidates.
        for w in ["List", "Map", "public", "class", "void", "go", "m"] {
            assert!(!c.contains(&w.to_string()), "{w} in {c:?}");
        }
    }

    #[test]
    fn objects_and_fields() {
        let f = apex(
            "Invoice__c i = [SELECT Id FROM Invoice__c]; i.Total__c = Invoice__c.Amount__c; \
                      Account.Tier__c; acc.Name; x.Rel__r.Name;",
        );
        assert!(f.refs.contains(&Reference::Object("Invoice__c".into())));
        assert!(
            f.refs
                .contains(&Reference::Field("Invoice__c".into(), "Amount__c".into()))
        );
        // Standard objects and variables look alike: both are candidates for the caller.
        assert!(
            f.field_candidates
                .contains(&("Account".into(), "Tier__c".into()))
        );
        assert!(
            f.field_candidates
                .contains(&("i".into(), "Total__c".into()))
        );
        assert!(
            !f.refs
                .iter()
                .any(|r| matches!(r, Reference::Field(o, _) if o == "i"))
        );
        assert!(
            !f.refs
                .iter()
                .any(|r| matches!(r, Reference::Object(o) if o.contains("__r")))
        );
    }

    #[test]
    fn test_classes_are_recognised() {
        assert!(apex("@isTest private class T { }").is_test);
        assert!(apex("@IsTest(SeeAllData=false) class T {}").is_test);
        assert!(apex("class T { static testMethod void t() {} }").is_test);
        assert!(!apex("class T { // @isTest\n }").is_test);
        assert!(!apex("class T { String s = '@isTest'; }").is_test);
    }

    #[test]
    fn lwc_imports() {
        let js = "import greeting from '@salesforce/label/c.Greeting';\n\
                  import getThings from \"@salesforce/apex/ThingController.getThings\";\n\
                  import TIER from '@salesforce/schema/Account.Tier__c';\n\
                  import INV from '@salesforce/schema/Invoice__c';\n\
                  import PKG from '@salesforce/apex/ns.Pkg.run';\n\
                  // import x from '@salesforce/label/c.Commented';\n";
        let r = lightning(js);
        let want = [
            Reference::Label("Greeting".into()),
            Reference::Class("ThingController".into()),
            Reference::Field("Account".into(), "Tier__c".into()),
            Reference::Object("Invoice__c".into()),
        ];
        for w in &want {
            assert!(r.contains(w), "{w:?} in {r:?}");
        }
        assert_eq!(r.len(), want.len(), "{r:?}");
    }

    #[test]
    fn aura_markup() {
        let cmp = "<aura:component controller=\"AccountCtl\">\n\
                   <lightning:button label=\"{!$Label.c.Save_Label}\"/>\n</aura:component>";
        let r = lightning(cmp);
        assert!(r.contains(&Reference::Class("AccountCtl".into())), "{r:?}");
        assert!(r.contains(&Reference::Label("Save_Label".into())), "{r:?}");
    }

    #[test]
    fn unterminated_input_does_not_panic() {
        let _ = apex("String s = 'open /* ");
        let _ = apex("/* open");
        let _ = lightning("import x from '@salesforce/label/c.");
    }

    #[test]
    fn source_kinds() {
        assert!(matches!(
            source_kind("force-app/main/default/classes/A.cls"),
            Some(SourceKind::Apex)
        ));
        assert!(matches!(
            source_kind("force-app/main/default/lwc/x/x.js"),
            Some(SourceKind::Lightning)
        ));
        assert!(source_kind("force-app/main/default/classes/A.cls-meta.xml").is_none());
        assert!(source_kind("force-app/main/default/staticresources/x.js").is_none());
    }
}
