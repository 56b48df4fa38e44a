use serde::{Deserialize, Serialize};
use std::fmt;

/// One Salesforce metadata item, e.g. `ApexClass:AccountService` or
/// `CustomField:Account.Region__c`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ComponentRef {
    pub type_name: String,
    pub member: String,
}

impl ComponentRef {
    pub fn new(type_name: impl Into<String>, member: impl Into<String>) -> Self {
        Self {
            type_name: type_name.into(),
            member: member.into(),
        }
    }

    /// Parses `Type:Member` as typed on the command line.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.split_once(':') {
            Some((t, m)) if !t.trim().is_empty() && !m.trim().is_empty() => {
                Ok(Self::new(t.trim(), m.trim()))
            }
            _ => Err(format!(
                "'{text}' is not a component: write TYPE:NAME, e.g. ApexClass:AccountService"
            )),
        }
    }
}

impl fmt::Display for ComponentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.type_name, self.member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let c = ComponentRef::parse("CustomField:Account.Region__c").unwrap();
        assert_eq!(c.type_name, "CustomField");
        assert_eq!(c.member, "Account.Region__c");
        assert_eq!(c.to_string(), "CustomField:Account.Region__c");
        assert!(ComponentRef::parse("NoColon").is_err());
        assert!(ComponentRef::parse(":x").is_err());
    }
}
