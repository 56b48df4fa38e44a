//! Records held by simulated orgs: a generic per-org store (objects → rows in id order) with the
//! objects' describe, seeded with a deterministic demo data set of realistic fake PII.
//!
//! Production's records are the "production copy": every sandbox starts with the same records
//! (same ids) and gets production's current records again when a refresh completes. An org's
//! records are seeded when first used and, once written to, saved to
//! `<state>/records/<org>.json`. Adding an object is adding an [`ObjectDef`] to [`OBJECTS`] and
//! a row generator to [`seed_row`].

use super::model::SimState;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// One field of an object's describe.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    pub name: &'static str,
    /// Describe type: `id`, `string`, `email`, `phone`, `textarea`, `reference`, `date`, `picklist`.
    pub ty: &'static str,
    pub updateable: bool,
    pub nillable: bool,
    pub length: usize,
}

/// An object the store can hold.
#[derive(Debug)]
pub struct ObjectDef {
    pub name: &'static str,
    /// The three-character id prefix.
    pub prefix: &'static str,
    pub fields: &'static [FieldDef],
}

const fn f(name: &'static str, ty: &'static str, length: usize) -> FieldDef {
    FieldDef {
        name,
        ty,
        updateable: true,
        nillable: true,
        length,
    }
}
const ID: FieldDef = FieldDef {
    name: "Id",
    ty: "id",
    updateable: false,
    nillable: false,
    length: 18,
};
const fn required(name: &'static str, ty: &'static str, length: usize) -> FieldDef {
    FieldDef {
        name,
        ty,
        updateable: true,
        nillable: false,
        length,
    }
}

/// The objects simulated orgs hold records of.
pub static OBJECTS: &[ObjectDef] = &[
    ObjectDef {
        name: "Account",
        prefix: "001",
        fields: &[
            ID,
            required("Name", "string", 255),
            f("Phone", "phone", 40),
            f("BillingStreet", "textarea", 255),
            f("BillingCity", "string", 40),
            f("Website", "url", 255),
            f("Industry", "picklist", 255),
        ],
    },
    ObjectDef {
        name: "Contact",
        prefix: "003",
        fields: &[
            ID,
            f("AccountId", "reference", 18),
            f("FirstName", "string", 40),
            required("LastName", "string", 80),
            f("Email", "email", 80),
            f("Phone", "phone", 40),
            f("MobilePhone", "phone", 40),
            f("MailingStreet", "textarea", 255),
            f("MailingCity", "string", 40),
            f("Birthdate", "date", 10),
            f("Title", "string", 128),
            f("Description", "textarea", 32000),
        ],
    },
    ObjectDef {
        name: "Lead",
        prefix: "00Q",
        fields: &[
            ID,
            f("FirstName", "string", 40),
            required("LastName", "string", 80),
            required("Company", "string", 255),
            f("Email", "email", 80),
            f("Phone", "phone", 40),
            f("Street", "textarea", 255),
            f("City", "string", 40),
            f("Status", "picklist", 255),
        ],
    },
    ObjectDef {
        name: "Case",
        prefix: "500",
        fields: &[
            ID,
            f("ContactId", "reference", 18),
            f("Subject", "string", 255),
            f("Description", "textarea", 32000),
            f("SuppliedEmail", "email", 80),
            f("SuppliedPhone", "phone", 40),
            f("Status", "picklist", 255),
        ],
    },
];

/// The object named `name` (any case).
pub fn object(name: &str) -> Option<&'static ObjectDef> {
    OBJECTS.iter().find(|o| o.name.eq_ignore_ascii_case(name))
}

impl ObjectDef {
    pub fn field(&self, name: &str) -> Option<&'static FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The REST describe of the object.
    pub fn describe(&self) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|f| {
                json!({"name": f.name, "label": f.name, "type": f.ty, "updateable": f.updateable,
                    "createable": f.updateable, "nillable": f.nillable, "length": f.length,
                    "custom": false, "calculated": false})
            })
            .collect();
        json!({"name": self.name, "label": self.name, "keyPrefix": self.prefix,
            "queryable": true, "updateable": true, "custom": false, "fields": fields})
    }
}

/// One org's rows: object name → rows ordered by id, with an id → position index.
#[derive(Debug, Clone, Default)]
pub struct OrgRecords {
    pub objects: BTreeMap<String, Vec<Map<String, Value>>>,
    index: HashMap<String, (String, usize)>,
}

