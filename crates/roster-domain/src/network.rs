//! R15: each user's IP allowlist — addresses or CIDR ranges, `*` for any.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::FieldViolation;

/// Where a user may log in from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<String>", try_from = "Vec<String>")]
pub enum IpAllowlist {
    /// `*`: anywhere.
    #[default]
    Anywhere,
    /// Only from these networks (a single address is a /32 or /128).
    Networks(Vec<IpNet>),
}

impl IpAllowlist {
    /// At most this many entries.
    pub const MAX_ENTRIES: usize = 100;

    /// Parses entries such as `203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`
    /// or `*`. An empty list is refused: it would lock the user out.
    pub fn parse(field: &str, entries: &[String]) -> Result<Self, FieldViolation> {
        if entries.is_empty() {
            return Err(FieldViolation::new(field, "must hold at least one entry (use \"*\" for anywhere)"));
        }
        if entries.len() > Self::MAX_ENTRIES {
            return Err(FieldViolation::new(field, "must hold at most 100 entries"));
        }
        let mut networks = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let entry = entry.trim();
            if entry == "*" {
                return if entries.len() == 1 {
                    Ok(Self::Anywhere)
                } else {
                    Err(FieldViolation::new(format!("{field}[{index}]"), "\"*\" must be the only entry"))
                };
            }
            let network =
                entry.parse::<IpNet>().or_else(|_| entry.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                    FieldViolation::new(format!("{field}[{index}]"), "must be an IP address, a CIDR range or \"*\"")
                })?;
            networks.push(network.trunc());
        }
        Ok(Self::Networks(networks))
    }

    /// Whether a login from `address` is allowed.
    pub fn allows(&self, address: IpAddr) -> bool {
        match self {
            Self::Anywhere => true,
            Self::Networks(networks) => {
                let address = match address {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
                    v4 => v4,
                };
                networks.iter().any(|network| network.contains(&address))
            }
        }
    }

    /// The entries as text (`*` for anywhere).
    pub fn entries(&self) -> Vec<String> {
        match self {
            Self::Anywhere => vec!["*".to_owned()],
            Self::Networks(networks) => networks.iter().map(ToString::to_string).collect(),
        }
    }
}

impl From<IpAllowlist> for Vec<String> {
    fn from(allowlist: IpAllowlist) -> Self {
        allowlist.entries()
    }
}

impl TryFrom<Vec<String>> for IpAllowlist {
    type Error = String;

    fn try_from(entries: Vec<String>) -> Result<Self, Self::Error> {
        Self::parse("ip_allowlist", &entries).map_err(|violation| violation.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Result<IpAllowlist, FieldViolation> {
        IpAllowlist::parse("ip_allowlist", &entries.iter().map(|entry| entry.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn r15_star_allows_anywhere() {
        let allowlist = list(&["*"]).unwrap();
        assert!(allowlist.allows("198.51.100.1".parse().unwrap()));
        assert!(allowlist.allows("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn r15_addresses_and_cidr_ranges_of_both_families() {
        let allowlist = list(&["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"]).unwrap();
        assert!(allowlist.allows("203.0.113.7".parse().unwrap()));
        assert!(!allowlist.allows("203.0.113.8".parse().unwrap()));
        assert!(allowlist.allows("10.200.3.4".parse().unwrap()));
        assert!(allowlist.allows("2001:db8:ffff::1".parse().unwrap()));
        assert!(!allowlist.allows("2001:db9::1".parse().unwrap()));
        assert!(allowlist.allows("::ffff:10.1.2.3".parse().unwrap()), "ipv4-mapped ipv6 counts as ipv4");
    }

    #[test]
    fn invalid_entries_name_their_index() {
        assert_eq!(list(&["10.0.0.0/8", "not-an-ip"]).unwrap_err().field, "ip_allowlist[1]");
        assert_eq!(list(&["10.0.0.0/33"]).unwrap_err().field, "ip_allowlist[0]");
        assert!(list(&[]).is_err());
        assert!(list(&["*", "10.0.0.1"]).is_err());
    }

    #[test]
    fn host_bits_are_truncated() {
        assert_eq!(list(&["10.1.2.3/8"]).unwrap().entries(), ["10.0.0.0/8"]);
    }
}
