//! The pure rules of Initial DNS Seedlist Discovery and of SRV polling: which SRV targets are
//! acceptable, what a TXT answer means, and which hosts to use.

use rand::Rng;

use crate::error::{Error, Result};
use crate::options::ServerAddress;

/// The only options a TXT record may set.
const TXT_ALLOWED: &[&str] = &["authsource", "replicaset", "loadbalanced"];

/// Checks that an SRV `target` shares the `{domainname}` of `srv_host` (the name in the
/// connection string): with three or more labels the domain is all but the first label; with
/// fewer it is the whole name, and the target needs at least one more label.
pub(crate) fn check_domain(srv_host: &str, target: &str) -> Result<()> {
    let srv_host = srv_host.trim_end_matches('.').to_ascii_lowercase();
    let target = target.trim_end_matches('.').to_ascii_lowercase();
    let labels = srv_host.split('.').count();
    let domain = if labels >= 3 {
        srv_host.split_once('.').map_or("", |(_, rest)| rest)
    } else {
        srv_host.as_str()
    };
    let ok = target
        .strip_suffix(domain)
        .is_some_and(|head| head.len() > 1 && head.ends_with('.'));
    if ok {
        return Ok(());
    }
    let rule = if labels >= 3 {
        format!("every host must be in the domain {domain:?}")
    } else {
        format!(
            "{srv_host:?} has fewer than three labels, so every host must be a name under it \
             (e.g. \"db.{srv_host}\")"
        )
    };
    Err(Error::dns_resolve(format!(
        "mongodb+srv://{srv_host}: the SRV record names the host {target:?}, which is outside \
         the domain of {srv_host:?}; {rule}. No host of this answer is used: fix the SRV \
         records or use a mongodb:// connection string"
    )))
}

/// The connection options of a TXT answer (each record a list of strings): none, or the one
/// record's strings concatenated, holding only `authSource`, `replicaSet` and `loadBalanced`.
pub(crate) fn txt_options(srv_host: &str, records: &[Vec<Vec<u8>>]) -> Result<Option<String>> {
    let record = match records {
        [] => return Ok(None),
        [one] => one,
        _ => {
            return Err(Error::dns_resolve(format!(
                "mongodb+srv://{srv_host}: the name has {} TXT records; at most one is allowed \
                 (options go in one record, joined by '&'); remove the others",
                records.len()
            )))
        }
    };
    let bytes: Vec<u8> = record.iter().flatten().copied().collect();
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::dns_resolve(format!(
            "mongodb+srv://{srv_host}: the TXT record is not UTF-8 text; it must hold \
             connection string options such as replicaSet=rs0&authSource=admin"
        ))
    })?;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        if !TXT_ALLOWED.contains(&key.to_ascii_lowercase().as_str()) {
            return Err(Error::dns_resolve(format!(
                "mongodb+srv://{srv_host}: the TXT record sets {key:?}, which a TXT record may \
                 not set (only authSource, replicaSet and loadBalanced); remove it from the TXT \
                 record and put it in the connection string"
            )));
        }
    }
    Ok(Some(text))
}

/// `srvMaxHosts`: all hosts when `max` is 0 or at least their number, else `max` of them at
/// random (Fisher–Yates).
pub(crate) fn select_hosts(
    mut hosts: Vec<ServerAddress>,
    max: u32,
    rng: &mut impl Rng,
) -> Vec<ServerAddress> {
    let max = max as usize;
    if max == 0 || max >= hosts.len() {
        return hosts;
    }
    shuffle(&mut hosts, rng);
    hosts.truncate(max);
    hosts
}

/// Polling SRV Records for mongos Discovery: the new seed list after a rescan found `found`.
/// Hosts still present are kept (in order), vanished ones dropped, and new ones added (at
/// random when `srv_max_hosts` is positive) until there are `srv_max_hosts` hosts. The caller
/// keeps `current` when a rescan fails or finds nothing.
pub(crate) fn apply_srv_poll(
    current: &[ServerAddress],
    found: &[ServerAddress],
    srv_max_hosts: u32,
    rng: &mut impl Rng,
) -> Vec<ServerAddress> {
    let mut next: Vec<ServerAddress> = current
        .iter()
        .filter(|h| found.contains(h))
        .cloned()
        .collect();
    let mut new: Vec<ServerAddress> = Vec::new();
    for host in found {
        if !next.contains(host) && !new.contains(host) {
            new.push(host.clone());
        }
    }
    let room = match srv_max_hosts as usize {
        0 => new.len(),
        max => max.saturating_sub(next.len()).min(new.len()),
    };
    if room < new.len() {
        shuffle(&mut new, rng);
    }
    next.extend(new.into_iter().take(room));
    next
}