impl OrgRecords {
    fn reindex(&mut self) {
        self.index.clear();
        for (obj, rows) in &self.objects {
            for (i, r) in rows.iter().enumerate() {
                if let Some(id) = r.get("Id").and_then(Value::as_str) {
                    self.index.insert(id.to_string(), (obj.clone(), i));
                }
            }
        }
    }

    pub fn rows(&self, object: &str) -> &[Map<String, Value>] {
        self.objects.get(object).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The row with this id in `object`.
    pub fn get_mut(&mut self, object: &str, id: &str) -> Option<&mut Map<String, Value>> {
        let (obj, i) = self.index.get(id)?.clone();
        if !obj.eq_ignore_ascii_case(object) {
            return None;
        }
        self.objects.get_mut(&obj)?.get_mut(i)
    }
}

/// How many records of each object a production copy is seeded with (settings may change it).
pub fn default_counts() -> BTreeMap<String, usize> {
    [("Account", 20), ("Contact", 60), ("Lead", 40), ("Case", 30)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// Seeds the demo data set: the same for every org (it is the production copy).
pub fn seed(counts: &BTreeMap<String, usize>) -> OrgRecords {
    let mut out = OrgRecords::default();
    let n = |o: &str| counts.get(o).copied().unwrap_or(0);
    let (accounts, contacts) = (n("Account"), n("Contact"));
    for def in OBJECTS {
        let rows = (0..n(def.name))
            .map(|i| {
                let mut row = seed_row(def.name, i, accounts, contacts);
                row.insert("Id".into(), Value::String(record_id(def.prefix, i)));
                row
            })
            .collect();
        out.objects.insert(def.name.to_string(), rows);
    }
    out.reindex();
    out
}

fn record_id(prefix: &str, i: usize) -> String {
    format!("{prefix}5g{:0>10}AAA", i + 1)
}

const FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Lucas", "Mia", "Ethan", "Amara",
    "Hiro", "Priya", "Jonas", "Lena", "Omar", "Chloé", "Diego", "Ingrid", "Kwame",
];
const LAST: &[&str] = &[
    "Smith",
    "Garcia",
    "Nguyen",
    "Müller",
    "Okafor",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Patel",
    "O'Brien",
    "Silva",
    "Johansson",
    "Dubois",
    "Kim",
    "Haddad",
    "Novak",
    "Fischer",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "outlook.com",
    "acme-corp.com",
    "globex.io",
    "initech.net",
];
const STREETS: &[&str] = &[
    "Market St",
    "Elm Ave",
    "Queen St W",
    "Rue de Rivoli",
    "Hauptstraße",
];
const CITIES: &[&str] = &[
    "San Francisco",
    "Toronto",
    "Paris",
    "Berlin",
    "Austin",
    "Lagos",
];
const COMPANIES: &[&str] = &["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne"];

/// A small deterministic mixer (splitmix64), so seeded data is the same on every machine.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pick<'a>(list: &[&'a str], salt: u64, i: usize) -> &'a str {
    list[(mix(salt ^ (i as u64).wrapping_mul(0x1000_0001)) % list.len() as u64) as usize]
}

/// A person of the data set: the `k`-th contact; leads reuse some contacts' people, so the
/// same email appears on a Contact and on a Lead.
fn person(k: usize) -> (String, String, String, String, String) {
    let first = pick(FIRST, 1, k);
    let last = pick(LAST, 2, k);
    let local: String = format!("{first}.{last}{k}")
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let email = format!("{local}@{}", pick(DOMAINS, 3, k));
    let phone = format!(
        "({:03}) {:03}-{:04}",
        200 + mix(k as u64 ^ 4) % 700,
        200 + mix(k as u64 ^ 5) % 700,
        mix(k as u64 ^ 6) % 10_000
    );
    let street = format!("{} {}", 1 + mix(k as u64 ^ 7) % 2000, pick(STREETS, 8, k));
    (first.into(), last.into(), email, phone, street)
}

fn seed_row(object: &str, i: usize, accounts: usize, contacts: usize) -> Map<String, Value> {
    let json = match object {
        "Account" => json!({
            "Name": format!("{} {}", pick(COMPANIES, 9, i), pick(CITIES, 10, i)),
            "Phone": person(i + 100_000).3, "BillingStreet": person(i + 100_000).4,
            "BillingCity": pick(CITIES, 10, i), "Website": format!("https://{}.example.com", pick(COMPANIES, 9, i).to_lowercase()),
            "Industry": pick(&["Technology", "Retail", "Banking"], 11, i),
        }),
        "Contact" => {
            let (first, last, email, phone, street) = person(i);
            json!({
                "AccountId": (accounts > 0).then(|| record_id("001", i % accounts.max(1))),
                "FirstName": first, "LastName": last, "Email": email, "Phone": phone,
                "MobilePhone": person(i + 200_000).3, "MailingStreet": street,
                "MailingCity": pick(CITIES, 12, i),
                "Birthdate": format!("19{:02}-{:02}-{:02}", 50 + mix(i as u64 ^ 13) % 50, 1 + mix(i as u64 ^ 14) % 12, 1 + mix(i as u64 ^ 15) % 28),
                "Title": pick(&["CFO", "Buyer", "Engineer", "Office Manager"], 16, i),
                "Description": format!("Prefers calls after 5pm; spouse {}", pick(FIRST, 17, i)),
            })
        }
        "Lead" => {
            // Every third lead is a contact's person (same email); the others are new people.
            let k = if i.is_multiple_of(3) && contacts > 0 {
                (i / 3) % contacts
            } else {
                300_000 + i
            };
            let (first, last, email, phone, street) = person(k);
            json!({
                "FirstName": first, "LastName": last, "Company": pick(COMPANIES, 18, i),
                "Email": email, "Phone": phone, "Street": street, "City": pick(CITIES, 19, i),
                "Status": "Open - Not Contacted",
            })
        }
        "Case" => {
            let c = (contacts > 0).then(|| i % contacts);
            let (_, _, email, phone, _) = person(c.unwrap_or(400_000 + i));
            json!({
                "ContactId": c.map(|c| record_id("003", c)),
                "Subject": format!("Billing question #{}", 1000 + i),
                "Description": format!("Customer called from {phone} about invoice {}", 5000 + i),
                "SuppliedEmail": email, "SuppliedPhone": phone, "Status": "New",
            })
        }
        _ => json!({}),
    };
    json.as_object().cloned().unwrap_or_default()
}

/// The org's records, seeded (or loaded from the state dir) on first use.
pub fn org_records<'a>(st: &'a mut SimState, org: &str) -> &'a mut OrgRecords {
    if !st.records.contains_key(org) {
        let loaded = st
            .dir
            .as_ref()
            .map(|d| d.join("records").join(format!("{org}.json")))
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| {
                serde_json::from_slice::<BTreeMap<String, Vec<Map<String, Value>>>>(&b).ok()
            });
        let mut recs = match loaded {
            Some(objects) => OrgRecords {
                objects,
                index: HashMap::new(),
            },
            None => seed(&st.settings.record_counts),
        };
        recs.reindex();
        st.records.insert(org.to_string(), recs);
    }
    st.records.entry(org.to_string()).or_default()
}

