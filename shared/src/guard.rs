//! The address guard: which IP addresses Hookline may open a connection to.
//!
//! Checked on the resolved address at connect time (through [`GuardedResolver`]) and on IP-literal
//! hosts before sending, so a DNS name pointing at the metadata service is refused like the
//! literal address would be.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// What the deployment lets deliveries reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Local development only: loopback (127.0.0.0/8, ::1) is reachable.
    pub allow_loopback: bool,
}

impl AddressPolicy {
    pub fn permits(self, ip: IpAddr) -> bool {
        match classify(ip) {
            Reach::Public => true,
            Reach::Loopback => self.allow_loopback,
            Reach::Forbidden => false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Reach {
    Public,
    Loopback,
    Forbidden,
}

fn classify(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// IPv4 ranges that are not the public internet: RFC 6890 and friends.
const FORBIDDEN_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),       // "this network", including 0.0.0.0
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // carrier-grade NAT
    ([169, 254, 0, 0], 16),  // link-local, the instance metadata service among them
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and the broadcast address
];

fn classify_v4(ip: Ipv4Addr) -> Reach {
    if ip.is_loopback() {
        Reach::Loopback
    } else if FORBIDDEN_V4.iter().any(|(net, prefix)| in_v4(ip, *net, *prefix)) {
        Reach::Forbidden
    } else {
        Reach::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Reach {
    if ip == Ipv6Addr::LOCALHOST {
        return Reach::Loopback;
    }
    // IPv4-mapped (::ffff:a.b.c.d) reaches the IPv4 address inside it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let seg = ip.segments();
    let forbidden = ip.is_unspecified()
        || seg[0..6] == [0; 6]                        // IPv4-compatible ::a.b.c.d (deprecated)
        || seg[0..6] == [0x64, 0xff9b, 0, 0, 0, 0]    // NAT64 64:ff9b::/96 reaches IPv4 inside
        || seg[0..3] == [0x64, 0xff9b, 1]             // local-use NAT64 64:ff9b:1::/48 (RFC 8215)
        || seg[0..6] == [0, 0, 0, 0, 0xffff, 0]       // SIIT IPv4-translated ::ffff:0:a.b.c.d (RFC 2765)
        || seg[0] & 0xfe00 == 0xfc00                  // unique local fc00::/7
        || seg[0] & 0xffc0 == 0xfe80                  // link-local fe80::/10
        || seg[0] & 0xffc0 == 0xfec0                  // site-local fec0::/10 (deprecated)
        || seg[0] & 0xff00 == 0xff00                  // multicast
        || (seg[0] == 0x2001 && seg[1] == 0x0db8)     // documentation 2001:db8::/32
        || (seg[0] == 0x2001 && seg[1] < 0x0200)      // IETF protocol assignments, Teredo
        || seg[0] == 0x2002                           // 6to4 reaches IPv4 inside
        || (seg[0] == 0x0100 && seg[1..4] == [0; 3]); // discard-only 100::/64
    if forbidden { Reach::Forbidden } else { Reach::Public }
}

/// The target's address is one Hookline refuses to reach.
#[derive(Debug, thiserror::Error)]
#[error("refused to connect to {0}: not a public address")]
pub struct BlockedAddress(pub IpAddr);

/// The target's name did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("could not resolve {name}: {source}")]
pub struct DnsFailure {
    name: String,
    #[source]
    source: std::io::Error,
}

/// A DNS resolver for `reqwest` that refuses a name if any address it resolves to is refused, so
/// a name cannot smuggle a private address behind a public one.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub policy: AddressPolicy,
}

/// Names that mean this machine by definition (RFC 6761 `localhost` and `*.localhost`, and the
/// aliases hosts files give loopback), in any case, with or without the root's trailing dot.
/// They are answered without asking DNS: a resolver may map them anywhere, and asking would leak
/// the name.
pub fn is_loopback_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let host = host.as_str();
    host == "localhost"
        || host.ends_with(".localhost")
        || matches!(host, "localhost.localdomain" | "ip6-localhost" | "ip6-loopback")
}

/// The target's name means this machine, which Hookline refuses to reach.
#[derive(Debug, thiserror::Error)]
#[error("refused to resolve {0}: the name means this machine")]
pub struct BlockedName(pub String);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            if is_loopback_name(&host) {
                if !policy.allow_loopback {
                    return Err(Box::new(BlockedName(host)) as Box<dyn std::error::Error + Send + Sync>);
                }
                let loopback: [SocketAddr; 2] = [(Ipv4Addr::LOCALHOST, 0).into(), (Ipv6Addr::LOCALHOST, 0).into()];
                let addrs: Addrs = Box::new(loopback.into_iter());
                return Ok(addrs);
            }
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|source| DnsFailure { name: host.clone(), source })?
                .collect();
            if let Some(bad) = addrs.iter().find(|a| !policy.permits(a.ip())) {
                return Err(Box::new(BlockedAddress(bad.ip())) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These addresses are only classified here; no test ever connects to them.
    fn check(addr: &str, strict: bool, dev: bool) {
        let ip: IpAddr = addr.parse().unwrap();
        assert_eq!(AddressPolicy { allow_loopback: false }.permits(ip), strict, "{addr} (flag off)");
        assert_eq!(AddressPolicy { allow_loopback: true }.permits(ip), dev, "{addr} (flag on)");
    }

    #[test]
    fn public_addresses_are_reachable() {
        for addr in ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "2a00:1450:4001::200e"] {
            check(addr, true, true);
        }
    }

    #[test]
    fn loopback_needs_the_local_development_flag() {
        for addr in ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"] {
            check(addr, false, true);
        }
    }