/// Fisher–Yates (Durstenfeld).
fn shuffle<T>(items: &mut [T], rng: &mut impl Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::error::ErrorKind;

    fn host(name: &str, port: u16) -> ServerAddress {
        ServerAddress::Tcp {
            host: name.into(),
            port: Some(port),
        }
    }

    fn message(e: Error) -> String {
        match *e.kind {
            ErrorKind::DnsResolve { message } => message,
            other => panic!("expected DnsResolve, got {other:?}"),
        }
    }

    #[test]
    fn three_labels_or_more_share_all_but_the_first() {
        assert!(check_domain("cluster0.example.com", "a.example.com").is_ok());
        assert!(check_domain("cluster0.example.com", "a.b.example.com.").is_ok());
        assert!(check_domain("Cluster0.Example.COM", "A.EXAMPLE.com").is_ok());
        assert!(check_domain("cluster0.example.com", "cluster0.example.com").is_ok());
        let m = message(check_domain("cluster0.example.com", "a.evil.com").unwrap_err());
        assert!(
            m.contains("\"a.evil.com\"") && m.contains("\"example.com\""),
            "{m}"
        );
        // A suffix that is not on a label boundary does not count.
        assert!(check_domain("cluster0.example.com", "aexample.com").is_err());
        assert!(check_domain("cluster0.example.com", "example.com").is_err());
    }

    #[test]
    fn fewer_than_three_labels_need_one_more_label() {
        assert!(check_domain("test.localhost", "db.test.localhost").is_ok());
        assert!(check_domain("localhost", "db.localhost").is_ok());
        let m = message(check_domain("test.localhost", "test.localhost").unwrap_err());
        assert!(m.contains("fewer than three labels"), "{m}");
        assert!(check_domain("localhost", "localhost").is_err());
        assert!(check_domain("mongo.local", "db.evil.local").is_err());
        assert!(check_domain("localhost", "evil").is_err());
    }

    fn strings(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    #[test]
    fn txt_strings_are_concatenated() {
        let records = vec![strings(&["replicaSet=rs0&auth", "Source=admin"])];
        assert_eq!(
            txt_options("h", &records).unwrap().as_deref(),
            Some("replicaSet=rs0&authSource=admin")
        );
        assert_eq!(txt_options("h", &[]).unwrap(), None);
        let records = vec![strings(&["loadBalanced=true"])];
        assert!(txt_options("h", &records).unwrap().is_some());
    }

    #[test]
    fn two_txt_records_are_an_error() {
        let records = vec![strings(&["replicaSet=rs0"]), strings(&["authSource=a"])];
        let m = message(txt_options("h.example.com", &records).unwrap_err());
        assert!(m.contains("2 TXT records"), "{m}");
    }

    #[test]
    fn only_three_options_are_allowed_in_txt() {
        for bad in [
            "ssl=true",
            "tls=false",
            "w=1",
            "replicaSet=rs0&connectTimeoutMS=1",
        ] {
            let records = vec![strings(&[bad])];
            let m = message(txt_options("h", &records).unwrap_err());
            assert!(m.contains("may not set"), "{bad}: {m}");
        }
        let records = vec![vec![vec![0xff, 0xfe]]];
        assert!(txt_options("h", &records).is_err());
    }

    #[test]
    fn srv_max_hosts_selects_at_random() {
        let all: Vec<_> = (1..=5).map(|i| host("h.example.com", i)).collect();
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(select_hosts(all.clone(), 0, &mut rng), all);
        assert_eq!(select_hosts(all.clone(), 5, &mut rng), all);
        assert_eq!(select_hosts(all.clone(), 9, &mut rng), all);
        let two = select_hosts(all.clone(), 2, &mut rng);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        assert!(two.iter().all(|h| all.contains(h)));
        // Every host gets picked some of the time.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(select_hosts(all.clone(), 1, &mut rng));
        }
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn a_poll_keeps_present_hosts_drops_vanished_ones_and_adds_new_ones() {
        let (a, b, c) = (host("a", 1), host("b", 1), host("c", 1));
        let mut rng = StdRng::seed_from_u64(1);
        let next = apply_srv_poll(
            &[a.clone(), b.clone()],
            &[b.clone(), c.clone()],
            0,
            &mut rng,
        );
        assert_eq!(next, vec![b.clone(), c.clone()]);
        // Nothing changed: same list, same order.
        let same = apply_srv_poll(
            &[a.clone(), b.clone()],
            &[b.clone(), a.clone()],
            0,
            &mut rng,
        );
        assert_eq!(same, vec![a.clone(), b.clone()]);
        // Duplicates in the answer are added once.
        let dup = apply_srv_poll(&[], &[c.clone(), c.clone()], 0, &mut rng);
        assert_eq!(dup, vec![c.clone()]);
    }

    #[test]
    fn a_poll_respects_srv_max_hosts() {
        let (a, b, c, d) = (host("a", 1), host("b", 1), host("c", 1), host("d", 1));
        let mut rng = StdRng::seed_from_u64(3);
        // Full: no room for new hosts while the old ones remain.
        let full = apply_srv_poll(
            &[a.clone(), b.clone()],
            &[a.clone(), b.clone(), c.clone()],
            2,
            &mut rng,
        );
        assert_eq!(full, vec![a.clone(), b.clone()]);
        // One vanished: one of the new ones takes its place.
        let next = apply_srv_poll(
            &[a.clone(), b.clone()],
            &[a.clone(), c.clone(), d.clone()],
            2,
            &mut rng,
        );
        assert_eq!(next.len(), 2);
        assert_eq!(next[0], a);
        assert!(next[1] == c || next[1] == d);
        // Both new ones are picked some of the time.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            seen.insert(
                apply_srv_poll(
                    std::slice::from_ref(&a),
                    &[a.clone(), c.clone(), d.clone()],
                    2,
                    &mut rng,
                )[1]
                .clone(),
            );
        }
        assert_eq!(seen.len(), 2);
        // Above the limit already (srvMaxHosts lowered): present hosts are kept, none added.
        let kept = apply_srv_poll(
            &[a.clone(), b.clone(), c.clone()],
            &[a.clone(), b.clone(), c.clone(), d.clone()],
            2,
            &mut rng,
        );
        assert_eq!(kept, vec![a, b, c]);
    }
}
