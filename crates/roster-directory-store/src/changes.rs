//! The `changes` of an audit event: `{"field": {"before": x, "after": y}}`
//! for the fields that changed, and never a secret (R9, R43).

use serde::Serialize;
use serde_json::{json, Map, Value};

/// Collects changed fields for one audit event.
#[derive(Debug, Default)]
pub(crate) struct Changes(Map<String, Value>);

fn to_json(value: impl Serialize) -> Value {
    // Only plain data (strings, ids, lists) is recorded; it always serialises.
    serde_json::to_value(value).unwrap_or(Value::Null)
}

impl Changes {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records `field` when `before` and `after` differ.
    pub(crate) fn field(&mut self, field: &str, before: impl Serialize, after: impl Serialize) -> &mut Self {
        let (before, after) = (to_json(before), to_json(after));
        if before != after {
            self.0.insert(field.to_owned(), json!({ "before": before, "after": after }));
        }
        self
    }

    /// A field set by a creation: `before` is null.
    pub(crate) fn created(&mut self, field: &str, after: impl Serialize) -> &mut Self {
        self.0.insert(field.to_owned(), json!({ "before": null, "after": to_json(after) }));
        self
    }

    /// A field removed by a deletion: `after` is null.
    pub(crate) fn removed(&mut self, field: &str, before: impl Serialize) -> &mut Self {
        self.0.insert(field.to_owned(), json!({ "before": to_json(before), "after": null }));
        self
    }

    /// A fact that is not a before/after pair (`"password": "changed"`).
    pub(crate) fn note(&mut self, field: &str, value: impl Serialize) -> &mut Self {
        self.0.insert(field.to_owned(), to_json(value));
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn into_json(self) -> Value {
        Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_fields_are_recorded() {
        let mut changes = Changes::new();
        changes.field("email", "a@example.com", "b@example.com").field("display_name", "Ann", "Ann");
        assert_eq!(changes.into_json(), json!({ "email": { "before": "a@example.com", "after": "b@example.com" } }));
    }
}
