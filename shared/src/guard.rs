//! The address guard: where Hookline may open a connection to.
//!
//! Checked on the URL's host before anything is resolved ([`Egress::check_host`]: IP literals,
//! and in loopback-only mode every name but `localhost`), then on each resolved address at
//! connect time (through [`GuardedResolver`]), so a DNS name pointing at the metadata service
//! is refused like the literal address would be.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// Where a deployment lets deliveries (and test sends) go: `HOOKLINE_EGRESS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Egress {
    /// Production (`public-only`, the default): public addresses only.
    #[default]
    PublicOnly,
    /// Local development against receivers anywhere (`public-and-loopback`, or the older
    /// `HOOKLINE_DEV_ALLOW_LOOPBACK=1`): public addresses and loopback.
    PublicAndLoopback,
    /// `make dev`, the tests and fuzzing (`loopback-only`): IP literals in 127.0.0.0/8, `::1`,
    /// and the name `localhost` (answered here). Every other host is refused before any DNS
    /// lookup, so a fuzzed host name never becomes a query.
    LoopbackOnly,
}

impl Egress {
    /// The value of `HOOKLINE_EGRESS` that selects each mode.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public-only" => Some(Self::PublicOnly),
            "public-and-loopback" => Some(Self::PublicAndLoopback),
            "loopback-only" => Some(Self::LoopbackOnly),
            _ => None,
        }
    }

    /// Loopback receivers are reachable: local development's plain-http allowances apply.
    pub fn reaches_loopback(self) -> bool {
        self != Self::PublicOnly
    }

    pub fn permits(self, ip: IpAddr) -> bool {
        match self {
            // Only the two loopback forms themselves: `::ffff:127.0.0.1` and the translation
            // prefixes reach loopback too, but through forms no local receiver needs.
            Self::LoopbackOnly => match ip {
                IpAddr::V4(v4) => v4.is_loopback(),
                IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
            },
            Self::PublicOnly | Self::PublicAndLoopback => match classify(ip) {
                Reach::Public => true,
                Reach::Loopback => self == Self::PublicAndLoopback,
                Reach::Forbidden => false,
            },
        }
    }

    /// Judges a URL's host before it is resolved: an IP literal here and now, a name only
    /// in loopback-only mode (elsewhere its addresses are judged by [`GuardedResolver`]).
    pub fn check_host(self, host: Option<Host<&str>>) -> Result<(), Refused> {
        let ip: IpAddr = match host {
            Some(Host::Ipv4(ip)) => ip.into(),
            Some(Host::Ipv6(ip)) => ip.into(),
            Some(Host::Domain(name)) if self == Self::LoopbackOnly && !is_localhost(name) => {
                return Err(Refused::OutsideLoopback(name.to_owned()));
            }
            Some(Host::Domain(_)) => return Ok(()),
            None if self == Self::LoopbackOnly => return Err(Refused::OutsideLoopback(String::new())),
            None => return Ok(()),
        };
        if self.permits(ip) { Ok(()) } else { Err(Refused::Address(BlockedAddress(ip))) }
    }
}

/// Exactly `localhost`, in any case: the one name loopback-only mode answers, and never
/// through DNS. `localhost.` and `*.localhost` are refused there (they are names a resolver
/// could be asked about).
fn is_localhost(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
}

/// Why a host was refused before anything was sent.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Address(BlockedAddress),
    #[error(
        "refused {0:?}: this deployment delivers to 127.0.0.0/8, ::1 and localhost only (HOOKLINE_EGRESS=loopback-only)"
    )]
    OutsideLoopback(String),
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

/// How names become addresses: the system resolver in production, a recording one in tests.
pub trait Lookup: fmt::Debug + Send + Sync {
    fn lookup(&self, host: String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;
}

/// The operating system's resolver (`getaddrinfo`).
#[derive(Debug)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) })
    }
}

/// A DNS resolver for `reqwest` that refuses a name if any address it resolves to is refused, so
/// a name cannot smuggle a private address behind a public one. In loopback-only mode it asks
/// nobody: `localhost` is loopback and every other name is refused.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub egress: Egress,
    pub lookup: Arc<dyn Lookup>,
}