    #[test]
    fn private_link_local_and_special_ranges_are_always_refused() {
        for addr in [
            "169.254.169.254",
            "169.254.0.1",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "100::1",
        ] {
            check(addr, false, false);
        }
    }

    #[test]
    fn siit_and_local_use_nat64_forms_are_refused_even_for_loopback() {
        // ::ffff:0:a.b.c.d (SIIT) and 64:ff9b:1::/48 (local-use NAT64) reach IPv4 hosts through
        // a translator; the address inside does not make them any safer.
        for addr in [
            "::ffff:0:127.0.0.1",
            "::ffff:0:169.254.169.254",
            "::ffff:0:10.0.0.1",
            "::ffff:0:8.8.8.8",
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1::7f00:1",
            "64:ff9b:1:ffff::1",
        ] {
            check(addr, false, false);
        }
        // The neighbours stay public.
        check("64:ff9b:2::1", true, true);
        check("::fffe:0:808:808", true, true);
    }

    #[test]
    fn names_that_mean_this_machine_are_recognised() {
        for name in [
            "localhost",
            "localhost.",
            "LocalHost.",
            "api.localhost",
            "a.b.localhost.",
            "localhost.localdomain",
            "ip6-localhost",
            "ip6-loopback.",
        ] {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in ["example.com", "localhost.example.com", "notlocalhost", "mylocalhost.", "localhostx"] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }

    fn resolve(policy: AddressPolicy, name: &str) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let name: Name = name.parse().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async { GuardedResolver { policy }.resolve(name).await.map(|a| a.map(|a| a.ip()).collect()) })
    }

    #[test]
    fn loopback_names_are_refused_without_a_lookup() {
        // A lookup of `localhost.` may go to a real DNS server, which could answer anything; the
        // refusal names the name, not an address, so no lookup was made.
        for name in ["localhost.", "localhost", "evil.localhost", "evil.localhost.", "LOCALHOST."] {
            let err = resolve(AddressPolicy { allow_loopback: false }, name).unwrap_err();
            assert!(err.downcast_ref::<BlockedName>().is_some(), "{name}: {err}");
        }
    }

    #[test]
    fn loopback_names_mean_loopback_in_local_development() {
        let addrs = resolve(AddressPolicy { allow_loopback: true }, "localhost.").unwrap();
        assert_eq!(addrs, [IpAddr::from(Ipv4Addr::LOCALHOST), IpAddr::from(Ipv6Addr::LOCALHOST)]);
    }

    #[test]
    fn neighbours_of_refused_ranges_stay_public() {
        for addr in ["172.15.255.255", "172.32.0.0", "100.63.255.255", "100.128.0.0", "169.253.255.255", "11.0.0.0"] {
            check(addr, true, true);
        }
    }

    #[test]
    fn decimal_octal_and_hex_hosts_are_read_as_the_address_they_mean() {
        // The URL parser (WHATWG rules) turns these into 127.0.0.1, which the guard then judges.
        for text in ["http://2130706433/", "http://0x7f000001/", "http://017700000001/", "http://0177.0.0.1/"] {
            let url = url::Url::parse(text).unwrap();
            assert_eq!(url.host_str(), Some("127.0.0.1"), "{text}");
        }
        let url = url::Url::parse("http://2852039166/").unwrap();
        assert_eq!(url.host_str(), Some("169.254.169.254"));
    }
}