/// Saves an org's records after a write (no-op without a state dir).
pub fn save(st: &SimState, org: &str) -> std::io::Result<()> {
    let (Some(dir), Some(recs)) = (&st.dir, st.records.get(org)) else {
        return Ok(());
    };
    let dir = dir.join("records");
    std::fs::create_dir_all(&dir)?;
    let tmp = dir.join(format!("{org}.json.tmp"));
    std::fs::write(
        &tmp,
        serde_json::to_vec(&recs.objects).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, dir.join(format!("{org}.json")))
}

/// A completed refresh: the sandbox gets production's current records.
pub fn copy_production(st: &mut SimState, prod: &str, sandbox: &str) -> std::io::Result<()> {
    let copy = org_records(st, prod).clone();
    st.records.insert(sandbox.to_string(), copy);
    save(st, sandbox)
}

/// Rows of `object` for the SOQL engine, or `None` for an object the store does not hold.
pub fn query_rows(st: &mut SimState, org: &str, object: &str) -> Option<Vec<Map<String, Value>>> {
    let def = object_def_for(object)?;
    Some(org_records(st, org).rows(def.name).to_vec())
}

fn object_def_for(name: &str) -> Option<&'static ObjectDef> {
    object(name)
}

/// Updates one record from `fields` (API name → value; `None` = blank it). The error is the
/// Salesforce status code and message for that row.
pub fn update(
    st: &mut SimState,
    org: &str,
    object: &str,
    id: &str,
    fields: &[(String, Option<String>)],
) -> Result<(), (String, String)> {
    let def = object_def_for(object).ok_or_else(|| {
        (
            "INVALID_TYPE".to_string(),
            format!("sObject type '{object}' is not supported."),
        )
    })?;
    if st.settings.row_failures > 0 {
        st.settings.row_failures -= 1;
        return Err((
            "UNABLE_TO_LOCK_ROW".into(),
            "unable to obtain exclusive access to this record".into(),
        ));
    }
    let mut checked = Vec::new();
    for (name, value) in fields {
        let Some(fd) = def.field(name) else {
            return Err((
                "INVALID_FIELD".into(),
                format!("No such column '{name}' on entity '{}'", def.name),
            ));
        };
        if !fd.updateable {
            return Err((
                "INVALID_FIELD_FOR_INSERT_UPDATE".into(),
                format!("Unable to create/update fields: {}", fd.name),
            ));
        }
        match value {
            None if !fd.nillable => {
                return Err((
                    "REQUIRED_FIELD_MISSING".into(),
                    format!("Required fields are missing: [{}]", fd.name),
                ));
            }
            Some(v) if v.chars().count() > fd.length => {
                return Err((
                    "STRING_TOO_LONG".into(),
                    format!(
                        "{}: data value too large: {v} (max length={})",
                        fd.name, fd.length
                    ),
                ));
            }
            _ => {}
        }
        checked.push((fd.name, value.clone()));
    }
    let row = org_records(st, org).get_mut(def.name, id).ok_or_else(|| {
        (
            "INVALID_CROSS_REFERENCE_KEY".to_string(),
            format!("invalid cross reference id: {id}"),
        )
    })?;
    for (name, value) in checked {
        row.insert(name.into(), value.map(Value::String).unwrap_or(Value::Null));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_set_is_deterministic_and_related() {
        let a = seed(&default_counts());
        let b = seed(&default_counts());
        assert_eq!(a.objects, b.objects);
        let contacts = a.rows("Contact");
        assert_eq!(contacts.len(), 60);
        let emails: std::collections::BTreeSet<_> = contacts
            .iter()
            .filter_map(|r| r["Email"].as_str())
            .collect();
        let shared = a
            .rows("Lead")
            .iter()
            .filter(|l| l["Email"].as_str().is_some_and(|e| emails.contains(e)))
            .count();
        assert!(shared >= 10, "{shared} leads share a contact's email");
        assert!(contacts[0]["Id"].as_str().unwrap().starts_with("003"));
        assert_eq!(contacts[0]["Id"].as_str().unwrap().len(), 18);
    }

    #[test]
    fn updates_check_fields_like_salesforce() {
        let mut st = SimState::default();
        st.settings.record_counts = default_counts();
        let id = org_records(&mut st, "qa").rows("Contact")[0]["Id"]
            .as_str()
            .unwrap()
            .to_string();
        let set = |f: &str, v: Option<&str>| vec![(f.to_string(), v.map(str::to_string))];
        assert!(update(&mut st, "qa", "Contact", &id, &set("Email", Some("x@y.z"))).is_ok());
        assert_eq!(
            org_records(&mut st, "qa").rows("Contact")[0]["Email"],
            "x@y.z"
        );
        let e = update(&mut st, "qa", "Contact", &id, &set("LastName", None)).unwrap_err();
        assert_eq!(e.0, "REQUIRED_FIELD_MISSING");
        let e = update(&mut st, "qa", "Contact", &id, &set("Nope", Some("1"))).unwrap_err();
        assert_eq!(e.0, "INVALID_FIELD");
        let e = update(&mut st, "qa", "Lead", &id, &set("Email", Some("a@b.c"))).unwrap_err();
        assert_eq!(e.0, "INVALID_CROSS_REFERENCE_KEY");
    }
}

/// A Bulk API 2.0 job (query or ingest), held in memory.
#[derive(Debug, Clone)]
pub struct BulkJob {
    pub id: String,
    pub org: String,
    pub object: String,
    /// `query` or `update`.
    pub operation: String,
    pub state: String,
    pub created: String,
    /// Status polls seen; a job advances one state per poll.
    pub polls: u32,
    /// Query: the result columns. Ingest: the uploaded CSV's header.
    pub header: Vec<String>,
    /// Query: the result rows. Ingest: the uploaded rows.
    pub rows: Vec<Vec<String>>,
    pub query: String,
    /// Ingest results per uploaded row: (record id, error or None).
    pub results: Vec<(String, Option<String>)>,
    pub processed: usize,
    pub failed: usize,
    pub error: Option<String>,
}