impl GuardedResolver {
    pub fn new(egress: Egress) -> Self {
        Self { egress, lookup: Arc::new(SystemLookup) }
    }
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

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.egress;
        let lookup = Arc::clone(&self.lookup);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let loopback = || -> Addrs {
                let addrs: [SocketAddr; 2] = [(Ipv4Addr::LOCALHOST, 0).into(), (Ipv6Addr::LOCALHOST, 0).into()];
                Box::new(addrs.into_iter())
            };
            if egress == Egress::LoopbackOnly {
                return if is_localhost(&host) {
                    Ok(loopback())
                } else {
                    Err(Box::new(Refused::OutsideLoopback(host)) as BoxError)
                };
            }
            if is_loopback_name(&host) {
                if !egress.reaches_loopback() {
                    return Err(Box::new(BlockedName(host)) as BoxError);
                }
                return Ok(loopback());
            }
            let addrs: Vec<SocketAddr> =
                lookup.lookup(host.clone()).await.map_err(|source| DnsFailure { name: host.clone(), source })?;
            if let Some(bad) = addrs.iter().find(|a| !egress.permits(a.ip())) {
                return Err(Box::new(BlockedAddress(bad.ip())) as BoxError);
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // These addresses are only classified here; no test ever connects to them.
    fn check(addr: &str, strict: bool, dev: bool) {
        let ip: IpAddr = addr.parse().unwrap();
        assert_eq!(Egress::PublicOnly.permits(ip), strict, "{addr} (public only)");
        assert_eq!(Egress::PublicAndLoopback.permits(ip), dev, "{addr} (public and loopback)");
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

    fn resolve(egress: Egress, name: &str) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let name: Name = name.parse().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime
            .block_on(async { GuardedResolver::new(egress).resolve(name).await.map(|a| a.map(|a| a.ip()).collect()) })
    }

    #[test]
    fn loopback_names_are_refused_without_a_lookup() {
        // A lookup of `localhost.` may go to a real DNS server, which could answer anything; the
        // refusal names the name, not an address, so no lookup was made.
        for name in ["localhost.", "localhost", "evil.localhost", "evil.localhost.", "LOCALHOST."] {
            let err = resolve(Egress::PublicOnly, name).unwrap_err();
            assert!(err.downcast_ref::<BlockedName>().is_some(), "{name}: {err}");
        }
    }

    #[test]
    fn loopback_names_mean_loopback_in_local_development() {
        let addrs = resolve(Egress::PublicAndLoopback, "localhost.").unwrap();
        assert_eq!(addrs, [IpAddr::from(Ipv4Addr::LOCALHOST), IpAddr::from(Ipv6Addr::LOCALHOST)]);
    }

    /// A resolver that answers every name with loopback and remembers what it was asked.
    #[derive(Debug, Default)]
    pub(crate) struct RecordingLookup(pub std::sync::Mutex<Vec<String>>);

    impl Lookup for RecordingLookup {
        fn lookup(&self, host: String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>> {
            self.0.lock().unwrap().push(host);
            Box::pin(async { Ok(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))]) })
        }
    }

    fn resolve_recorded(egress: Egress, name: &str) -> (Result<Vec<IpAddr>, BoxError>, Vec<String>) {
        let lookup = Arc::new(RecordingLookup::default());
        let resolver = GuardedResolver { egress, lookup: lookup.clone() };
        let name: Name = name.parse().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let result = runtime.block_on(async { resolver.resolve(name).await.map(|a| a.map(|a| a.ip()).collect()) });
        let asked = lookup.0.lock().unwrap().clone();
        (result, asked)
    }

    /// Judges `text` as the host of an http URL, as the sender does.
    fn check_loopback_only(text: &str) -> Result<(), Refused> {
        let url = url::Url::parse(&format!("http://{text}/")).unwrap();
        Egress::LoopbackOnly.check_host(url.host())
    }

    #[test]
    fn loopback_only_admits_127_slash_8_ipv6_loopback_and_localhost() {
        for text in ["127.0.0.1", "127.0.0.2", "127.255.255.254", "[::1]", "localhost", "LocalHost"] {
            assert!(check_loopback_only(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn loopback_only_refuses_every_other_host_before_resolution() {
        // Only classified here; nothing connects to them.
        for text in [
            "example.com",
            "hookline-fuzz.example",
            "localhost.",
            "LOCALHOST.",
            "api.localhost",
            "localhost.localdomain",
            "ip6-localhost",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "8.8.8.8",
            "[::]",
            "[::ffff:127.0.0.1]",
            "[::ffff:169.254.169.254]",
            "[::ffff:0:127.0.0.1]",
            "[::127.0.0.1]",
            "[64:ff9b::7f00:1]",
            "[64:ff9b::a9fe:a9fe]",
            "[64:ff9b:1::7f00:1]",
            "[2002:7f00:1::1]",
            "[2002:a9fe:a9fe::1]",
            "[fe80::1]",
            "[fd00::1]",
            "[2606:4700::1111]",
        ] {
            assert!(check_loopback_only(text).is_err(), "{text}");
        }
        assert!(Egress::LoopbackOnly.check_host(None).is_err(), "a URL without a host");
    }

    #[test]
    fn loopback_only_resolves_localhost_itself_and_asks_nobody_about_other_names() {
        for name in ["example.com", "hookline-fuzz.example", "localhost.", "a.localhost", "xn--nxasmq6b.example"] {
            let (result, asked) = resolve_recorded(Egress::LoopbackOnly, name);
            let err = result.unwrap_err();
            assert!(matches!(err.downcast_ref::<Refused>(), Some(Refused::OutsideLoopback(_))), "{name}: {err}");
            assert!(asked.is_empty(), "{name} was looked up: {asked:?}");
        }
        let (result, asked) = resolve_recorded(Egress::LoopbackOnly, "localhost");
        assert_eq!(result.unwrap(), [IpAddr::from(Ipv4Addr::LOCALHOST), IpAddr::from(Ipv6Addr::LOCALHOST)]);
        assert!(asked.is_empty(), "{asked:?}");
        // The recorder does see lookups where they happen (and loopback is then refused).
        let (result, asked) = resolve_recorded(Egress::PublicOnly, "example.com");
        assert!(result.unwrap_err().downcast_ref::<BlockedAddress>().is_some());
        assert_eq!(asked, ["example.com"]);
    }

    #[test]
    fn egress_modes_are_named_in_the_environment() {
        assert_eq!(Egress::parse("loopback-only"), Some(Egress::LoopbackOnly));
        assert_eq!(Egress::parse("public-only"), Some(Egress::PublicOnly));
        assert_eq!(Egress::parse("public-and-loopback"), Some(Egress::PublicAndLoopback));
        assert_eq!(Egress::parse("loopback"), None);
        assert!(!Egress::PublicOnly.reaches_loopback());
        assert!(Egress::LoopbackOnly.reaches_loopback());
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
