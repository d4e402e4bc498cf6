//! R16: data filters — named lists of allowed values attached to a user
//! (`country: JP, US`), handed to services in the principal so they can
//! filter rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FieldViolation;

/// A user's data filters: filter name → allowed values (sorted, distinct).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DataFilters(BTreeMap<String, Vec<String>>);

impl DataFilters {
    pub const MAX_FILTERS: usize = 50;
    pub const MAX_VALUES: usize = 500;

    /// Parses `name → values`. Names are lowercase identifiers
    /// (`country`, `sales_region`); values are non-empty, at most 200
    /// characters; a filter with no values is refused (it would hide
    /// everything: remove the filter instead).
    pub fn parse(field: &str, filters: &BTreeMap<String, Vec<String>>) -> Result<Self, FieldViolation> {
        if filters.len() > Self::MAX_FILTERS {
            return Err(FieldViolation::new(field, "must hold at most 50 filters"));
        }
        let mut parsed = BTreeMap::new();
        for (name, values) in filters {
            let name_ok = name.len() <= 64
                && name.chars().next().is_some_and(|first| first.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|character| character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_');
            if !name_ok {
                return Err(FieldViolation::new(
                    format!("{field}.{name}"),
                    "filter names are lowercase identifiers (a-z, 0-9, _)",
                ));
            }
            if values.is_empty() || values.len() > Self::MAX_VALUES {
                return Err(FieldViolation::new(format!("{field}.{name}"), "must hold 1 to 500 values"));
            }
            let mut cleaned: Vec<String> = Vec::with_capacity(values.len());
            for value in values {
                let value = value.trim();
                if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
                    return Err(FieldViolation::new(
                        format!("{field}.{name}"),
                        "values are 1 to 200 printable characters",
                    ));
                }
                cleaned.push(value.to_owned());
            }
            cleaned.sort();
            cleaned.dedup();
            parsed.insert(name.clone(), cleaned);
        }
        Ok(Self(parsed))
    }

    pub fn as_map(&self) -> &BTreeMap<String, Vec<String>> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r16_filters_are_named_value_lists() {
        let input = BTreeMap::from([("country".to_owned(), vec!["US".to_owned(), "JP".to_owned(), "JP".to_owned()])]);
        let filters = DataFilters::parse("data_filters", &input).unwrap();
        assert_eq!(filters.as_map()["country"], ["JP", "US"]);
    }

    #[test]
    fn bad_names_and_empty_lists_are_refused() {
        let bad_name = BTreeMap::from([("Country".to_owned(), vec!["US".to_owned()])]);
        assert_eq!(DataFilters::parse("data_filters", &bad_name).unwrap_err().field, "data_filters.Country");
        let empty = BTreeMap::from([("country".to_owned(), vec![])]);
        assert!(DataFilters::parse("data_filters", &empty).is_err());
    }
}
